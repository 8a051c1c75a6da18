"""`embed_words`: the word-level input block shared by the tagger and the classifier."""

import keras

from seqkeras.models.common._validation import check_embedding_weights
from seqkeras.models.common.character_word_encoder import CharacterWordEncoder


def embed_words(
    token_ids,
    vocabulary_size,
    *,
    embedding_dim=None,
    embedding_weights=None,
    embedding_trainable=True,
    char_vocabulary_size=None,
    char_embedding_dim=16,
    char_filters=32,
    dropout=0.0,
):
    """Token embedding, plus character features when `char_vocabulary_size` is given.

    Args:
        token_ids: symbolic int `[B, T]` input.
        vocabulary_size, embedding_dim, embedding_weights, embedding_trainable: the token
            embedding (`embedding_weights` initialises it; `embedding_dim=None` takes their width).
        char_vocabulary_size, char_embedding_dim, char_filters: a `CharacterWordEncoder` over a
            new `char_ids` input `[B, T, C]`, concatenated with the token embedding.
        dropout: rate applied to the concatenated features.

    Returns:
        `(features, token_embeddings, char_ids)`: features `[B, T, E (+ F)]` after dropout, the
        token embeddings `[B, T, E]` alone, and the `char_ids` input (None without characters).
    """
    weights, embedding_dim = check_embedding_weights(embedding_weights, vocabulary_size, embedding_dim)
    embedding = keras.layers.Embedding(
        vocabulary_size, embedding_dim, trainable=bool(embedding_trainable), name="token_embedding"
    )
    words = embedding(token_ids)  # (B, T, E)
    if weights is not None:
        embedding.set_weights([weights])
    features, char_ids = words, None
    if char_vocabulary_size is not None:
        char_ids = keras.Input(shape=(None, None), dtype="int32", name="char_ids")
        chars = CharacterWordEncoder(
            char_vocabulary_size, char_embedding_dim, char_filters, name="char_encoder"
        )(char_ids)  # (B, T, F)
        features = keras.layers.Concatenate(name="word_features")([words, chars])  # (B, T, E + F)
    if dropout:
        features = keras.layers.Dropout(dropout, name="embedding_dropout")(features)
    return features, words, char_ids
