"""The run-directory contract in `pipelines.common`: config checks, run dirs, metrics, model files."""

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import typing

import pytest

from pipelines import common


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    hidden_dim: int = common.field(8, "units", minimum=1)
    dropout: float = common.field(0.1, "rate", minimum=0.0, below=1.0)
    learning_rate: float = common.field(1e-3, "step size", above=0.0)
    name: str = common.field("x", "a name")
    pooling: str = common.field("mean", "pooling", choices=("mean", "max"))
    shuffle: bool = common.field(True, "shuffle batches")
    columns: typing.Tuple[str, ...] = common.field(("a",), "columns")
    quantiles: typing.Tuple[float, ...] = common.field((), "quantiles", above=0.0, below=1.0)
    limit: typing.Optional[int] = common.field(None, "optional cap", minimum=0)
    run_dir: str = common.field("runs/toy", "output folder")

    def __post_init__(self):
        common.check_fields(self)


def _parse(argv):
    parser = argparse.ArgumentParser()
    common.add_config_arguments(parser, ToyConfig)
    return common.config_from_args(ToyConfig, parser.parse_args(argv))


def test_command_line_types_bools_tuples_and_overrides(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"family": "toy", "hidden_dim": 4, "name": "from-file"}))
    config = _parse(["--config", str(path), "--name", "flag", "--no-shuffle", "--columns", "b,c", "--columns", "d"])
    assert (config.hidden_dim, config.name, config.shuffle, config.columns) == (4, "flag", False, ("b", "c", "d"))


@pytest.mark.parametrize(
    "values, message",
    [
        ({"hidden_dim": "8"}, "`hidden_dim` (test_common) must be an integer. Received: hidden_dim='8'"),
        ({"hidden_dim": 2.5}, "must be an integer. Received: hidden_dim=2.5"),
        ({"hidden_dim": float("nan")}, "must be an integer. Received: hidden_dim=nan"),  # JSON NaN
        ({"hidden_dim": float("inf")}, "must be an integer. Received: hidden_dim=inf"),  # JSON 1e400
        ({"dropout": float("inf")}, "must be finite. Received: dropout=inf"),
        ({"dropout": float("nan")}, "must be finite"),
        ({"dropout": 1.5}, "`dropout` must be < 1.0. Received: dropout=1.5"),
        ({"dropout": -0.1}, "`dropout` must be >= 0.0. Received: dropout=-0.1"),
        ({"hidden_dim": 0}, "`hidden_dim` must be >= 1. Received: hidden_dim=0"),
        ({"learning_rate": 0.0}, "`learning_rate` must be > 0.0. Received: learning_rate=0.0"),
        ({"pooling": "sum"}, "`pooling` must be one of ('mean', 'max'). Received: pooling='sum'"),
        ({"quantiles": [0.1, 1.0]}, "`quantiles` must be < 1.0. Received: quantiles=(0.1, 1.0)"),
        ({"limit": -1}, "`limit` must be >= 0. Received: limit=-1"),
        ({"shuffle": "yes"}, "must be true or false"),
        ({"name": 3}, "must be a string"),
        ({"hidden_dim": None}, "must not be null"),
        ({"hiden_dim": 3}, "unknown config keys ['hiden_dim']"),
    ],
)
def test_bad_config_values_are_one_line_errors_naming_the_field(values, message):
    with pytest.raises(common.UserError) as error:
        common.config_from_dict(ToyConfig, values)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_optional_fields_accept_null():
    assert common.config_from_dict(ToyConfig, {"limit": None}).limit is None
    assert common.config_from_dict(ToyConfig, {"limit": 3}).limit == 3


@pytest.mark.parametrize(
    "content, message", [("{broken", "is not valid JSON"), ("[1, 2]", "must hold a JSON object"), (None, "file not found")]
)
def test_bad_config_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(common.UserError, match=message) as error:
        _parse(["--config", str(path)])
    assert str(path) in str(error.value)


def test_unstarted_runs_are_discarded_and_started_ones_kept(tmp_path):
    """After a user error (the CLI calls `discard_unstarted_runs`), a run dir this process opened that
    holds only config.json goes; one with anything else stays; a folder the user made stays, emptied."""
    common.discard_unstarted_runs()  # nothing left over from other tests
    fresh = common.open_run_dir(ToyConfig(run_dir=str(tmp_path / "fresh")), "toy")
    (fresh / "tb").mkdir()  # an empty log folder does not make a run
    started = common.open_run_dir(ToyConfig(run_dir=str(tmp_path / "started")), "toy")
    (started / "model.keras").write_text("weights")
    (tmp_path / "made").mkdir()
    made = common.open_run_dir(ToyConfig(run_dir=str(tmp_path / "made")), "toy")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text("{}")
    (tmp_path / "old" / "metrics.json").write_text("{}")
    resumed = common.open_run_dir(ToyConfig(run_dir=str(tmp_path / "old")), "toy", overwrite=True)
    common.discard_unstarted_runs()
    assert not fresh.exists() and not resumed.exists()  # --overwrite had already deleted the old run
    assert (started / "model.keras").is_file() and (started / "config.json").is_file()
    assert made.is_dir() and not any(made.iterdir())
    common.discard_unstarted_runs()  # idempotent: the list is emptied


def test_existing_run_dir_is_refused_then_resumed_or_overwritten(tmp_path):
    config = ToyConfig(run_dir=str(tmp_path / "run"))
    run_dir = common.open_run_dir(config, "toy")
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["family"] == "toy" and saved["columns"] == ["a"]
    (run_dir / "model.keras").write_text("weights")
    with pytest.raises(common.UserError, match="already exists; pass --resume"):
        common.open_run_dir(config, "toy")
    assert common.open_run_dir(config, "toy", resume=True) == run_dir
    assert (run_dir / "model.keras").exists()
    changed = dataclasses.replace(config, hidden_dim=16, dropout=0.2)
    with pytest.raises(common.UserError) as error:
        common.open_run_dir(changed, "toy", resume=True)
    assert "dropout: 0.1 -> 0.2, hidden_dim: 8 -> 16" in str(error.value)
    assert json.loads((run_dir / "config.json").read_text()) == saved  # nothing rewritten
    common.open_run_dir(changed, "toy", overwrite=True)
    assert not (run_dir / "model.keras").exists()
    assert json.loads((run_dir / "config.json").read_text())["hidden_dim"] == 16
    with pytest.raises(common.UserError, match="exclude each other"):
        common.open_run_dir(config, "toy", resume=True, overwrite=True)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(common.UserError, match="--run-dir: .*file is a file, not a folder"):
        common.open_run_dir(ToyConfig(run_dir=str(tmp_path / "file" / "run")), "toy")


def test_metrics_history_survives_a_resume_and_json_stays_strict(tmp_path):
    common.update_metrics(tmp_path, history={"epoch": [0, 1], "loss": [3.0, 2.0]})
    common.update_metrics(tmp_path, history={"epoch": [1, 2], "loss": [1.9, 1.5]}, test_bpc=float("nan"))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["history"]["loss"] == [3.0, 1.9, 1.5]
    assert metrics["test_bpc"] is None


def test_load_run_errors(tmp_path):
    with pytest.raises(common.UserError, match="run dir not found"):
        common.load_run(tmp_path / "missing")
    (tmp_path / "config.json").write_text(json.dumps({"family": "nope"}))
    with pytest.raises(common.UserError, match="names no known family"):
        common.load_run(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"family": "charlm"}))
    assert common.load_run(tmp_path).family == "charlm"
    with pytest.raises(common.UserError, match="is a charlm run; this command needs a tagger run"):
        common.load_run(tmp_path, family="tagger")


@pytest.mark.parametrize("content", [b"", b"\0" * 4096, b"PK\x03\x04truncated"])
def test_corrupt_model_files_are_one_line_errors(tmp_path, content):
    path = tmp_path / "model.keras"
    path.write_bytes(content)
    with pytest.raises(common.UserError, match="model file .* (empty, truncated|cannot be loaded)"):
        common.load_model(path)


def test_save_model_refuses_non_finite_weights(tmp_path):
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    common.save_model(model, tmp_path / "model.keras")
    assert common.load_model(tmp_path / "model.keras").count_params() == 3
    model.layers[0].kernel.assign(np.full((2, 1), math.nan, "float32"))
    with pytest.raises(common.UserError, match="training diverged: weight .* holds NaN"):
        common.save_model(model, tmp_path / "nan.keras")
    assert not (tmp_path / "nan.keras").exists()


def test_invalid_utf8_names_the_flag_file_and_line(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"fine\nbad \xff byte\n")
    with pytest.raises(common.UserError, match=r"--file: .*corpus.txt is not valid UTF-8 \(byte 9, line 2\)"):
        common.read_lines(path, "--file")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(common.UserError, match="has no non-blank lines"):
        common.read_lines(empty, "--file")


def test_user_errors_reach_the_console_as_one_line_and_exit_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "evaluate", str(tmp_path / "missing")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"seqkeras: error: run dir not found. Received: {tmp_path / 'missing'}"]


def test_a_corrupt_backup_names_the_file_and_how_to_discard_it(tmp_path):
    backup = tmp_path / "ckpt" / "backup"
    backup.mkdir(parents=True)
    common.check_backup(tmp_path)  # an empty backup folder is fine
    (backup / "latest.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\ntruncated")
    with pytest.raises(common.UserError) as error:
        common.check_backup(tmp_path)
    message = str(error.value)
    assert "latest.weights.h5 is corrupt" in message and f"delete {backup}" in message and "--overwrite" in message
