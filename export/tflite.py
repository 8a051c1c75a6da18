"""TFLite export of token-id models: static batch, fused LSTM, float / dynamic-range / float16 / int8.

The `.tflite` model takes `token_ids` int32 `(batch_size, T)` (T dynamic unless `sequence_length` is
set; the interpreter resizes it per call) with **no padding mask**: every position is a real token,
so rows of one call must have equal length (batch 1 is the usual case on devices). Tokenisation
happens outside; the vocabulary is written beside the model as `<stem>.vocabulary.txt`
(`export.token_files` format) and labels as `<stem>.labels.txt`.

Conversion goes through a SavedModel traced inside `seqkeras.layers.LSTM.tflite_fusion()`: our LSTM
then emits its TF-Keras-2-style `api_implements="lstm_..."` function without a mask, which the
converter fuses into one `UNIDIRECTIONAL_SEQUENCE_LSTM` op (no `WHILE`). Converting a Keras 3 model
from a concrete function leaves its variables as uninitialised resource reads (the interpreter then
returns garbage), hence the SavedModel route. The interpreter is LiteRT (`ai-edge-litert`), which
installs beside TF 2.21 and protobuf 7 without conflicts.
"""

import contextlib
import json
import pathlib
import tempfile

import keras
import numpy as np
import tensorflow as tf

from export.token_files import write_token_file

QUANTIZATIONS = ("float32", "dynamic_range", "float16", "int8")


def _fusion_context():
    try:
        from seqkeras.layers.lstm import LSTM
    except ImportError:  # our LSTM not present: nothing to fuse
        return contextlib.nullcontext()
    return LSTM.tflite_fusion()


def _check_token_id_model(model):
    try:
        inputs = model.input
    except (AttributeError, ValueError):
        inputs = None
    names = sorted(inputs) if isinstance(inputs, dict) else []
    if "token_ids" not in names:
        raise ValueError(
            "TFLite export is for token-id models taking {'token_ids', 'padding_mask'}. "
            f"Received: a model with inputs {names}"
        )


def default_output_name(model):
    activation = getattr(model.layers[-1], "activation", None)
    return "probabilities" if getattr(activation, "__name__", "") == "softmax" else "logits"


def convert(
    model,
    *,
    batch_size=1,
    sequence_length=None,
    quantization="float32",
    representative_token_ids=None,
    output_name=None,
):
    """Converts a token-id Keras model to TFLite bytes.

    Args:
        model: Keras model taking `{"token_ids": int32 (B, T), "padding_mask": bool (B, T)}`.
        batch_size: static batch size of the TFLite signature.
        sequence_length: static T, or None for a dynamic time axis.
        quantization: "float32", "dynamic_range" (int8 weights), "float16" (float16 weights) or
            "int8" (full integer with calibration; needs `representative_token_ids`).
        representative_token_ids: iterable of 1-D int arrays of real token ids (e.g. 100 held-out
            training sentences) for the int8 calibration.
        output_name: name of the signature output; default "probabilities" when the model ends
            in softmax, else "logits".

    Returns:
        `(tflite_bytes, info)` with `info["int8_float_fallback"]` True when full-int8
        conversion needed float kernels for some ops.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"`quantization` must be one of {QUANTIZATIONS}. Received: quantization={quantization!r}")
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size}")
    _check_token_id_model(model)
    output_name = output_name or default_output_name(model)
    if quantization == "int8":
        if representative_token_ids is None:
            raise ValueError("int8 quantisation needs `representative_token_ids` drawn from real data. Received: None")
        representative = [np.asarray(ids, np.int32).reshape(-1) for ids in representative_token_ids]
        representative = [ids for ids in representative if ids.size]
        if not representative:
            raise ValueError("`representative_token_ids` holds no non-empty sequence. Received: 0 sequences")

    def serve(token_ids):
        padding_mask = tf.ones_like(token_ids, dtype=tf.bool)
        outputs = model({"token_ids": token_ids, "padding_mask": padding_mask}, training=False)
        return {output_name: outputs}

    info = {"quantization": quantization, "int8_float_fallback": False}
    with tempfile.TemporaryDirectory() as scratch, _fusion_context():
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            "serving_default", serve,
            input_signature=[tf.TensorSpec([int(batch_size), sequence_length], tf.int32, name="token_ids")],
        )
        archive.write_out(scratch, verbose=False)

        def make_converter():
            converter = tf.lite.TFLiteConverter.from_saved_model(scratch)
            if quantization in ("dynamic_range", "float16", "int8"):
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if quantization == "float16":
                converter.target_spec.supported_types = [tf.float16]
            if quantization == "int8":
                def dataset():
                    for ids in representative:
                        yield [np.tile(ids[None, :], (int(batch_size), 1))]
                converter.representative_dataset = dataset
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            return converter

        try:
            content = make_converter().convert()
        except Exception:  # noqa: BLE001  some op lacks an int8 kernel: keep those in float
            if quantization != "int8":
                raise
            converter = make_converter()
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
            content = converter.convert()
            info["int8_float_fallback"] = True
    info["ops"] = tflite_ops(content)
    info["fused_lstm"] = is_fused_lstm(info["ops"])
    info["output_name"] = output_name
    return content, info


def tflite_ops(content):
    """Sorted operator names in a `.tflite` flatbuffer (builtin names, custom op codes)."""
    from ai_edge_litert import schema_py_generated as schema

    names = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    model = schema.Model.GetRootAsModel(content, 0)
    ops = set()
    for index in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(index)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            ops.add("CUSTOM:" + code.CustomCode().decode())
        else:
            ops.add(names.get(builtin, str(builtin)))
    return sorted(ops)


def is_fused_lstm(ops):
    """True when the op list has the fused LSTM kernel and no control-flow loop."""
    return "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops and "WHILE" not in ops


class TFLiteRunner:
    """Runs a `.tflite` token-id model with the LiteRT interpreter, resizing T per call.

    Args:
        content: model bytes (or a path to a `.tflite` file).
        num_threads: interpreter threads.

    Call arguments:
        token_ids: int array `(batch_size, T)`.

    Returns:
        The single output as a float32 numpy array.
    """

    def __init__(self, content, num_threads=1):
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(content, (str, pathlib.Path)):
            content = pathlib.Path(content).read_bytes()
        self.content = content
        self.interpreter = Interpreter(model_content=content, num_threads=num_threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.batch_size = int(self.input["shape_signature"][0])
        self._shape = None

    def __call__(self, token_ids):
        token_ids = np.asarray(token_ids, np.int32)
        if token_ids.ndim != 2 or token_ids.shape[0] != self.batch_size:
            raise ValueError(
                f"token_ids must have shape ({self.batch_size}, T). Received: shape={token_ids.shape}"
            )
        if token_ids.shape[1] < 1:
            raise ValueError(f"token_ids needs at least one token. Received: shape={token_ids.shape}")
        if self._shape != token_ids.shape:
            self.interpreter.resize_tensor_input(self.input["index"], token_ids.shape, strict=True)
            self.interpreter.allocate_tensors()
            self._shape = token_ids.shape
        self.interpreter.set_tensor(self.input["index"], token_ids)
        self.interpreter.invoke()
        output = self.interpreter.get_tensor(self.output["index"])
        scale, zero_point = self.output.get("quantization", (0.0, 0))
        if output.dtype != np.float32 and scale:
            output = (output.astype(np.float32) - zero_point) * scale
        return np.array(output, np.float32)


def export_tflite(
    model,
    path,
    *,
    vocabulary,
    labels=None,
    quantization="float32",
    batch_size=1,
    sequence_length=None,
    representative_token_ids=None,
    overwrite=False,
):
    """Writes `<path>` (.tflite), `<stem>.vocabulary.txt`, `<stem>.labels.txt` and `<stem>.json`.

    Args:
        model: token-id Keras model (see `convert`).
        path: output `.tflite` file.
        vocabulary: `Vocabulary` (or its `.tokens`) used in training; required.
        labels: class / tag names in id order (tagger, classifier); None for a language model.
        quantization, batch_size, sequence_length, representative_token_ids: see `convert`.
        overwrite: replace existing files.

    Returns:
        The metadata dict written to `<stem>.json` (ops, fused_lstm, sizes, input/output names).
    """
    if vocabulary is None:
        raise ValueError("TFLite export writes the vocabulary beside the model; it is required. Received: vocabulary=None")
    tokens = list(vocabulary.tokens) if hasattr(vocabulary, "tokens") else list(vocabulary)
    if not tokens:
        raise ValueError("The vocabulary is empty. Received: vocabulary with 0 tokens")
    path = pathlib.Path(path)
    if path.suffix != ".tflite":
        raise ValueError(f"`path` must end in .tflite. Received: path={str(path)!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists. Pass overwrite=True (--overwrite) to replace it.")
    content, info = convert(
        model, batch_size=batch_size, sequence_length=sequence_length, quantization=quantization,
        representative_token_ids=representative_token_ids,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.with_suffix("")
    write_token_file(f"{stem}.vocabulary.txt", tokens)
    if labels is not None:
        write_token_file(f"{stem}.labels.txt", [str(label) for label in labels])
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    tmp.replace(path)
    metadata = {
        "input": {"name": "token_ids", "dtype": "int32", "shape": [int(batch_size), sequence_length]},
        "output": info["output_name"],
        "vocabulary": f"{stem.name}.vocabulary.txt",
        "labels": f"{stem.name}.labels.txt" if labels is not None else None,
        "quantization": quantization,
        "int8_float_fallback": info["int8_float_fallback"],
        "ops": info["ops"],
        "fused_lstm": info["fused_lstm"],
        "model_bytes": len(content),
    }
    pathlib.Path(f"{stem}.json").write_text(json.dumps(metadata, indent=2))
    return metadata
