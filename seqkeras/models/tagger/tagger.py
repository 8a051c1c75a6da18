"""Sequence -> sequence: `build_tagger`, a recurrent tagger with one label per token."""

import keras

from seqkeras.models.common._validation import (
    check_choice,
    check_positive_int,
    check_rate,
)
from seqkeras.models.common.word_features import embed_words
from seqkeras.models.common.rnn_encoder import CELLS, encode_sequence
from seqkeras.models.common.sequence_task_model import SequenceTaskModel
from seqkeras.models.elmo.contextual_features import check_contextual_layers, mix_contextual_layers


def build_tagger(
    vocabulary_size,
    num_tags,
    hidden_dim=128,
    num_layers=1,
    embedding_dim=None,
    causal=False,
    cell="lstm",
    dropout=0.0,
    embedding_weights=None,
    embedding_trainable=True,
    char_vocabulary_size=None,
    char_embedding_dim=16,
    char_filters=32,
    contextual_layers=None,
    name="tagger",
):
    """Builds a token tagger: embedding (+ character features) -> RNN stack -> per-token logits.

    By default the RNN is bidirectional (each tag sees the whole sentence); `causal=True`
    makes it left-to-right only, so the tag at step `t` depends on tokens `<= t`. The output
    keeps the padding mask, so `seqkeras.losses.MaskedSparseCategoricalCrossentropy` (or any
    Keras loss) averages over real tokens only. The outputs are logits: compile with
    `from_logits=True` (the model's `compile` rejects a cross-entropy expecting probabilities,
    which would clip the logits and stall training, frozen embeddings worst of all).

    Args:
        vocabulary_size: number of token ids (reserved ids included).
        num_tags: number of tags; the logits have this width.
        hidden_dim: RNN units per direction.
        num_layers: stacked RNN layers.
        embedding_dim: token embedding width; None takes the width of `embedding_weights`
            (64 without them).
        causal: left-to-right only instead of bidirectional.
        cell: `"lstm"` (seqkeras `LSTM`) or `"elman"` (`ElmanCell`).
        dropout: dropout on the embeddings and between/after RNN layers.
        embedding_weights: optional float array `[vocabulary_size, embedding_dim]` to
            initialise the token embedding (e.g. word2vec vectors).
        embedding_trainable: False freezes the token embedding.
        char_vocabulary_size: when given, adds a `char_ids` input `[B, T, C]` encoded by a
            `CharacterWordEncoder` and concatenated with the token embedding.
        char_embedding_dim: character embedding width.
        char_filters: width of the character word vector.
        contextual_layers: optional Keras model mapping `{"char_ids", "padding_mask"}` to a
            list of same-shaped representations `[B, T, D]`, e.g. a pretrained biLM's layers
            from `seqkeras.models.elmo.ElmoEmbedder.from_bilm` (frozen unless its `trainable` is
            True). A trainable `ScalarMix` (`contextual_mix`) combines them and the mix is
            concatenated with the word features before the RNN encoder (ELMo); not with
            `causal=True`, as the biLM's backward layers read the whole sentence. The model reads
            the tagger's `char_ids`, so `char_vocabulary_size` is required and must equal its
            character vocabulary size: build the tagger's `WordPreprocessor` with the biLM's
            character vocabulary (`seqkeras.models.elmo.tagger_preprocessor`). It is saved
            inside the tagger's `.keras` file.
        name: model name.

    Model inputs:
        token_ids: int32 `[B, T]`; padding_mask: bool `[B, T]` (right-padded);
        char_ids: int32 `[B, T, C]` when `char_vocabulary_size` is set.

    Returns:
        A functional `SequenceTaskModel` giving logits `[B, T, num_tags]`.

    Example:
    >>> model = build_tagger(vocabulary_size=20, num_tags=5, hidden_dim=8)
    >>> logits = model({"token_ids": np.array([[4, 5, 0]]),
    ...                 "padding_mask": np.array([[True, True, False]])})
    >>> logits.shape
    TensorShape([1, 3, 5])
    """
    vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
    num_tags = check_positive_int("num_tags", num_tags)
    hidden_dim = check_positive_int("hidden_dim", hidden_dim)
    num_layers = check_positive_int("num_layers", num_layers)
    check_choice("cell", cell, CELLS)
    dropout = check_rate("dropout", dropout)
    char_vocabulary_size = check_positive_int("char_vocabulary_size", char_vocabulary_size, allow_none=True)
    if contextual_layers is not None:
        check_contextual_layers(contextual_layers, char_vocabulary_size, causal)
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input(shape=(None,), dtype="bool", name="padding_mask")
    x, _, char_ids = embed_words(
        token_ids, vocabulary_size, embedding_dim=embedding_dim, embedding_weights=embedding_weights,
        embedding_trainable=embedding_trainable, char_vocabulary_size=char_vocabulary_size,
        char_embedding_dim=char_embedding_dim, char_filters=char_filters, dropout=dropout,
    )  # (B, T, E [+ F])
    inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
    if char_ids is not None:
        inputs["char_ids"] = char_ids
    if contextual_layers is not None:
        x = mix_contextual_layers(x, contextual_layers, char_ids, padding_mask, dropout)  # (B, T, E [+ F] + D)

    x, _ = encode_sequence(
        x, padding_mask, hidden_dim, num_layers=num_layers, causal=causal, cell=cell, dropout=dropout,
        name="encoder",
    )  # (B, T, H or 2H)
    logits = keras.layers.Dense(num_tags, name="tag_logits")(x)  # (B, T, num_tags)
    return SequenceTaskModel(inputs, logits, name=name)
