"""The closed-form direct linear forecaster: ridge regression from the window to the next H values.

One least-squares problem per fit (all horizon steps at once, one column each): the inputs are the
last `order` steps of the window (the targets' own history, and optionally the covariates), the
outputs the `H x T` future target values. The order, the feature set and the ridge penalty are
chosen on the training windows only, by an inner time split (fit on the earlier windows, score the
mean absolute error on the latest ones, the `purge` windows between them left out), then the chosen
model is refitted on every training window.

Besides the ridge settings, one candidate is the iterated autoregression of each target on its own
lags (order by AIC on the same windows, one-step least squares, iterated `H` steps): its forecasts are
also a linear map of the window, so the same frozen layer holds whichever wins.

The forecaster uses it as its linear part (`build_forecaster(..., direct_linear=True)`): the network
then learns only the residual, so with no training epochs the forecaster IS this model.

Example:

>>> fit = fit_direct_linear(x, y, validation_fraction=0.2, purge=2)   # x (N, W, F), y (N, H, T)
>>> forecast = predict_direct_linear(fit, x_new)                      # (M, H, T)
"""

import numpy as np

ORDERS = (1, 2, 4, 8, 12)
PENALTIES = (0.0, 0.3, 1.0, 3.0, 10.0, 30.0)


def _design(x, order, features):
    """The flattened last `order` steps of the first `features` columns: `(N, order * features)`."""
    return x[:, x.shape[1] - order:, :features].reshape(len(x), -1)


def _ridge(design, targets, penalty):
    """Ridge with an unpenalized intercept; the penalty is per window (scale-free in N).

    Returns `(coefficients (P, O), intercept (O,))`.
    """
    mean_x, mean_y = design.mean(axis=0), targets.mean(axis=0)
    centred_x, centred_y = design - mean_x, targets - mean_y
    gram = centred_x.T @ centred_x + penalty * len(design) * np.eye(design.shape[1])
    coefficients = np.linalg.lstsq(gram, centred_x.T @ centred_y, rcond=None)[0]
    return coefficients, mean_y - mean_x @ coefficients


def _autoreg_map(x, y, max_order):
    """Iterated AR per target, order by AIC: `(coefficients (W * F, H * T), intercept (H * T,), order)`.

    Each target's one-step equation `y_t = c + sum_i phi_i y_{t-i}` is fitted by least squares on the
    windows (every window has `max_order` lags, so the AICs compare on the same sample), then iterated:
    the h-step forecast is linear in the window, its weights tracked through the recursion.
    """
    count, window, features = x.shape
    horizon, num_targets = y.shape[1], y.shape[2]
    kernel = np.zeros((window, features, horizon, num_targets))
    bias = np.zeros((horizon, num_targets))
    orders = []
    for t in range(num_targets):
        best = None
        for order in range(1, max_order + 1):
            design = np.column_stack([np.ones(count), x[:, window - order:, t]])
            beta = np.linalg.lstsq(design, y[:, 0, t], rcond=None)[0]
            rss = float(np.sum((design @ beta - y[:, 0, t]) ** 2))
            aic = count * np.log(max(rss, 1e-300) / count) + 2 * (order + 1)
            if best is None or aic < best[0]:
                best = (aic, order, beta)
        _, order, beta = best
        orders.append(order)
        # path[k]: the value at step k as (weights over the window's target column, constant)
        path = [(np.eye(window)[i], 0.0) for i in range(window)]
        for h in range(horizon):
            weights, constant = np.zeros(window), beta[0]
            for lag in range(1, order + 1):  # beta[1:] follows the window's time order: beta[order] is lag 1
                w, c = path[-lag]
                phi = beta[1 + order - lag]
                weights, constant = weights + phi * w, constant + phi * c
            path.append((weights, constant))
            kernel[:, t, h, t], bias[h, t] = weights, constant
    return kernel.reshape(window * features, -1), bias.reshape(-1), max(orders)


def candidate_settings(window, features, num_targets, orders=ORDERS, penalties=PENALTIES):
    """Every `(order, features, penalty)` tried: orders up to `window`, targets only or every column."""
    feature_sets = sorted({num_targets, features})
    orders = sorted({min(int(o), window) for o in orders})
    return [(o, f, p) for o in orders for f in feature_sets for p in penalties]


def _inner_splits(count, validation_fraction, purge, origins):
    """The `(fit_end, score_start, score_end)` inner splits: `origins` consecutive blocks of the latest
    windows (each `validation_fraction` of them), each scored by a fit on the windows before it less
    `purge`; blocks whose fit would keep fewer than 2 windows are skipped."""
    held = int(round(count * validation_fraction))
    splits = []
    for k in range(max(1, int(origins))):
        end = count - k * held
        fit_end = end - held - int(purge)
        if held < 1 or fit_end < 2:
            break
        splits.append((fit_end, end - held, end))
    return splits


def fit_direct_linear(x, y, validation_fraction=0.2, purge=0, orders=ORDERS, penalties=PENALTIES,
                      setting=None, kinds=("ridge", "autoreg"), origins=1):
    """Chooses and fits the direct linear model on standardized windows.

    Args:
        x: `(N, W, F)` standardized windows (the targets are the first `T` features).
        y: `(N, H, T)` standardized targets.
        validation_fraction: latest share of the windows scoring each candidate setting.
        purge: windows left out between the fitting and scoring parts (`H - 1` for direct targets).
        orders, penalties: the candidate lags and ridge penalties (features: targets only or all).
        setting: a fixed `(order, features, penalty)`, or `"autoreg"`; skips the choice.
        kinds: the candidate families: `"ridge"` (the direct settings), `"autoreg"` (iterated) and/or
            `"mean"` (the training windows' mean target: no inputs).
        origins: inner splits scoring each candidate (rolling origins): the latest `origins` blocks of
            `validation_fraction` of the windows, each scored by a fit on the windows before it (less
            `purge`); a candidate's score is its mean absolute error over all of them.

    Returns:
        dict with `kind` ("ridge", "autoreg" or "mean"), `order`, `features`, `penalty` (the autoreg's:
        its AIC order, the targets, 0; the mean's: 0, 0, None), `scores` {"order/features/penalty",
        "autoreg" or "mean": validation MAE},
        `kernel` `(W * F, H * T)` (zero outside the chosen lags and features, the layout of the
        flattened window) and `bias` `(H * T,)`: `flatten(x) @ kernel + bias` is the forecast.

    Example:

    >>> fit = fit_direct_linear(np.random.randn(60, 8, 1), np.random.randn(60, 3, 1), purge=2)
    >>> fit["kernel"].shape
    (8, 3)
    """
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    count, window, features = x.shape
    horizon, num_targets = y.shape[1], y.shape[2]
    flat_y = y.reshape(count, -1)
    scores = {}
    if setting is None:
        splits = _inner_splits(count, validation_fraction, purge, origins)
        candidates = candidate_settings(window, features, num_targets, orders, penalties) if "ridge" in kinds else []
        if not splits:  # too few windows: the most shrunk ridge (or the mean / the autoreg alone)
            setting = (max(candidates, key=lambda c: (c[2], -c[0], -c[1])) if candidates
                       else "mean" if "mean" in kinds else "autoreg")
        else:
            errors = {}

            def score(name, predict_block):
                errors.setdefault(name, []).extend(predict_block(fit_end, start, end).ravel()
                                                   - flat_y[start:end].ravel())

            for fit_end, start, end in splits:
                if "mean" in kinds:
                    score("mean", lambda f, a, b: np.broadcast_to(flat_y[:f].mean(axis=0), (b - a, flat_y.shape[1])))
                if "autoreg" in kinds:
                    kernel, bias, _ = _autoreg_map(x[:fit_end], y[:fit_end], window)
                    score("autoreg", lambda f, a, b: x[a:b].reshape(b - a, -1) @ kernel + bias)
                for order, used, penalty in candidates:
                    if order * used >= fit_end and penalty == 0:
                        continue  # unpenalized with more inputs than windows: not identified
                    coefficients, intercept = _ridge(_design(x[:fit_end], order, used), flat_y[:fit_end], penalty)
                    score(f"{order}/{used}/{penalty:g}",
                          lambda f, a, b: _design(x[a:b], order, used) @ coefficients + intercept)
            size = max(len(e) for e in errors.values())
            scores = {name: float(np.mean(np.abs(e))) for name, e in errors.items() if len(e) == size}
            best = min(scores, key=scores.get)
            setting = best if best in ("autoreg", "mean") else tuple(
                t(v) for t, v in zip((int, int, float), best.split("/")))
    if setting == "mean":
        return {"kind": "mean", "order": 0, "features": 0, "penalty": None, "scores": scores,
                "horizon": horizon, "num_targets": num_targets,
                "kernel": np.zeros((window * features, horizon * num_targets)), "bias": flat_y.mean(axis=0)}
    if setting == "autoreg":
        kernel, bias, order = _autoreg_map(x, y, window)
        return {"kind": "autoreg", "order": order, "features": num_targets, "penalty": 0.0, "scores": scores,
                "horizon": horizon, "num_targets": num_targets, "kernel": kernel, "bias": bias}
    order, used, penalty = int(setting[0]), int(setting[1]), float(setting[2])
    coefficients, intercept = _ridge(_design(x, order, used), flat_y, penalty)
    kernel = np.zeros((window, features, horizon * num_targets))
    kernel[window - order:, :used] = coefficients.reshape(order, used, -1)
    return {"kind": "ridge", "order": order, "features": used, "penalty": penalty, "scores": scores, "horizon": horizon,
            "num_targets": num_targets, "kernel": kernel.reshape(window * features, -1), "bias": intercept}


def predict_direct_linear(fit, x):
    """The fitted model's forecast `(N, H, T)` of standardized windows `x` `(N, W, F)`."""
    x = np.asarray(x, dtype="float64")
    flat = x.reshape(len(x), -1) @ fit["kernel"] + fit["bias"]
    return flat.reshape(len(x), fit["horizon"], fit["num_targets"])
