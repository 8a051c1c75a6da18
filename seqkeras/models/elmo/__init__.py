"""ELMo-style contextual word representations: a character-based biLM and its layer mix.

- `build_bidirectional_lm`: forward and backward LSTM language models over a shared,
  character-built token layer and a shared softmax (`BidirectionalLanguageModel`, which
  computes both LM losses from its `token_ids`).
- `ElmoEmbedder.from_bilm`: the trained biLM's L + 1 layers `[B, T, 2H]` from `char_ids` and
  `padding_mask`, frozen by default, for downstream models.
- `ScalarMix`: `gamma * sum_j softmax(s)_j * h_j`, the trainable mix of those layers (with
  `layer_norm=True`, of the layers normalised per token); `mix_contextual_layers` adds it to a
  task model's word features (`build_tagger` / `build_classifier(..., contextual_layers=embedder,
  contextual_dropout=..., contextual_layer_norm=...)`).
- `NgramLanguageModel`: interpolated Witten-Bell / Kneser-Ney n-gram models over the same word
  ids and targets, the count baselines a biLM's perplexity is read against.
- `word_sentences`: plain-text sentences -> word lists for pretraining;
  `tagger_preprocessor`: downstream word inputs with the biLM's character vocabulary.
"""

from seqkeras.models.elmo.bidirectional_language_model import BidirectionalLanguageModel
from seqkeras.models.elmo.bidirectional_lm import build_bidirectional_lm
from seqkeras.models.elmo.elmo_embedder import ElmoEmbedder
from seqkeras.models.elmo.ngram_language_model import NgramLanguageModel
from seqkeras.models.elmo.scalar_mix import ScalarMix
from seqkeras.models.elmo.tagger_preprocessor import tagger_preprocessor
from seqkeras.models.elmo.word_sentences import word_sentences

__all__ = [
    "BidirectionalLanguageModel",
    "ElmoEmbedder",
    "NgramLanguageModel",
    "ScalarMix",
    "build_bidirectional_lm",
    "tagger_preprocessor",
    "word_sentences",
]
