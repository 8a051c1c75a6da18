"""`seqkeras train forecast` end to end through the real CLI, its fields, and its one-line errors."""

import dataclasses
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from pipelines import common, forecast_series
from pipelines.train_forecast import TrainConfig, fit_model
from seqkeras.data import corpora

REPO = pathlib.Path(__file__).resolve().parents[2]
TINY = ["--horizon", "3", "--window", "8", "--folds", "2", "--epochs", "2", "--hidden-dim", "4"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def _write_csv(path, rows, header="year,spots,note"):
    path.write_text(header + "\n" + "\n".join(",".join(map(str, row)) for row in rows) + "\n")
    return path


@pytest.mark.slow
def test_train_evaluate_predict_through_the_cli(tmp_path):
    run = tmp_path / "run"
    spots = corpora.sunspots()
    trained = _cli("train", "forecast", "--series", "sunspots", *TINY, "--backbone", "tcn", "--run-dir", run)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert {"config.json", "metrics.json", "model.keras", "folds.png", "forecasts.png", "error_by_horizon.png",
            "forecasts.npz", "tb"} <= {p.name for p in run.iterdir()}
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["methods"]) == {"seqkeras_tcn", "persistence", "seasonal_naive", "mean", "autoreg", "arima"}
    assert metrics["folds"][-1]["test"] == [306, 309]  # the last fold ends at the last year
    for table in metrics["methods"].values():
        assert len(table["per_fold"]["mase"]) == 2 and len(table["per_horizon"]["mase"]) == 3
    assert any(p.name == "folds" for p in (run / "tb").iterdir())

    evaluated = _cli("evaluate", run)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert "autoreg" in evaluated.stdout and "seqkeras_tcn" in evaluated.stdout
    assert json.loads((run / "eval-heldout.json").read_text())["methods"]["arima"]["mase"] == pytest.approx(
        metrics["methods"]["arima"]["mase"])

    wrong = _write_csv(tmp_path / "wrong.csv", [(1990 + i, v, "x") for i, v in enumerate(spots[-10:])])
    refused = _cli("predict", run, "--csv", wrong)
    assert refused.returncode == 2 and "lacks the run's column(s) ['SUNACTIVITY']" in refused.stderr
    recent = _write_csv(tmp_path / "recent.csv", [(1990 + i, v, "x") for i, v in enumerate(spots[-10:])],
                        header="year,SUNACTIVITY,note")
    predicted = _cli("predict", run, "--csv", recent, "--out", tmp_path / "f.json")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    forecast = json.loads((tmp_path / "f.json").read_text())
    model = common.load_model(run / "model.keras")
    expected = model.predict(spots[None, -8:, None].astype("float32"), verbose=0)
    np.testing.assert_allclose(forecast["forecast"], expected["forecast"][0], rtol=1e-5)
    assert len(forecast["quantiles"]["0.1"]) == 3


@pytest.mark.slow
@pytest.mark.parametrize("case, message", [
    ("nan", "missing/non-finite value(s), the first in column 'spots' at row 3; pass --fill"),
    ("short", "15 rows, fewer than the minimum length 17"),
    ("text_column", "column 'note' is not numeric (e.g. 'x')"),
    ("unknown_column", "unknown column 'nope'"),
    ("backbone", "--backbone rnn"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, case, message):
    rows = [(1900 + i, float(v), "x") for i, v in enumerate(corpora.sunspots()[:60])]
    if case == "nan":
        rows[3] = (1903, "", "x")
    csv = _write_csv(tmp_path / "s.csv", rows[:15] if case == "short" else rows)
    extra = {"text_column": ["--target", "note"], "unknown_column": ["--target", "nope"],
             "backbone": ["--backbone", "rnn"]}.get(case, ["--target", "spots"])
    result = _cli("train", "forecast", "--series", csv, *TINY, *extra, "--run-dir", tmp_path / "run")
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


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
                         quantiles=(0.25, 0.75), epochs=1, linear_skip=False)
    model = fit_model(config, corpora.sunspots()[:40, None], 1)
    core = model.get_layer("core")
    backbone = core.get_layer("backbone")
    blocks = [layer for layer in backbone.layers if layer.name.startswith("attention_")]
    assert len(blocks) == 2 and blocks[0].num_heads == 4
    assert model.input_shape == (None, 6, 1)
    assert model.output["forecast"].shape == (None, 2) and model.output["quantiles"].shape == (None, 2, 2)
    assert "with_window" not in [layer.name for layer in core.layers]
    with pytest.raises(ValueError, match="--quantiles"):
        TrainConfig(quantiles=(0.9, 0.1))
