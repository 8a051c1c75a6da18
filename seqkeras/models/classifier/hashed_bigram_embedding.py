"""`HashedBigramEmbedding`: the mean embedding of a sentence's hashed word bigrams (fastText style)."""

import keras
import tensorflow as tf

from seqkeras.models.common._validation import check_positive_int

# Multiplier of the first word id in the bigram hash; prime, so consecutive first words spread out.
_HASH_MULTIPLIER = 10007
_INT32_LIMIT = 2**31 - 1


def check_bigram_hash(num_buckets, vocabulary_size):
    """Validates `num_buckets` (at least 2) against int32 overflow of the bigram hash; returns it."""
    num_buckets = check_positive_int("num_buckets", num_buckets)
    if num_buckets < 2:
        raise ValueError(f"`num_buckets` must be at least 2. Received: num_buckets={num_buckets!r}")
    if (num_buckets - 1) * _HASH_MULTIPLIER + vocabulary_size > _INT32_LIMIT:
        raise ValueError(
            "The bigram hash would overflow int32; use fewer buckets. "
            f"Received: num_buckets={num_buckets!r}, vocabulary_size={vocabulary_size!r}"
        )
    return num_buckets


def hash_bigrams(token_ids, num_buckets):
    """Bucket of each adjacent pair of ids: int32 `[B, T - 1]`, values in `[1, num_buckets)`.

    The pair `(a, b)` goes to `1 + ((a mod (num_buckets - 1)) * 10007 + b) mod (num_buckets - 1)`;
    bucket 0 is never used. Padded steps are not excluded here; callers mask the pairs.
    """
    token_ids = tf.cast(token_ids, tf.int32)
    first, second = token_ids[:, :-1], token_ids[:, 1:]  # (B, T-1) each
    slots = num_buckets - 1
    hashed = tf.math.floormod(first, slots) * _HASH_MULTIPLIER + second  # (B, T-1), < 2**31
    return 1 + tf.math.floormod(hashed, slots)


@keras.saving.register_keras_serializable(package="seqkeras")
class HashedBigramEmbedding(keras.layers.Layer):
    """Embeds every pair of adjacent real tokens into one of `num_buckets` vectors and averages them.

    The bigram `(a, b)` of token ids goes to bucket
    `1 + ((a mod (num_buckets - 1)) * 10007 + b) mod (num_buckets - 1)` (bucket 0 is reserved
    and never used), computed in the graph from `token_ids`, so the model needs no extra input
    and exports with the usual `(None, None)` shapes. Only pairs whose two steps are both real
    (per `padding_mask`) count; a sentence without any bigram (a single token) gives zeros.
    Together with a mean of word embeddings this is the fastText sentence representation:
    word order enters only through adjacent pairs.

    Args:
        num_buckets: number of hash buckets (the embedding table's rows), at least 2.
        embedding_dim: width of each bigram vector.
        vocabulary_size: the largest token id + 1; used to check the hash cannot overflow int32.

    Call arguments:
        token_ids: int `[B, T]`.
        padding_mask: bool `[B, T]`, True at real steps.

    Example:
    >>> layer = HashedBigramEmbedding(num_buckets=50, embedding_dim=4, vocabulary_size=20)
    >>> layer(np.array([[4, 5, 6, 0]]), np.array([[True, True, True, False]])).shape
    TensorShape([1, 4])
    """

    def __init__(self, num_buckets, embedding_dim, vocabulary_size, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.num_buckets = check_bigram_hash(num_buckets, self.vocabulary_size)

    def build(self, token_ids_shape, padding_mask_shape=None):
        self.embedding = keras.layers.Embedding(self.num_buckets, self.embedding_dim, name="bigram_embedding")
        self.embedding.build((None, None))

    def bucket_ids(self, token_ids):
        """Bucket of each adjacent pair: int32 `[B, T - 1]`, values in `[1, num_buckets)`."""
        return hash_bigrams(token_ids, self.num_buckets)

    def call(self, token_ids, padding_mask):
        mask = tf.cast(padding_mask, tf.bool)
        pair_real = tf.logical_and(mask[:, :-1], mask[:, 1:])  # (B, T-1)
        vectors = self.embedding(self.bucket_ids(token_ids))  # (B, T-1, E)
        weights = tf.cast(pair_real, vectors.dtype)[..., None]  # (B, T-1, 1)
        total = tf.reduce_sum(vectors * weights, axis=1)  # (B, E)
        count = tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)  # (B, 1); no bigram -> zeros
        return total / count

    def compute_mask(self, token_ids, padding_mask=None):
        return None

    def compute_output_shape(self, token_ids_shape, padding_mask_shape=None):
        return (token_ids_shape[0], self.embedding_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_buckets=self.num_buckets, embedding_dim=self.embedding_dim, vocabulary_size=self.vocabulary_size
        )
        return config
