"""Task models, one folder per family.

- `seqkeras.models.tagger`: sequence -> sequence (`build_tagger`).
- `seqkeras.models.classifier`: sequence -> label (`build_classifier`).
- `seqkeras.models.captioner`: label -> sequence (`build_captioner`; `CaptionerTask`: pixels in,
  caption strings out, as `seqkeras train captioner` saves it).
- `seqkeras.models.seq2seq`: label + sequence -> sequence (`build_seq2seq`, `generate`).

Language-model families (`char_lm`, `word2vec`, `elmo`) live in their own subpackages. The names
below are imported on first use, so importing one family does not import the others (except that
the tagger and the classifier import `elmo`, whose `ScalarMix` mixes a pretrained biLM's layers
into their features: `build_tagger(..., contextual_layers=ElmoEmbedder.from_bilm(bilm))`).
"""

import importlib

_EXPORTS = {
    "build_tagger": "seqkeras.models.tagger",
    "MostFrequentTag": "seqkeras.models.tagger",
    "SequenceTaskModel": "seqkeras.models.common",
    "TextTask": "seqkeras.models.common",
    "build_word_lookup": "seqkeras.models.common",
    "text_batches": "seqkeras.models.common",
    "build_classifier": "seqkeras.models.classifier",
    "BagOfWordsBaseline": "seqkeras.models.classifier",
    "build_captioner": "seqkeras.models.captioner",
    "CaptionerTask": "seqkeras.models.captioner",
    "build_seq2seq": "seqkeras.models.seq2seq",
    "ConditionalDecoder": "seqkeras.models.seq2seq",
    "generate": "seqkeras.models.seq2seq",
    "build_bidirectional_lm": "seqkeras.models.elmo",
    "BidirectionalLanguageModel": "seqkeras.models.elmo",
    "ElmoEmbedder": "seqkeras.models.elmo",
    "ScalarMix": "seqkeras.models.elmo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'seqkeras.models' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
