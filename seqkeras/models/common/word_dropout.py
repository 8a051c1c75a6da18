"""`WordDropout`: training-time replacement of word ids by the out-of-vocabulary id."""

import keras
import tensorflow as tf

from seqkeras.data.vocabulary import NUM_RESERVED, OOV_ID
from seqkeras.models.common._validation import check_rate


@keras.saving.register_keras_serializable(package="seqkeras")
class WordDropout(keras.layers.Layer):
    """Replaces each real word id by `OOV_ID` with probability `rate`, in training only.

    Words seen in training otherwise never reach the `<oov>` embedding, yet every unseen word
    at test time does; dropping known words to `<oov>` trains that path (and the character
    encoder beside it) on words whose context and spelling are known. Reserved ids (padding,
    `<oov>`, `<bos>`, `<eos>`) are never changed. Inference (`training=False`) is the identity.

    Args:
        rate: probability in [0, 1) of replacing a word.
        seed: seed of the replacement draws.

    Example:
    >>> layer = WordDropout(0.5, seed=0)
    >>> ids = np.array([[4, 5, 6, 0]])
    >>> bool(np.all(layer(ids, training=False) == ids))
    True
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, token_ids, training=False):
        token_ids = tf.convert_to_tensor(token_ids)
        if not training or not self.rate:
            return token_ids
        draws = keras.random.uniform(tf.shape(token_ids), seed=self.seed_generator)
        dropped = tf.logical_and(draws < self.rate, token_ids >= NUM_RESERVED)
        return tf.where(dropped, tf.constant(OOV_ID, token_ids.dtype), token_ids)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
