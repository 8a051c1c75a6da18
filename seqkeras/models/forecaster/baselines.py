"""Reference forecasters fitted on one fold's training part: the bar the network must clear.

Every baseline is a function `(train, history, horizon, **options) -> (horizon,) float array`:
`train` is the target's values in the fold's training range (what may be fitted on) and
`history` every value observed up to the forecast origin (the training range plus the gap),
so a model fitted on `train` still conditions on the latest observations.
"""

import itertools
import warnings

import numpy as np

BASELINES = ("persistence", "seasonal_naive", "mean", "autoreg", "arima", "direct_linear")


def persistence(train, history, horizon):
    """The last observed value, repeated."""
    return np.full(horizon, float(history[-1]))


def seasonal_naive(train, history, horizon, period):
    """The value one season earlier: `f(T + h) = y(T + h - period * ceil(h / period))`."""
    history = np.asarray(history, dtype=float)
    if len(history) < period:
        raise ValueError(f"seasonal_naive needs at least `period` observations. Received: period={period}, "
                         f"{len(history)} observed")
    last_season = history[-period:]
    return np.array([last_season[h % period] for h in range(horizon)])


def training_mean(train, history, horizon):
    """The mean of the training part."""
    return np.full(horizon, float(np.mean(train)))


def _iterate(params, lags, history, horizon, intercept):
    """Iterated forecasts of `y_t = intercept + sum_i params[i] * y_{t - lags[i]}`."""
    path = list(np.asarray(history, dtype=float))
    for _ in range(horizon):
        path.append(intercept + sum(p * path[-lag] for p, lag in zip(params, lags)))
    return np.array(path[len(history):])


def autoreg(train, history, horizon, max_lag=None):
    """statsmodels `AutoReg` with a constant, its lag order chosen by AIC on `train` only.

    `max_lag` defaults to `min(20, len(train) // 4)`. Forecasts iterate the fitted equation
    from the end of `history`. Returns the forecast; the chosen lags are in `autoreg.last_lags`.
    """
    from statsmodels.tsa.ar_model import AutoReg, ar_select_order

    train = np.asarray(train, dtype=float)
    max_lag = max(1, min(20, len(train) // 4) if max_lag is None else int(max_lag))
    selection = ar_select_order(train, maxlag=max_lag, ic="aic", trend="c")
    lags = list(selection.ar_lags or [])
    result = AutoReg(train, lags=lags or 0, trend="c").fit()
    params = np.asarray(result.params)  # [const, phi for each lag]
    autoreg.last_lags = lags
    return _iterate(params[1:], lags, history, horizon, params[0])


ARIMA_GRID = tuple(itertools.product((1, 2, 3), (0,), (0, 1, 2)))


def arima(train, history, horizon, grid=ARIMA_GRID):
    """statsmodels `ARIMA(p, d, q)` with a constant, the order chosen by AIC on `train` from `grid`.

    Forecasts from the end of `history` with the fitted parameters (no refit on the gap).
    The chosen order is in `arima.last_order`.
    """
    from statsmodels.tsa.arima.model import ARIMA
    from threadpoolctl import threadpool_limits

    train = np.asarray(train, dtype=float)
    best = None
    # one BLAS thread: these are tiny problems, and threads only fight each other (100x slower on 2 busy cores)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # convergence chatter on poor grid points
        for order in grid:
            if order == (0, 0, 0):
                continue
            try:
                fitted = ARIMA(train, order=order, trend="c" if order[1] == 0 else "n").fit()
            except (ValueError, np.linalg.LinAlgError):
                continue
            if np.isfinite(fitted.aic) and (best is None or fitted.aic < best[0]):
                best = (fitted.aic, order, fitted)
        if best is None:
            raise ValueError("ARIMA: no order of the grid could be fitted")
        _, order, fitted = best
        if len(history) != len(train) or not np.array_equal(history, train):
            fitted = fitted.apply(np.asarray(history, dtype=float), refit=False)
        forecast = np.asarray(fitted.forecast(horizon))
    arima.last_order = order
    return forecast


def direct_linear(train, history, horizon, max_order=12):
    """A direct multi-horizon ridge regression on the last lags, chosen on `train` only.

    One linear model per horizon step from the last `order` values (standardized by `train`'s mean
    and std), fitted in closed form on every window of `train`; the order (up to
    `min(max_order, len(train) // 4)`) and the ridge penalty are chosen by an inner time split of
    those windows (`direct_linear.fit_direct_linear`). Forecasts from the end of `history`.
    The chosen setting is in `direct_linear.last_setting`.
    """
    from seqkeras.models.forecaster.direct_linear import fit_direct_linear, predict_direct_linear

    train = np.asarray(train, dtype=float)
    history = np.asarray(history, dtype=float)
    window = max(1, min(int(max_order), len(train) // 4))
    mean, std = float(train.mean()), float(train.std()) or 1.0
    scaled = (train - mean) / std
    count = len(train) - window - horizon + 1
    if count < 1:
        raise ValueError(f"direct_linear needs at least window + horizon = {window + horizon} training values. "
                         f"Received: {len(train)}")
    starts = np.arange(count)
    x = scaled[starts[:, None] + np.arange(window)][:, :, None]  # (N, W, 1)
    y = scaled[starts[:, None] + window + np.arange(horizon)][:, :, None]  # (N, H, 1)
    fit = fit_direct_linear(x, y, validation_fraction=0.15, purge=horizon - 1, kinds=("ridge",))
    direct_linear.last_setting = {key: fit[key] for key in ("order", "penalty")}
    recent = ((history[-window:] - mean) / std)[None, :, None]
    return predict_direct_linear(fit, recent)[0, :, 0] * std + mean


def baseline_forecast(name, train, history, horizon, period=None):
    """Runs the baseline `name` (one of `BASELINES`); `period` is needed by `seasonal_naive`."""
    if name == "persistence":
        return persistence(train, history, horizon)
    if name == "seasonal_naive":
        if not period:
            raise ValueError(f"seasonal_naive needs a period >= 1. Received: period={period}")
        return seasonal_naive(train, history, horizon, period)
    if name == "mean":
        return training_mean(train, history, horizon)
    if name == "autoreg":
        return autoreg(train, history, horizon)
    if name == "arima":
        return arima(train, history, horizon)
    if name == "direct_linear":
        return direct_linear(train, history, horizon)
    raise ValueError(f"Unknown baseline. Received: name={name!r}; known: {BASELINES}")
