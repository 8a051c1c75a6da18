"""Exports from a run directory: everything the exporters need is read from the run's model.keras.

A text family's model.keras is a `TextTask`: its attached `TokenLookup` holds the vocabulary, the
split (tokenizer kind), lower-casing, the character vocabulary and the word length, and the task
holds the label names, so `seqkeras export savedmodel RUN` / `seqkeras export tflite RUN` take no
vocabulary, labels or tokenizer flags. A char LM run saved before its model became a `TextTask`
(a `CharLanguageModel` with `vocabulary.txt` beside it) is read as well. Forecast runs go through
`export/forecast.py`; biLM, seq2seq and word2vec runs through `export/task_archives.py` (SavedModel)
and `export/task_tflite.py` (TFLite).

Example:
```python
from export.from_run import export_run_saved_model, export_run_tflite
version_dir = export_run_saved_model("runs/tagger", "serving")
metadata = export_run_tflite("runs/charlm", "charlm.tflite", quantization="int8",
                             representative_texts=["Some real text."])
```
"""

import dataclasses
import pathlib

from export import task_tflite
from pipelines import common

TEXT_TASKS = {"tagger": "tagger", "classifier": "classifier", "charlm": "char_lm"}
SUPPORTED = tuple(TEXT_TASKS) + ("forecast",)
# Families with their own SavedModel archives (export/task_archives.py) and TFLite exports (export/task_tflite.py).
SAVEDMODEL_ONLY = ("bilm", "seq2seq", "word2vec")
CHAR_LM_MAX_LENGTH = 1001  # default longest scored text of a char LM export: BOS + 1000 characters
WORD_MAX_LENGTH = 128
CALIBRATION_MAX_LENGTH = 256  # tokens per calibration example (longer texts are cut)


@dataclasses.dataclass
class Exportable:
    """A loaded run as the exporters see it.

    Attributes:
        family: the run's family ("tagger", "classifier", "charlm", "forecast").
        model: the loaded model.keras (a `TextTask`, a legacy `CharLanguageModel`, a forecaster).
        network: the token-id Keras model (text families), else `model`.
        arguments: `export_saved_model` keyword arguments (text families).
    """

    family: str
    model: object
    network: object
    arguments: dict

    @property
    def task(self):
        return TEXT_TASKS.get(self.family)


def load_exportable(run_dir, what="export"):
    """Reads a run directory; a family without an exporter or a non-self-contained model is a UserError."""
    run = common.load_run(run_dir)
    if run.family not in SUPPORTED:
        raise common.UserError(f"{what} does not support {run.family} runs yet (supported: {', '.join(SUPPORTED)}). "
                               f"Received: {run.path}")
    model = common.load_model(run.model_path)
    if run.family == "forecast":
        return Exportable(run.family, model, model, {})
    from export.saved_model import text_task_arguments
    from seqkeras.models.common.text_task import TextTask

    if isinstance(model, TextTask):
        arguments = text_task_arguments(model)
        if run.family == "charlm":
            arguments.pop("labels", None)
            arguments.pop("lowercase", None)
            arguments.pop("char_vocabulary", None)
            # The training window is no serving limit: score up to 1000 characters unless --max-length.
            arguments["max_length"] = CHAR_LM_MAX_LENGTH
        elif not arguments.get("labels"):
            raise common.UserError(f"{run.model_path} holds a TextTask without labels; a {run.family} export "
                                   "needs the class names (retrain with the current pipeline)")
        return Exportable(run.family, model, arguments.pop("model"), arguments)
    if run.family == "charlm":  # saved before char LM runs held a TextTask: vocabulary.txt beside it
        from seqkeras.data.vocabulary import Vocabulary

        vocabulary_path = run.path / "vocabulary.txt"
        if not vocabulary_path.is_file():
            raise common.UserError(f"{run.path} holds no vocabulary.txt beside its char LM model.keras; "
                                   "retrain the run")
        arguments = {"vocabulary": Vocabulary.load(vocabulary_path), "tokenizer": "char",
                     "max_length": CHAR_LM_MAX_LENGTH}
        return Exportable(run.family, model, model, arguments)
    raise common.UserError(f"{run.model_path} is a {type(model).__name__}, not a self-contained TextTask; "
                           f"retrain the {run.family} run with the current pipeline")


def export_run_saved_model(run_dir, base_dir, *, name=None, version=None, overwrite=False, warmup_texts=None,
                           max_batch_size=None, max_text_chars=None, max_length=None):
    """Exports a run for TF Serving under `<base_dir>/<name>/<version>/`; returns the version dir.

    Args:
        run_dir: a trained run directory.
        base_dir: TF Serving's model base directory.
        name: model name (default: the family, `charlm` for a char LM).
        version: positive integer, or None for the next free version.
        overwrite: replace an existing explicit `version`.
        warmup_texts: real example texts for the warm-up records, or None.
        max_batch_size, max_text_chars: request limits (see `export.saved_model.RequestLimits`).
        max_length: longest token sequence of the raw-text signatures (default: the run's
            preprocessor's, else 128 tokens, or 1000 characters for a char LM).
    """
    from export import saved_model

    run = common.load_run(run_dir)
    if run.family == "captioner":  # pixels in, captions out: export/captioner.py
        from export import captioner

        return captioner.export_run_saved_model(run, base_dir, name=name, version=version, overwrite=overwrite,
                                                warmup_texts=warmup_texts, max_batch_size=max_batch_size,
                                                max_text_chars=max_text_chars, max_length=max_length)
    if run.family in SAVEDMODEL_ONLY:
        return _export_task_run(run, base_dir, name=name, version=version, overwrite=overwrite,
                                warmup_texts=warmup_texts, max_batch_size=max_batch_size,
                                max_text_chars=max_text_chars, max_length=max_length)
    exportable = load_exportable(run_dir, what="export savedmodel")
    name = name or exportable.family
    limits = {key: value for key, value in (("max_batch_size", max_batch_size), ("max_text_chars", max_text_chars))
              if value is not None}
    if exportable.family == "forecast":
        from export import forecast

        archive = forecast.build_forecast_archive(exportable.model)
        return saved_model.export_archive(archive, base_dir, name, version=version, overwrite=overwrite)
    arguments = dict(exportable.arguments)
    if max_length is not None:
        arguments["max_length"] = max_length
    arguments.setdefault("max_length", CHAR_LM_MAX_LENGTH if exportable.task == "char_lm" else WORD_MAX_LENGTH)
    return saved_model.export_saved_model(
        exportable.network, base_dir, task=exportable.task, name=name, version=version, overwrite=overwrite,
        warmup_texts=warmup_texts, **limits, **arguments,
    )


def _export_task_run(run, base_dir, *, name, max_length, **options):
    """A bilm / seq2seq / word2vec run through `export.task_archives` (their own signatures)."""
    from export import task_archives

    if max_length is not None:
        raise common.UserError(f"--max-length does not apply to {run.family} runs (their model.keras fixes the "
                               f"text handling). Received: --max-length {max_length}")
    model = common.load_model(run.model_path)
    problem = task_archives.check_model(run, model)
    if problem:
        raise common.UserError(problem)
    return task_archives.export_task_run(run, model, base_dir, name or run.family, **options)


def _export_task_tflite(run, out, **options):
    """A bilm / seq2seq / word2vec run through `export.task_tflite`; options that do not apply are one line."""
    from export import task_archives, task_tflite

    model = common.load_model(run.model_path)
    problem = task_archives.check_model(run, model)
    if problem:
        raise common.UserError(problem)
    try:
        return task_tflite.export_task_tflite(run, model, out, **options)
    except (ValueError, FileExistsError) as error:
        raise common.UserError(str(error).splitlines()[0]) from None


def calibration_lookup(exportable):
    """The `TokenLookup` that turns calibration texts into the model's own ids (characters for a
    char LM, with its BOS; words and their characters for a tagger)."""
    from seqkeras.data.token_lookup import TokenLookup

    arguments = exportable.arguments
    tokenizer = arguments.get("tokenizer", "whitespace")
    split = tokenizer if isinstance(tokenizer, str) else "char"
    return TokenLookup(
        arguments["vocabulary"], split=split, lowercase=arguments.get("lowercase", False),
        byte_fallback=bool(getattr(tokenizer, "byte_fallback", False)),
        add_bos=exportable.task == "char_lm", sequence_length=CALIBRATION_MAX_LENGTH, pad_to_sequence_length=False,
        char_vocabulary=arguments.get("char_vocabulary"), max_word_length=arguments.get("max_word_length", 16),
    )


def calibration_examples(exportable, texts, max_word_length=16):
    """`(examples, stats)`: per-text model inputs (no batch axis, no padding) from the run's own
    preprocessing, and `stats` = {"examples", "tokens", "oov_tokens", "oov_fraction"}."""
    import numpy as np
    import tensorflow as tf

    from seqkeras.data.vocabulary import OOV_ID

    lookup = calibration_lookup(exportable)
    features = lookup(tf.constant(list(texts)))
    lengths = features["padding_mask"].numpy().sum(axis=1)
    token_ids = features["token_ids"].numpy()
    char_ids = features["char_ids"].numpy() if "char_ids" in features else None
    examples, tokens, oov = [], 0, 0
    for row, length in enumerate(lengths):
        ids = token_ids[row, :length]
        text_ids = ids[1:] if exportable.task == "char_lm" else ids  # the BOS is not looked up
        if not len(text_ids):
            continue
        tokens += len(text_ids)
        oov += int(np.sum(text_ids == OOV_ID))
        example = {"token_ids": ids.astype(np.int32)}
        if char_ids is not None:
            chars = char_ids[row, :length, :max_word_length]
            example["char_ids"] = np.pad(chars, [[0, 0], [0, max_word_length - chars.shape[1]]]).astype(np.int32)
        examples.append(example)
    return examples, task_tflite.calibration_stats(examples, tokens, oov)


def export_run_tflite(run_dir, out, *, quantization="float32", representative_texts=None, batch_size=1,
                      sequence_length=None, float_ops=(), overwrite=False):
    """Converts a run's network to TFLite at `out` (plus vocabulary, labels and metadata JSON beside).

    int8 calibrates on `representative_texts` run through the run's own preprocessing, and the
    metadata records the calibration's out-of-vocabulary share (`calibration.oov_fraction`).
    """
    from export import tflite

    run = common.load_run(run_dir)
    if run.family == "captioner":  # pixels in, caption ids out, checked against Keras: export/captioner.py
        from export import captioner

        return captioner.export_run_tflite(run, out, quantization=quantization, representative_texts=representative_texts,
                                           batch_size=batch_size, sequence_length=sequence_length,
                                           float_ops=float_ops, overwrite=overwrite)
    if run.family in SAVEDMODEL_ONLY:
        return _export_task_tflite(run, out, quantization=quantization, representative_texts=representative_texts,
                                   batch_size=batch_size, sequence_length=sequence_length, float_ops=float_ops,
                                   overwrite=overwrite)
    exportable = load_exportable(run_dir, what="export tflite")
    out = pathlib.Path(out)
    if exportable.family == "forecast":
        from export import forecast

        if out.exists() and not overwrite:
            raise common.UserError(f"--out {out} already exists; pass --overwrite to replace it")
        return forecast.forecast_tflite(exportable.model, out)
    arguments = exportable.arguments
    representative, calibration = None, None
    if quantization in ("int8", "int16x8"):
        if not representative_texts:
            raise common.UserError(f"--quantization {quantization} needs --representative-file (real texts, one per line)")
        representative, calibration = calibration_examples(
            exportable, representative_texts, max_word_length=arguments.get("max_word_length", 16))
        if not representative:
            raise common.UserError("--representative-file holds no text that gives a token")
    id_ranges = {"token_ids": arguments["vocabulary"].size}
    if arguments.get("char_vocabulary") is not None:
        id_ranges["char_ids"] = arguments["char_vocabulary"].size
    return tflite.export_tflite(
        exportable.network, out, vocabulary=arguments["vocabulary"], labels=arguments.get("labels"),
        quantization=quantization, batch_size=batch_size, sequence_length=sequence_length,
        representative_token_ids=representative, float_ops=float_ops, overwrite=overwrite,
        id_ranges=id_ranges, calibration=calibration, max_word_length=arguments.get("max_word_length", 16),
    )
