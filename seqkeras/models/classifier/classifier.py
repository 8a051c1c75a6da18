"""Sequence -> label: `build_classifier`, a recurrent encoder reduced to one vector per sequence."""

import keras

from seqkeras import layers as seq_layers
from seqkeras.models.classifier.hashed_bigram_embedding import HashedBigramEmbedding
from seqkeras.models.classifier.hashed_ngram_linear import HashedNgramLinear
from seqkeras.models.common._validation import (
    check_choice,
    check_positive_float,
    check_positive_int,
    check_rate,
)
from seqkeras.models.common.word_features import embed_words
from seqkeras.models.common.rnn_encoder import CELLS, encode_sequence
from seqkeras.models.common.sequence_task_model import SequenceTaskModel
from seqkeras.models.elmo.contextual_features import check_contextual_layers, mix_contextual_layers

POOLINGS = ("mean", "max", "sum", "mean_max", "last")


def build_classifier(
    vocabulary_size,
    num_classes,
    hidden_dim=128,
    num_layers=1,
    embedding_dim=None,
    pooling="mean",
    causal=False,
    cell="lstm",
    dropout=0.0,
    embedding_weights=None,
    embedding_trainable=True,
    char_vocabulary_size=None,
    char_embedding_dim=16,
    char_filters=32,
    bigram_buckets=None,
    wide_buckets=None,
    wide_scale=1.0,
    wide_char_buckets=None,
    contextual_layers=None,
    name="classifier",
):
    """Builds a sequence classifier: embedding -> RNN stack -> one vector -> class logits.

    The per-step outputs are reduced over the real steps only: `MaskedPooling` for `"mean"`,
    `"max"` or `"sum"`, or `LastValidStep` for `"last"` (the output at each row's last real
    token). `"last"` summarises the whole sequence only for a left-to-right encoder, so it
    requires `causal=True`; conversely a causal model should use `"last"` to classify from
    everything it has read.

    Args:
        vocabulary_size: number of token ids (reserved ids included).
        num_classes: number of classes; the logits have this width.
        hidden_dim: RNN units per direction.
        num_layers: stacked RNN layers.
        embedding_dim: token embedding width; None takes the width of `embedding_weights`
            (64 without them).
        pooling: `"mean"`, `"max"`, `"sum"`, `"mean_max"` or `"last"`.
        causal: left-to-right only instead of bidirectional.
        cell: `"lstm"` or `"elman"`.
        dropout: dropout on the embeddings, between RNN layers and before the head.
        embedding_weights: optional `[vocabulary_size, embedding_dim]` initial embedding.
        embedding_trainable: False freezes the token embedding.
        char_vocabulary_size: when given, adds a `char_ids` input `[B, T, C]` encoded by a
            `CharacterWordEncoder` and concatenated with the token embedding.
        char_embedding_dim: character embedding width.
        char_filters: width of the character word vector.
        bigram_buckets: when given, adds a fastText-style bag-of-n-grams branch beside the
            encoder: the masked mean of the token embeddings and the mean of hashed word-bigram
            embeddings (`HashedBigramEmbedding` with this many buckets, computed in the graph
            from `token_ids`), concatenated with the pooled encoder output before the head.
        wide_buckets: when given, adds a "wide" linear branch (wide & deep): a
            `HashedNgramLinear` over the sentence's word unigrams and its word bigrams hashed
            into this many buckets, whose output (zero at initialisation) is added to the
            head's logits, so a linear bag-of-n-grams classifier trains jointly with the
            sequence encoder. Its weights get no dropout. Its n-grams are tf-idf weighted:
            call `model.get_layer("wide_ngram_logits").adapt(training_dataset)` before
            training to set the idf (until then every n-gram's idf is 1).
        wide_scale: the wide branch's output multiplier (`HashedNgramLinear(scale=...)`); with
            Adam-type optimizers it multiplies the branch's effective learning rate, which
            n-grams seen in only a few sentences need to get away from zero.
        wide_char_buckets: when given (with `wide_buckets` and `char_vocabulary_size`), the wide
            branch also sums weights of every word's character 2- to 5-grams (boundary symbols
            included, original case) hashed into this many buckets, as its own normalised bag.
        contextual_layers: optional pretrained contextual word representations (e.g.
            `seqkeras.models.elmo.ElmoEmbedder.from_bilm(bilm)`), mixed by a trainable
            `ScalarMix` and concatenated with the word features before the encoder, as in
            `build_tagger`; requires the biLM's `char_vocabulary_size` and `causal=False`.
        name: model name.

    Model inputs:
        token_ids: int32 `[B, T]`; padding_mask: bool `[B, T]` (right-padded, at least one
        real step per row); char_ids: int32 `[B, T, C]` when `char_vocabulary_size` is set.

    Returns:
        A functional `SequenceTaskModel` giving logits `[B, num_classes]`.

    Example:
    >>> model = build_classifier(vocabulary_size=20, num_classes=3, hidden_dim=8)
    >>> model({"token_ids": np.array([[4, 5, 0]]),
    ...        "padding_mask": np.array([[True, True, False]])}).shape
    TensorShape([1, 3])
    """
    vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
    num_classes = check_positive_int("num_classes", num_classes)
    hidden_dim = check_positive_int("hidden_dim", hidden_dim)
    num_layers = check_positive_int("num_layers", num_layers)
    check_choice("pooling", pooling, POOLINGS)
    check_choice("cell", cell, CELLS)
    char_vocabulary_size = check_positive_int("char_vocabulary_size", char_vocabulary_size, allow_none=True)
    bigram_buckets = check_positive_int("bigram_buckets", bigram_buckets, allow_none=True)
    wide_buckets = check_positive_int("wide_buckets", wide_buckets, allow_none=True)
    wide_scale = check_positive_float("wide_scale", wide_scale)
    wide_char_buckets = check_positive_int("wide_char_buckets", wide_char_buckets, allow_none=True)
    if wide_char_buckets is not None and (wide_buckets is None or char_vocabulary_size is None):
        raise ValueError(
            "`wide_char_buckets` adds character n-grams to the wide branch, which needs `wide_buckets` and the "
            f"`char_ids` input (`char_vocabulary_size`). Received: wide_char_buckets={wide_char_buckets!r}, "
            f"wide_buckets={wide_buckets!r}, char_vocabulary_size={char_vocabulary_size!r}"
        )
    dropout = check_rate("dropout", dropout)
    if contextual_layers is not None:
        check_contextual_layers(contextual_layers, char_vocabulary_size, causal)
    if pooling == "last" and not causal:
        raise ValueError(
            "pooling='last' reads the last real step, which only summarises the sequence for a "
            "left-to-right encoder; pass causal=True or use mean/max/sum pooling. "
            f"Received: pooling={pooling!r}, causal={causal!r}"
        )
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input(shape=(None,), dtype="bool", name="padding_mask")
    x, words, char_ids = embed_words(
        token_ids, vocabulary_size, embedding_dim=embedding_dim, embedding_weights=embedding_weights,
        embedding_trainable=embedding_trainable, char_vocabulary_size=char_vocabulary_size,
        char_embedding_dim=char_embedding_dim, char_filters=char_filters, dropout=dropout,
    )  # (B, T, E [+ F]); words (B, T, E)
    inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
    if char_ids is not None:
        inputs["char_ids"] = char_ids
    if contextual_layers is not None:
        x = mix_contextual_layers(x, contextual_layers, char_ids, padding_mask, dropout)  # (B, T, E + F + D)
    x, _ = encode_sequence(
        x, padding_mask, hidden_dim, num_layers=num_layers, causal=causal, cell=cell, dropout=dropout,
        name="encoder",
    )  # (B, T, D)
    if pooling == "last":
        pooled = seq_layers.LastValidStep(name="last_valid_step")(x, mask=padding_mask)  # (B, D)
    elif pooling == "mean_max":
        mean = seq_layers.MaskedPooling("mean", name="mean_pooling")(x, mask=padding_mask)  # (B, D)
        top = seq_layers.MaskedPooling("max", name="max_pooling")(x, mask=padding_mask)  # (B, D)
        pooled = keras.layers.Concatenate(name="mean_max_pooling")([mean, top])  # (B, 2D)
    else:
        pooled = seq_layers.MaskedPooling(pooling, name=f"{pooling}_pooling")(x, mask=padding_mask)  # (B, D)
    if bigram_buckets is not None:
        word_mean = seq_layers.MaskedPooling("mean", name="word_mean")(words, mask=padding_mask)  # (B, E)
        bigram_mean = HashedBigramEmbedding(
            bigram_buckets, words.shape[-1], vocabulary_size, name="bigram_mean"
        )(token_ids, padding_mask)  # (B, E)
        bag = keras.layers.Concatenate(name="bag_of_ngrams")([word_mean, bigram_mean])  # (B, 2E)
        if dropout:
            bag = keras.layers.Dropout(dropout, name="bag_dropout")(bag)
        pooled = keras.layers.Concatenate(name="sentence_features")([pooled, bag])  # (B, D' + 2E)
    logits = keras.layers.Dense(num_classes, name="class_logits")(pooled)  # (B, num_classes)
    if wide_buckets is not None:
        wide = HashedNgramLinear(
            num_classes, vocabulary_size, wide_buckets, scale=wide_scale, char_buckets=wide_char_buckets,
            name="wide_ngram_logits",
        )(token_ids, padding_mask, char_ids=char_ids if wide_char_buckets else None)  # (B, num_classes)
        logits = keras.layers.Add(name="wide_and_deep_logits")([logits, wide])  # (B, num_classes)
    return SequenceTaskModel(inputs, logits, name=name)
