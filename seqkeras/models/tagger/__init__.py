"""Sequence -> sequence tagging: `build_tagger` (a head on `TextBackbone`) and its most-frequent-tag baseline.

A trained tagger is saved as a `seqkeras.models.common.TextTask`: the network with its
`TokenLookup` attached, so the file tags raw strings.
"""

from seqkeras.models.tagger.most_frequent_tag import MostFrequentTag
from seqkeras.models.tagger.tagger import build_tagger
