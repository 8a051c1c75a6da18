"""`seqkeras train forecast` end to end through the real CLI, its fields, and its one-line errors."""

import dataclasses
import json
import subprocess

import numpy as np
import pytest

from pipelines import common, forecast_series
from pipelines.train_forecast import TrainConfig, fit_model
from seqkeras.models.forecaster import calibration_layer
from seqkeras.data import corpora

# --refit-every 2: fold 1 reuses fold 0's network (one network fit fewer; the resume below refits it)
TINY = ["--horizon", "3", "--window", "8", "--folds", "2", "--epochs", "2", "--hidden-dim", "4", "--ensemble", "1",
        "--refit-every", "2"]


def _main(capsys, *args):
    """The console script's entry point (`pipelines.cli.main`) in this process: `(exit code, stdout, stderr)`
    (one TensorFlow start for the whole scenario instead of one per command)."""
    from pipelines import cli

    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        cli.main([*map(str, args)])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, exited.value.code, out.out, out.err)


def _write_csv(path, rows, header="year,spots,note"):
    path.write_text(header + "\n" + "\n".join(",".join(map(str, row)) for row in rows) + "\n")
    return path


@pytest.mark.slow
def test_train_evaluate_predict_through_the_cli(tmp_path, capsys):
    run = tmp_path / "run"
    spots = corpora.sunspots()
    trained = _main(capsys, "train", "forecast", "--series", "sunspots", *TINY, "--backbone", "tcn", "--run-dir", run)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert {"config.json", "metrics.json", "model.keras", "folds.png", "forecasts.png", "error_by_horizon.png",
            "coverage.png", "forecasts.npz", "tb"} <= {p.name for p in run.iterdir()}
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["methods"]) == {"seqkeras_tcn", "persistence", "seasonal_naive", "mean", "autoreg", "arima",
                                       "direct_linear"}
    assert metrics["folds"][-1]["test"] == [306, 309]  # the last fold ends at the last year
    for table in metrics["methods"].values():
        assert len(table["per_fold"]["mase"]) == 2 and len(table["per_horizon"]["mase"]) == 3
    assert any(p.name == "folds" for p in (run / "tb").iterdir())
    # the saved model was refit on every window for the epoch count chosen on the held-out ones (0: the
    # untrained network, i.e. the closed-form direct linear part alone, scored best)
    assert metrics["final_fit"]["refit_full"] and metrics["final_fit"]["epochs"] in ([0], [2])
    assert metrics["final_fit"]["windows"] == 309 - 8 - 3 + 1
    assert set(metrics["final_fit"]["direct_linear_refit"]) == {"kind", "order", "features", "penalty"}
    assert metrics["fold_fits"][1] is None and metrics["fold_fits"][0]["epochs"] in ([0], [2])  # fold 1 reused it
    # the coverage in metrics.json is the share of actual values inside the stored bands
    saved = np.load(run / "forecasts.npz")
    for kind, key in (("calibrated", "quantiles"), ("uncalibrated", "quantiles_raw")):
        bands, actual = saved[key][:, :, 0], saved["actual"][:, :, 0]  # (K, H, Q), (K, H)
        inside = (bands[..., 0] <= actual) & (actual <= bands[..., 1])
        assert metrics["coverage"][kind]["coverage"] == pytest.approx(inside.mean())
        assert metrics["coverage"][kind]["count"] == 6
        # per fold and per horizon step (what coverage.png plots): shares in [0, 1], fold 1 by hand
        table = metrics["coverage"][kind]
        assert len(table["per_fold"]) == 2 and len(table["per_horizon"]) == 3
        assert all(0.0 <= v <= 1.0 for v in table["per_fold"] + table["per_horizon"])
        assert table["per_fold"][1] == pytest.approx(np.mean(inside[1]))
        np.testing.assert_allclose(table["per_horizon"], inside.mean(axis=0))
    assert np.all(saved["quantiles"][..., 1] - saved["quantiles"][..., 0] >
                  saved["quantiles_raw"][..., 1] - saved["quantiles_raw"][..., 0])  # calibration widened the band

    # --resume continues from the finished folds: fold 0 is read back (here doctored to a perfect forecast,
    # so a recomputation would show), fold 1 and the final model are redone
    per_fold = metrics["methods"]["seqkeras_tcn"]["per_fold"]["mase"]
    with np.load(run / "folds" / "fold_000.npz") as stored:
        doctored = {key: stored[key] for key in stored.files}
    doctored["forecast_model"] = saved["actual"][0]
    np.savez(run / "folds" / "fold_000.npz", **doctored)
    (run / "folds" / "fold_001.npz").unlink()
    (run / "model.keras").unlink()
    resumed = _main(capsys, "train", "forecast", "--series", "sunspots", *TINY, "--backbone", "tcn", "--run-dir", run,
                   "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed: folds [0]" in resumed.stdout and (run / "model.keras").is_file()
    again = json.loads((run / "metrics.json").read_text())["methods"]["seqkeras_tcn"]["per_fold"]["mase"]
    assert again[0] == 0.0 and again[1] == pytest.approx(per_fold[1], rel=1e-3)

    evaluated = _main(capsys, "evaluate", run)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "autoreg" in evaluated.stdout and "seqkeras_tcn" in evaluated.stdout
    stored = json.loads((run / "metrics.json").read_text())["coverage"]["calibrated"]["per_horizon"]
    assert "by horizon step h=1..: " + " ".join(f"{100 * v:3.0f}" for v in stored) + " %" in evaluated.stdout
    assert json.loads((run / "eval-heldout.json").read_text())["methods"]["arima"]["mase"] == pytest.approx(
        metrics["methods"]["arima"]["mase"])

    wrong = _write_csv(tmp_path / "wrong.csv", [(1990 + i, v, "x") for i, v in enumerate(spots[-10:])])
    refused = _main(capsys, "predict", run, "--csv", wrong)
    assert refused.returncode == 2 and "lacks the run's column(s) ['SUNACTIVITY']" in refused.stderr
    # predict's own file is named as --csv in every refusal (not train's --series), one line, exit 2
    history = [(1990 + i, v, "x") for i, v in enumerate(spots[-10:])]
    bad = {
        "gap.csv": (_write_csv(tmp_path / "gap.csv", history[:4] + [(1994, "", "x")] + history[5:],
                               header="year,SUNACTIVITY,note"),
                    "has 1 missing/non-finite value(s), the first in column 'SUNACTIVITY' at row 4; the run was "
                    "trained with --fill none"),
        "text.csv": (_write_csv(tmp_path / "text.csv", history[:9] + [(1999, "many", "x")], header="year,SUNACTIVITY,note"),
                     "column 'SUNACTIVITY' is not numeric (e.g. 'many')"),
        "absent.csv": (tmp_path / "absent.csv", "file not found. Received: --csv"),
        # beyond float32 the window would turn into inf and the forecast into NaN
        "huge.csv": (_write_csv(tmp_path / "huge.csv", history[:9] + [(1999, 1e300, "x")], header="year,SUNACTIVITY,note"),
                     "column 'SUNACTIVITY' at row 9 holds 1e+300, beyond float32's range"),
    }
    mixed = _main(capsys, "predict", run, "--csv", wrong, "--text", "1 2 3")  # --text would be ignored
    assert mixed.returncode == 2 and "forecast runs read --csv, not --text/--file" in mixed.stderr
    for name, (path, message) in bad.items():
        refused = _main(capsys, "predict", run, "--csv", path)
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 2 and len(lines) == 1, (name, refused.stderr[-2000:])
        assert lines[0].startswith("seqkeras: error: --csv") and message in lines[0], (name, lines)
    recent = _write_csv(tmp_path / "recent.csv", [(1990 + i, v, "x") for i, v in enumerate(spots[-10:])],
                        header="year,SUNACTIVITY,note")
    predicted = _main(capsys, "predict", run, "--csv", recent, "--out", tmp_path / "f.json")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    forecast = json.loads((tmp_path / "f.json").read_text())
    model = common.load_model(run / "model.keras")
    expected = model.predict(spots[None, -8:, None].astype("float32"), verbose=0)
    np.testing.assert_allclose(forecast["forecast"], expected["forecast"][0], rtol=1e-5)
    assert len(forecast["quantiles"]["0.1"]) == 3

    # export from the run directory: a fresh process loading the SavedModel, and the TFLite file, give
    # predict's forecast for the same window
    from export.forecast import tflite_forecast
    from export.verify import call_in_fresh_process

    exported = _main(capsys, "export", "savedmodel", run, "--base-dir", tmp_path / "serving")
    assert exported.returncode == 0, exported.stderr[-2000:]
    window = spots[None, -8:, None].astype("float32")
    (served,), info = call_in_fresh_process(str(tmp_path / "serving" / "forecast" / "1"),
                                            [("serving_default", {"window": window})])
    assert info["modules"] == []
    np.testing.assert_allclose(served["forecast"][0], forecast["forecast"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(served["quantiles"][0, :, 0], forecast["quantiles"]["0.1"], rtol=1e-5, atol=1e-4)
    lite = _main(capsys, "export", "tflite", run, "--out", tmp_path / "forecast.tflite")
    assert lite.returncode == 0, lite.stderr[-2000:]
    np.testing.assert_allclose(tflite_forecast(tmp_path / "forecast.tflite", window)["forecast"][0],
                               forecast["forecast"], rtol=1e-4, atol=1e-3)
    for argv, message in ((["--quantization", "int8"], "--quantization int8: not for forecast runs"),
                          (["--sequence-length", "5"], "--sequence-length 5: not for forecast runs"),
                          (["--out", "/proc/seqkeras/forecast.tflite"], "--out: cannot write into /proc/seqkeras")):
        refused = _main(capsys, "export", "tflite", run, *(argv if "--out" in argv else
                                                           [*argv, "--out", tmp_path / "other.tflite"]))
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 2 and len(lines) == 1 and message in lines[0], (argv, refused.stderr[-2000:])


@pytest.mark.slow
@pytest.mark.parametrize("case, message", [
    ("nan", "missing/non-finite value(s), the first in column 'spots' at row 3; pass --fill"),
    ("short", "15 rows, fewer than the minimum length 17"),
    ("huge", "column 'spots' at row 7 holds -3e+40, beyond float32's range"),
    ("constant", "--target 'spots' is constant (7) over fold 0's training range [0, 54): MASE, scaled by that "
                 "range's one-step naive error, is undefined"),
    ("text_column", "column 'note' is not numeric (e.g. 'x')"),
    ("unknown_column", "unknown column 'nope'"),
    ("backbone", "`backbone` must be one of ('lstm', 'tcn', 'attention'). Received: backbone='rnn'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case, message):
    rows = [(1900 + i, float(v), "x") for i, v in enumerate(corpora.sunspots()[:60])]
    if case == "nan":
        rows[3] = (1903, "", "x")
    if case == "huge":
        rows[7] = (1907, -3e40, "x")
    if case == "constant":
        rows = [(year, 7.0 if i < 56 else value, note) for i, (year, value, note) in enumerate(rows)]
    csv = _write_csv(tmp_path / "s.csv", rows[:15] if case == "short" else rows)
    extra = {"text_column": ["--target", "note"], "unknown_column": ["--target", "nope"],
             "backbone": ["--backbone", "rnn"]}.get(case, ["--target", "spots"])
    result = _main(capsys, "train", "forecast", "--series", csv, *TINY, *extra, "--run-dir", tmp_path / "run")
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


@pytest.mark.slow
def test_predict_refuses_a_window_that_overflows_inside_the_model(tmp_path, capsys):
    # a series with a small spread (sunspots / 1000: std ~0.04): 3e38 is a float32, but scaled by that std it
    # is not, and the forecast would be NaN; predict names the value instead
    rows = [(1700 + i, float(v) / 1000, "x") for i, v in enumerate(corpora.sunspots()[:60])]
    csv = _write_csv(tmp_path / "s.csv", rows)
    trained = _main(capsys, "train", "forecast", "--series", csv, "--target", "spots", *TINY, "--run-dir", tmp_path / "run")
    assert trained.returncode == 0, trained.stderr[-2000:]
    history = _write_csv(tmp_path / "recent.csv", rows[-10:-2] + [(1758, 3e38, "x")] + rows[-1:])
    refused = _main(capsys, "predict", tmp_path / "run", "--csv", history)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr[-2000:]
    assert lines[0] == (f"seqkeras: error: --csv: {history}: the forecast overflows float32 inside the model: the "
                        "window's largest value, 3e+38 in column 'spots' at row 8, is far outside the series' range")
    fine = _main(capsys, "predict", tmp_path / "run", "--csv", _write_csv(tmp_path / "ok.csv", rows[-10:]))
    assert fine.returncode == 0 and np.all(np.isfinite(json.loads(fine.stdout)["forecast"]))


def test_fill_policies_and_minimum_length(tmp_path):
    rows = [(1900 + i, float(v), "x") for i, v in enumerate(corpora.sunspots()[:40])]
    rows[5] = (1905, "", "x")
    csv = str(_write_csv(tmp_path / "s.csv", rows))
    config = TrainConfig(series=csv, target=("spots",), horizon=3, window=8, folds=2, fill="interpolate")
    values, targets, covariates = forecast_series.load_values(config)
    assert targets == ("spots",) and covariates == () and values[5, 0] == pytest.approx((rows[4][1] + rows[6][1]) / 2)
    dropped, _, _ = forecast_series.load_values(dataclasses.replace(config, fill="drop"))
    assert len(dropped) == 39
    assert forecast_series.minimum_length(8, 3, 2, 3, 0) == 8 + 3 + 3 + 3


def test_macrodata_defaults_are_growth_target_with_covariates():
    config = TrainConfig(series="macrodata", horizon=8, window=16)
    values, targets, covariates = forecast_series.load_values(config)
    realgdp = corpora.macrodata()[0][:, 0]
    assert targets == ("realgdp_growth",) and "infl" in covariates and values.shape == (202, 1 + len(covariates))
    np.testing.assert_allclose(values[:, 0], 100 * np.diff(np.log(realgdp)))


def test_config_fields_reach_the_model():
    config = TrainConfig(window=6, horizon=2, backbone="attention", hidden_dim=8, num_heads=4, num_layers=2,
                         quantiles=(0.25, 0.75), epochs=1, linear_skip=False, ar_order=3, validation_fraction=0.0,
                         ensemble=1)
    model, info = fit_model(config, corpora.sunspots()[:40, None], 1)
    core = model.get_layer("core")
    assert core.get_layer("ar_highway").kernel.shape == (3, 2)  # the target's last 3 values -> 2 steps
    backbone = core.get_layer("backbone")
    blocks = [layer for layer in backbone.layers if layer.name.startswith("attention_")]
    assert len(blocks) == 2 and blocks[0].num_heads == 4
    assert model.input_shape == (None, 6, 1)
    assert model.output["forecast"].shape == (None, 2) and model.output["quantiles"].shape == (None, 2, 2)
    assert "with_window" not in [layer.name for layer in core.layers]
    with pytest.raises(ValueError, match="--quantiles"):
        TrainConfig(quantiles=(0.9, 0.1))
    ensemble, info = fit_model(dataclasses.replace(config, backbone="tcn", hidden_dim=4, num_layers=1, ensemble=2,
                                                   weight_decay=0.01, validation_fraction=0.15,
                                                   refit_full=False),  # the refit is tested below
                               corpora.sunspots()[:40, None], 1)
    assert [layer.name for layer in ensemble.layers if layer.name.startswith("member_")] == ["member_0", "member_1"]
    assert len(info["epochs"]) == 2 and set(info["calibration_offsets"]) == {"0.25", "0.75"}
    # the ensemble averages its members, then adds the offsets calibrated on the held-out windows
    window = corpora.sunspots()[None, 34:40, None].astype("float32")
    members = [ensemble.get_layer(f"member_{i}")(window) for i in range(2)]
    offsets = np.asarray(calibration_layer(ensemble).offsets)[:, :, 0]  # (H, Q)
    out = ensemble(window)
    np.testing.assert_allclose(out["forecast"], (members[0]["forecast"] + members[1]["forecast"]) / 2, rtol=1e-5)
    np.testing.assert_allclose(out["quantiles"][0], (members[0]["quantiles"][0] + members[1]["quantiles"][0]) / 2
                               + offsets, rtol=1e-5, atol=1e-4)


def test_the_saved_model_is_refit_on_all_windows_for_the_chosen_epochs():
    """fit_model chooses the epoch count by early stopping on the latest windows, then retrains from the same
    seed on every window for that many epochs: its weights equal that retraining done by hand."""
    import keras

    from seqkeras.data.windows import fit_standardization, series_window_arrays
    from seqkeras.models.forecaster import build_forecaster
    from seqkeras.models.forecaster.trainer import fit_core

    train = corpora.sunspots()[:70, None]
    config = TrainConfig(window=6, horizon=2, hidden_dim=4, epochs=40, patience=10, quantiles=(), learning_rate=0.01,
                         ensemble=1, ar_order=3, weight_decay=0.0, direct_linear=False)
    model, info = fit_model(config, train, 1)
    windows = len(train) - 6 - 2 + 1
    assert info["windows"] == windows and info["held_out"] == round(windows * 0.15)
    epochs = info["epochs"][0]
    assert epochs % 5 == 0 and 5 <= epochs <= 40
    stats = fit_standardization(train)
    x, y = series_window_arrays(train, 6, 2)
    keras.utils.set_random_seed(0)
    expected, core = build_forecaster(6, 2, stats.mean, stats.std, backbone="tcn", hidden_dim=4, linear_skip=False,
                                      ar_order=3, seed=0)
    history, _ = fit_core(core, ((x - stats.mean) / stats.std).astype("float32"),
                          {"forecast": ((y - stats.mean) / stats.std).astype("float32")}, {"forecast": "mae"},
                          epochs, learning_rate=0.01)
    assert len(history) == epochs
    for got, want in zip(model.get_weights(), expected.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)



def test_direct_linear_part_is_fitted_before_the_held_out_windows_then_on_all():
    """The frozen linear part: chosen and fitted on the windows before the held-out ones (and the purge) while
    the epoch count is chosen, then chosen again and refitted on every window for the saved model."""
    from seqkeras.data.windows import fit_standardization, series_window_arrays
    from seqkeras.models.forecaster.direct_linear import fit_direct_linear, predict_direct_linear

    config = TrainConfig(series="macrodata", covariates=("infl",), window=6, horizon=3, hidden_dim=4, epochs=10,
                         ensemble=1, quantiles=(), linear_skip=False)
    values = forecast_series.load_values(config)[0][:120]
    model, info = fit_model(config, values, 1)
    stats = fit_standardization(values)
    x, y = series_window_arrays((values - stats.mean) / stats.std, 6, 3, [0])
    kinds = tuple(config.linear_candidates.split("+"))
    first = fit_direct_linear(x[:len(x) - info["held_out"] - 2], y[:len(x) - info["held_out"] - 2], 0.15, purge=2,
                              kinds=kinds)
    assert info["direct_linear"] == {key: first[key] for key in ("kind", "order", "features", "penalty")}
    final = fit_direct_linear(x, y, 0.15, purge=2, kinds=kinds)
    assert info["direct_linear_refit"] == {key: final[key] for key in ("kind", "order", "features", "penalty")}
    layer = model.get_layer("core").get_layer("direct_linear")
    np.testing.assert_allclose(layer.kernel.numpy(), final["kernel"], rtol=1e-5, atol=1e-6)
    if info["epochs"] == [0]:  # the held-out windows supported no training: the model is the linear one
        expected = predict_direct_linear(final, x[-1:])[0, :, 0] * stats.std[0] + stats.mean[0]
        np.testing.assert_allclose(model(values[None, -9:-3].astype("float32"))[0], expected, rtol=1e-4)
