"""`CharacterWordEncoder`: a vector per word from its characters (embedding, convolution, max)."""

import keras
import tensorflow as tf

from seqkeras.models.common._validation import check_positive_int


@keras.saving.register_keras_serializable(package="seqkeras")
class CharacterWordEncoder(keras.layers.Layer):
    """Encodes every word of a batch from its character ids.

    Each word's characters are embedded (padding characters as zeros), convolved (`same`
    padding, ReLU) and max-pooled over
    the word's real characters (id 0 is character padding and never wins the max). This gives
    taggers prefix/suffix/shape evidence for words that are rare or unseen in training. Words
    made only of padding (padded time steps) encode to zeros. The layer keeps the word-level
    mask: it passes on the mask it receives.

    Args:
        char_vocabulary_size: number of character ids, padding (0) included.
        char_embedding_dim: width of the character embedding.
        filters: convolution filters, the width of the word vector.
        kernel_size: characters each filter sees.

    Call arguments:
        char_ids: int `[B, T, C]`, 0 for padding characters.
        mask: optional word mask `[B, T]` (passed through).

    Example:
    >>> encoder = CharacterWordEncoder(char_vocabulary_size=30, filters=8)
    >>> encoder(np.array([[[5, 6, 0], [7, 0, 0]]])).shape
    TensorShape([1, 2, 8])
    """

    def __init__(self, char_vocabulary_size, char_embedding_dim=16, filters=32, kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        self.char_vocabulary_size = check_positive_int("char_vocabulary_size", char_vocabulary_size)
        self.char_embedding_dim = check_positive_int("char_embedding_dim", char_embedding_dim)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"`char_ids` must have rank 3 [batch, time, chars]. Received: shape={input_shape}")
        self.embedding = keras.layers.Embedding(
            self.char_vocabulary_size, self.char_embedding_dim, trainable=self.trainable, name="char_embedding"
        )
        self.embedding.build((None, None))
        self.convolution = keras.layers.Conv1D(
            self.filters, self.kernel_size, padding="same", activation="relu", trainable=self.trainable,
            name="char_convolution",
        )
        self.convolution.build((None, None, self.char_embedding_dim))

    def call(self, char_ids, mask=None):
        char_ids = tf.convert_to_tensor(char_ids)
        if not char_ids.dtype.is_integer:
            raise TypeError(f"`char_ids` must be integers. Received: dtype={char_ids.dtype.name}")
        shape = tf.shape(char_ids)  # [B, T, C]
        flat = tf.reshape(char_ids, [-1, shape[2]])  # (B*T, C)
        real = tf.expand_dims(tf.cast(tf.not_equal(flat, 0), self.compute_dtype), -1)  # (B*T, C, 1)
        # Padding characters embed to zeros, exactly like the convolution's own `same` padding,
        # so a word's vector does not depend on how far the character axis is padded.
        embedded = self.embedding(flat) * real  # (B*T, C, E)
        features = self.convolution(embedded)  # (B*T, C, F), ReLU so >= 0
        pooled = tf.reduce_max(features * real, axis=1)  # (B*T, F); all-pad words give 0
        return tf.reshape(pooled, [shape[0], shape[1], self.filters])  # (B, T, F)

    def compute_mask(self, char_ids, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            char_vocabulary_size=self.char_vocabulary_size,
            char_embedding_dim=self.char_embedding_dim,
            filters=self.filters,
            kernel_size=self.kernel_size,
        )
        return config
