"""Forecast export: SavedModel signature (fresh-process load equals predict), NaN rejection, TFLite parity."""

import numpy as np
import pytest
import tensorflow as tf

from export.forecast import NONFINITE_MESSAGE, build_forecast_archive, check_parity, forecast_tflite
from export.verify import call_in_fresh_process
from seqkeras.data import corpora
from seqkeras.data.windows import fit_standardization, series_window_arrays
from seqkeras.models.forecaster import build_forecaster

pytestmark = pytest.mark.slow

WINDOW, HORIZON = 8, 3


@pytest.fixture(scope="module", params=["lstm", "tcn"])
def forecaster(request):
    """A forecaster fitted for a few steps on the first 80 sunspot years; windows of the next 30 (the TCN one
    with its closed-form direct linear part, as the pipeline builds it)."""
    from seqkeras.models.forecaster.direct_linear import fit_direct_linear
    from seqkeras.models.forecaster.forecaster import set_direct_linear

    spots = corpora.sunspots()
    stats = fit_standardization(spots[:80])
    linear = request.param == "tcn"
    model, core = build_forecaster(WINDOW, HORIZON, stats.mean[None], stats.std[None], backbone=request.param,
                                   hidden_dim=8, quantiles=(0.1, 0.9), direct_linear=linear, seed=0)
    x, y = series_window_arrays(spots[:80], WINDOW, HORIZON)
    ys = ((y - stats.mean) / stats.std).astype("float32")
    if linear:
        set_direct_linear(core, fit_direct_linear((x - stats.mean) / stats.std, ys, purge=HORIZON - 1))
    core.compile("adam", loss={"forecast": "mae", "quantiles": "mae"})
    core.fit(((x - stats.mean) / stats.std).astype("float32"), {"forecast": ys, "quantiles": ys[:, :, None, :]},
             epochs=2, verbose=0)
    windows, _ = series_window_arrays(spots[80:110], WINDOW, HORIZON)
    return model, windows.astype("float32")


def test_saved_model_fresh_process_equals_predict(forecaster, tmp_path):
    model, windows = forecaster
    export_dir = tmp_path / "1"
    build_forecast_archive(model).write_out(str(export_dir), verbose=False)
    expected = model.predict(windows, verbose=0)
    (outputs,), info = call_in_fresh_process(str(export_dir), [("serving_default", {"window": windows})])
    assert info["modules"] == []  # serving needs none of our code
    assert sorted(outputs) == ["forecast", "quantiles"]
    assert outputs["forecast"].shape == (len(windows), HORIZON)
    assert outputs["quantiles"].shape == (len(windows), HORIZON, 2)
    np.testing.assert_allclose(outputs["forecast"], expected["forecast"], atol=1e-4)
    np.testing.assert_allclose(outputs["quantiles"], expected["quantiles"], atol=1e-4)
    # series units: forecasts are on the scale of sunspot numbers, not standardized
    assert np.abs(outputs["forecast"]).mean() > 5
    assert check_parity(model, export_dir=export_dir, windows=windows)["saved_model"] <= 1e-4


def test_saved_model_rejects_nan(forecaster, tmp_path):
    model, windows = forecaster
    build_forecast_archive(model).write_out(str(tmp_path / "1"), verbose=False)
    serve = tf.saved_model.load(str(tmp_path / "1")).signatures["serving_default"]
    bad = windows[:2].copy()
    bad[1, 3, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="forecast input `window` holds NaN or Inf"):
        serve(window=tf.constant(bad))
    assert "NaN or Inf" in NONFINITE_MESSAGE

    # a series with a small spread: 3e38 is a float32, scaled by std 0.01 it is not -> the output check fails
    small, _ = build_forecaster(WINDOW, HORIZON, np.zeros((1, 1)), np.full((1, 1), 0.01), backbone="tcn", hidden_dim=4,
                                seed=0)
    build_forecast_archive(small).write_out(str(tmp_path / "2"), verbose=False)
    serve = tf.saved_model.load(str(tmp_path / "2")).signatures["serving_default"]
    assert np.all(np.isfinite(serve(window=tf.constant(windows[:2] / 1000))["forecast"].numpy()))
    huge = windows[:2] / 1000
    huge[0, -1, 0] = 3e38
    with pytest.raises(tf.errors.InvalidArgumentError, match="forecast output is NaN or Inf: the window's values overflow"):
        serve(window=tf.constant(huge))


def test_tflite_parity(forecaster, tmp_path):
    model, windows = forecaster
    info = forecast_tflite(model, tmp_path / "forecast.tflite", parity_windows=windows[:4])
    assert info["max_abs_diff"] < 1e-3
    assert info["outputs"] == ["forecast", "quantiles"] and info["window"] == WINDOW
    assert check_parity(model, tflite_path=tmp_path / "forecast.tflite", windows=windows[:6], atol=1e-3)["tflite"] < 1e-3
