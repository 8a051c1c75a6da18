"""The forecaster (causal backbones, in-model scaling, quantile head), baselines, metrics, walk-forward."""

import logging

import keras
import numpy as np
import pytest

from seqkeras.data import corpora
from seqkeras.data.splits import WalkForwardSplit
from seqkeras.data.windows import fit_standardization, series_window_arrays
from seqkeras.models.forecaster import PinballLoss, build_backbone, build_forecaster
from seqkeras.models.forecaster import baselines
from seqkeras.models.forecaster.metrics import forecast_metrics, naive_scale
from seqkeras.models.forecaster.trainer import fit_core
from seqkeras.models.forecaster.walk_forward import walk_forward

SPOTS = corpora.sunspots()


@pytest.mark.parametrize("backbone", ["lstm", "tcn", "attention"])
def test_backbone_is_causal(backbone):
    encoder = build_backbone(backbone, window=10, features=2, hidden_dim=8, seed=0)
    x = np.stack([SPOTS[:10], SPOTS[10:20]], -1)[None].astype("float32") / 100  # (1, 10, 2)
    changed = x.copy()
    changed[:, 6:] += np.random.default_rng(0).normal(size=(1, 4, 2))  # only steps after t = 5
    before, after = np.asarray(encoder(x)), np.asarray(encoder(changed))
    np.testing.assert_allclose(before[:, :6], after[:, :6], atol=1e-6)
    assert np.abs(before[:, 6:] - after[:, 6:]).max() > 1e-4  # the later steps do read their inputs


def test_scaling_lives_in_the_model_and_round_trips(tmp_path):
    values, columns = corpora.macrodata()
    table = values[:60, [columns.index("unemp"), columns.index("infl"), columns.index("tbilrate")]]
    stats = fit_standardization(table)
    model, core = build_forecaster(6, 2, stats.mean, stats.std, num_targets=2, backbone="attention", hidden_dim=8,
                                   quantiles=(0.2, 0.5, 0.8), seed=1)
    x, _ = series_window_arrays(table, 6, 2)
    out = model.predict(x[:5].astype("float32"), verbose=0)
    assert out["forecast"].shape == (5, 2, 2) and out["quantiles"].shape == (5, 2, 2, 3)
    # model = unstandardize(core(standardize(x))) with the training statistics
    inner = core.predict(((x[:5] - stats.mean) / stats.std).astype("float32"), verbose=0)
    np.testing.assert_allclose(out["forecast"], inner["forecast"] * stats.std[:2] + stats.mean[:2], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out["quantiles"][:, :, 1, 2], inner["quantiles"][:, :, 2, 1] * stats.std[1] + stats.mean[1],
                               rtol=1e-4, atol=1e-4)
    model.save(tmp_path / "f.keras")
    loaded = keras.saving.load_model(tmp_path / "f.keras")
    again = loaded.predict(x[:5].astype("float32"), verbose=0)
    np.testing.assert_allclose(again["forecast"], out["forecast"], atol=1e-5)
    assert loaded.input_shape == (None, 6, 3)


def test_pinball_loss_matches_numpy():
    y = np.array([[3.0], [1.0]])
    f = np.array([[2.0, 4.0], [1.5, 0.0]])
    levels = np.array([0.1, 0.9])
    e = y - f
    expected = np.mean(np.maximum(levels * e, (levels - 1) * e))
    assert float(PinballLoss([0.1, 0.9])(y, f)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="quantiles"):
        PinballLoss([0.9, 0.1])


def test_simple_baselines_by_hand():
    train = SPOTS[:20]  # 1700-1719
    history = SPOTS[:22]  # two gap years observed after training
    np.testing.assert_allclose(baselines.persistence(train, history, 3), [SPOTS[21]] * 3)
    np.testing.assert_allclose(baselines.training_mean(train, history, 2), [train.sum() / 20] * 2)
    np.testing.assert_allclose(baselines.seasonal_naive(train, history, 13, period=11),
                               [*SPOTS[11:22], SPOTS[11], SPOTS[12]])


def test_autoreg_equals_least_squares_on_the_chosen_lags():
    from statsmodels.tsa.ar_model import ar_select_order

    train, horizon = SPOTS[:120], 4
    forecast = baselines.autoreg(train, train, horizon, max_lag=10)
    lags = baselines.autoreg.last_lags
    assert lags == list(ar_select_order(train, maxlag=10, ic="aic", trend="c").ar_lags)
    p = max(lags)
    design = np.column_stack([np.ones(len(train) - p)] + [train[p - lag:len(train) - lag] for lag in lags])
    coefficients = np.linalg.lstsq(design, train[p:], rcond=None)[0]
    path = list(train)
    for _ in range(horizon):
        path.append(coefficients[0] + sum(c * path[-lag] for c, lag in zip(coefficients[1:], lags)))
    np.testing.assert_allclose(forecast, path[-horizon:], rtol=1e-6)


def test_arima_picks_the_lowest_aic_of_its_grid():
    from statsmodels.tsa.arima.model import ARIMA

    train = SPOTS[:80]
    grid = ((1, 0, 0), (2, 0, 0), (1, 0, 1))
    forecast = baselines.arima(train, train, 3, grid=grid)
    fits = {order: ARIMA(train, order=order, trend="c").fit() for order in grid}
    best = min(grid, key=lambda order: fits[order].aic)
    assert tuple(baselines.arima.last_order) == best
    np.testing.assert_allclose(forecast, fits[best].forecast(3), rtol=1e-6)


def test_metrics_by_hand():
    train = SPOTS[:30]
    actual = SPOTS[30:33].reshape(1, 3, 1)
    forecast = np.full((1, 3, 1), SPOTS[29])  # persistence
    scale = np.mean(np.abs(np.diff(train)))
    assert naive_scale(train)[0] == pytest.approx(scale)
    assert naive_scale(np.full(5, 7.0)).tolist() == [1.0] and naive_scale(np.full(5, 7.0), zero_as=None).tolist() == [0.0]
    table = forecast_metrics(actual, forecast, np.array([[scale]]))
    errors = np.abs(SPOTS[30:33] - SPOTS[29])
    assert table["mae"] == pytest.approx(errors.mean())
    assert table["rmse"] == pytest.approx(np.sqrt((errors**2).mean()))
    assert table["mase"] == pytest.approx(errors.mean() / scale)
    assert table["smape"] == pytest.approx(np.mean(200 * errors / (np.abs(SPOTS[30:33]) + abs(SPOTS[29]))))
    np.testing.assert_allclose(table["per_horizon"]["mae"], errors)


def test_walk_forward_fits_on_the_past_only():
    values = SPOTS[:60, None].copy()
    seen = []

    def fit(train_values, fold):
        seen.append((fold.train, train_values.copy()))
        stats = fit_standardization(train_values)
        model, _ = build_forecaster(5, 3, stats.mean, stats.std, backbone="tcn", hidden_dim=4, seed=0)
        return model

    splitter = WalkForwardSplit.anchored(60, n_splits=3, horizon=3, gap=1, refit_every=2)
    result = walk_forward(values, 1, splitter, 5, 3, fit, baselines=("persistence",))
    assert [train for train, _ in seen] == [(0, 50), (0, 56)]  # folds 0 and 2 refit
    for (a, b), given in seen:
        np.testing.assert_array_equal(given[:, 0], SPOTS[a:b])
    np.testing.assert_allclose(result["actual"][:, :, 0], [SPOTS[51:54], SPOTS[54:57], SPOTS[57:60]])
    # persistence reads the last value before the test range (inside the gap)
    np.testing.assert_allclose(result["forecasts"]["persistence"][:, 0, 0], SPOTS[[50, 53, 56]])
    assert set(result["metrics"]) == {"model", "persistence"}


def test_fit_core_early_stopping_restores_the_best_weights():
    keras.utils.set_random_seed(0)
    train = SPOTS[:100]
    stats = fit_standardization(train)
    x, y = series_window_arrays((train - stats.mean) / stats.std, 8, 3)
    _, core = build_forecaster(8, 3, [0.0], [1.0], backbone="tcn", hidden_dim=4, seed=0)
    history, val_history = fit_core(core, x.astype("float32"), {"forecast": y.astype("float32")},
                                    {"forecast": "mae"}, epochs=60, learning_rate=0.05, validation_fraction=0.2,
                                    patience=10, check_every=5)
    held = int(round(len(x) * 0.2))
    assert len(history) == 5 * len(val_history) and len(history) <= 60
    outputs = core.predict(x[-held:].astype("float32"), verbose=0)["forecast"]
    assert np.mean(np.abs(outputs - y[-held:])) == pytest.approx(min(val_history), rel=1e-4)


def test_fit_core_does_not_warn_about_retracing_across_fits(caplog):
    """Folds and ensemble members each fit a new network: TensorFlow's "retracing" warning (it fires
    after ~5 traces of one Python function) would tell the user to fix something there is none of."""
    keras.utils.set_random_seed(0)
    x, y = series_window_arrays(SPOTS[:60] / 100.0, 8, 3)
    with caplog.at_level("WARNING", logger="tensorflow"):
        for seed in range(7):
            _, core = build_forecaster(8, 3, [0.0], [1.0], backbone="tcn", hidden_dim=4, seed=seed)
            fit_core(core, x.astype("float32"), {"forecast": y.astype("float32")}, {"forecast": "mae"}, epochs=1,
                     validation_fraction=0.2, check_every=1)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
    assert not logging.getLogger("tensorflow").filters  # the filter lives only during a fit


def test_interval_coverage_by_hand():
    from seqkeras.models.forecaster import interval_coverage

    actual = np.array([[[1.0], [5.0], [np.nan]], [[2.0], [3.0], [9.0]]])  # 2 folds x 3 steps, the first partial
    bands = np.zeros((2, 3, 1, 2))
    bands[..., 0], bands[..., 1] = 0.0, 4.0  # the band [0, 4] everywhere
    table = interval_coverage(actual, bands, [0.1, 0.9])
    # inside: 1 and 2 and 3 (5 and 9 outside; the NaN is not scored) -> 3 of 5
    assert table["coverage"] == pytest.approx(3 / 5) and table["count"] == 5
    assert table["per_fold"] == pytest.approx([1 / 2, 2 / 3])
    assert table["per_horizon"] == pytest.approx([1.0, 1 / 2, 0.0])
    assert table["below"] == {"0.1": 0.0, "0.9": pytest.approx(3 / 5)} and table["nominal"] == pytest.approx(0.8)


def test_conformal_offsets_reach_their_levels_and_live_in_the_model(tmp_path):
    from seqkeras.models.forecaster import QuantileCalibration, calibration_layer, conformal_offsets

    rng = np.random.default_rng(0)
    actual = rng.normal(size=(199, 2, 1))  # (N, H, T)
    narrow = np.stack([np.full((199, 2, 1), -0.1), np.full((199, 2, 1), 0.1)], axis=2)  # (N, H, Q, T), too narrow
    offsets = conformal_offsets(actual, narrow, [0.1, 0.9])
    widened = narrow + offsets[None]
    below = np.mean(actual[:, :, None, :] <= widened, axis=0)[:, :, 0]  # (H, Q)
    # split-conformal (finite-sample level (n + 1) q / n, rounded outward): the upper quantile has at least
    # 90% of the values at or below it, the lower at most 10%, both within two values of the level
    assert np.all(below[:, 1] >= 0.9) and np.all(below[:, 1] <= 0.9 + 2 / 199)
    assert np.all(below[:, 0] <= 0.1) and np.all(below[:, 0] >= 0.1 - 2 / 199)
    assert np.all(offsets[:, 0] < 0) and np.all(offsets[:, 1] > 0)
    stats = fit_standardization(SPOTS[:60])
    model, _ = build_forecaster(6, 2, stats.mean[None], stats.std[None], backbone="lstm", hidden_dim=4,
                                quantiles=(0.1, 0.9), seed=0)
    window = SPOTS[None, 54:60, None].astype("float32")
    before = model(window)["quantiles"].numpy()
    calibration_layer(model).set_offsets(offsets)
    np.testing.assert_allclose(model(window)["quantiles"].numpy(), before + offsets[None, :, :, 0], rtol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(calibration_layer(loaded), QuantileCalibration)
    np.testing.assert_allclose(loaded(window)["quantiles"].numpy(), before + offsets[None, :, :, 0], rtol=1e-6)


def _macro_windows(window=6, horizon=3):
    """Standardized windows of quarterly real GDP growth (target) and inflation (covariate), 1959-2009."""
    values, columns = corpora.macrodata()
    growth = 100 * np.diff(np.log(values[:, columns.index("realgdp")]))
    series = np.column_stack([growth, values[1:, columns.index("infl")]])
    stats = fit_standardization(series)
    x, y = series_window_arrays((series - stats.mean) / stats.std, window, horizon, [0])
    return x, y, series, stats


def test_direct_linear_chooses_on_the_latest_windows_and_refits_least_squares_on_all():
    from seqkeras.models.forecaster.direct_linear import candidate_settings, fit_direct_linear, predict_direct_linear

    x, y, _, _ = _macro_windows()  # (194, 6, 2), (194, 3, 1)
    fit = fit_direct_linear(x, y, validation_fraction=0.2, purge=2, penalties=(0.0, 1.0), kinds=("ridge",))
    held, fit_end = round(len(x) * 0.2), len(x) - round(len(x) * 0.2) - 2
    assert len(fit["scores"]) == len(candidate_settings(6, 2, 1, penalties=(0.0, 1.0))) == 4 * 2 * 2  # orders 1, 2, 4, 6
    # each score: least squares on the windows before the purge, MAE on the held-out ones
    order, used = 2, 2
    design = np.column_stack([np.ones(fit_end), x[:fit_end, -order:, :used].reshape(fit_end, -1)])
    beta = np.linalg.lstsq(design, y[:fit_end, :, 0], rcond=None)[0]
    held_design = np.column_stack([np.ones(held), x[-held:, -order:, :used].reshape(held, -1)])
    assert fit["scores"]["2/2/0"] == pytest.approx(np.mean(np.abs(held_design @ beta - y[-held:, :, 0])), rel=1e-6)
    assert f"{fit['order']}/{fit['features']}/{fit['penalty']:g}" == min(fit["scores"], key=fit["scores"].get)
    # the chosen setting refitted on every window; the kernel is zero outside its lags and columns
    fixed = fit_direct_linear(x, y, setting=(2, 1, 0.0))
    design = np.column_stack([np.ones(len(x)), x[:, -2:, 0]])
    beta = np.linalg.lstsq(design, y[:, :, 0], rcond=None)[0]
    np.testing.assert_allclose(predict_direct_linear(fixed, x)[:, :, 0], design @ beta, atol=1e-8)
    kernel = fixed["kernel"].reshape(6, 2, 3)
    assert not kernel[:4].any() and not kernel[:, 1].any() and kernel[4:, 0].all()
    # a ridge penalty shrinks the coefficients
    ridge = fit_direct_linear(x, y, setting=(2, 1, 10.0))
    assert np.abs(ridge["kernel"]).sum() < np.abs(fixed["kernel"]).sum()


def test_untrained_forecaster_with_direct_linear_is_the_linear_model(tmp_path):
    from seqkeras.models.forecaster.direct_linear import fit_direct_linear, predict_direct_linear
    from seqkeras.models.forecaster.forecaster import set_direct_linear

    x, y, series, stats = _macro_windows()
    fit = fit_direct_linear(x, y, purge=2)
    model, core = build_forecaster(6, 3, stats.mean, stats.std, backbone="tcn", hidden_dim=4, linear_skip=False,
                                   direct_linear=True, quantiles=(0.1, 0.9), seed=0)
    residual_quantiles = np.quantile(y - predict_direct_linear(fit, x), [0.1, 0.9], axis=0).transpose(1, 0, 2)
    set_direct_linear(core, fit, residual_quantiles)
    assert not any("direct_linear" in v.path for v in core.trainable_variables)
    assert core.get_layer("direct_linear").trainable is False
    windows = series[None, -6:].astype("float32")
    expected = predict_direct_linear(fit, (windows - stats.mean) / stats.std)[0, :, 0] * stats.std[0] + stats.mean[0]
    out = model(windows)
    np.testing.assert_allclose(out["forecast"][0], expected, rtol=1e-4, atol=1e-4)
    # the band starts at the linear forecast plus the residual quantiles of the training windows
    np.testing.assert_allclose(out["quantiles"][0], expected[:, None] + residual_quantiles[:, :, 0] * stats.std[0],
                               rtol=1e-4, atol=1e-4)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras")(windows)["forecast"], out["forecast"],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="does not match"):
        set_direct_linear(core, fit_direct_linear(x[:, 1:], y, purge=2))


def test_early_stopping_can_keep_the_untrained_core():
    """With `check_initial`, a core whose training only makes the held-out loss worse stays as it started."""
    from seqkeras.models.forecaster.direct_linear import fit_direct_linear
    from seqkeras.models.forecaster.forecaster import set_direct_linear
    from seqkeras.models.forecaster.trainer import best_epoch

    x, y, _, stats = _macro_windows()
    _, core = build_forecaster(6, 3, stats.mean, stats.std, backbone="tcn", hidden_dim=4, linear_skip=False,
                               direct_linear=True, seed=0)
    set_direct_linear(core, fit_direct_linear(x, y, purge=2))
    start = core.get_weights()
    history, val_history = fit_core(core, x.astype("float32"), {"forecast": y.astype("float32")},
                                    {"forecast": "mae"}, epochs=20, learning_rate=5.0, clipnorm=0.0,
                                    validation_fraction=0.2, patience=10, check_every=5, purge=2, check_initial=True)
    assert len(val_history) == 1 + len(history) // 5 and np.argmin(val_history) == 0
    assert best_epoch(val_history, 5, len(history), initial=True) == 0
    for got, want in zip(core.get_weights(), start):
        np.testing.assert_array_equal(got, want)


def test_direct_linear_baseline_forecasts_from_the_history():
    from seqkeras.models.forecaster.direct_linear import fit_direct_linear

    train, history, horizon = SPOTS[:120], SPOTS[:123], 4
    forecast = baselines.direct_linear(train, history, horizon)
    setting = baselines.direct_linear.last_setting
    mean, std = train.mean(), train.std()
    x, y = series_window_arrays((train - mean) / std, 12, horizon)  # window = min(12, 120 // 4)
    fit = fit_direct_linear(x, y, validation_fraction=0.15, purge=horizon - 1, kinds=("ridge",))
    assert setting == {"order": fit["order"], "penalty": fit["penalty"]}
    recent = (history[-fit["order"]:] - mean) / std
    coefficients = fit["kernel"].reshape(12, horizon)[-fit["order"]:]
    np.testing.assert_allclose(forecast, (recent @ coefficients + fit["bias"]) * std + mean, rtol=1e-8)


def test_autoreg_candidate_is_the_iterated_least_squares_ar():
    """The iterated AR (order by AIC on the windows) is a linear map of the window: the same forecasts as
    iterating its one-step least-squares equation by hand; it competes with the ridge settings."""
    from seqkeras.models.forecaster.direct_linear import fit_direct_linear, predict_direct_linear

    series = SPOTS[:200]
    x, y = series_window_arrays((series - series.mean()) / series.std(), 12, 5)
    fit = fit_direct_linear(x, y, setting="autoreg")
    order = fit["order"]
    aics = []
    for p in range(1, 13):
        design = np.column_stack([np.ones(len(x)), x[:, -p:, 0]])
        residual = design @ np.linalg.lstsq(design, y[:, 0, 0], rcond=None)[0] - y[:, 0, 0]
        aics.append(len(x) * np.log(np.sum(residual ** 2) / len(x)) + 2 * (p + 1))
    assert fit["kind"] == "autoreg" and order == 1 + int(np.argmin(aics))
    design = np.column_stack([np.ones(len(x)), x[:, -order:, 0]])
    beta = np.linalg.lstsq(design, y[:, 0, 0], rcond=None)[0]
    path = list(x[-1, :, 0])
    for _ in range(5):
        path.append(beta[0] + beta[1:] @ np.array(path[-order:]))
    np.testing.assert_allclose(predict_direct_linear(fit, x[-1:])[0, :, 0], path[-5:], rtol=1e-8, atol=1e-10)
    both = fit_direct_linear(x, y, purge=4)
    assert "autoreg" in both["scores"] and len(both["scores"]) > 1
    assert both["kind"] == ("autoreg" if min(both["scores"], key=both["scores"].get) == "autoreg" else "ridge")


def test_rolling_inner_origins_and_the_mean_candidate():
    """With `origins=R` each candidate is scored on the latest R blocks of windows, each by a fit on the windows
    before it (less the purge): its score is the MAE over all of them; "mean" forecasts the training mean."""
    from seqkeras.models.forecaster.direct_linear import fit_direct_linear, predict_direct_linear

    x, y, _, _ = _macro_windows()  # (194, 6, 2), (194, 3, 1)
    fit = fit_direct_linear(x, y, validation_fraction=0.1, purge=2, penalties=(1.0,), kinds=("ridge", "mean"),
                            origins=3)
    held = round(len(x) * 0.1)
    errors_mean, errors_ridge = [], []
    for k in range(3):
        end = len(x) - k * held
        fit_end = end - held - 2
        errors_mean.append(np.abs(y[:fit_end, :, 0].mean(axis=0) - y[end - held:end, :, 0]))
        design = np.column_stack([np.ones(fit_end), x[:fit_end, -2:, :2].reshape(fit_end, -1)])
        gram = design.T @ design + 1.0 * fit_end * np.diag([0.0, 1, 1, 1, 1])  # unpenalized intercept
        beta = np.linalg.solve(gram, design.T @ y[:fit_end, :, 0])
        held_design = np.column_stack([np.ones(held), x[end - held:end, -2:, :2].reshape(held, -1)])
        errors_ridge.append(np.abs(held_design @ beta - y[end - held:end, :, 0]))
    assert fit["scores"]["mean"] == pytest.approx(np.mean(errors_mean), rel=1e-6)
    assert fit["scores"]["2/2/1"] == pytest.approx(np.mean(errors_ridge), rel=1e-6)
    assert fit["kind"] == ("mean" if min(fit["scores"], key=fit["scores"].get) == "mean" else "ridge")
    mean = fit_direct_linear(x, y, setting="mean")
    assert mean["kind"] == "mean" and mean["penalty"] is None and not mean["kernel"].any()
    np.testing.assert_allclose(predict_direct_linear(mean, x[:2])[:, :, 0], np.tile(y[:, :, 0].mean(axis=0), (2, 1)))
    # origins=1 is the single inner split
    assert fit_direct_linear(x, y, purge=2, kinds=("ridge",))["scores"] == fit_direct_linear(
        x, y, purge=2, kinds=("ridge",), origins=1)["scores"]
