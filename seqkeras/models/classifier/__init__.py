"""Sequence -> label classification: `build_classifier` and a bag-of-words baseline."""

from seqkeras.models.classifier.bag_of_words_baseline import BagOfWordsBaseline
from seqkeras.models.classifier.classifier import build_classifier
from seqkeras.models.classifier.hashed_bigram_embedding import HashedBigramEmbedding
