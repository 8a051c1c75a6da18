"""SavedModel and TFLite exports of a captioner run: raw pixel vectors in, captions out.

Everything is read from the run's self-contained `model.keras` (a `CaptionerTask`: pixel scale,
caption characters, network).

- SavedModel (`seqkeras export savedmodel RUN`): `caption_pixels(pixels)` (also
  `serving_default`) takes float32 `pixels` `[B, num_pixels]` of raw values (0..16 for the digits)
  and returns `caption` string `[B]` and `token_ids` int32 `[B, max_caption_length]` (greedy
  decoding, EOS included, PAD after it: what `seqkeras predict RUN --csv F` gives). The request is
  checked in the graph: 1..`max_batch_size` rows, every value finite and in 0..`pixel_max` (an
  INVALID_ARGUMENT error otherwise). `request_limits` returns the limits.
- TFLite (`seqkeras export tflite RUN`): `serving_default` takes float32 `pixels`
  `[batch_size, num_pixels]` and returns `token_ids` int32 `[batch_size, max_caption_length]`,
  the same greedy decoding unrolled over the run's few caption steps (one graph, no `WHILE` and
  no host loop); `<stem>.vocabulary.txt` maps ids back to characters and `CaptionerRunner` does it
  with numpy and LiteRT only. TFLite has no assert op: the host checks its pixels. The export
  runs the file on the run's held-out images and records the share of captions equal to Keras'
  (`parity.caption_agreement`; float32 must agree on every image, else the export fails).

Example:
```python
from export.captioner import CaptionerRunner
CaptionerRunner("runs/captioner/tflite/model.tflite").caption(sklearn.datasets.load_digits().data[:2])
# ['zero', 'one']
```
"""

import json
import pathlib

import numpy as np

SIGNATURE = "caption_pixels"
QUANTIZATIONS = ("float32", "dynamic_range", "float16")
INT8_REASON = ("int8 does not apply to captioner runs (the unrolled decoder's recurrent states have no calibration "
               "data); use --quantization dynamic_range (int8 weights) or float16")
PARITY_IMAGES = 200
PAD_ID, BOS_ID, EOS_ID = 0, 2, 3  # seqkeras.data.vocabulary, without importing TF


# ----------------------------------------------------------------------------------------------
# SavedModel
# ----------------------------------------------------------------------------------------------
def validated_pixels(pixels, limits, pixel_max):
    """Checks a pixel request in the graph: 1..max_batch_size rows, finite values in 0..pixel_max."""
    import tensorflow as tf

    from export.saved_model import _checked_batch, _guarded

    tensors = _checked_batch("pixels", {"pixels": pixels}, tf.shape(pixels)[0], limits)
    finite = tf.math.is_finite(pixels)
    tensors = _guarded(tf.reduce_all(finite), "`pixels` must be finite. Received: NaN or Inf at row {}",
                       [tf.argmin(tf.cast(tf.reduce_all(finite, axis=1), tf.int32), output_type=tf.int32)], tensors)
    inside = tf.logical_and(pixels >= 0.0, pixels <= pixel_max)
    return _guarded(tf.reduce_all(inside),
                    f"`pixels` must lie in 0..{pixel_max:g}. Received: min {{}}, max {{}}",
                    [tf.reduce_min(pixels), tf.reduce_max(pixels)], tensors)["pixels"]


def build_captioner_archive(task, limits=None):
    """ExportArchive of a `CaptionerTask`: `caption_pixels` (default) and `request_limits`."""
    import keras
    import tensorflow as tf

    from export.saved_model import RequestLimits

    limits = limits or RequestLimits()

    def caption_pixels(pixels):
        ids = task.decode(validated_pixels(pixels, limits, task.pixel_max), task.max_caption_length)
        return {"caption": task.detokenize(ids), "token_ids": ids}

    resources = tf.Module()
    resources.target_preprocessor = task.target_preprocessor
    archive = keras.export.ExportArchive()
    archive.track(task.network)
    archive.track(resources)
    spec = [tf.TensorSpec([None, task.label_dim], tf.float32, name="pixels")]
    archive.add_endpoint(SIGNATURE, caption_pixels, input_signature=spec)  # the first endpoint: serving_default
    archive.add_endpoint("request_limits", limits.endpoint(), input_signature=[])
    return archive


def export_saved_model(task, base_dir, name, *, version=None, overwrite=False, warmup_texts=None,
                       max_batch_size=None, max_text_chars=None, max_length=None):
    """Writes `<base_dir>/<name>/<version>/` of a captioner's task; returns the version dir.

    Raises:
        ValueError: a text-only option (warm-up texts, max text chars, max length) was given.
    """
    from export.saved_model import RequestLimits, write_request_limits
    from export.versioning import write_version_atomically

    for flag, value in (("--warmup-file", warmup_texts), ("--max-text-chars", max_text_chars),
                        ("--max-length", max_length)):
        if value is not None:
            raise ValueError(f"{flag} does not apply to captioner runs (pixels in, not text)")
    limits = RequestLimits(**({"max_batch_size": max_batch_size} if max_batch_size is not None else {}))
    archive = build_captioner_archive(task, limits)

    def write(tmp_dir):
        from export.archive import write_archive
        write_archive(archive, str(tmp_dir))
        write_request_limits(tmp_dir, limits)

    return write_version_atomically(base_dir, name, version, write, overwrite=overwrite)


# ----------------------------------------------------------------------------------------------
# TFLite
# ----------------------------------------------------------------------------------------------
def unrolled_greedy_ids(task, pixels):
    """Greedy caption ids `[B, max_caption_length]` of raw pixels, the decoder's steps unrolled
    (the same weights and steps as `ConditionalDecoder.generate`, without a `tf.while_loop`)."""
    import keras
    import tensorflow as tf

    from seqkeras.models.seq2seq.generation import context_model

    decoder = task.network.get_layer("decoder")
    context = context_model(task.network)({"label": task.label(pixels)}, training=False)  # (B, C)
    batch = tf.shape(context)[0]
    conditioned = None if decoder.context_projection is None else decoder.context_projection(context)  # (B, H)
    states = []
    for layer, initial in zip(decoder.recurrent_layers, decoder._initial_states(context)):
        if initial is None:
            initial = [tf.zeros([batch, size], context.dtype) for size in keras.tree.flatten(layer.cell.state_size)]
        states.append(list(initial))
    token, finished, steps = tf.fill([batch], BOS_ID), tf.zeros([batch], tf.bool), []
    for _ in range(task.max_caption_length):
        logits, states = decoder._step(token, states, conditioned)  # (B, V)
        token = tf.where(finished, PAD_ID, tf.argmax(logits, axis=-1, output_type=tf.int32))  # (B,)
        finished = tf.logical_or(finished, tf.equal(token, EOS_ID))
        steps.append(token)
    return tf.stack(steps, axis=1)  # (B, max_caption_length)


def convert(task, quantization="float32", batch_size=1, scratch=None):
    """TFLite bytes of the unrolled greedy captioner (see the module docstring)."""
    import contextlib
    import tempfile

    import keras
    import tensorflow as tf

    if quantization not in QUANTIZATIONS:
        raise ValueError(INT8_REASON if quantization == "int8" else
                         f"--quantization {quantization} does not apply to captioner runs "
                         f"(choose from {', '.join(QUANTIZATIONS)})")
    archive = keras.export.ExportArchive()
    archive.track(task.network)
    archive.add_endpoint("serving_default", lambda pixels: {"token_ids": unrolled_greedy_ids(task, pixels)},
                         input_signature=[tf.TensorSpec([batch_size, task.label_dim], tf.float32, name="pixels")])
    folder = tempfile.TemporaryDirectory() if scratch is None else contextlib.nullcontext(str(scratch))
    with folder as scratch:
        from export.archive import write_archive
        write_archive(archive, scratch)
        converter = tf.lite.TFLiteConverter.from_saved_model(scratch)
        if quantization != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        return converter.convert()


class CaptionerRunner:
    """Captions from a captioner `.tflite` file with numpy and LiteRT only (as an app host would).

    Args:
        path: the `.tflite` file; `<stem>.json` and `<stem>.vocabulary.txt` beside it are read.
        content: the file's bytes instead of reading `path` (the metadata files are still read).
    """

    def __init__(self, path, content=None):
        from ai_edge_litert.interpreter import Interpreter

        from export.task_tflite import read_tokens

        path = pathlib.Path(path)
        self.metadata = json.loads(path.with_suffix(".json").read_text())
        self.tokens = read_tokens(path.with_suffix(".vocabulary.txt"))
        self.interpreter = Interpreter(model_content=path.read_bytes() if content is None else content)
        self.interpreter.allocate_tensors()
        self.runner = self.interpreter.get_signature_runner("serving_default")

    def token_ids(self, pixels):
        """int32 `[N, max_caption_length]` greedy ids of raw pixels `[N, num_pixels]` (batch-padded)."""
        pixels = np.asarray(pixels, np.float32)
        size = self.metadata["batch_size"]
        rows = []
        for start in range(0, len(pixels), size):
            chunk = pixels[start: start + size]
            padded = np.concatenate([chunk, np.zeros((size - len(chunk), chunk.shape[1]), np.float32)])
            rows.append(np.array(self.runner(pixels=padded)["token_ids"])[: len(chunk)])
        return np.concatenate(rows)

    def detokenize(self, ids):
        from export.task_tflite import detokenize

        return detokenize(ids, self.tokens)

    def caption(self, pixels):
        return [self.detokenize(row) for row in self.token_ids(pixels)]


def export_tflite(task, out, *, parity_pixels, quantization="float32", batch_size=1, sequence_length=None,
                  float_ops=(), overwrite=False, parity_source="held-out images"):
    """Writes `out` (+ `<stem>.json`, `<stem>.vocabulary.txt`) and checks it against Keras on
    `parity_pixels`; returns the metadata.

    Raises:
        ValueError: an option that does not apply, or a float32 file whose captions differ from Keras'.
        FileExistsError: `out` exists and not `overwrite`.
    """
    from export.tflite import tflite_ops
    from export.versioning import FILE_MODE, scratch_dir
    from seqkeras.data.token_file import write_token_file

    if sequence_length is not None:
        raise ValueError(f"--sequence-length does not apply to captioner runs (the caption length is the run's "
                         f"max_caption_length). Received: --sequence-length {sequence_length}")
    if float_ops:
        raise ValueError("--float-output-layer does not apply to captioner runs (no int8 export)")
    out = pathlib.Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"--out {out} already exists; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    with scratch_dir(out.parent) as scratch:
        content = convert(task, quantization, batch_size, scratch=scratch)
    stem = out.with_suffix("")
    write_token_file(f"{stem}.vocabulary.txt", list(task.target_preprocessor.vocabulary.tokens))
    metadata = {
        "family": "captioner",
        "signatures": {"serving_default": {"inputs": {"pixels": f"float32 [{batch_size}, {task.label_dim}]"},
                                           "outputs": {"token_ids": f"int32 [{batch_size}, {task.max_caption_length}]"}}},
        "decoding": "greedy, unrolled in the graph; read ids up to eos_id with the vocabulary",
        "batch_size": batch_size, "num_pixels": task.label_dim, "pixel_max": task.pixel_max,
        "max_caption_length": task.max_caption_length, "bos_id": BOS_ID, "eos_id": EOS_ID, "pad_id": PAD_ID,
        "vocabulary": f"{stem.name}.vocabulary.txt", "quantization": quantization, "ops": tflite_ops(content),
        "model_bytes": len(content),
    }
    pathlib.Path(f"{stem}.json").write_text(json.dumps(metadata, indent=2))
    parity_pixels = np.asarray(parity_pixels, np.float32)[:PARITY_IMAGES]
    lite = CaptionerRunner(out, content=content).caption(parity_pixels)
    reference = task.caption(parity_pixels)
    agreement = float(np.mean([a == b for a, b in zip(lite, reference)]))
    metadata["parity"] = {"images": len(reference), "inputs": parity_source, "caption_agreement": agreement}
    pathlib.Path(f"{stem}.json").write_text(json.dumps(metadata, indent=2))
    if quantization == "float32" and agreement < 1.0:
        raise ValueError(f"the float32 TFLite captions differ from Keras on {1 - agreement:.1%} of "
                         f"{len(reference)} {parity_source}; the export is not usable")
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(content)
    tmp.replace(out)
    for written in (out, pathlib.Path(f"{stem}.json"), pathlib.Path(f"{stem}.vocabulary.txt")):
        written.chmod(FILE_MODE)
    return metadata


# ----------------------------------------------------------------------------------------------
# From a run directory
# ----------------------------------------------------------------------------------------------
def load_task(run):
    from pipelines import train_captioner

    return train_captioner.load_task(run)


def parity_pixels(run, task):
    """`(pixels, what)`: the run's held-out images, or seeded random pixels when its data is gone."""
    from pipelines import common, train_captioner

    try:
        return train_captioner.load_data(run.train_config())["test"][0], "held-out images"
    except common.UserError:
        pixels = np.random.default_rng(0).uniform(0, task.pixel_max, (PARITY_IMAGES, task.label_dim))
        return pixels.astype(np.float32), "random pixels (the run's data is not readable)"


def export_run_saved_model(run, base_dir, *, name=None, **options):
    from pipelines import common

    try:
        return export_saved_model(load_task(run), base_dir, name or run.family, **options)
    except ValueError as error:
        raise common.UserError(f"export savedmodel: {str(error).splitlines()[0]}") from None


def export_run_tflite(run, out, *, representative_texts=None, **options):
    from pipelines import common

    if options.get("quantization") == "int8":
        raise common.UserError(INT8_REASON)
    if representative_texts:
        raise common.UserError("--representative-file does not apply to captioner runs (no int8 export)")
    task = load_task(run)
    pixels, what = parity_pixels(run, task)
    try:
        return export_tflite(task, out, parity_pixels=pixels, parity_source=what, **options)
    except (ValueError, FileExistsError) as error:
        raise common.UserError(str(error).splitlines()[0]) from None
