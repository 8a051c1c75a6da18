"""Shared pieces of the training pipelines: config <-> command line, run directory, callbacks.

A pipeline module defines a frozen ``@dataclass TrainConfig`` and a ``main(config)``; the CLI hooks
``configure(parser)`` / ``run(args)`` are built from them with :func:`add_config_arguments` and
:func:`config_from_args`.
"""

import argparse
import dataclasses
import json
import pathlib
import typing

import keras


def _parse_bool(text):
    lowered = str(text).lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, received: {text!r}")


def _field_type(field):
    kind = field.type
    if isinstance(kind, str):  # `from __future__ import annotations`
        kind = {"int": int, "float": float, "str": str, "bool": bool}.get(kind, str)
    origin = typing.get_origin(kind)
    if origin is typing.Union:  # Optional[X]
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if kind is bool:
        return _parse_bool
    return kind


def add_config_arguments(parser, config_class):
    """Adds one `--field-name` option per dataclass field, plus `--config run.json`."""
    parser.add_argument("--config", type=pathlib.Path, default=None,
                        help="JSON file of field values; command-line options override it")
    for field in dataclasses.fields(config_class):
        default = field.default
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=_field_type(field),
            default=argparse.SUPPRESS,
            # argparse %-formats help strings: escape literal percent signs.
            help=f"{field.metadata.get('help', '')} (default: {default!r})".strip().replace("%", "%%"),
        )


def config_from_dict(config_class, values):
    """Builds a config from a dict; unknown keys are an error naming them."""
    names = {field.name for field in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"Unknown {config_class.__name__} keys: {unknown}. Known keys: {sorted(names)}")
    return config_class(**values)


def config_from_args(config_class, args):
    """Config from `--config` (if given) overridden by explicit command-line options."""
    values = {}
    if getattr(args, "config", None) is not None:
        values.update(json.loads(pathlib.Path(args.config).read_text()))
    names = {field.name for field in dataclasses.fields(config_class)}
    values.update({name: value for name, value in vars(args).items() if name in names})
    return config_from_dict(config_class, values)


def prepare_run_dir(config):
    """Creates `runs/<name>/` (from `config.run_dir`) and writes `config.json` into it."""
    run_dir = pathlib.Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=2, sort_keys=True))
    return run_dir


def standard_callbacks(run_dir, *, checkpoint_monitor="val_loss"):
    """TensorBoard, best-model checkpoint and BackupAndRestore (resume after an interruption)."""
    run_dir = pathlib.Path(run_dir)
    return [
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tb")),
        keras.callbacks.ModelCheckpoint(
            filepath=str(run_dir / "ckpt" / "best.keras"), monitor=checkpoint_monitor, save_best_only=True
        ),
        keras.callbacks.BackupAndRestore(backup_dir=str(run_dir / "ckpt" / "backup")),
    ]
