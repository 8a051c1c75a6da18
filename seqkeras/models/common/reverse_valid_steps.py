"""`ReverseValidSteps`: reverse the real (non-pad) steps of each right-padded row."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="seqkeras")
class ReverseValidSteps(keras.layers.Layer):
    """Reverses the first `length` steps of every row and leaves the padding where it is.

    `keras.layers.Bidirectional` flips the whole padded tensor, which turns right padding into
    left padding for the backward direction. This layer reverses only the valid prefix of each
    row (`tf.reverse_sequence` with the lengths read from the mask), so the backward RNN sees an
    ordinary right-padded batch and the same mask. Applying it twice is the identity. Without a
    mask every step is valid and the layer is `flip` along time.

    The padding mask must be right-padded (`True...True False...False` per row); the lengths are
    the number of `True` values.

    Call arguments:
        inputs: tensor `[B, T, ...]`.
        mask: optional boolean `[B, T]`, `True` at real steps.

    Example:
    >>> x = np.arange(6, dtype="float32").reshape(2, 3, 1)
    >>> mask = np.array([[True, True, False], [True, True, True]])
    >>> ReverseValidSteps()(x, mask=mask)[..., 0].numpy().tolist()
    [[1.0, 0.0, 2.0], [5.0, 4.0, 3.0]]
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        inputs = tf.convert_to_tensor(inputs)
        batch_size, steps = tf.shape(inputs)[0], tf.shape(inputs)[1]
        if mask is None:
            lengths = tf.fill([batch_size], steps)
        else:
            lengths = tf.reduce_sum(tf.cast(mask, "int32"), axis=1)  # (B,)
        return tf.reverse_sequence(inputs, lengths, seq_axis=1, batch_axis=0)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return input_shape
