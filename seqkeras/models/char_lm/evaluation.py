"""Held-out bits per character of whole documents, carrying the state across windows."""

import keras

from seqkeras.models.char_lm.datasets import stream_dataset
from seqkeras.models.char_lm.language_model_trainer import LanguageModelTrainer


def stream_bits_per_character(language_model, documents, window=256, batch_size=8, verbose=0):
    """BPC of `documents` (from `datasets.encode_documents`) under `language_model`.

    Each document is read from its start to its end with the recurrent state carried from one
    window to the next, so every character is predicted from the whole document before it, as
    in `CharScorer` on the full text; the targets are the characters and one end-of-document
    symbol per document. The result weights all characters equally.
    """
    evaluator = LanguageModelTrainer(language_model, truncated_bptt=True, batch_size=batch_size)
    evaluator.compile(optimizer=keras.optimizers.SGD())  # evaluate() needs a compiled model
    results = evaluator.evaluate(
        stream_dataset(documents, window=window, batch_size=batch_size), verbose=verbose, return_dict=True
    )
    return float(results["bpc"])
