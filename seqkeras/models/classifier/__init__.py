"""Sequence -> label classification: `build_classifier`, the wide & deep variant, a baseline (ensembles: `models.common.build_ensemble`)."""

from seqkeras.models.classifier.bag_of_words_baseline import BagOfWordsBaseline
from seqkeras.models.classifier.classifier import build_classifier
from seqkeras.models.classifier.hashed_bigram_embedding import HashedBigramEmbedding
from seqkeras.models.classifier.hashed_ngram_linear import HashedNgramLinear
from seqkeras.models.classifier.wide_and_deep_classifier import build_wide_and_deep_classifier
