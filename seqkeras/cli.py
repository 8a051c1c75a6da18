"""The `seqkeras` console command.

Each subcommand lives in the module that owns the feature; this file only wires them together.
A command module exposes `configure(parser)` (adds its arguments) and `run(args)` (does the work
and returns an exit code or None).
"""

import argparse
import importlib

# (command words, module, one-line help). Modules are imported when the parser is built so that
# `--help` works at every level.
COMMANDS = [
    (("data", "inspect"), "seqkeras.data.inspect", "corpus statistics, length histogram, padding per batching strategy"),
    (("train", "charlm"), "pipelines.train_charlm", "train the character-level language model"),
    (("train", "word2vec"), "pipelines.train_word2vec", "train word2vec skip-gram with negative sampling"),
    (("generate",), "pipelines.generate", "sample text from a trained character-level language model"),
    (("score",), "pipelines.score", "log-probability of texts under a trained character-level language model"),
    (("export", "savedmodel"), "export.commands_savedmodel", "export a trained model for TF Serving"),
    (("export", "tflite"), "export.commands_tflite", "export a token-id model to TFLite"),
]


def build_parser(commands=COMMANDS):
    parser = argparse.ArgumentParser(prog="seqkeras", description="Learning from sequences with TensorFlow and Keras.")
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups = {}
    for words, module_name, help_text in commands:
        module = importlib.import_module(module_name)
        if len(words) == 1:
            sub = top.add_parser(words[0], help=help_text, description=help_text)
        else:
            if words[0] not in groups:
                group = top.add_parser(words[0], help=f"{words[0]} commands")
                groups[words[0]] = group.add_subparsers(dest=f"{words[0]}_command", required=True, metavar="SUBCOMMAND")
            sub = groups[words[0]].add_parser(words[1], help=help_text, description=help_text)
        module.configure(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    code = args._run(args)
    raise SystemExit(code or 0)


if __name__ == "__main__":
    main()
