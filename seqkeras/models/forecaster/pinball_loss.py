"""The pinball (quantile) loss of a quantile head."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqkeras")
class PinballLoss(keras.losses.Loss):
    """Mean pinball loss over the last axis, one quantile level per slot.

    For level `q` and error `e = y - f`: `max(q * e, (q - 1) * e)`. Minimising it makes `f`
    the `q`-quantile of `y`; with `q = 0.5` it is half the absolute error.

    Args:
        quantiles: increasing levels in (0, 1), one per slot of the last axis of `y_pred`.
        **kwargs: base loss arguments (`name`, `reduction`).

    Call arguments:
        y_true: `[..., 1]` or `[...]` targets (broadcast over the quantile axis).
        y_pred: `[..., len(quantiles)]` predicted quantiles.

    Example:

    >>> loss = PinballLoss([0.1, 0.9])
    >>> float(loss(np.array([[1.0]]), np.array([[0.0, 0.0]])))
    0.5
    """

    def __init__(self, quantiles, name="pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        quantiles = [float(q) for q in quantiles]
        if not quantiles or any(not 0.0 < q < 1.0 for q in quantiles) or sorted(quantiles) != quantiles:
            raise ValueError(f"`quantiles` must be increasing levels in (0, 1). Received: quantiles={quantiles}")
        self.quantiles = quantiles

    def call(self, y_true, y_pred):
        levels = ops.convert_to_tensor(self.quantiles, dtype=y_pred.dtype)  # (Q,)
        y_true = ops.cast(y_true, y_pred.dtype)
        if len(y_true.shape) < len(y_pred.shape):
            y_true = ops.expand_dims(y_true, -1)
        error = y_true - y_pred  # (..., Q)
        return ops.mean(ops.maximum(levels * error, (levels - 1.0) * error), axis=-1)

    def get_config(self):
        return {**super().get_config(), "quantiles": self.quantiles}
