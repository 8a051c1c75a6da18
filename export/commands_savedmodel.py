"""`seqkeras export savedmodel RUN`: a trained run -> `<base-dir>/<name>/<version>/` for TF Serving.

Everything the export needs (vocabularies, split, lower-casing, labels) is read from the run's
self-contained model.keras (see `export/from_run.py`). No TensorFlow import until `run`.
"""

import pathlib

from pipelines import common


def _positive_int(text):
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, received: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, received: {text!r}")
    return value


def _version(text):
    """A version number: TF Serving reads version folders as int64."""
    import argparse

    from export.versioning import MAX_VERSION

    value = _positive_int(text)
    if value > MAX_VERSION:
        raise argparse.ArgumentTypeError(f"expected a version in [1, {MAX_VERSION}] (TF Serving reads versions as "
                                         f"int64), received: {text!r}")
    return value


def configure(parser):
    parser.add_argument("run", type=pathlib.Path, help="trained run directory (holds config.json and model.keras)")
    parser.add_argument("--base-dir", type=pathlib.Path, default=pathlib.Path("serving"),
                        help="TF Serving model base directory (default: serving)")
    parser.add_argument("--name", default=None, help="model name, a folder under --base-dir (default: the run's family)")
    parser.add_argument("--version", type=_version, default=None,
                        help="version number (default: the next free one, claimed atomically)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --version")
    parser.add_argument("--warmup-file", type=pathlib.Path, default=None,
                        help="real example texts, one per line (UTF-8), for the TF Serving warm-up records (first 32)")
    parser.add_argument("--max-batch-size", type=_positive_int, default=None,
                        help="most rows per request; larger requests are refused (default: 128)")
    parser.add_argument("--max-text-chars", type=_positive_int, default=None,
                        help="most characters per text or prompt; longer ones are refused (default: 10000)")
    parser.add_argument("--max-length", type=_positive_int, default=None,
                        help="longest token sequence the raw-text signatures give the model; longer texts are "
                             "truncated (default: the run's, else 128 tokens; 1000 characters for a char LM)")
    parser.add_argument("--models-config", type=pathlib.Path, default=None,
                        help="also write a models.config listing every model folder under --base-dir")


def run(args):
    from export.from_run import export_run_saved_model

    warmup = common.read_lines(args.warmup_file, "--warmup-file")[:32] if args.warmup_file else None
    if args.overwrite and args.version is None:
        raise common.UserError("--overwrite needs --version (without it the next free version is used)")
    common.check_writable_folder(args.base_dir, "--base-dir")
    try:
        path = export_run_saved_model(
            args.run, args.base_dir, name=args.name, version=args.version, overwrite=args.overwrite,
            warmup_texts=warmup, max_batch_size=args.max_batch_size, max_text_chars=args.max_text_chars,
            max_length=args.max_length,
        )
    except FileExistsError as error:
        raise common.UserError(str(error).splitlines()[0]) from None
    except ValueError as error:  # a bad name, max length, or warm-up text over the limits
        raise common.UserError(f"export savedmodel: {str(error).splitlines()[0]}") from None
    except PermissionError as error:
        raise common.UserError(f"--base-dir: cannot write {error.filename}: {error.strerror}") from None
    print(f"wrote {path}")
    if args.models_config is not None:
        from export.warmup import write_models_config

        models = [(d.name, f"/models/{d.name}") for d in sorted(pathlib.Path(args.base_dir).iterdir()) if d.is_dir() and not d.name.startswith(".")]
        write_models_config(args.models_config, models)
        print(f"wrote {args.models_config} ({len(models)} models, base paths as mounted at /models)")
    return 0
