"""Forecast accuracy per fold and per horizon step: MAE, RMSE, MASE, sMAPE.

Forecasts and actuals are arrays `(folds, horizon, targets)` with NaN where a (partial) fold
has no value; MASE divides by each fold's in-sample one-step naive MAE of its training part.
"""

import numpy as np

METRICS = ("mae", "rmse", "mase", "smape")


def naive_scale(train, zero_as=1.0):
    """In-sample one-step naive MAE of a training part, per target: `mean |y_t - y_{t-1}|`.

    `zero_as`: what a zero scale (a constant target) becomes; None keeps it 0.
    """
    train = np.asarray(train, dtype=float)
    if train.ndim == 1:
        train = train[:, None]
    scale = np.mean(np.abs(np.diff(train, axis=0)), axis=0)  # (T,)
    return scale if zero_as is None else np.where(scale > 0, scale, zero_as)


def smape(actual, forecast):
    """Symmetric MAPE in percent, elementwise; 0 where both are 0."""
    denominator = np.abs(actual) + np.abs(forecast)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 200.0 * np.abs(actual - forecast) / denominator, 0.0)


def forecast_metrics(actual, forecast, scales):
    """Per-fold and per-horizon tables.

    Args:
        actual, forecast: `(K, H, T)` arrays, NaN where a fold has no value.
        scales: `(K, T)` MASE scales.

    Returns:
        dict: `per_fold` {metric: [K]}, `per_horizon` {metric: [H]}, and for each metric its
        mean over folds and `<metric>_std` (spread over folds).
    """
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    error = forecast - actual  # (K, H, T)
    absolute = np.abs(error)
    scaled = absolute / np.asarray(scales, float)[:, None, :]
    elements = {"mae": absolute, "rmse": error**2, "mase": scaled, "smape": smape(actual, forecast)}
    result = {"per_fold": {}, "per_horizon": {}}
    for name in METRICS:
        values = np.where(np.isnan(error), np.nan, elements[name])
        per_fold = np.nanmean(values, axis=(1, 2))  # (K,)
        per_horizon = np.nanmean(values, axis=(0, 2))  # (H,)
        if name == "rmse":
            per_fold, per_horizon = np.sqrt(per_fold), np.sqrt(per_horizon)
        result["per_fold"][name] = per_fold.tolist()
        result["per_horizon"][name] = per_horizon.tolist()
        result[name] = float(np.mean(per_fold))
        result[f"{name}_std"] = float(np.std(per_fold))
    return result
