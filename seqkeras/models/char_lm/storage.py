"""A character LM as one self-contained `.keras` file: the network and its `TokenLookup`.

`char_lm_task(model, vocabulary)` wraps a `CharLanguageModel` in a `TextTask` whose preprocessor
splits raw strings into characters, prepends BOS and looks them up in the model's vocabulary;
the vocabulary is part of the saved config, so the file needs no `vocabulary.txt`.
`unpack_char_lm` / `load_char_lm` give back `(network, vocabulary)` for `CharGenerator` and
`CharScorer`; they still read the older pair (a bare `CharLanguageModel` `.keras` file plus
`vocabulary.txt` beside it).
"""

import pathlib

import keras

from seqkeras.data.token_lookup import TokenLookup
from seqkeras.data.vocabulary import Vocabulary
from seqkeras.models.char_lm.char_language_model import CharLanguageModel
from seqkeras.models.common.text_task import TextTask

VOCABULARY_FILE = "vocabulary.txt"  # only for models saved before the vocabulary moved inside
TASK = "charlm"


def char_lm_task(model, vocabulary):
    """`TextTask(preprocessor=TokenLookup(char split, BOS first), network=model, task="charlm")`.

    Called on raw strings `(B,)` it returns next-character logits `(B, 1 + n, V)`: position 0
    (after BOS) predicts the first character, position t the character t + 1.

    Example:

    >>> task = char_lm_task(model, vocabulary)          # doctest: +SKIP
    >>> task(tf.constant(["[[Anarchism"])).shape        # doctest: +SKIP
    TensorShape([1, 12, 87])
    """
    if not isinstance(model, CharLanguageModel):
        raise TypeError(f"`model` must be a CharLanguageModel. Received: {type(model).__name__}")
    if vocabulary.size != model.vocabulary_size:
        raise ValueError(f"The vocabulary has {vocabulary.size} ids but the model predicts {model.vocabulary_size}. "
                         f"Received: vocabulary.size={vocabulary.size}")
    preprocessor = TokenLookup(vocabulary, split="char", add_bos=True, name="char_lookup")
    task = TextTask(preprocessor=preprocessor, network=model, task=TASK, name="char_lm_task")
    task.build()  # both parts are built; marks the task built so saving keeps every weight
    return task


def save_char_lm(model, vocabulary, model_path):
    """Writes the self-contained `.keras` file of `char_lm_task(model, vocabulary)`; returns the path."""
    model_path = pathlib.Path(model_path)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    char_lm_task(model, vocabulary).save(str(model_path))
    return model_path


def unpack_char_lm(loaded, model_path=None, vocabulary_path=None):
    """`(CharLanguageModel, Vocabulary)` from a loaded `.keras` object.

    A `TextTask` carries its vocabulary; a bare `CharLanguageModel` (older files) needs
    `vocabulary_path`, default `vocabulary.txt` beside `model_path`.

    Raises:
        FileNotFoundError: an older file without its vocabulary file.
        TypeError: the file holds another kind of model.
    """
    if isinstance(loaded, TextTask) and isinstance(loaded.network, CharLanguageModel):
        if vocabulary_path is not None:
            return loaded.network, Vocabulary.load(str(vocabulary_path))
        return loaded.network, loaded.preprocessor.vocabulary
    if isinstance(loaded, CharLanguageModel):
        if vocabulary_path is None:
            if model_path is None:
                raise FileNotFoundError("A bare CharLanguageModel needs its vocabulary file (pass vocabulary_path).")
            vocabulary_path = pathlib.Path(model_path).parent / VOCABULARY_FILE
        vocabulary_path = pathlib.Path(vocabulary_path)
        if not vocabulary_path.is_file():
            raise FileNotFoundError(f"No vocabulary file at {vocabulary_path} (an older char LM file needs one).")
        return loaded, Vocabulary.load(str(vocabulary_path))
    kind = type(loaded).__name__
    if isinstance(loaded, TextTask):
        kind = f"TextTask of a {type(loaded.network).__name__} ({loaded.task})"
    raise TypeError(f"{model_path or 'the file'} holds a {kind}, not a character language model.")


def load_char_lm(model_path, vocabulary_path=None):
    """Loads `(model, vocabulary)` from a `.keras` file written by `train charlm` (see module doc).

    Raises:
        FileNotFoundError: naming the missing file.
        TypeError: the file holds another kind of model.
    """
    model_path = pathlib.Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"No model file at {model_path} (train one with `seqkeras train charlm`).")
    loaded = keras.saving.load_model(str(model_path), compile=False)
    return unpack_char_lm(loaded, model_path, vocabulary_path)
