"""Sequence -> sequence tagging: `build_tagger`, its inputs (`WordPreprocessor`) and baseline."""

from seqkeras.models.tagger.character_word_encoder import CharacterWordEncoder
from seqkeras.models.tagger.most_frequent_tag import MostFrequentTag
from seqkeras.models.tagger.reverse_valid_steps import ReverseValidSteps
from seqkeras.models.tagger.sequence_task_model import SequenceTaskModel
from seqkeras.models.tagger.tagger import build_tagger
from seqkeras.models.tagger.word_preprocessor import WordPreprocessor
