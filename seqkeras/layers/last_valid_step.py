"""Take the output at the last valid (non-pad) step of each right-padded row."""

import keras
import tensorflow as tf

from seqkeras.layers import _masks


@keras.saving.register_keras_serializable(package="seqkeras")
class LastValidStep(keras.layers.Layer):
    """Select `inputs[b, length_b - 1]` for every row `b` of a right-padded batch.

    This is the step a causal model must read a label from: the only one that has seen
    the whole sequence. `[batch, time, ...]` in, `[batch, ...]` out; the mask is
    consumed. Without a mask the last step of the time axis is returned.

    The mask must be right-padded (valid steps first, then pads): a mask with a valid
    step after a pad step (left or inner padding) raises
    `tf.errors.InvalidArgumentError`, as does a row with no valid step. Both checks
    run eagerly and inside compiled graphs.

    Args:
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `[batch, time, ...]` tensor (any dtype).
        mask: optional `[batch, time]` boolean padding mask (True = valid step).

    Example:

    >>> x = np.arange(6, dtype="float32").reshape(2, 3, 1)
    >>> LastValidStep()(x, mask=np.array([[True, True, False], [True, True, True]]))
    <tf.Tensor: shape=(2, 1), dtype=float32, numpy=
    array([[1.],
           [5.]], dtype=float32)>
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        name = type(self).__name__
        _masks.check_sequence_inputs(name, inputs, rank=(2, 3, 4, 5), dtype_kind=None)
        mask = _masks.check_mask(name, mask, inputs)
        if mask is None:
            return inputs[:, -1]
        _masks.assert_right_padded(name, mask)
        counts = _masks.assert_no_empty_rows(name, mask)  # (B,)
        last = counts - 1  # (B,)
        return tf.gather(inputs, last, axis=1, batch_dims=1)  # (B, ...)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])
