"""The `seqkeras` console command.

Each subcommand lives in the module that owns the feature; this file only wires them together.
A command module exposes `configure(parser)` (adds its arguments) and `run(args)` (does the work
and returns an exit code or None). Only the module of the command being run (or asked for
`--help`) is imported, so `seqkeras --help` starts without TensorFlow.

The console script `seqkeras` runs `main`. A `pipelines.common.UserError` (a bad flag, file or value) prints one line on stderr and exits 2.
"""

import argparse
import importlib
import os
import sys

# (command words, module, one-line help).
COMMANDS = [
    (("data", "inspect"), "pipelines.inspect", "corpus statistics, length histogram, padding per batching strategy"),
    (("train", "charlm"), "pipelines.train_charlm", "train the character-level language model"),
    (("train", "word2vec"), "pipelines.train_word2vec", "train word2vec skip-gram with negative sampling"),
    (("train", "tagger"), "pipelines.train_tagger", "train a part-of-speech tagger on CoNLL-U files"),
    (("train", "classifier"), "pipelines.train_classifier", "train a sentence classifier (TSV or CoNLL-U)"),
    (("train", "bilm"), "pipelines.train_bilm", "train the ELMo-style character biLM"),
    (("train", "seq2seq"), "pipelines.train_seq2seq", "train a character encoder-decoder on source/target pairs"),
    (("train", "forecast"), "pipelines.train_forecast", "train a forecaster with walk-forward validation"),
    (("train", "captioner"), "pipelines.train_captioner", "train an image captioner (8x8 digits -> their names)"),
    (("evaluate",), "pipelines.evaluate", "evaluate a trained run on data (table + eval-<data>.json in the run)"),
    (("predict",), "pipelines.predict", "predict with a trained run (raw text, files or CSV in)"),
    (("embed",), "pipelines.embed", "per-token biLM representations of sentences, to .npz"),
    (("generate",), "pipelines.generate", "sample text from a trained character-level language model"),
    (("score",), "pipelines.score", "log-probability of texts under a trained character-level language model"),
    (("export", "savedmodel"), "export.commands_savedmodel", "export a trained run for TF Serving"),
    (("export", "tflite"), "export.commands_tflite", "export a trained run to TFLite"),
]


def _available(commands):
    """Commands whose module exists (a family still being built is left out of the table)."""
    import importlib.util

    return [row for row in commands if importlib.util.find_spec(row[1]) is not None]


def _version():
    """The installed package's version, read without importing seqkeras (and so TensorFlow)."""
    from importlib import metadata

    return metadata.version("seqkeras")


def build_parser(commands=None, argv=None):
    """The parser; only the module of the command named in `argv` is imported (all when None)."""
    commands = _available(COMMANDS if commands is None else commands)
    parser = argparse.ArgumentParser(prog="seqkeras", description="Learning from sequences with TensorFlow and Keras.")
    parser.add_argument("--version", action="version", version=f"seqkeras {_version()}")
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    words_given = [word for word in (argv or []) if not word.startswith("-")][:2]
    groups = {}
    for words, module_name, help_text in commands:
        if len(words) == 1:
            sub = top.add_parser(words[0], help=help_text, description=help_text)
        else:
            if words[0] not in groups:
                group = top.add_parser(words[0], help=f"{words[0]} commands")
                groups[words[0]] = group.add_subparsers(dest=f"{words[0]}_command", required=True, metavar="SUBCOMMAND")
            sub = groups[words[0]].add_parser(words[1], help=help_text, description=help_text)
        if argv is None or list(words) == words_given[: len(words)]:
            module = importlib.import_module(module_name)
            module.configure(sub)
            sub.set_defaults(_run=module.run)
    return parser


def _import_tensorflow_quietly():
    """Imports TensorFlow with file descriptor 2 silenced: its native start-up lines (absl, CUDA
    stubs) bypass `TF_CPP_MIN_LOG_LEVEL`. `SEQKERAS_TF_LOGS=1` shows them."""
    if os.environ.get("SEQKERAS_TF_LOGS") or "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        import tensorflow  # noqa: F401
    except ImportError:
        pass  # the command's own import reports it
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hide TensorFlow's start-up lines
    from pipelines.common import UserError, discard_unstarted_runs

    try:
        args = build_parser(argv=argv).parse_args(argv)
        _import_tensorflow_quietly()
        code = args._run(args)
    except UserError as error:
        discard_unstarted_runs()  # a run that stopped at the user's mistake leaves nothing to --overwrite
        print(f"seqkeras: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("seqkeras: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(code or 0)


if __name__ == "__main__":
    main()
