"""Pool a padded sequence over its valid steps only."""

import keras
from keras import ops

from seqkeras.layers import _masks
from seqkeras.layers._validation import check_choice

_MODES = ("mean", "max", "sum")


@keras.saving.register_keras_serializable(package="seqkeras")
class MaskedPooling(keras.layers.Layer):
    """Mean, max or sum over the time axis, counting valid (non-pad) steps only.

    `[batch, time, features]` in, `[batch, features]` out; the mask is consumed (the
    output carries none). Padded steps never influence the result, whatever they hold
    and wherever they are (left, right or inner padding all work). Without a mask every
    step is valid.

    A row whose mask has no valid step has no defined mean or max, so it is an error
    for every mode: `tf.errors.InvalidArgumentError` naming the per-row valid-step
    counts, raised eagerly and inside compiled graphs alike.

    Args:
        mode: "mean" (default), "max" or "sum".
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `[batch, time, features]` float tensor.
        mask: optional `[batch, time]` boolean padding mask (True = valid step).

    Example:

    >>> x = np.array([[[1.0], [3.0], [100.0]]], "float32")
    >>> MaskedPooling("mean")(x, mask=np.array([[True, True, False]]))
    <tf.Tensor: shape=(1, 1), dtype=float32, numpy=array([[2.]], dtype=float32)>
    """

    def __init__(self, mode="mean", **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, _MODES)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        name = type(self).__name__
        _masks.check_sequence_inputs(name, inputs)
        mask = _masks.check_mask(name, mask, inputs)
        if mask is None:
            reduce = {"mean": ops.mean, "max": ops.max, "sum": ops.sum}[self.mode]
            return reduce(inputs, axis=1)  # (B, D)

        counts = _masks.assert_no_empty_rows(name, mask)  # (B,)
        valid = ops.expand_dims(mask, -1)  # (B, T, 1)
        if self.mode == "max":
            lowest = ops.full_like(inputs, float("-inf"))
            return ops.max(ops.where(valid, inputs, lowest), axis=1)  # (B, D)
        total = ops.sum(_masks.zero_padded_steps(inputs, mask), axis=1)  # (B, D)
        if self.mode == "sum":
            return total
        counts = ops.cast(ops.expand_dims(counts, -1), inputs.dtype)  # (B, 1)
        return total / counts

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[2:])

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config
