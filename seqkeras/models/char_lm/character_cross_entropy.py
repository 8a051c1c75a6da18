"""Cross-entropy per real character, accumulated over an epoch: bits per character (BPC)."""

import math

import keras
import tensorflow as tf

_UNITS = {"bits": math.log(2.0), "nats": 1.0}


def masked_negative_log_likelihood(targets, logits, mask=None):
    """Per-position -log p(target) in nats, (B, T), zero where `mask` is False."""
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(targets, tf.int32), logits=tf.cast(logits, tf.float32)
    )  # (B, T)
    if mask is None:
        return nll
    return tf.where(tf.cast(mask, tf.bool), nll, tf.zeros_like(nll))


@keras.saving.register_keras_serializable(package="seqkeras")
class CharacterCrossEntropy(keras.metrics.Metric):
    """Mean cross-entropy over every real (unmasked) character seen since the last reset.

    Characters are weighted equally, whatever batch they come from (a batch with many padded
    positions counts for its real characters only), so the epoch value is the corpus BPC.

    Args:
        unit: `"bits"` (bits per character, the default) or `"nats"` (the training loss).
        name: metric name, defaults to `"bpc"` for bits and `"nats_per_character"` for nats.
        dtype: accumulator dtype.

    Call arguments (`update_state`):
        y_true: int (B, T) target ids.
        y_pred: float (B, T, V) logits.
        sample_weight: optional bool/float (B, T); 0/False marks padding.

    Example:

    >>> metric = CharacterCrossEntropy()
    >>> metric.update_state([[1, 2]], tf.zeros([1, 2, 4]), sample_weight=[[1, 0]])
    >>> float(metric.result())  # uniform over 4 ids: 2 bits
    2.0
    """

    def __init__(self, unit="bits", name=None, dtype="float32"):
        if unit not in _UNITS:
            raise ValueError(f"`unit` must be one of {sorted(_UNITS)}. Received: unit={unit!r}")
        super().__init__(name=name or ("bpc" if unit == "bits" else "nats_per_character"), dtype=dtype)
        self.unit = unit
        self.total = self.add_variable(shape=(), initializer="zeros", dtype=dtype, name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype=dtype, name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        nll = masked_negative_log_likelihood(y_true, y_pred, sample_weight)  # (B, T)
        weights = tf.ones_like(nll) if sample_weight is None else tf.cast(sample_weight, nll.dtype)
        self.total.assign_add(tf.cast(tf.reduce_sum(nll * weights), self.dtype))
        self.count.assign_add(tf.cast(tf.reduce_sum(weights), self.dtype))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count) / _UNITS[self.unit]

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {"unit": self.unit, "name": self.name, "dtype": self.dtype}
