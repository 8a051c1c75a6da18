"""`HashedNgramLinear`: the "wide" part of a wide & deep classifier, linear in a bag of n-grams."""

import keras
import tensorflow as tf

from seqkeras.models.classifier.hashed_bigram_embedding import check_bigram_hash, hash_bigrams
from seqkeras.models.common._validation import check_positive_float, check_positive_int


@keras.saving.register_keras_serializable(package="seqkeras")
class HashedNgramLinear(keras.layers.Layer):
    """A linear function of a sentence's bag of word unigrams and hashed word bigrams.

    Every real token contributes the weight row of its id, and every pair of adjacent real
    tokens the row of its hashed bigram bucket (the hash of `HashedBigramEmbedding`, rows
    `vocabulary_size + bucket`). The rows are summed and divided by the square root of the
    number of n-grams, which is the L2 normalisation of the n-gram count vector when its
    n-grams are distinct (as tf-idf features are normalised for a logistic regression):

        output = scale * sum_g W[g] / sqrt(#unigrams + #bigrams)        # (B, units)

    So the output is what a linear classifier over (hashed) uni+bigram counts computes, but
    inside the Keras graph, from `token_ids` alone: a model can add it to the logits of its
    sequence encoder and train both jointly (wide & deep). Weights start at zero, so at
    initialisation the wide part adds nothing. Padded steps never count; each row must have
    at least one real token. The mask is consumed (the output has no time axis).

    Args:
        units: output width (the number of classes when added to logits).
        vocabulary_size: number of token ids; ids `[0, vocabulary_size)` index unigram rows.
        num_buckets: bigram hash buckets, at least 2 (bucket 0 is never used).
        scale: a positive constant multiplying the output. Adam-type optimizers move each
            weight by about the learning rate whatever the gradient's size, so with them
            `scale` multiplies the branch's effective learning rate: n-grams seen in only a
            few sentences get few updates and, at `scale=1`, stay near zero.

    Call arguments:
        token_ids: int `[B, T]`.
        padding_mask: bool `[B, T]`, True at real steps.

    Example:
    >>> layer = HashedNgramLinear(units=3, vocabulary_size=20, num_buckets=50)
    >>> layer(np.array([[4, 5, 6, 0]]), np.array([[True, True, True, False]])).shape
    TensorShape([1, 3])
    """

    def __init__(self, units, vocabulary_size, num_buckets, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.num_buckets = check_bigram_hash(num_buckets, self.vocabulary_size)
        self.scale = check_positive_float("scale", scale)

    def build(self, token_ids_shape, padding_mask_shape=None):
        self.kernel = self.add_weight(
            shape=(self.vocabulary_size + self.num_buckets, self.units), initializer="zeros", name="kernel"
        )

    def ngram_rows(self, token_ids):
        """Weight rows of the unigrams `[B, T]` and of the bigrams `[B, T - 1]` (before masking)."""
        token_ids = tf.cast(token_ids, tf.int32)
        return token_ids, self.vocabulary_size + hash_bigrams(token_ids, self.num_buckets)

    def call(self, token_ids, padding_mask):
        mask = tf.cast(padding_mask, tf.bool)  # (B, T)
        unigram_rows, bigram_rows = self.ngram_rows(token_ids)  # (B, T), (B, T-1)
        rows = tf.concat([unigram_rows, bigram_rows], axis=1)  # (B, 2T-1)
        real = tf.concat([mask, tf.logical_and(mask[:, :-1], mask[:, 1:])], axis=1)  # (B, 2T-1)
        rows = tf.where(real, rows, 0)  # padded ids never index the table
        weights = tf.gather(self.kernel, rows)  # (B, 2T-1, U)
        real = tf.cast(real, weights.dtype)[..., None]  # (B, 2T-1, 1)
        total = tf.reduce_sum(weights * real, axis=1)  # (B, U)
        count = tf.maximum(tf.reduce_sum(real, axis=1), 1.0)  # (B, 1)
        return self.scale * total / tf.sqrt(count)

    def compute_mask(self, token_ids, padding_mask=None):
        return None

    def compute_output_shape(self, token_ids_shape, padding_mask_shape=None):
        return (token_ids_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            vocabulary_size=self.vocabulary_size,
            num_buckets=self.num_buckets,
            scale=self.scale,
        )
        return config
