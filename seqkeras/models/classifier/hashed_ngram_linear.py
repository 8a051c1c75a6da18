"""`HashedNgramLinear`: the "wide" part of a wide & deep classifier, linear in a bag of n-grams."""

import keras
import numpy as np
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
    """A linear function of a sentence's tf-idf bag of word n-grams and, optionally, character n-grams.

    The word bag holds every real token's id (weight row `id`) and every pair of adjacent real
    tokens' hashed bigram bucket (the hash of `HashedBigramEmbedding`, rows
    `vocabulary_size + bucket`). With `char_buckets`, the layer also takes `char_ids` and builds
    a second bag: every character n-gram (lengths `char_ngram_range`) of every word, the word
    framed by boundary symbols (`hash_char_ngrams`), hashed into `char_buckets` rows of its own.
    That bag sees case, affixes, digits and punctuation shapes that lower-cased word ids lose.

    Each bag is weighted as scikit-learn's `TfidfVectorizer(sublinear_tf=True)` weights a
    document (here a sentence): an n-gram occurring `c` times gets `(1 + ln c) * idf[row]`, and
    the bag's vector is divided by its L2 norm. So

        output = scale * sum over bags (sum_g v_g W[g] / ||v||),   v_g = (1 + ln c_g) idf[g]

    which is what a linear classifier over (hashed) tf-idf features computes, but inside the
    Keras graph, from the model's own inputs: a model can add it to the logits of its sequence
    encoder and train both jointly (wide & deep). `idf` is a non-trainable weight, 1 for every
    row until `adapt` sets it from training sentences (`ln((1 + N) / (1 + df)) + 1`, N
    sentences, df of them containing the n-gram); call `adapt` before training. The kernel
    starts at zero, so at initialisation the wide part adds nothing. Padded steps never
    count; each row must have at least one real token. The mask is consumed (the output has
    no time axis).

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
    >>> inputs = {"token_ids": np.array([[4, 5, 6, 0]]), "padding_mask": np.array([[True, True, True, False]])}
    >>> layer.adapt(inputs)  # the training inputs: sets the idf
    >>> layer(inputs["token_ids"], inputs["padding_mask"]).shape
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
        self.num_rows = self.vocabulary_size + self.num_buckets + (self.char_buckets or 0)

    def build(self, token_ids_shape, padding_mask_shape=None, char_ids_shape=None):
        self.kernel = self.add_weight(shape=(self.num_rows, self.units), initializer="zeros", name="kernel")
        self.idf = self.add_weight(shape=(self.num_rows,), initializer="ones", trainable=False, name="idf")

    def ngram_rows(self, token_ids):
        """Weight rows of the unigrams `[B, T]` and of the bigrams `[B, T - 1]` (before masking)."""
        token_ids = tf.cast(token_ids, tf.int32)
        return token_ids, self.vocabulary_size + hash_bigrams(token_ids, self.num_buckets)

    def _bags(self, token_ids, padding_mask, char_ids):
        """`[(rows, real)]`, int32 and bool `[B, G]`, per bag: the word bag, then the character bag."""
        mask = tf.cast(padding_mask, tf.bool)  # (B, T)
        unigram_rows, bigram_rows = self.ngram_rows(token_ids)  # (B, T), (B, T-1)
        bags = [(tf.concat([unigram_rows, bigram_rows], axis=1),
                 tf.concat([mask, tf.logical_and(mask[:, :-1], mask[:, 1:])], axis=1))]  # (B, 2T-1) each
        if self.char_buckets is not None:
            if char_ids is None:
                raise ValueError(f"{self.name} has char_buckets={self.char_buckets} and needs `char_ids` [B, T, C].")
            tf.debugging.assert_equal(
                tf.shape(char_ids)[:2], tf.shape(token_ids),
                message=f"{self.name}: `char_ids` [B, T, C] must have one word per token of `token_ids` [B, T]",
            )
            buckets, real = hash_char_ngrams(char_ids, self.char_ngram_range, self.char_buckets)  # (B, T, K)
            batch = tf.shape(buckets)[0]
            bags.append((tf.reshape(self.vocabulary_size + self.num_buckets + buckets, [batch, -1]),
                         tf.reshape(tf.logical_and(real, mask[..., None]), [batch, -1])))  # (B, T*K) each
        return bags

    def _counts(self, rows, real):
        """How often each entry's n-gram occurs in its sentence: float `[B, G]` (padded entries: their own)."""
        sentence = tf.range(tf.shape(rows, out_type=tf.int64)[0])[:, None]  # (B, 1)
        keys = tf.where(real, sentence * self.num_rows + tf.cast(rows, tf.int64), -1)  # (B, G); one key per padding
        keys = tf.reshape(keys, [-1])
        _, index = tf.unique(keys)  # (B*G,): the entry's distinct key (TFLite has UNIQUE, not UNIQUE_WITH_COUNTS)
        counts = tf.math.unsorted_segment_sum(tf.ones_like(keys, self.kernel.dtype), index, tf.size(keys))
        return tf.reshape(tf.gather(counts, index), tf.shape(rows))

    def _bag(self, rows, real):
        """`sum_g v_g W[g] / ||v||` over one bag's distinct n-grams, `v_g = (1 + ln c_g) idf[g]`: `[B, U]`."""
        rows = tf.where(real, rows, 0)  # padded entries index row 0 with weight 0
        counts = self._counts(rows, real)  # (B, G)
        value = (1.0 + tf.math.log(counts)) * tf.gather(self.idf, rows)  # (B, G): v of the entry's n-gram
        share = tf.cast(real, self.kernel.dtype) / counts  # each of an n-gram's c entries carries 1/c of it
        norm = tf.sqrt(tf.reduce_sum(share * value * value, axis=1, keepdims=True))  # (B, 1)
        weight = share * value / tf.maximum(norm, 1e-12)  # (B, G)
        return tf.reduce_sum(weight[..., None] * tf.gather(self.kernel, rows), axis=1)  # (B, U)

    def call(self, token_ids, padding_mask, char_ids=None):
        bags = self._bags(token_ids, padding_mask, char_ids)
        return self.scale * tf.add_n([self._bag(rows, real) for rows, real in bags])

    def adapt(self, data):
        """Sets `idf` from the document frequency of every n-gram row over `data`'s sentences.

        Args:
            data: the training inputs: a `tf.data.Dataset` or any iterable of batches, each a
                dict with `token_ids`, `padding_mask` (and `char_ids` with `char_buckets`) or an
                `(inputs, targets)` pair of such a dict, e.g. `seqkeras.models.common.text_batches(...)`;
                a single dict is one batch.
        """
        frequency, sentences = np.zeros(self.num_rows), 0
        for batch in [data] if isinstance(data, dict) else data:
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            token_ids = tf.convert_to_tensor(inputs["token_ids"])
            if not self.built:
                self.build(token_ids.shape)
            for rows, real in self._bags(token_ids, inputs["padding_mask"], inputs.get("char_ids")):
                # Each of an n-gram's c entries in a sentence adds 1/c: the sentence counts once.
                real = np.asarray(real)
                share = 1.0 / np.asarray(self._counts(rows, real), "float64")
                frequency += np.bincount(np.asarray(rows)[real], weights=share[real], minlength=self.num_rows)
            sentences += int(token_ids.shape[0])
        if sentences == 0:
            raise ValueError(f"{self.name}.adapt needs at least one sentence. Received: no batches in data={data!r}")
        frequency = np.rint(frequency)  # sentence counts, summed from shares
        self.idf.assign((np.log((1.0 + sentences) / (1.0 + frequency)) + 1.0).astype(self.idf.dtype))

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
