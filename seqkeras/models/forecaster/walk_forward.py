"""The walk-forward harness: one forecast per fold origin for the model and every baseline.

At each fold the model is fitted (or the last fitted one reused, see `Fold.refit`) on the
fold's training steps only; every baseline is fitted on the same steps. All methods then
forecast the fold's test range from its origin, reading only values observed before it.
"""

import time

import numpy as np

from seqkeras.models.forecaster import baselines as baseline_lib
from seqkeras.models.forecaster.metrics import forecast_metrics, naive_scale


def walk_forward(values, num_targets, splitter, window, horizon, fit, baselines=baseline_lib.BASELINES,
                 period=None, on_fold=None):
    """Runs every fold; returns forecasts, actuals and metrics of the model and the baselines.

    Args:
        values: `(N, F)` float array, targets first, in series units.
        num_targets: forecast columns (the first ones).
        splitter: a `WalkForwardSplit` whose `horizon` is the forecast horizon.
        window: model input steps.
        horizon: forecast steps H.
        fit: `fit(train_values, fold) -> keras model` (series units in; `(1, H)` / `(1, H, T)` or a dict
            with `"forecast"` and optional `"quantiles"` out), or None: the baselines only.
        baselines: names from `baselines.BASELINES`.
        period: the seasonal-naive period.
        on_fold: optional `on_fold(fold, result_so_far)` callback after each fold.

    Returns:
        dict with `folds` (list of dicts), `actual` `(K, H, T)`, `forecasts` {method: `(K, H, T)`},
        `quantiles` `(K, H, T, Q)` or None, `scales` `(K, T)`, `metrics` {method: tables},
        `fit_seconds` (model fitting, summed), `orders` (chosen AutoReg lags / ARIMA orders per fold).
    """
    values = np.asarray(values, dtype=np.float64)
    folds = splitter.folds(len(values))
    count = len(folds)
    shape = (count, horizon, num_targets)
    actual = np.full(shape, np.nan)
    methods = baselines if fit is None else ("model", *baselines)
    forecasts = {name: np.full(shape, np.nan) for name in methods}
    quantiles, scales, orders, seconds, model = None, np.ones((count, num_targets)), [], 0.0, None
    for fold in folds:
        (a, b), (c, d) = fold.train, fold.test
        steps = d - c
        if c - window < 0 or b - a < window + horizon:
            raise ValueError(f"Fold {fold.index}: training range {fold.train} is too short for window {window} + "
                             f"horizon {horizon}")
        actual[fold.index, :steps] = values[c:d, :num_targets]
        scales[fold.index] = naive_scale(values[a:b, :num_targets])
        output = None
        if fit is not None:
            if fold.refit or model is None:
                start = time.perf_counter()
                model = fit(values[a:b].copy(), fold)
                seconds += time.perf_counter() - start
            output = model(values[None, c - window:c].astype("float32"), training=False)
            point = output["forecast"] if isinstance(output, dict) else output
            forecasts["model"][fold.index, :steps] = np.asarray(point).reshape(horizon, num_targets)[:steps]
        if isinstance(output, dict) and "quantiles" in output:
            bands = np.asarray(output["quantiles"]).reshape(horizon, num_targets, -1)  # (H, T, Q)
            if quantiles is None:
                quantiles = np.full(shape + (bands.shape[-1],), np.nan)
            quantiles[fold.index, :steps] = bands[:steps]
        fold_orders = {}
        for name in baselines:
            for target in range(num_targets):
                train, history = values[a:b, target], values[a:c, target]
                forecasts[name][fold.index, :steps, target] = baseline_lib.baseline_forecast(
                    name, train, history, horizon, period)[:steps]
                if name == "autoreg":
                    fold_orders.setdefault("autoreg_lags", []).append(list(baseline_lib.autoreg.last_lags))
                if name == "arima":
                    fold_orders.setdefault("arima_order", []).append(list(baseline_lib.arima.last_order))
        orders.append(fold_orders)
        if on_fold is not None:
            on_fold(fold, forecasts)
    metrics = {name: forecast_metrics(actual, forecast, scales) for name, forecast in forecasts.items()}
    return {
        "folds": [{"index": f.index, "train": list(f.train), "test": list(f.test), "refit": f.refit} for f in folds],
        "actual": actual, "forecasts": forecasts, "quantiles": quantiles, "scales": scales,
        "metrics": metrics, "fit_seconds": seconds, "orders": orders,
    }
