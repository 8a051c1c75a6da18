"""Saving and loading a character LM together with its vocabulary."""

import pathlib

import keras

from seqkeras.data.vocabulary import Vocabulary
from seqkeras.models.char_lm.char_language_model import CharLanguageModel

VOCABULARY_FILE = "vocabulary.txt"


def save_char_lm(model, vocabulary, model_path):
    """Writes `model_path` (`.keras`) and `vocabulary.txt` beside it; returns the model path."""
    model_path = pathlib.Path(model_path)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(model_path))
    vocabulary.save(str(model_path.parent / VOCABULARY_FILE))
    return model_path


def load_char_lm(model_path, vocabulary_path=None):
    """Loads `(model, vocabulary)`; the vocabulary defaults to `vocabulary.txt` beside the model.

    Raises:
        FileNotFoundError: naming the missing file.
        TypeError: the file holds another kind of model.
    """
    model_path = pathlib.Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"No model file at {model_path} (train one with `seqkeras train charlm`).")
    vocabulary_path = pathlib.Path(vocabulary_path) if vocabulary_path else model_path.parent / VOCABULARY_FILE
    if not vocabulary_path.is_file():
        raise FileNotFoundError(f"No vocabulary file at {vocabulary_path} (pass --vocabulary).")
    model = keras.saving.load_model(str(model_path))
    if not isinstance(model, CharLanguageModel):
        raise TypeError(f"{model_path} holds a {type(model).__name__}, not a CharLanguageModel.")
    return model, Vocabulary.load(str(vocabulary_path))
