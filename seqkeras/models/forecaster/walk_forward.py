"""The walk-forward harness: one forecast per fold origin for the model and every baseline.

At each fold the model is fitted (or the last fitted one reused, see `Fold.refit`) on the
fold's training steps only; every baseline is fitted on the same steps. All methods then
forecast the fold's test range from its origin, reading only values observed before it.
With `store`, each finished fold is written to `store/fold_<k>.npz`, and a later call with the
same store reads finished folds back instead of recomputing them (resume after an interruption).
"""

import json
import os
import pathlib
import tempfile
import time

import numpy as np

from seqkeras.models.forecaster import baselines as baseline_lib
from seqkeras.models.forecaster.calibration import calibration_layer, interval_coverage
from seqkeras.models.forecaster.metrics import forecast_metrics, naive_scale


def _fold_path(store, index):
    return pathlib.Path(store) / f"fold_{index:03d}.npz"


def _save_fold(store, index, arrays, meta):
    """Writes one fold's results atomically (a temp file, then a rename)."""
    path = _fold_path(store, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz", delete=False) as handle:
        np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(handle.name, path)


def _load_fold(store, index):
    """`(arrays, meta)` of a stored fold, or None."""
    if store is None or not _fold_path(store, index).is_file():
        return None
    path = _fold_path(store, index)
    try:
        with np.load(path) as data:
            arrays = {key: data[key] for key in data.files if key != "meta"}
            meta = json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError):
        return None  # a damaged fold file is recomputed
    return arrays, meta


def walk_forward(values, num_targets, splitter, window, horizon, fit, baselines=baseline_lib.BASELINES,
                 period=None, on_fold=None, store=None, quantile_levels=None):
    """Runs every fold; returns forecasts, actuals and metrics of the model and the baselines.

    Args:
        values: `(N, F)` float array, targets first, in series units.
        num_targets: forecast columns (the first ones).
        splitter: a `WalkForwardSplit` whose `horizon` is the forecast horizon.
        window: model input steps.
        horizon: forecast steps H.
        fit: `fit(train_values, fold) -> keras model` or `(model, info)` with a JSON-ready `info` dict
            (series units in; `(1, H)` / `(1, H, T)` or a dict with `"forecast"` and optional
            `"quantiles"` out), or None: the baselines only.
        baselines: names from `baselines.BASELINES`.
        period: the seasonal-naive period.
        on_fold: optional `on_fold(fold, result_so_far)` callback after each fold.
        store: optional folder; finished folds are saved there and read back by a later call
            (only give the same store to runs with the same data, splitter, model and baselines).
        quantile_levels: the levels of the model's quantile head, for the coverage table.

    Returns:
        dict with `folds` (list of dicts), `actual` `(K, H, T)`, `forecasts` {method: `(K, H, T)`},
        `quantiles` `(K, H, T, Q)` or None (as the model returns them: calibrated when it has a
        `QuantileCalibration` layer), `quantiles_raw` (the same before calibration), `scales` `(K, T)`,
        `metrics` {method: tables}, `coverage` {"calibrated", "uncalibrated"} (`interval_coverage` over
        the folds; with `quantile_levels` and a quantile head), `fit_seconds` (model fitting, summed),
        `orders` (chosen AutoReg lags / ARIMA orders per fold), `fit_info` (per fold: the `info` of the
        fit, None for folds reusing a model), `resumed` (indices of folds read back from `store`).
    """
    values = np.asarray(values, dtype=np.float64)
    folds = splitter.folds(len(values))
    count = len(folds)
    shape = (count, horizon, num_targets)
    actual = np.full(shape, np.nan)
    methods = baselines if fit is None else ("model", *baselines)
    forecasts = {name: np.full(shape, np.nan) for name in methods}
    quantiles = quantiles_raw = None
    scales, orders, fit_info, seconds, model = np.ones((count, num_targets)), [], [], 0.0, None
    resumed, last_refit = [], None
    for fold in folds:
        (a, b), (c, d) = fold.train, fold.test
        steps = d - c
        if c - window < 0 or b - a < window + horizon:
            raise ValueError(f"Fold {fold.index}: training range {fold.train} is too short for window {window} + "
                             f"horizon {horizon}")
        if fold.refit:
            last_refit = fold
        actual[fold.index, :steps] = values[c:d, :num_targets]
        scales[fold.index] = naive_scale(values[a:b, :num_targets])
        stored = _load_fold(store, fold.index)
        if stored is not None and set(stored[1]["methods"]) == set(methods):
            arrays, meta = stored
            for name in methods:
                forecasts[name][fold.index] = arrays[f"forecast_{name}"]
            if "quantiles" in arrays:
                if quantiles is None:
                    quantiles = np.full(shape + (arrays["quantiles"].shape[-1],), np.nan)
                    quantiles_raw = quantiles.copy()
                quantiles[fold.index], quantiles_raw[fold.index] = arrays["quantiles"], arrays["quantiles_raw"]
            orders.append(meta["orders"])
            fit_info.append(meta["fit_info"])
            seconds += meta["fit_seconds"]
            resumed.append(fold.index)
            model = None  # a later fold that reuses the model refits it from its refit fold
            continue
        output, info, fold_seconds = None, None, 0.0
        if fit is not None:
            if fold.refit or model is None:
                source = fold if fold.refit else last_refit
                (sa, sb) = source.train
                start = time.perf_counter()
                model = fit(values[sa:sb].copy(), source)
                fold_seconds = time.perf_counter() - start
                seconds += fold_seconds
                if isinstance(model, tuple):
                    model, info = model
            output = model(values[None, c - window:c].astype("float32"), training=False)
            point = output["forecast"] if isinstance(output, dict) else output
            forecasts["model"][fold.index, :steps] = np.asarray(point).reshape(horizon, num_targets)[:steps]
        fit_info.append(info)
        if isinstance(output, dict) and "quantiles" in output:
            bands = np.asarray(output["quantiles"]).reshape(horizon, num_targets, -1)  # (H, T, Q)
            layer = calibration_layer(model)
            offsets = 0.0 if layer is None else np.asarray(layer.offsets).transpose(0, 2, 1)  # (H, T, Q)
            if quantiles is None:
                quantiles = np.full(shape + (bands.shape[-1],), np.nan)
                quantiles_raw = quantiles.copy()
            quantiles[fold.index, :steps] = bands[:steps]
            quantiles_raw[fold.index, :steps] = (bands - offsets)[:steps]
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
                if name == "direct_linear":
                    fold_orders.setdefault("direct_linear", []).append(dict(baseline_lib.direct_linear.last_setting))
        orders.append(fold_orders)
        if store is not None:
            arrays = {f"forecast_{name}": forecasts[name][fold.index] for name in methods}
            if quantiles is not None:
                arrays.update(quantiles=quantiles[fold.index], quantiles_raw=quantiles_raw[fold.index])
            _save_fold(store, fold.index, arrays, {"methods": list(methods), "orders": fold_orders,
                                                   "fit_info": info, "fit_seconds": fold_seconds})
        if on_fold is not None:
            on_fold(fold, forecasts)
    metrics = {name: forecast_metrics(actual, forecast, scales) for name, forecast in forecasts.items()}
    coverage = None
    if quantiles is not None and quantile_levels:
        coverage = {"calibrated": interval_coverage(actual, quantiles, quantile_levels),
                    "uncalibrated": interval_coverage(actual, quantiles_raw, quantile_levels)}
    return {
        "folds": [{"index": f.index, "train": list(f.train), "test": list(f.test), "refit": f.refit} for f in folds],
        "actual": actual, "forecasts": forecasts, "quantiles": quantiles, "quantiles_raw": quantiles_raw,
        "scales": scales, "metrics": metrics, "coverage": coverage, "fit_seconds": seconds, "orders": orders,
        "fit_info": fit_info, "resumed": resumed,
    }
