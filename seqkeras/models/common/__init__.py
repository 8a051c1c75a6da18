"""Pieces the task models share: the model class, word inputs and encoders.

- `SequenceTaskModel`: the Keras model class of every task builder (masked metrics, predict helpers).
- `TextTask`: a network with its `TokenLookup` attached, saved as one file (raw strings in).
- `WordPreprocessor`: words -> padded word ids and character ids, built from training sentences.
- `CharacterWordEncoder`, `embed_words`: word features (word embedding + character CNN).
- `encode_sequence`, `ReverseValidSteps`: the (bi)directional recurrent encoder over padded input.
"""

from seqkeras.models.common.character_word_encoder import CharacterWordEncoder
from seqkeras.models.common.reverse_valid_steps import ReverseValidSteps
from seqkeras.models.common.rnn_encoder import encode_sequence
from seqkeras.models.common.sequence_task_model import SequenceTaskModel
from seqkeras.models.common.text_task import TextTask
from seqkeras.models.common.word_features import embed_words
from seqkeras.models.common.word_preprocessor import WordPreprocessor
