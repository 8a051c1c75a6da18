"""`TokenAccuracy`: the share of real tokens tagged correctly, over a whole evaluation."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqkeras")
class TokenAccuracy(keras.metrics.Metric):
    """Correct real tokens / real tokens, summed over every batch.

    Keras' `SparseCategoricalAccuracy` with per-token sample weights first averages each
    sequence over its padded length, so tokens of a batch padded to a longer width weigh less
    and the epoch figure is not the token accuracy. This metric counts tokens: each batch adds
    its weighted correct tokens and its weight sum (sample weights, else the predictions'
    Keras mask, else every position). Compile it as a weighted metric
    (`compile(weighted_metrics=[TokenAccuracy()])`) so that Keras hands it the sample weights.

    Args:
        name: metric name.
        dtype: accumulator dtype.

    Example:
    >>> metric = TokenAccuracy()
    >>> metric.update_state(np.array([[1, 2, 0]]), np.eye(3)[[[1, 0, 0]]], sample_weight=np.array([[1, 1, 0]]))
    >>> float(metric.result())
    0.5
    """

    def __init__(self, name="accuracy", dtype="float32", **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct", dtype=self.dtype)
        self.tokens = self.add_variable(shape=(), initializer="zeros", name="tokens", dtype=self.dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        predicted = ops.argmax(y_pred, axis=-1)  # (B, T)
        y_true = ops.reshape(ops.cast(y_true, predicted.dtype), ops.shape(predicted))
        match = ops.cast(ops.equal(y_true, predicted), self.dtype)
        if sample_weight is None:
            sample_weight = getattr(y_pred, "_keras_mask", None)
        weight = ops.ones_like(match) if sample_weight is None else ops.cast(sample_weight, self.dtype)
        weight = ops.broadcast_to(weight, ops.shape(match))
        self.correct.assign_add(ops.sum(match * weight))
        self.tokens.assign_add(ops.sum(weight))

    def result(self):
        return ops.divide_no_nan(self.correct, self.tokens)

    def reset_state(self):
        self.correct.assign(0.0)
        self.tokens.assign(0.0)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}
