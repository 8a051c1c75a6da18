"""Sequence -> sequence tagging: `build_tagger` and its most-frequent-tag baseline.

The tagger's inputs come from `seqkeras.models.common.WordPreprocessor`.
"""

from seqkeras.models.tagger.most_frequent_tag import MostFrequentTag
from seqkeras.models.tagger.tagger import build_tagger
