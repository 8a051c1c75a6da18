"""TFLite export of token-id models: static batch, fused LSTM, float / dynamic-range / float16 / int8.

The `.tflite` model takes `token_ids` int32 `(batch_size, T)` (T dynamic unless `sequence_length` is
set; the interpreter resizes it per call) with **no padding mask**: every position is a real token,
so rows of one call must have equal length (batch 1 is the usual case on devices). Tokenisation
happens outside; the vocabulary is written beside the model as `<stem>.vocabulary.txt`
(`seqkeras.data.token_file` format, as `Vocabulary.save` writes) and labels as `<stem>.labels.txt`.

Conversion goes through a SavedModel traced inside `seqkeras.layers.LSTM.tflite_fusion()`: our LSTM
then emits its TF-Keras-2-style `api_implements="lstm_..."` function without a mask, which the
converter fuses into one `UNIDIRECTIONAL_SEQUENCE_LSTM` op (no `WHILE`). Converting a Keras 3 model
from a concrete function leaves its variables as uninitialised resource reads (the interpreter then
returns garbage), hence the SavedModel route. The converter gives each fused LSTM a cell-state
clip of 10 that Keras does not have; `remove_lstm_cell_clip` turns it off in every variant. The
interpreter is LiteRT (`ai-edge-litert`), which installs beside TF 2.21 and protobuf 7 without
conflicts.

Full int8 and argmax agreement: every activation of a full-int8 model is an int8 tensor with one
scale, the output logits included, so the logits are known to one step of `int8_output_grid`
(their calibrated range / 255). Positions whose two best logits are closer than that step can
swap or tie whatever the rest of the model does. A character LM (~190 classes, logits spanning
~18) has many such positions: `benchmarks/bench_export.py` records the step, the share of
held-out positions below it and the agreement of the exact Keras logits rounded onto the same
grid: the agreement that output grid alone leaves, before any other int8 error. With
`FLOAT_OUTPUT_LAYER_OPS` the output layer stays float (everything before it int8), which removes
that bound.
"""

import contextlib
import json
import pathlib
import tempfile

import keras
import numpy as np
import tensorflow as tf

from export.archive import write_archive
from seqkeras.data.token_file import write_token_file

QUANTIZATIONS = ("float32", "dynamic_range", "float16", "int8")
# 16-bit activations with int8 weights: accepted by `convert`, reported as its own variant (not
# int8). The TF 2.21 converter refuses it for our token-id models (no calibration range for the
# int32 `token_ids` input), so it is not offered by the CLI.
EXPERIMENTAL_QUANTIZATIONS = ("int16x8",)
# `float_ops` for int8 with a float output layer. Keras lowers a Dense layer on (B, T, H) inputs
# to RESHAPE -> FULLY_CONNECTED -> RESHAPE -> ADD (bias); the RESHAPEs must stay float too, else
# the converter quantises the tensor between the float matmul and the float bias add and the
# logits land on an int8 grid again. Every op of these types stays float (e.g. also the
# RESHAPEs of a character encoder).
FLOAT_OUTPUT_LAYER_OPS = ("FULLY_CONNECTED", "ADD", "RESHAPE")


def _fusion_context():
    try:
        from seqkeras.layers.lstm import LSTM
    except ImportError:  # our LSTM not present: nothing to fuse
        return contextlib.nullcontext()
    return LSTM.tflite_fusion()


def tflite_input_specs(model, batch_size=1, sequence_length=None, max_word_length=16):
    """Named specs of the TFLite signature: every model input except `padding_mask`, static batch.

    `char_ids` gets a static last axis of `max_word_length` characters (pad with 0): with a
    dynamic one the converter cannot lower the character encoder's slicing to builtin ops.
    """
    specs = {}
    for key, spec in _input_specs(model).items():
        if key == "padding_mask":
            continue
        shape = [int(batch_size), sequence_length]
        if key == "char_ids":
            shape.append(int(max_word_length))
        shape += [None] * (len(spec.shape) - len(shape))
        specs[key] = tf.TensorSpec(shape, spec.dtype, name=key)
    return specs


def _input_specs(model):
    """`export.saved_model.model_input_specs`, also for a model read through `char_ids` alone (a biLM's
    embedder: no `token_ids`)."""
    from export.saved_model import model_input_specs

    inputs = getattr(model, "input", None)
    if isinstance(inputs, dict) and "token_ids" not in inputs and {"char_ids", "padding_mask"} <= set(inputs):
        return {key: tf.TensorSpec([None] * len(tensor.shape), tf.bool if key.endswith("mask") else tf.int32, name=key)
                for key, tensor in inputs.items()}
    return model_input_specs(model)


def primary_input(names):
    """The input whose first two axes are (batch, time): `token_ids`, else `char_ids`."""
    return "token_ids" if "token_ids" in names else "char_ids"


def fusable_inference_model(model):
    """A stateless copy of a language model whose LSTMs return their states, sharing its weights.

    The fused TFLite LSTM does not return final states, so `LSTM.tflite_fusion()` refuses layers
    built with `return_state=True` or `stateful=True` (as `CharLanguageModel`'s, which carry state
    for sampling). For a model exposing `embedding`, `recurrent_layers` and `head` we rebuild the
    same computation with sequence-only `seqkeras.layers.LSTM` layers holding copied weights
    (the embedding and head layers are shared). Other models are returned unchanged.
    """
    recurrent = getattr(model, "recurrent_layers", None)
    if not recurrent or not all(hasattr(model, name) for name in ("embedding", "head")):
        return model
    if not any(getattr(layer, "return_state", False) or getattr(layer, "stateful", False) for layer in recurrent):
        return model
    from seqkeras.layers.lstm import LSTM

    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input(shape=(None,), dtype="bool", name="padding_mask")
    x = model.embedding(token_ids)  # (B, T, E)
    for layer in recurrent:
        units = getattr(layer, "hidden_dim", None) or getattr(layer, "units")
        copy = LSTM(units, return_sequences=True, cell_clip=getattr(layer, "cell_clip", None),
                    name=f"{layer.name}_inference")
        x = copy(x, mask=padding_mask)  # (B, T, H)
        copy.set_weights(layer.get_weights())
    logits = model.head(x)  # (B, T, V)
    return keras.Model({"token_ids": token_ids, "padding_mask": padding_mask}, logits, name=f"{model.name}_inference")


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
    float_ops=(),
    max_word_length=16,
    scratch=None,
):
    """Converts a token-id Keras model to TFLite bytes.

    Args:
        model: Keras model taking `{"token_ids": int32 (B, T), "padding_mask": bool (B, T)}`.
        batch_size: static batch size of the TFLite signature.
        sequence_length: static T, or None for a dynamic time axis.
        quantization: "float32", "dynamic_range" (int8 weights), "float16" (float16 weights),
            "int8" (full integer with calibration; needs `representative_token_ids`) or the
            experimental "int16x8" (int16 activations, int8 weights; refused by the TF 2.21
            converter for int32 token-id inputs, raises a RuntimeError saying so).
        representative_token_ids: iterable of real examples for the int8 calibration (e.g. 100
            training sentences): 1-D int arrays of token ids, or dicts of per-example model inputs
            without the batch axis (`token_ids` (T,), `char_ids` (T, C)).
        output_name: name of the signature output; default "probabilities" when the model ends
            in softmax, else "logits".
        float_ops: int8 only: TFLite op names kept in float (selective quantisation through
            `tf.lite.experimental.QuantizationDebugger`'s denylist), e.g.
            `FLOAT_OUTPUT_LAYER_OPS` keeps the output projection, its reshapes and its bias add,
            hence the logits, in float. Listed in `info["int8_float_ops"]` with any op kept in
            float because the runtime lacks its int8 kernel.
        max_word_length: static last axis of a `char_ids` input.
        scratch: folder for the intermediate SavedModel (default: a system temporary folder);
            `export_tflite` passes one in the output folder's own `.tmp/` area.

    Returns:
        `(tflite_bytes, info)`: `info["ops"]` (op names), `info["fused_lstm"]`,
        `info["cell_clip_removed"]` (fused LSTMs whose converter-added clip was turned off) and
        for int8 `info["int8_float_ops"]`, the ops kept in float (`float_ops` and those LiteRT
        has no int8 kernel for).
    """
    if quantization not in QUANTIZATIONS + EXPERIMENTAL_QUANTIZATIONS:
        raise ValueError(
            f"`quantization` must be one of {QUANTIZATIONS + EXPERIMENTAL_QUANTIZATIONS}. "
            f"Received: quantization={quantization!r}"
        )
    float_ops = [str(op).upper() for op in float_ops]
    if float_ops and quantization != "int8":
        raise ValueError(f"`float_ops` applies to int8 quantisation only. Received: quantization={quantization!r}")
    calibrated = quantization in ("int8", "int16x8")
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size}")
    model = fusable_inference_model(model)
    specs = tflite_input_specs(model, batch_size, sequence_length, max_word_length)
    output_name = output_name or default_output_name(model)
    if calibrated:
        if representative_token_ids is None:
            raise ValueError(f"{quantization} quantisation needs `representative_token_ids` drawn from real data. Received: None")
        representative = []
        for example in representative_token_ids:
            example = dict(example) if isinstance(example, dict) else {"token_ids": example}
            example = {key: np.asarray(value, np.int32) for key, value in example.items()}
            if sorted(example) != sorted(specs):
                raise ValueError(f"Representative examples need inputs {sorted(specs)}. Received: {sorted(example)}")
            if example[primary_input(example)].size:
                representative.append(example)
        if not representative:
            raise ValueError("`representative_token_ids` holds no non-empty sequence. Received: 0 sequences")

    def serve(inputs):
        inputs = dict(inputs)
        ids = inputs[primary_input(inputs)]
        steps = ids if ids.shape.rank == 2 else ids[:, :, 0]  # (B, T), static batch kept (the converter needs it)
        inputs["padding_mask"] = tf.ones_like(steps, dtype=tf.bool)  # every step is real
        return {output_name: model(inputs, training=False)}

    info = {"quantization": quantization, "int8_float_ops": []}
    folder = tempfile.TemporaryDirectory() if scratch is None else contextlib.nullcontext(str(scratch))
    with folder as scratch, _fusion_context():
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            "serving_default", serve,
            input_signature=[specs],
        )
        write_archive(archive, scratch)

        def make_converter():
            converter = tf.lite.TFLiteConverter.from_saved_model(scratch)
            if quantization != "float32":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if quantization == "float16":
                converter.target_spec.supported_types = [tf.float16]
            if calibrated:
                converter.representative_dataset = dataset_fn(representative, batch_size)
            if quantization == "int8":
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if quantization == "int16x8":
                converter.target_spec.supported_ops = [
                    tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
                ]
            return converter

        if quantization == "int16x8":
            try:
                content = make_converter().convert()
            except Exception as error:  # the converter raises a bare RuntimeError / ConverterError
                raise RuntimeError(
                    "int16x8 quantisation failed in the TFLite converter (with TF 2.21 it records no "
                    f"calibration range for the int32 token-id input): {str(error).splitlines()[-1]}"
                ) from error
        elif float_ops:
            content = _quantize_with_float_ops(make_converter, dataset_fn(representative, batch_size), float_ops)
        else:
            content = make_converter().convert()
        if quantization == "int8":
            content, kept = _keep_unsupported_ops_float(
                content, make_converter, dataset_fn(representative, batch_size), list(float_ops)
            )
            info["int8_float_ops"] = sorted(set(float_ops) | set(kept))
    content, info["cell_clip_removed"] = remove_lstm_cell_clip(content)
    info["ops"] = tflite_ops(content)
    info["fused_lstm"] = is_fused_lstm(info["ops"])
    info["output_name"] = output_name
    info["input_name"] = primary_input(specs)
    return content, info


def dataset_fn(examples, batch_size):
    """A representative-dataset callable yielding each example repeated over the static batch."""

    def dataset():
        for example in examples:
            yield {key: np.repeat(value[None], int(batch_size), axis=0) for key, value in example.items()}

    return dataset


def _quantize_with_float_ops(make_converter, dataset, float_ops):
    """Full-int8 conversion with the `float_ops` op types denylisted (kept in float)."""
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=make_converter(),
        debug_dataset=dataset,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(
            denylisted_ops=list(float_ops), fully_quantize=False
        ),
    )
    return debugger.get_nondebug_quantized_model()


def _keep_unsupported_ops_float(content, make_converter, dataset, denylisted=(), max_rounds=4):
    """Re-quantises with float kernels for ops whose int8 kernel the runtime lacks.

    The converter quantises some ops (e.g. REVERSE_SEQUENCE, used by a bidirectional tagger)
    that the interpreter has no int8 kernel for; the model then fails when tensors are
    allocated. We run one calibration example, read the op from the error and convert again
    with that op denylisted (`tf.lite.experimental.QuantizationDebugger`), until it runs.
    """
    import re

    denylisted = list(denylisted)
    added = []
    example = next(iter(dataset()))
    for _ in range(max_rounds):
        try:
            TFLiteRunner(content)(example)
            return content, added
        except RuntimeError as error:
            match = re.search(r"not supported by ([A-Za-z0-9_]+)", str(error))
            if match is None or match.group(1).upper() in denylisted:
                raise
            denylisted.append(match.group(1).upper())
            added.append(match.group(1).upper())
        content = _quantize_with_float_ops(make_converter, dataset, denylisted)
    raise RuntimeError(f"int8 model still fails after keeping {denylisted} in float")


def remove_lstm_cell_clip(content):
    """Turns off the cell-state clipping the converter adds to fused LSTM ops; returns `(bytes, count)`.

    When the converter fuses a Keras-style LSTM function into `UNIDIRECTIONAL_SEQUENCE_LSTM` it
    sets `cell_clip=10.0` (Keras never clips). Trained models reach larger cell states (our char
    LM: |c| > 30), and the clipped op then drifts from Keras for several steps after each such
    state (float32 probabilities off by up to 1e-3, while a random-weight model, whose states
    stay small, matched to 1e-7). The kernels clip only when `cell_clip > 0`, so we overwrite
    the stored float with 0 in the flatbuffer; everything else is unchanged. (In a full-int8
    model the int16 cell state's scale was already chosen from the clip, for |c| < 16, so
    there the states still saturate at 16. That cost our char LM, whose |c| reaches ~70,
    nothing measurable: with the clip set to 16, 32 or 64 before calibration its int8 argmax
    agreement moved by less than 0.05 %, while calibrating with no clip at all gave the cell
    state a range of 2^8 and the integer kernel returned garbage (1.7 % agreement). So the
    clip is removed only after quantisation.)
    """
    import struct

    from ai_edge_litert import schema_py_generated as schema

    buffer = bytearray(content)
    model = schema.Model.GetRootAsModel(buffer, 0)
    count = 0
    for subgraph_index in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(subgraph_index)
        for op_index in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(op_index)
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin != schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM:
                continue
            table = op.BuiltinOptions()
            options = schema.UnidirectionalSequenceLSTMOptions()
            options.Init(table.Bytes, table.Pos)
            # flatbuffers table access: vtable slot 6 is `cell_clip` (field 1 of the options).
            field = options._tab.Offset(6)
            if field and options.CellClip() != 0.0:
                struct.pack_into("<f", buffer, options._tab.Pos + field, 0.0)
                count += 1
    return bytes(buffer), count


def int8_output_grid(content):
    """`(scale, zero_point)` of the integer tensor the model output is dequantised from, else None.

    A full-int8 model ends in `DEQUANTIZE(int8 logits)`: its outputs can only take the values
    `scale * (q - zero_point)` for integers q in [-128, 127], so two logits closer than `scale`
    may swap or tie. Comparing that step with the gaps between a model's two best logits
    tells how much argmax agreement the output grid alone can cost.

    Args:
        content: `.tflite` model bytes (first signature, first output).

    Returns:
        `(float scale, int zero_point)`, or None.
    """
    from ai_edge_litert import schema_py_generated as schema

    def grid(tensor):
        quantization = tensor.Quantization()
        if quantization is None or not quantization.ScaleLength():
            return None
        return float(quantization.Scale(0)), int(quantization.ZeroPoint(0))

    model = schema.Model.GetRootAsModel(content, 0)
    if model.SignatureDefsLength():
        signature = model.SignatureDefs(0)
        subgraph = model.Subgraphs(signature.SubgraphIndex())
        output = signature.Outputs(0).TensorIndex()
    else:
        subgraph = model.Subgraphs(0)
        output = subgraph.Outputs(0)
    if grid(subgraph.Tensors(output)) is not None:  # integer output (inference_output_type int8)
        return grid(subgraph.Tensors(output))
    for op_index in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(op_index)
        if output not in [op.Outputs(k) for k in range(op.OutputsLength())]:
            continue
        code = model.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) != schema.BuiltinOperator.DEQUANTIZE:
            return None
        return grid(subgraph.Tensors(op.Inputs(0)))
    return None


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
    """Runs a `.tflite` model with the LiteRT interpreter through its signature (resizes per call).

    Each call is an independent sequence: the fused LSTM's state tensors are reset after it (on
    a device, call the interpreter's `resetVariableTensors()` / `reset_all_variables()` likewise).

    Bad ids are refused on the host, before the interpreter runs: TFLite's GATHER would map a
    negative id -k to row V-k (and clamp or read past the table for ids >= V) without any error,
    while the SavedModel signatures refuse both. Negative ids are always refused; ids at or above
    an input's range are refused when the range is known: `id_ranges`, or the `id_ranges` of the
    metadata JSON `export_tflite` writes beside the model (read when `content` is that path).

    Args:
        content: model bytes (or a path to a `.tflite` file).
        num_threads: interpreter threads.
        id_ranges: {input name: number of ids}, e.g. {"token_ids": vocabulary size}.

    Call arguments:
        inputs: dict of int arrays (`token_ids` (batch_size, T), `char_ids` ...), or the
            `token_ids` array alone (the `char_ids` array of a model read through characters only).

    Returns:
        The single output as a float32 numpy array.
    """

    def __init__(self, content, num_threads=1, id_ranges=None):
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(content, (str, pathlib.Path)):
            metadata_path = pathlib.Path(content).with_suffix(".json")
            if id_ranges is None and metadata_path.is_file():
                id_ranges = json.loads(metadata_path.read_text()).get("id_ranges")
            content = pathlib.Path(content).read_bytes()
        self.id_ranges = {key: int(value) for key, value in (id_ranges or {}).items()}
        self.content = content
        self.interpreter = Interpreter(model_content=content, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.runner = self.interpreter.get_signature_runner("serving_default")
        self.input_details = self.runner.get_input_details()
        self.output_name = next(iter(self.runner.get_output_details()))
        self.primary = primary_input(self.input_details)
        self.batch_size = int(self.input_details[self.primary]["shape_signature"][0])

    def __call__(self, inputs):
        if not isinstance(inputs, dict):
            inputs = {self.primary: inputs}
        inputs = {key: np.asarray(value, np.int32) for key, value in inputs.items()}
        if sorted(inputs) != sorted(self.input_details):
            raise ValueError(f"Inputs must be {sorted(self.input_details)}. Received: {sorted(inputs)}")
        ids = inputs[self.primary]
        rank = 3 if self.primary == "char_ids" else 2
        if ids.ndim != rank or ids.shape[0] != self.batch_size or ids.shape[1] < 1:
            raise ValueError(
                f"{self.primary} must have shape ({self.batch_size}, T >= 1{', C' if rank == 3 else ''}). "
                f"Received: shape={ids.shape}"
            )
        check_ids(inputs, self.id_ranges)
        output = np.array(self.runner(**inputs)[self.output_name], np.float32)
        # The fused LSTM keeps its state in variable tensors that survive `invoke` when the input
        # shape does not change: without a reset the next call would start from this call's
        # final state (the parity check caught this). Every call is a fresh sequence.
        self.interpreter.reset_all_variables()
        return output


def check_ids(inputs, id_ranges):
    """Raises ValueError naming the first id outside `[0, n)` (negative ones always; see `TFLiteRunner`)."""
    for key, value in inputs.items():
        if not key.endswith("_ids") or value.size == 0:
            continue
        size = id_ranges.get(key)
        bad = value < 0 if size is None else (value < 0) | (value >= size)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            bound = f"[0, {size})" if size is not None else "[0, vocabulary size)"
            raise ValueError(f"`{key}` must be ids in {bound}. Received: {key}{list(where)}={int(value[where])} "
                             f"(min {int(value.min())}, max {int(value.max())})")


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
    float_ops=(),
    overwrite=False,
    id_ranges=None,
    calibration=None,
    max_word_length=16,
    char_vocabulary=None,
    output_name=None,
    extra_metadata=None,
):
    """Writes `<path>` (.tflite), `<stem>.vocabulary.txt`, `<stem>.labels.txt` and `<stem>.json`.

    Args:
        model: token-id Keras model (see `convert`).
        path: output `.tflite` file.
        vocabulary: `Vocabulary` (or its `.tokens`) used in training; required.
        labels: class / tag names in id order (tagger, classifier); None for a language model.
        quantization, batch_size, sequence_length, representative_token_ids, float_ops: see
            `convert`.
        overwrite: replace existing files.
        id_ranges: {input name: number of ids} recorded in the metadata for `TFLiteRunner`'s
            host-side id check (default: `token_ids` = the vocabulary size).
        calibration: statistics of the int8 calibration data to record (e.g. `oov_fraction`).
        max_word_length: static last axis of a `char_ids` input.
        char_vocabulary: the character `Vocabulary` of a `char_ids` input, written as
            `<stem>.char_vocabulary.txt` (tagger, biLM).
        output_name: name of the signature output (see `convert`).
        extra_metadata: more keys for `<stem>.json` (e.g. the biLM's layer layout).

    Returns:
        The metadata dict written to `<stem>.json` (ops, fused_lstm, sizes, input/output names,
        `output_quantization`: scale and zero point of an int8 output, else None).
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
    from export.versioning import FILE_MODE, scratch_dir

    with scratch_dir(path.parent) as scratch:  # <out folder>/.tmp/<pid>-..., removed by the next export if killed
        content, info = convert(
            model, batch_size=batch_size, sequence_length=sequence_length, quantization=quantization,
            representative_token_ids=representative_token_ids, float_ops=float_ops,
            max_word_length=max_word_length, scratch=scratch, output_name=output_name,
        )
    stem = path.with_suffix("")
    write_token_file(f"{stem}.vocabulary.txt", tokens)
    if labels is not None:
        write_token_file(f"{stem}.labels.txt", [str(label) for label in labels])
    if char_vocabulary is not None:
        write_token_file(f"{stem}.char_vocabulary.txt", list(char_vocabulary.tokens))
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    tmp.replace(path)
    metadata = {
        "input": {"name": info["input_name"], "dtype": "int32",
                  "shape": [int(batch_size), sequence_length] + ([int(max_word_length)] if info["input_name"] == "char_ids" else [])},
        "output": info["output_name"],
        "vocabulary": f"{stem.name}.vocabulary.txt",
        "labels": f"{stem.name}.labels.txt" if labels is not None else None,
        **({"char_vocabulary": f"{stem.name}.char_vocabulary.txt"} if char_vocabulary is not None else {}),
        "quantization": quantization,
        "int8_float_ops": info["int8_float_ops"],
        "ops": info["ops"],
        "fused_lstm": info["fused_lstm"],
        "model_bytes": len(content),
        "id_ranges": dict(id_ranges or {"token_ids": len(tokens)}),
        "id_check": "host-side: TFLiteRunner refuses ids outside [0, id_range) before invoking the interpreter",
        "calibration": calibration,
    }
    grid = int8_output_grid(content)
    # The output's int8 grid (None when computed in float): one step is its resolution.
    metadata["output_quantization"] = {"scale": grid[0], "zero_point": grid[1]} if grid else None
    metadata.update(extra_metadata or {})
    pathlib.Path(f"{stem}.json").write_text(json.dumps(metadata, indent=2))
    for written in (path, pathlib.Path(f"{stem}.json"), pathlib.Path(f"{stem}.vocabulary.txt"),
                    pathlib.Path(f"{stem}.labels.txt"), pathlib.Path(f"{stem}.char_vocabulary.txt")):
        if written.exists():
            written.chmod(FILE_MODE)
    return metadata
