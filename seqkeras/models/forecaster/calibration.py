"""Quantile calibration: per-level offsets learned from held-out residuals (split conformal).

A quantile head trained with the pinball loss on a few hundred windows gives bands that are
too narrow out of sample (it fits its own training windows). `conformal_offsets` measures, on
windows the head was not fitted on, how far each predicted quantile must move so that the
share of actual values below it reaches its level; `QuantileCalibration` adds those offsets
inside the model, so `predict`, SavedModel and TFLite exports all return the calibrated bands.
`interval_coverage` measures how often actual values fall inside a band.
"""

import keras
import numpy as np
from keras import ops


def conformal_offsets(actual, quantiles, levels):
    """Per-level shifts that make each quantile forecast cover its level on held-out windows.

    For level `q` and residual `r = y - f_q`, the offset is the empirical `q`-quantile of `r`
    with the split-conformal finite-sample correction (`(n + 1) q / n`, rounded outward), so
    `f_q + offset` has at least (upper levels) / at most (lower levels) the nominal share of
    values below it on exchangeable data.

    Args:
        actual: `(N, H, T)` held-out targets in series units.
        quantiles: `(N, H, Q, T)` predicted quantiles of the same windows.
        levels: the `Q` quantile levels in (0, 1).

    Returns:
        `(H, Q, T)` float32 offsets (zeros when `N == 0`).

    Example:

    >>> y = np.arange(10.0).reshape(10, 1, 1)
    >>> conformal_offsets(y, np.full((10, 1, 2, 1), 4.5), [0.1, 0.9])[0, :, 0].tolist()
    [-4.5, 4.5]
    """
    actual = np.asarray(actual, dtype=np.float64)
    quantiles = np.asarray(quantiles, dtype=np.float64)
    levels = [float(q) for q in levels]
    n, horizon, count, targets = quantiles.shape
    if actual.shape != (n, horizon, targets) or count != len(levels):
        raise ValueError(f"`actual` must be (N, H, T) and `quantiles` (N, H, Q, T) with Q = len(levels). Received: "
                         f"actual={actual.shape}, quantiles={quantiles.shape}, levels={levels}")
    offsets = np.zeros((horizon, count, targets), dtype=np.float32)
    if n == 0:
        return offsets
    residuals = actual[:, :, None, :] - quantiles  # (N, H, Q, T)
    for index, q in enumerate(levels):
        if q > 0.5:
            level, method = min(1.0, (n + 1) * q / n), "higher"
        elif q < 0.5:
            level, method = max(0.0, ((n + 1) * q - 1) / n), "lower"
        else:
            level, method = 0.5, "linear"
        offsets[:, index, :] = np.quantile(residuals[:, :, index, :], level, axis=0, method=method)
    return offsets


def interval_coverage(actual, quantiles, levels):
    """How often actual values fall inside the outermost quantile band, and below each level.

    Args:
        actual: `(K, H, T)` actual values, NaN where a (partial) fold has none.
        quantiles: `(K, H, T, Q)` predicted quantiles.
        levels: the `Q` increasing levels.

    Returns:
        dict: `interval` `[lowest, highest]` level, `nominal` (their difference), `coverage` (share of
        values inside `[f_lowest, f_highest]`), `per_horizon` and `per_fold` coverage, `below`
        {level: share of values `<= f_level`}, `count` (values scored).

    Example:

    >>> y = np.array([[[1.0], [5.0]]])                       # 1 fold, 2 steps, 1 target
    >>> q = np.array([[[[0.0, 2.0]], [[0.0, 2.0]]]])         # band [0, 2] at both steps
    >>> interval_coverage(y, q, [0.1, 0.9])["coverage"]
    0.5
    """
    actual = np.asarray(actual, dtype=np.float64)
    quantiles = np.asarray(quantiles, dtype=np.float64)
    levels = [float(q) for q in levels]
    valid = ~np.isnan(actual)
    inside = (quantiles[..., 0] <= actual) & (actual <= quantiles[..., -1])  # (K, H, T)

    def share(hits, axis=None):
        counts = np.sum(valid, axis=axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, np.sum(hits & valid, axis=axis) / np.maximum(counts, 1), np.nan)

    return {
        "interval": [levels[0], levels[-1]],
        "nominal": levels[-1] - levels[0],
        "coverage": float(share(inside)),
        "per_horizon": share(inside, axis=(0, 2)).tolist(),
        "per_fold": share(inside, axis=(1, 2)).tolist(),
        "below": {f"{q:g}": float(share(actual <= quantiles[..., i])) for i, q in enumerate(levels)},
        "count": int(valid.sum()),
    }


@keras.saving.register_keras_serializable(package="seqkeras")
class QuantileCalibration(keras.layers.Layer):
    """Adds a fixed offset per horizon step, quantile level and target to predicted quantiles.

    The offsets are a non-trainable weight (zeros until set, e.g. from `conformal_offsets`), saved
    with the model.

    Args:
        horizon, num_quantiles, num_targets: the offsets' shape `(H, Q, T)`.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `[batch, H, Q, T]` quantiles in series units.

    Example:

    >>> layer = QuantileCalibration(2, 2, 1)
    >>> layer.set_offsets(np.ones((2, 2, 1)))
    >>> layer(np.zeros((1, 2, 2, 1), "float32")).numpy().ravel().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, horizon, num_quantiles, num_targets=1, **kwargs):
        super().__init__(**kwargs)
        self.horizon, self.num_quantiles, self.num_targets = int(horizon), int(num_quantiles), int(num_targets)
        self.offsets = self.add_weight(name="offsets", shape=(self.horizon, self.num_quantiles, self.num_targets),
                                       initializer="zeros", trainable=False)

    def set_offsets(self, offsets):
        """Sets the `(H, Q, T)` offsets (series units)."""
        offsets = np.asarray(offsets, dtype="float32")
        if offsets.shape != tuple(self.offsets.shape) or not np.all(np.isfinite(offsets)):
            raise ValueError(f"`offsets` must be finite with shape {tuple(self.offsets.shape)}. "
                             f"Received: shape={offsets.shape}")
        self.offsets.assign(offsets)

    def call(self, inputs):
        return inputs + ops.cast(self.offsets, inputs.dtype)[None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "horizon": self.horizon, "num_quantiles": self.num_quantiles,
                "num_targets": self.num_targets}


def calibration_layer(model):
    """The model's top-level `QuantileCalibration` layer, or None."""
    return next((layer for layer in model.layers if isinstance(layer, QuantileCalibration)), None)
