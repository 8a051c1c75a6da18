"""`build_wide_and_deep_classifier`: the genre experiment's classifier, bags of n-grams beside the encoder."""

import keras

from seqkeras import layers as seq_layers
from seqkeras.models.classifier.classifier import classifier_inputs, pool_sequence
from seqkeras.models.classifier.hashed_bigram_embedding import HashedBigramEmbedding
from seqkeras.models.classifier.hashed_ngram_linear import HashedNgramLinear
from seqkeras.models.common._validation import check_positive_float, check_positive_int, check_rate
from seqkeras.models.common.sequence_task_model import SequenceTaskModel


def build_wide_and_deep_classifier(
    vocabulary_size=None,
    num_classes=None,
    *,
    pooling="mean_max",
    wide_buckets=200_000,
    wide_scale=1.0,
    wide_char_buckets=None,
    bigram_buckets=None,
    head_dropout=None,
    backbone=None,
    name="wide_and_deep_classifier",
    **backbone_options,
):
    """A sequence classifier whose logits add a linear bag-of-n-grams model (wide & deep).

    Deep part: the `TextBackbone`'s states, pooled over the real steps (`pool_sequence`), and
    with `bigram_buckets` a fastText-style bag beside them (the masked mean of the token
    embeddings and the mean of hashed word-bigram embeddings, `HashedBigramEmbedding`), into one
    `Dense(num_classes)`. Wide part: a `HashedNgramLinear` over the sentence's word unigrams and
    hashed word bigrams (`wide_buckets` rows) and, with `wide_char_buckets`, every word's
    character 2-5-grams (its own tf-idf bag; needs the backbone's `char_ids`). Its output (zero
    at initialisation) is added to the deep logits, so a linear n-gram classifier trains jointly
    with the encoder; its weights get no dropout. Call
    `model.get_layer("wide_ngram_logits").adapt(training_batches)` before training to set the
    n-grams' idf (until then every idf is 1).

    Args:
        vocabulary_size, backbone, **backbone_options: the `TextBackbone` (as `build_classifier`).
        num_classes: number of classes.
        pooling: as `build_classifier`.
        wide_buckets: word-bigram hash buckets of the wide branch.
        wide_scale: the wide branch's output multiplier (with Adam-type optimizers it multiplies
            the branch's effective learning rate, which rare n-grams need).
        wide_char_buckets: character n-gram buckets of the wide branch, or None for words only.
        bigram_buckets: buckets of the deep part's hashed bigram embedding, or None for no bag.
        head_dropout: dropout on the bag of embeddings before the head; None takes the
            backbone's `dropout`.
        name: model name.

    Returns:
        A functional `SequenceTaskModel` giving logits `[B, num_classes]`.

    Example:
    >>> model = build_wide_and_deep_classifier(20, 3, hidden_dim=8, wide_buckets=50)
    >>> model({"token_ids": np.array([[4, 5, 0]]),
    ...        "padding_mask": np.array([[True, True, False]])}).shape
    TensorShape([1, 3])
    """
    num_classes = check_positive_int("num_classes", num_classes)
    wide_buckets = check_positive_int("wide_buckets", wide_buckets)
    wide_scale = check_positive_float("wide_scale", wide_scale)
    wide_char_buckets = check_positive_int("wide_char_buckets", wide_char_buckets, allow_none=True)
    bigram_buckets = check_positive_int("bigram_buckets", bigram_buckets, allow_none=True)
    backbone, inputs, outputs = classifier_inputs(vocabulary_size, backbone, pooling, backbone_options)
    head_dropout = check_rate("head_dropout", backbone.dropout if head_dropout is None else head_dropout)
    if wide_char_buckets is not None and "char_ids" not in inputs:
        raise ValueError(
            "`wide_char_buckets` adds character n-grams to the wide branch, which needs the backbone's `char_ids` "
            f"(`char_vocabulary_size`). Received: wide_char_buckets={wide_char_buckets!r}, "
            f"char_vocabulary_size={backbone.char_vocabulary_size!r}"
        )
    token_ids, padding_mask = inputs["token_ids"], inputs["padding_mask"]
    pooled = pool_sequence(outputs["sequence_output"], padding_mask, pooling)  # (B, D')
    if bigram_buckets is not None:
        words = outputs["token_embeddings"]  # (B, T, E)
        word_mean = seq_layers.MaskedPooling("mean", name="word_mean")(words, mask=padding_mask)  # (B, E)
        bigram_mean = HashedBigramEmbedding(
            bigram_buckets, backbone.embedding_dim, backbone.vocabulary_size, name="bigram_mean"
        )(token_ids, padding_mask)  # (B, E)
        bag = keras.layers.Concatenate(name="bag_of_ngrams")([word_mean, bigram_mean])  # (B, 2E)
        if head_dropout:
            bag = keras.layers.Dropout(head_dropout, name="bag_dropout")(bag)
        pooled = keras.layers.Concatenate(name="sentence_features")([pooled, bag])  # (B, D' + 2E)
    deep = keras.layers.Dense(num_classes, name="class_logits")(pooled)  # (B, num_classes)
    wide = HashedNgramLinear(
        num_classes, backbone.vocabulary_size, wide_buckets, scale=wide_scale, char_buckets=wide_char_buckets,
        name="wide_ngram_logits",
    )(token_ids, padding_mask, char_ids=inputs.get("char_ids") if wide_char_buckets else None)  # (B, num_classes)
    logits = keras.layers.Add(name="wide_and_deep_logits")([deep, wide])  # (B, num_classes)
    return SequenceTaskModel(inputs, logits, name=name)
