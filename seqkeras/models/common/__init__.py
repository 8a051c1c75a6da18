"""Pieces the task models share: the backbone, the text path, the model classes.

- `TextBackbone`: word embedding (+ character encoder, + contextual biLM mix) -> recurrent
  encoder; the tagger and classifier heads sit on it.
- `TextTask`: a network with its `TokenLookup` attached, saved as one file (raw strings in).
- `build_word_lookup`: the word-level `TokenLookup` of a task, from its training sentences;
  `text_batches`: texts (and targets) -> batches through that lookup (`batch_sequences`).
- `SequenceTaskModel`: the Keras model class of every task builder (input checks, logits only);
  `TokenAccuracy`: real-token accuracy of a tagger, counted over the whole evaluation.
- `build_ensemble` (`MeanProbabilityLogits`): K trained classifiers or taggers as one model of their
  mean probabilities.
- `CharacterWordEncoder`, `encode_sequence`, `ReverseValidSteps`, `WordDropout`: the backbone's building blocks.
"""

from seqkeras.models.common.character_word_encoder import CharacterWordEncoder
from seqkeras.models.common.ensemble import build_ensemble
from seqkeras.models.common.mean_probability_logits import MeanProbabilityLogits
from seqkeras.models.common.reverse_valid_steps import ReverseValidSteps
from seqkeras.models.common.rnn_encoder import encode_sequence
from seqkeras.models.common.sequence_task_model import SequenceTaskModel
from seqkeras.models.common.text_backbone import TextBackbone
from seqkeras.models.common.text_batches import text_batches
from seqkeras.models.common.text_task import TextTask
from seqkeras.models.common.token_accuracy import TokenAccuracy
from seqkeras.models.common.word_dropout import WordDropout
from seqkeras.models.common.word_lookup import build_word_lookup
