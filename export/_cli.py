"""Helpers shared by the `seqkeras export ...` commands: load a trained model and its vocabulary."""

import pathlib

import keras

from seqkeras.data.token_file import read_token_file

TOKENIZERS = ("whitespace", "unicode_script", "char")


def add_model_arguments(parser):
    parser.add_argument("--model", type=pathlib.Path, required=True, help="trained model (.keras file)")
    parser.add_argument("--vocabulary", type=pathlib.Path, required=True,
                        help="vocabulary file written by Vocabulary.save during training")
    parser.add_argument("--labels", type=pathlib.Path, default=None,
                        help="tag / class names, one per line in id order (tagger, classifier)")
    parser.add_argument("--tokenizer", choices=TOKENIZERS, default=None,
                        help="how raw text was split in training (default: char for --task char_lm, else whitespace)")
    parser.add_argument("--lowercase", action="store_true", help="lower-case text before splitting")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export")


def load_model(path):
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Model file not found. Received: --model {path}")
    # Importing the model families registers their serialisable classes with Keras.
    import seqkeras.layers  # noqa: F401
    import seqkeras.models.char_lm  # noqa: F401
    import seqkeras.models.classifier  # noqa: F401
    import seqkeras.models.common  # noqa: F401

    return keras.saving.load_model(path, compile=False)


def load_vocabulary(path):
    from seqkeras.data.vocabulary import Vocabulary

    path = pathlib.Path(path) if path is not None else None
    if path is None or not path.exists():
        raise FileNotFoundError(f"Vocabulary file not found. Received: --vocabulary {path}")
    return Vocabulary.load(path)


def load_labels(path):
    if path is None:
        return None
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Labels file not found. Received: --labels {path}")
    return read_token_file(path)


def make_tokenizer(kind, lowercase, task=None):
    from seqkeras.data.tokenization import CharTokenizer, WordTokenizer

    if kind is None:
        kind = "char" if task == "char_lm" else "whitespace"
    if kind == "char":
        if lowercase:
            raise ValueError("--lowercase is not supported with --tokenizer char. Received: --lowercase")
        return CharTokenizer()
    # Word lookups lower-case inside the export (--lowercase); the tokens keep their case.
    return WordTokenizer(kind)


def read_lines(path, limit=None):
    lines = [line for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[:limit] if limit else lines
