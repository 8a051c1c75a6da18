"""`HashedNgramLinear`: the "wide" part of a wide & deep classifier, linear in a bag of n-grams."""

import keras
import tensorflow as tf

from seqkeras.models.classifier.hashed_bigram_embedding import check_bigram_hash, hash_bigrams
from seqkeras.models.common._validation import check_positive_float, check_positive_int


# Character n-gram hash: a polynomial over the symbols, modulo the Mersenne prime 2**31 - 1, in
# int64 (the largest intermediate, (2**31 - 2) * 1000003 + symbol, stays below 2**51).
_CHAR_HASH_BASE = 1000003
_CHAR_HASH_MODULUS = 2**31 - 1


def hash_char_ngrams(char_ids, ngram_range, num_buckets):
    """Buckets of every character n-gram of every word, with word-boundary symbols.

    Each word's characters are framed by a boundary symbol on both sides, as scikit-learn's
    `analyzer="char_wb"` frames them with spaces, so `"<ab>"` has the 2-grams `<a`, `ab`, `b>`.
    The n-gram's symbols (and `n`) are hashed to a bucket in `[0, num_buckets)`.

    Args:
        char_ids: int `[B, T, C]`, 0 at padded characters (and everywhere in a padded word).
        ngram_range: `(min_n, max_n)`.
        num_buckets: number of buckets.

    Returns:
        `(buckets, real)`: int32 `[B, T, K]` and bool `[B, T, K]`, True where the n-gram lies
        inside a word that has at least one character.
    """
    ids = tf.cast(char_ids, tf.int64)  # (B, T, C)
    present = ids > 0
    length = tf.reduce_sum(tf.cast(present, tf.int32), axis=-1)  # (B, T)
    width = tf.shape(ids)[-1] + 2
    # Symbols: 0 padding, 1 the boundary, character id + 1 for a character.
    symbols = tf.pad(tf.where(present, ids + 1, 0), [[0, 0], [0, 0], [1, 1]])  # (B, T, C + 2)
    symbols += tf.one_hot(0, width, dtype=tf.int64) + tf.one_hot(length + 1, width, dtype=tf.int64)
    word_real = (length > 0)[..., None]  # (B, T, 1)
    buckets, real = [], []
    low, high = ngram_range
    for n in range(low, high + 1):
        starts = tf.maximum(width - n + 1, 0)  # n-gram start positions; none if words are shorter
        hashed = tf.fill(tf.shape(symbols[..., :starts]), tf.constant(n, tf.int64))  # (B, T, C + 3 - n)
        inside = word_real
        for k in range(n):
            symbol = symbols[..., k : k + starts]
            hashed = tf.math.floormod(hashed * _CHAR_HASH_BASE + symbol, _CHAR_HASH_MODULUS)
            inside = tf.logical_and(inside, symbol > 0)
        buckets.append(tf.cast(tf.math.floormod(hashed, num_buckets), tf.int32))
        real.append(inside)
    return tf.concat(buckets, axis=-1), tf.concat(real, axis=-1)


@keras.saving.register_keras_serializable(package="seqkeras")
class HashedNgramLinear(keras.layers.Layer):
    """A linear function of a sentence's bag of word n-grams and, optionally, character n-grams.

    Every real token contributes the weight row of its id, and every pair of adjacent real
    tokens the row of its hashed bigram bucket (the hash of `HashedBigramEmbedding`, rows
    `vocabulary_size + bucket`). The rows are summed and divided by the square root of the
    number of n-grams, which is the L2 normalisation of the n-gram count vector when its
    n-grams are distinct (as tf-idf features are normalised for a logistic regression).

    With `char_buckets`, the layer also takes `char_ids` and adds a second bag, normalised on
    its own: every character n-gram (lengths `char_ngram_range`) of every word, the word framed
    by boundary symbols (`hash_char_ngrams`), hashed into `char_buckets` rows of its own. This
    bag sees case, affixes, digits and punctuation shapes that lower-cased word ids lose.

        output = scale * (sum_g W[g] / sqrt(#word n-grams) + sum_c W[c] / sqrt(#char n-grams))

    So the output is what a linear classifier over (hashed) n-gram counts computes, but inside
    the Keras graph, from the model's own inputs: a model can add it to the logits of its
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
        char_buckets: character n-gram hash buckets; None for word n-grams only.
        char_ngram_range: `(min_n, max_n)` character n-gram lengths, boundary symbols included.

    Call arguments:
        token_ids: int `[B, T]`.
        padding_mask: bool `[B, T]`, True at real steps.
        char_ids: int `[B, T, C]` (0 = padding), required with `char_buckets`.

    Example:
    >>> layer = HashedNgramLinear(units=3, vocabulary_size=20, num_buckets=50)
    >>> layer(np.array([[4, 5, 6, 0]]), np.array([[True, True, True, False]])).shape
    TensorShape([1, 3])
    """

    def __init__(self, units, vocabulary_size, num_buckets, scale=1.0, char_buckets=None, char_ngram_range=(2, 5),
                 **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.num_buckets = check_bigram_hash(num_buckets, self.vocabulary_size)
        self.scale = check_positive_float("scale", scale)
        self.char_buckets = check_positive_int("char_buckets", char_buckets, allow_none=True)
        low, high = (check_positive_int("char_ngram_range", n) for n in char_ngram_range)
        if low > high:
            raise ValueError(f"`char_ngram_range` must be (min_n, max_n) with min_n <= max_n. "
                             f"Received: char_ngram_range={tuple(char_ngram_range)!r}")
        self.char_ngram_range = (low, high)

    def build(self, token_ids_shape, padding_mask_shape=None, char_ids_shape=None):
        self.kernel = self.add_weight(
            shape=(self.vocabulary_size + self.num_buckets + (self.char_buckets or 0), self.units),
            initializer="zeros", name="kernel",
        )

    def ngram_rows(self, token_ids):
        """Weight rows of the unigrams `[B, T]` and of the bigrams `[B, T - 1]` (before masking)."""
        token_ids = tf.cast(token_ids, tf.int32)
        return token_ids, self.vocabulary_size + hash_bigrams(token_ids, self.num_buckets)

    def _bag(self, rows, real):
        """`sum W[rows] / sqrt(count)` over the real entries of `rows` `[B, ...]`: `[B, U]`."""
        rows = tf.reshape(tf.where(real, rows, 0), [tf.shape(rows)[0], -1])  # padded entries never index
        real = tf.cast(tf.reshape(real, tf.shape(rows)), self.kernel.dtype)[..., None]  # (B, G, 1)
        total = tf.reduce_sum(tf.gather(self.kernel, rows) * real, axis=1)  # (B, U)
        return total / tf.sqrt(tf.maximum(tf.reduce_sum(real, axis=1), 1.0))

    def call(self, token_ids, padding_mask, char_ids=None):
        mask = tf.cast(padding_mask, tf.bool)  # (B, T)
        unigram_rows, bigram_rows = self.ngram_rows(token_ids)  # (B, T), (B, T-1)
        rows = tf.concat([unigram_rows, bigram_rows], axis=1)  # (B, 2T-1)
        real = tf.concat([mask, tf.logical_and(mask[:, :-1], mask[:, 1:])], axis=1)  # (B, 2T-1)
        output = self._bag(rows, real)  # (B, U)
        if self.char_buckets is not None:
            if char_ids is None:
                raise ValueError(f"{self.name} has char_buckets={self.char_buckets} and needs `char_ids` [B, T, C].")
            tf.debugging.assert_equal(
                tf.shape(char_ids)[:2], tf.shape(token_ids),
                message=f"{self.name}: `char_ids` [B, T, C] must have one word per token of `token_ids` [B, T]",
            )
            buckets, char_real = hash_char_ngrams(char_ids, self.char_ngram_range, self.char_buckets)  # (B, T, K)
            char_real = tf.logical_and(char_real, mask[..., None])
            output += self._bag(self.vocabulary_size + self.num_buckets + buckets, char_real)  # (B, U)
        return self.scale * output

    def compute_mask(self, token_ids, padding_mask=None, char_ids=None):
        return None

    def compute_output_shape(self, token_ids_shape, padding_mask_shape=None, char_ids_shape=None):
        return (token_ids_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            vocabulary_size=self.vocabulary_size,
            num_buckets=self.num_buckets,
            scale=self.scale,
            char_buckets=self.char_buckets,
            char_ngram_range=list(self.char_ngram_range),
        )
        return config
