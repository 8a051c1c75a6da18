"""Shared pieces of the training pipelines: config <-> command line, the run directory, callbacks.

The run directory is the contract every command after `train` reads:

    runs/<name>/config.json    {"family": ..., <every TrainConfig field as run>}
                model.keras    self-contained: raw inputs in (text families: strings), no side files
                metrics.json   final figures + the per-epoch history, kept across resumes
                tb/            TensorBoard (per-step scalars, validation, hparams, samples)
                ckpt/          resume state (BackupAndRestore or tf.train.Checkpoint)
                *.png          training curve and family plots

A pipeline module (``pipelines/train_<family>.py``) defines a frozen ``@dataclass TrainConfig``,
``main(config, resume=False, overwrite=False)`` and the CLI hooks ``configure(parser)`` /
``run(args)`` built with :func:`add_config_arguments` / :func:`config_from_args`. It may also define
``evaluate(run, args)``, ``predict(run, args)`` (see ``pipelines/evaluate.py`` and ``predict.py``).

This module imports no TensorFlow at import time (``--help`` stays fast); functions that need Keras
import it when called.

User mistakes raise :class:`UserError` with one line naming the flag, file or field and the value;
``pipelines.cli`` prints it and exits 2 without a traceback.
"""

import argparse
import dataclasses
import importlib
import json
import math
import os
import pathlib
import shutil
import tempfile
import typing
import zipfile

# family name (as written to config.json) -> the module that trains, evaluates and predicts it.
FAMILIES = {
    "charlm": "pipelines.train_charlm",
    "word2vec": "pipelines.train_word2vec",
    "tagger": "pipelines.train_tagger",
    "classifier": "pipelines.train_classifier",
    "bilm": "pipelines.train_bilm",
    "seq2seq": "pipelines.train_seq2seq",
    "forecast": "pipelines.train_forecast",
    "captioner": "pipelines.train_captioner",
}

CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
METRICS_FILE = "metrics.json"


class UserError(Exception):
    """A mistake in what the user gave (flag, file, value): one line, exit 2, no traceback."""


# ----------------------------------------------------------------------------------------------
# Config <-> command line
# ----------------------------------------------------------------------------------------------
def field(default, help_text, *, minimum=None, above=None, below=None, choices=None, **metadata):
    """A dataclass field whose help text shows in `seqkeras train <family> --help`.

    `minimum` (value >= it), `above` (value > it), `below` (value < it) and `choices` declare the
    valid values; the config's `__post_init__` calls :func:`check_fields` to enforce them.
    """
    bounds = {"minimum": minimum, "above": above, "below": below, "choices": choices}
    bounds = {key: value for key, value in bounds.items() if value is not None}
    return dataclasses.field(default=default, metadata={"help": help_text, **bounds, **metadata})


def check_fields(config):
    """Checks every field's declared bounds and choices (see :func:`field`), in field order.

    Raises:
        ValueError: one line naming the first invalid field and its value, e.g.
            "`hidden_dim` must be >= 1. Received: hidden_dim=0".
    """
    for item in dataclasses.fields(config):
        value, name, meta = getattr(config, item.name), item.name, item.metadata
        if value is None:  # an Optional field left unset
            continue
        if "choices" in meta and value not in meta["choices"]:
            raise ValueError(f"`{name}` must be one of {tuple(meta['choices'])}. Received: {name}={value!r}")
        for element in value if isinstance(value, (tuple, list)) else (value,):
            if "minimum" in meta and not element >= meta["minimum"]:
                raise ValueError(f"`{name}` must be >= {meta['minimum']}. Received: {name}={value!r}")
            if "above" in meta and not element > meta["above"]:
                raise ValueError(f"`{name}` must be > {meta['above']}. Received: {name}={value!r}")
            if "below" in meta and not element < meta["below"]:
                raise ValueError(f"`{name}` must be < {meta['below']}. Received: {name}={value!r}")


def _parse_bool(text):
    lowered = str(text).lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, received: {text!r}")


def _base_type(kind):
    """`int`, `float`, `str`, `bool` or `tuple` for a field annotation (Optional unwrapped)."""
    if isinstance(kind, str):  # `from __future__ import annotations`
        kind = kind.replace("typing.", "").replace("Optional[", "").rstrip("]")
        return {"int": int, "float": float, "str": str, "bool": bool}.get(kind, tuple if "tuple" in kind else str)
    origin = typing.get_origin(kind)
    if origin is typing.Union:
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        origin = typing.get_origin(kind)
    if kind is tuple or origin is tuple:
        return tuple
    return kind


def _is_optional(kind):
    if isinstance(kind, str):
        return kind.startswith(("Optional", "typing.Optional")) or "None" in kind
    return typing.get_origin(kind) is typing.Union and type(None) in typing.get_args(kind)


def _comma_tuple(text):
    return tuple(part.strip() for part in str(text).split(",") if part.strip())


def add_config_arguments(parser, config_class):
    """One `--field-name` option per dataclass field, plus `--config`, `--resume`, `--overwrite`.

    Boolean fields get `--name/--no-name`; tuple fields take a comma-separated list (or repeat).
    """
    parser.add_argument("--config", type=pathlib.Path, default=None,
                        help="JSON file of field values (e.g. a run's config.json); options given here override it")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --run-dir from its last checkpoint (the config must be the same)")
    parser.add_argument("--overwrite", action="store_true", help="delete an existing --run-dir and start afresh")
    for item in dataclasses.fields(config_class):
        flag = "--" + item.name.replace("_", "-")
        # argparse %-formats help strings: escape literal percent signs.
        help_text = f"{item.metadata.get('help', '')} (default: {item.default!r})".strip().replace("%", "%%")
        kind = _base_type(item.type)
        if kind is bool:
            parser.add_argument(flag, dest=item.name, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=help_text)
        elif kind is tuple:
            parser.add_argument(flag, dest=item.name, type=_comma_tuple, action="append",
                                default=argparse.SUPPRESS, help=help_text + "; comma-separated or repeated")
        else:
            parser.add_argument(flag, dest=item.name, type=kind, default=argparse.SUPPRESS, help=help_text)


def _check_value(config_class, item, value):
    """Returns `value` converted to the field's type, or raises UserError naming the field."""
    kind = _base_type(item.type)
    where = f"`{item.name}` ({config_class.__module__.split('.')[-1]})"
    if value is None:
        if _is_optional(item.type) or item.default is None:
            return None
        raise UserError(f"{where} must not be null. Received: {item.name}=None")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"{where} must be true or false. Received: {item.name}={value!r}")
    if kind is int:
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or int(value) != value):  # JSON NaN / 1e400 would make int() raise
            raise UserError(f"{where} must be an integer. Received: {item.name}={value!r}")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where} must be a number. Received: {item.name}={value!r}")
        if not math.isfinite(value):
            raise UserError(f"{where} must be finite. Received: {item.name}={value!r}")
        return float(value)
    if kind is tuple:
        if isinstance(value, str):
            return _comma_tuple(value)
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where} must be a list. Received: {item.name}={value!r}")
        return tuple(value)
    if kind is str:
        if not isinstance(value, str):
            raise UserError(f"{where} must be a string. Received: {item.name}={value!r}")
        return value
    return value


def config_from_dict(config_class, values):
    """Builds a config from a dict: unknown keys, wrong types, non-finite numbers and invalid values
    are a UserError naming the field. A `family` key (as in config.json) is ignored."""
    values = {key: value for key, value in values.items() if key != "family"}
    fields = {item.name: item for item in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UserError(f"unknown config keys {unknown}; known keys: {sorted(fields)}")
    checked = {name: _check_value(config_class, fields[name], value) for name, value in values.items()}
    try:
        return config_class(**checked)
    except (ValueError, TypeError) as error:
        raise UserError(str(error).splitlines()[0]) from None


def read_json_object(path, what="--config"):
    """A JSON object from a file, or a UserError naming the file and what is wrong."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what}: file not found. Received: {path}") from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as error:
        raise UserError(f"{what}: cannot read {path}: {error}") from None
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{what}: {path} is not valid JSON ({error})") from None
    if not isinstance(values, dict):
        raise UserError(f"{what}: {path} must hold a JSON object of fields. Received: {type(values).__name__}")
    return values


def config_from_args(config_class, args):
    """Config from `--config` (if given) overridden by explicit command-line options."""
    values = {}
    if getattr(args, "config", None) is not None:
        values.update(read_json_object(args.config))
    fields = {item.name: item for item in dataclasses.fields(config_class)}
    for name, value in vars(args).items():
        if name in fields:
            if _base_type(fields[name].type) is tuple and isinstance(value, list):  # appended tuples
                value = tuple(part for chunk in value for part in chunk)
            values[name] = value
    return config_from_dict(config_class, values)


# ----------------------------------------------------------------------------------------------
# The run directory
# ----------------------------------------------------------------------------------------------
def config_dict(config, family):
    return {"family": family, **dataclasses.asdict(config)}


def _json_ready(values):
    return json.loads(json.dumps(values, default=list))  # tuples -> lists, as config.json holds them


def _deployment_fields(config):
    """Fields a resume may change: `run_dir` and those declared `field(..., deployment=True)`
    (where and on how many workers a run trains, not what it trains)."""
    return {"run_dir"} | {item.name for item in dataclasses.fields(config) if item.metadata.get("deployment")}


def open_run_dir(config, family, *, resume=False, overwrite=False):
    """Creates (or re-opens) `config.run_dir` and writes config.json; returns the path.

    An existing, non-empty run dir is refused unless `resume` (the config must be the same: the
    differing fields are listed and nothing is rewritten) or `overwrite` (the folder is deleted).
    Call it after the config is validated and before any data loads.
    """
    if resume and overwrite:
        raise UserError("--resume and --overwrite exclude each other")
    run_dir = pathlib.Path(config.run_dir)
    wanted = _json_ready(config_dict(config, family))
    check_writable_folder(run_dir, "--run-dir")  # it, or a folder above it, is a file
    if run_dir.exists() and any(run_dir.iterdir()):
        if overwrite:
            shutil.rmtree(run_dir)
        elif resume:
            previous = read_json_object(run_dir / CONFIG_FILE, what="run") if (run_dir / CONFIG_FILE).exists() else None
            if previous is None:
                raise UserError(f"--resume: {run_dir} has no {CONFIG_FILE}; it is not a run dir (pass --overwrite to replace it)")
            differing = sorted(key for key in set(previous) | set(wanted)
                               if key not in _deployment_fields(config) and previous.get(key) != wanted.get(key))
            if differing:
                changes = ", ".join(f"{key}: {previous.get(key)!r} -> {wanted.get(key)!r}" for key in differing)
                raise UserError(f"--resume: the config differs from the run in {run_dir} ({changes}); "
                                "resume with the same options, or pass --overwrite")
            return run_dir
        else:
            raise UserError(f"run dir {run_dir} already exists; pass --resume to continue it or --overwrite "
                            "to replace it (or choose another --run-dir)")
    existed = run_dir.is_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomically(run_dir / CONFIG_FILE, wanted)
    _STARTED_RUN_DIRS.append((run_dir, existed))
    return run_dir


_STARTED_RUN_DIRS = []  # (run dir, whether the folder existed) of each config.json this process wrote to a new run


def discard_unstarted_runs():
    """Removes the run dirs this process created that still hold nothing but config.json (and empty
    folders): a user error found after `open_run_dir` (a corrupt corpus file, too little data, ...)
    then leaves no run behind that a corrected retry would have to --overwrite. A dir holding
    anything else (a model, a checkpoint, metrics, logs) is kept; a folder that existed (empty)
    before the run keeps existing, emptied again."""
    while _STARTED_RUN_DIRS:
        run_dir, existed = _STARTED_RUN_DIRS.pop()
        if not run_dir.is_dir():
            continue
        entries = list(run_dir.rglob("*"))
        if all(path.is_dir() or path == run_dir / CONFIG_FILE for path in entries):
            if existed:  # an (empty) folder the user made: only what this run wrote goes
                (run_dir / CONFIG_FILE).unlink(missing_ok=True)
                for folder in sorted((path for path in entries if path.is_dir()), reverse=True):
                    folder.rmdir()
            else:
                shutil.rmtree(run_dir, ignore_errors=True)


def check_writable_folder(folder, flag, received=None):
    """A one-line UserError when `folder` (to be created if missing) cannot be one: it, or a folder
    above it, is a file. `received`: the flag's value, when it is a file inside `folder`."""
    folder = pathlib.Path(folder)
    blocking = next((path for path in (folder, *folder.parents) if path.exists() and not path.is_dir()), None)
    if blocking is not None:
        raise UserError(f"{flag}: {blocking} is a file, not a folder. Received: {flag} {received or folder}")


def make_output_folder(folder, flag):
    """Creates `folder` (and its parents) and checks a file can be written in it; a one-line UserError
    naming `flag` otherwise (a read-only or virtual file system would fail only at the first write)."""
    folder = pathlib.Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        raise UserError(f"{flag}: cannot write into {folder}: {error.strerror}") from None


def write_json_atomically(path, values):
    """Writes JSON (strict: NaN/Inf become null) through a temp file and a rename."""
    path = pathlib.Path(path)
    text = json.dumps(_finite_or_null(values), indent=2, allow_nan=False)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False,
                                     encoding="utf-8") as handle:
        handle.write(text + "\n")
    os.replace(handle.name, path)


def _finite_or_null(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(item) for item in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # NumPy scalars
        return _finite_or_null(value.item())
    return value


def update_metrics(run_dir, history=None, **sections):
    """Merges `sections` into metrics.json; `history` ({metric: [per-epoch]}) continues the stored
    history from its `epoch` list, so epochs trained before a resume are kept."""
    path = pathlib.Path(run_dir) / METRICS_FILE
    metrics = json.loads(path.read_text()) if path.exists() else {}
    if history is not None:
        metrics["history"] = merge_history(metrics.get("history", {}), history)
    metrics.update(sections)
    write_json_atomically(path, metrics)
    return metrics


def merge_history(stored, history):
    """`stored` ({metric: [per-epoch]}) continued by `history` from its first `epoch` on (epochs after
    it, e.g. trained before a resume and trained again, are replaced)."""
    epochs = history.get("epoch")
    first = epochs[0] if epochs else len(stored.get("epoch", []))
    return {key: list(stored.get(key, []))[:first] + [float(value) for value in history.get(key, [])]
            for key in set(stored) | set(history)}


@dataclasses.dataclass(frozen=True)
class Run:
    """A trained run directory as later commands see it."""

    path: pathlib.Path
    family: str
    config: dict

    @property
    def model_path(self):
        return self.path / MODEL_FILE

    def module(self):
        return importlib.import_module(FAMILIES[self.family])

    def train_config(self):
        """The run's frozen TrainConfig (fields the current code no longer knows are an error)."""
        return config_from_dict(self.module().TrainConfig, self.config)


def load_run(path, family=None):
    """Reads `RUN/config.json`; a missing folder or file, or another family, is a UserError."""
    path = pathlib.Path(path)
    if not path.is_dir():
        raise UserError(f"run dir not found. Received: {path}")
    config = read_json_object(path / CONFIG_FILE, what="run")
    name = config.get("family")
    if name not in FAMILIES:
        raise UserError(f"{path / CONFIG_FILE} names no known family (one of {sorted(FAMILIES)}). Received: family={name!r}")
    if family is not None and name not in ((family,) if isinstance(family, str) else tuple(family)):
        raise UserError(f"{path} is a {name} run; this command needs a {family} run")
    return Run(path=path, family=name, config=config)


def load_model(path, what="model"):
    """`keras.saving.load_model` with one-line errors for missing, empty, truncated or corrupt files."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError(f"{what} file not found. Received: {path}")
    if path.stat().st_size == 0 or not zipfile.is_zipfile(path):
        raise UserError(f"{what} file {path} is empty, truncated or not a .keras archive; retrain or restore it")
    import keras  # after the file checks: a bad path fails without starting TensorFlow

    import seqkeras  # noqa: F401  (registers every serialisable class)
    try:
        return keras.saving.load_model(path, compile=False)
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{what} file {path} cannot be loaded ({first})") from None


def inference_copy(network):
    """The trained network without its compile state (optimizer, loss), for `model.keras`: the file
    then loads with the package's layers alone; `ckpt/` keeps the training state."""
    copy = type(network).from_config(network.get_config())
    copy.set_weights(network.get_weights())
    return copy


def save_model(model, path):
    """Saves a `.keras` file through a temp file and a rename, refusing non-finite weights
    (a diverged model is never saved as the result)."""
    import numpy as np

    for variable in model.weights:
        value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise UserError(f"training diverged: weight {variable.path} holds NaN/Inf; the model was not saved "
                            "(lower --learning-rate or set --clipnorm)")
    path = pathlib.Path(path)
    temporary = path.with_name(f".{path.stem}.tmp.keras")
    model.save(temporary)
    os.replace(temporary, path)


# ----------------------------------------------------------------------------------------------
# Callbacks
# ----------------------------------------------------------------------------------------------
def check_backup(run_dir):
    """A corrupt `ckpt/backup` (e.g. truncated by a kill during a write) is a UserError naming it."""
    backup = pathlib.Path(run_dir) / "ckpt" / "backup"
    if not backup.exists():
        return
    for path in sorted(backup.rglob("*")):
        if not path.is_file():
            continue
        try:
            if path.suffix == ".h5":
                import h5py

                with h5py.File(path, "r"):
                    pass
            elif path.suffix == ".json":
                json.loads(path.read_text())
        except Exception as error:  # any unreadable backup blocks a resume in the same way
            raise UserError(f"checkpoint {path} is corrupt ({type(error).__name__}); delete {backup} to restart "
                            "that run from scratch, or pass --overwrite") from None


def finite_loss_callback():
    """Stops training at the first non-finite loss; the pipeline then refuses to save (see
    :func:`raise_if_diverged`)."""
    import keras

    class StopOnNonFiniteLoss(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.diverged_at = None

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.diverged_at = (self.epoch, batch, float(loss))
                self.model.stop_training = True

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    return StopOnNonFiniteLoss()


def raise_if_diverged(callbacks):
    for callback in callbacks:
        where = getattr(callback, "diverged_at", None)
        if where is not None:
            epoch, batch, loss = where
            raise UserError(f"training diverged: loss={loss} at epoch {epoch + 1}, batch {batch + 1}; the model was "
                            "not saved (lower --learning-rate or set --clipnorm)")


def standard_callbacks(run_dir, *, checkpoint_monitor="val_loss", update_freq=50):
    """TensorBoard (scalars every `update_freq` steps), best-model checkpoint, BackupAndRestore
    (resume after an interruption) and the non-finite-loss stop."""
    import keras

    run_dir = pathlib.Path(run_dir)
    check_backup(run_dir)
    return [
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tb"), update_freq=update_freq),
        keras.callbacks.ModelCheckpoint(
            filepath=str(run_dir / "ckpt" / "best.keras"), monitor=checkpoint_monitor, save_best_only=True
        ),
        keras.callbacks.BackupAndRestore(backup_dir=str(run_dir / "ckpt" / "backup")),
        finite_loss_callback(),
    ]


def log_hparams(run_dir, config, metrics):
    """Fills TensorBoard's HParams dashboard: the config's scalar fields and the final metrics."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams_api

    hparams = {key: value for key, value in dataclasses.asdict(config).items()
               if isinstance(value, (bool, int, float, str))}
    scalars = {key: float(value) for key, value in metrics.items()
               if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}
    with tf.summary.create_file_writer(str(pathlib.Path(run_dir) / "tb" / "hparams")).as_default():
        hparams_api.hparams(hparams)
        for key, value in scalars.items():
            tf.summary.scalar(key, value, step=0)


def plot_history(history, path, title=None):
    """Training curves (one panel per metric, train and validation together) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(key for key in history if not key.startswith("val_") and key not in ("epoch", "learning_rate", "train_seconds"))
    if not names:
        return None
    figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
    for axis, name in zip(axes[0], names):
        values = history[name]
        axis.plot(range(1, len(values) + 1), values, marker="o", label="train")
        if f"val_{name}" in history:
            axis.plot(range(1, len(history[f"val_{name}"]) + 1), history[f"val_{name}"], marker="o", label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return pathlib.Path(path)


# ----------------------------------------------------------------------------------------------
# Reading user files
# ----------------------------------------------------------------------------------------------
def read_text_file(path, flag):
    """A UTF-8 file's text; missing, unreadable or invalid UTF-8 is a UserError naming the flag."""
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{flag}: file not found. Received: {path}") from None
    except (IsADirectoryError, PermissionError) as error:
        raise UserError(f"{flag}: cannot read {path}: {error.strerror}") from None
    if path.suffix == ".gz":
        import gzip

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise UserError(f"{flag}: {path} is not a valid gzip file ({error})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UserError(f"{flag}: {path} is not valid UTF-8 (byte {error.start}, line {line})") from None


def check_text_files(paths, flag):
    """A one-line UserError (naming `flag`, the file and the byte) for the first of `paths` that is not
    valid gzip (`.gz`, a file cut short included) or not valid UTF-8 (`text_files.check_files`: read in
    chunks, memory stays flat). Streamed corpora are checked once before training: `tf.data` reads a
    truncated gzip file up to the cut without an error."""
    from seqkeras.data import text_files

    try:
        text_files.check_files(paths)
    except ValueError as error:
        raise UserError(f"{flag}: {error}") from None


def read_lines(path, flag, *, allow_empty=False):
    """Non-blank lines of a UTF-8 text file (see :func:`read_text_file`); empty is an error."""
    lines = [line for line in read_text_file(path, flag).splitlines() if line.strip()]
    if not lines and not allow_empty:
        raise UserError(f"{flag}: {path} has no non-blank lines")
    return lines


MATMUL_DTYPES = ("float32", "bfloat16", "auto")
MATMUL_DTYPE_HELP = ('dtype of the LSTM matrix products in training steps: "float32", "bfloat16" (faster on CPUs '
                     'with AVX512_BF16 or AMX, emulated and slower elsewhere) or "auto" (bfloat16 where the CPU has '
                     'it); evaluation, sampling and the saved model compute in float32')


def train_matmul_dtype(choice):
    """`--matmul-dtype` (one of `MATMUL_DTYPES`) -> an LSTM's `train_matmul_dtype` (None: float32)."""
    if choice == "auto":
        from seqkeras.layers.lstm import cpu_has_bfloat16

        choice = "bfloat16" if cpu_has_bfloat16() else "float32"
    return None if choice == "float32" else choice


ONEDNN_CACHE_CAPACITY = 16384  # oneDNN kernels kept by `split_threads` (oneDNN's default: 1,024)


def split_threads():
    """Runs each op on half the cores (at least one) and up to two ops at once.

    For training steps made of two independent chains of small ops: the biLM's forward and backward
    LMs, or the char LM's two halves of the batch (`--parallel-rows 2`); one LSTM step is a
    `(B, H) x (H, 4H)` matmul, and each chain a loop of a few hundred such steps. Splitting every op
    over all cores (TensorFlow's default) costs more in hand-offs than it gains at these sizes; one
    op per half of the cores lets the two chains run at the same time. On the 2-core benchmark
    machine (nearly idle) a biLM step of 1,024-word batches took 63 ms instead of 86-106 ms. It sets
    the process's thread pools, so it only works before TensorFlow's first op.

    It also raises oneDNN's primitive cache from 1,024 kernels to `ONEDNN_CACHE_CAPACITY` (unless the
    environment sets `ONEDNN_PRIMITIVE_CACHE_CAPACITY`): token-budget batches bring new shapes for a
    long time (batch and word length per bucket, the number of real targets per batch), and once
    the default cache is full, evicted kernels are compiled again. Measured on the biLM benchmark's
    configuration (2-core Xeon, no callbacks): words per wall-second fell from 31.1k (epochs 2-6) to
    28.2k (epochs 16-20) and 26.0k (epochs 21-25) with the default, and stayed at 30.2k / 31.2k with
    16,384 (`elmo.json` `primitive_cache_diagnosis`).

    Returns:
        `{"intra_op": n, "inter_op": n}`: the pools in force, as TensorFlow reports them (0: its
        default, every core), set or not.
    """
    import tensorflow as tf

    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(ONEDNN_CACHE_CAPACITY))  # read at the first kernel
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, cores // 2))
        tf.config.threading.set_inter_op_parallelism_threads(max(2, cores))
    except RuntimeError:  # TensorFlow already runs (e.g. main called from a process that trained before)
        pass
    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
