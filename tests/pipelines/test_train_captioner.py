"""`seqkeras train captioner`, `evaluate`, `predict` and the exports of a captioner run (real digits)."""

import dataclasses
import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pipelines import cli, common, train_captioner
from seqkeras.data.digit_names import DIGIT_NAMES

REPO = pathlib.Path(__file__).resolve().parents[2]
ROWS = 240  # real 8x8 digit images in the training CSV
KEPT = slice(8, 56)  # the CSV keeps image rows 1..6 (48 pixels) and doubles the values (0..32)

# Every TrainConfig field with a non-default value (data and run_dir set per test).
TINY = dict(
    data=None, num_pixels=48, pixel_max=32.0, test_fraction=0.2, split_seed=3, max_caption_length=7,
    embedding_dim=5, hidden_dim=12, num_layers=2, conditioning="concat", cell="elman", dropout=0.1, epochs=3,
    batch_size=16, learning_rate=0.01, clipnorm=0.5, seed=5, num_samples=3, run_dir=None, verbose=0,
)


def _digits_csv(path, start, count, label=True):
    digits = load_digits()
    rows = [",".join(str(int(v) * 2) for v in image[KEPT]) + (f",{target}" if label else "")
            for image, target in zip(digits.data[start: start + count], digits.target[start: start + count])]
    header = ",".join(f"p{i}" for i in range(48)) + (",label" if label else "")
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return digits.data[start: start + count][:, KEPT] * 2.0, [DIGIT_NAMES[t] for t in digits.target[start: start + count]]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("captioner")
    data = folder / "digits.csv"
    _digits_csv(data, 0, ROWS)
    config = train_captioner.TrainConfig(**{**TINY, "data": str(data), "run_dir": str(folder / "run")})
    return config, train_captioner.main(config)


def test_the_table_names_every_field():
    assert set(TINY) == {field.name for field in dataclasses.fields(train_captioner.TrainConfig)}
    defaults = train_captioner.TrainConfig()
    assert all(getattr(defaults, name) != value for name, value in TINY.items() if value is not None)


def test_every_config_field_reaches_data_model_and_optimizer(trained):
    config, results = trained
    # data: the CSV's rows split by the seeded permutation, captions from the label column
    pixels, names = _digits_csv(pathlib.Path(config.data).with_name("again.csv"), 0, ROWS)
    order = np.random.default_rng(3).permutation(ROWS)
    test_x, test_names = results["data"]["test"]
    assert len(test_names) == 48 and test_names == [names[i] for i in order[:48]]
    np.testing.assert_array_equal(test_x, pixels[order[:48]])
    task, network = results["task"], results["network"]
    assert task.label_dim == 48 and task.pixel_max == 32.0 and task.max_caption_length == 7
    np.testing.assert_allclose(task.label(test_x[:2]).numpy(), test_x[:2] / 32.0)
    assert set(task.target_preprocessor.tokens[4:]) == set("".join(names[i] for i in order[48:]))
    decoder = network.get_layer("decoder")
    assert (decoder.embedding_dim, decoder.hidden_dim, decoder.num_layers) == (5, 12, 2)
    assert (decoder.conditioning, decoder.cell, decoder.dropout) == ("concat", "elman", 0.1)
    optimizer = network.optimizer
    assert float(optimizer.learning_rate) == pytest.approx(0.01) and optimizer.global_clipnorm == 0.5
    # epochs and batch size: 3 epochs of ceil(192 / 16) = 12 steps
    assert results["history"]["epoch"] == [0, 1, 2] and int(optimizer.iterations) == 36
    assert results["history"]["loss"][-1] < results["history"]["loss"][0]
    # seed: the sampled held-out figure is the seeded sampling of the saved task
    sampled = task.caption(test_x[:5], strategy="sample", seed=5)
    assert results["examples_sampled"] == [f"{n} -> {s}" for n, s in zip(test_names, sampled)]
    assert sampled != task.caption(test_x[:5], strategy="sample", seed=6)
    # num_samples: 3 held-out captions in TensorBoard after each epoch
    events = EventAccumulator(str(pathlib.Path(config.run_dir, "tb", "samples")), size_guidance={"tensors": 0})
    events.Reload()
    written = events.Tensors("samples")
    assert [event.step for event in written] == [0, 1, 2]
    assert len(written[-1].tensor_proto.string_val[0].decode().splitlines()) == 3
    run_dir = pathlib.Path(config.run_dir)
    assert {"config.json", "model.keras", "metrics.json", "tb", "ckpt", "training_curves.png"} <= {
        path.name for path in run_dir.iterdir()}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["heldout_images"] == 48 and 0 <= metrics["heldout_exact_match"] <= 1
    assert set(metrics["heldout_per_caption"]) == set(test_names) and len(metrics["history"]["val_exact_match"]) == 3
    assert json.loads((run_dir / "config.json").read_text()) == {"family": "captioner", **dataclasses.asdict(config)}


def test_load_model_alone_evaluate_and_predict_agree(trained, tmp_path, capsys):
    config, results = trained
    task = keras.saving.load_model(pathlib.Path(config.run_dir, "model.keras"))  # alone: scale and vocabulary inside
    pixels, names = _digits_csv(tmp_path / "eval.csv", 1000, 12)
    greedy = task.caption(pixels)
    assert greedy == results["task"].caption(pixels)
    assert all(set(caption) <= set(task.target_preprocessor.tokens[4:]) for caption in greedy)
    ids = task(keras.ops.convert_to_tensor(pixels.astype("float32")))  # the in-graph raw-pixel call
    assert [text.decode() for text in task.detokenize(ids).numpy()] == greedy
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate", config.run_dir, "--data", str(tmp_path / "eval.csv")])
    assert exit_info.value.code == 0
    figures = json.loads(pathlib.Path(config.run_dir, "eval-eval.json").read_text())
    assert figures["images"] == 12
    assert figures["exact_match"] == pytest.approx(np.mean([g == n for g, n in zip(greedy, names)]))
    _digits_csv(tmp_path / "pixels.csv", 1000, 12, label=False)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(["predict", config.run_dir, "--csv", str(tmp_path / "pixels.csv")])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"row": i, "caption": g} for i, g in enumerate(greedy, start=1)]
    with pytest.raises(SystemExit):
        cli.main(["predict", config.run_dir, "--csv", str(tmp_path / "pixels.csv"), "--decoding", "sample",
                  "--seed", "7", "--format", "text"])
    assert capsys.readouterr().out.splitlines() == task.caption(pixels, strategy="sample", seed=7)
    with pytest.raises(common.UserError, match="already exists"):
        train_captioner.main(config)


@pytest.mark.parametrize("row, message", [
    ("1,2,3", "row 3 has 3 columns; expected 48"),
    (",".join(["0"] * 47 + ["x"]), "row 3 column 48 is not a number. Received: 'x'"),
    (",".join(["nan"] + ["0"] * 47), "row 3 column 1 is NaN or infinite"),
    (",".join(["0", "33"] + ["0"] * 46), "row 3 column 2 is outside 0..32. Received: 33"),
], ids=["columns", "non-numeric", "nan", "range"])
def test_bad_pixel_rows_exit_2_with_one_line(trained, tmp_path, capsys, row, message):
    config, _ = trained
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([",".join(f"p{i}" for i in range(48)), ",".join(["1"] * 48), row]) + "\n")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", config.run_dir, "--csv", str(bad)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"seqkeras: error: --csv: {bad} ") and message in lines[0], lines


@pytest.mark.slow
def test_bad_evaluate_data_exits_2_with_one_line(trained, tmp_path, capsys):
    """Through the console script's entry point in this process (a separate `python -m pipelines.cli evaluate`
    process with a bad input is tests/pipelines/test_common.py's)."""
    config, _ = trained
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(["2"] * 48) + ",seven\n" + ",".join(["-1"] * 48) + ",7\n")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate", config.run_dir, "--data", str(bad)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [f"seqkeras: error: --data: {bad} row 2 column 1 is outside 0..32. Received: -1"]


@pytest.mark.slow
def test_exports_equal_predict_in_a_fresh_process(trained, tmp_path):
    config, results = trained
    pixels, _ = _digits_csv(tmp_path / "pixels.csv", 1500, 10, label=False)
    expected = results["task"].caption(pixels)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["export", "savedmodel", config.run_dir, "--base-dir", str(tmp_path / "serving")])
    assert exit_info.value.code == 0
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["export", "tflite", config.run_dir, "--out", str(tmp_path / "lite" / "captioner.tflite")])
    assert exit_info.value.code == 0
    metadata = json.loads((tmp_path / "lite" / "captioner.json").read_text())
    assert metadata["parity"] == {"images": 48, "inputs": "held-out images", "caption_agreement": 1.0}
    script = f"""
import json, sys
import numpy as np, tensorflow as tf
from export.captioner import CaptionerRunner
pixels = np.loadtxt({str(tmp_path / 'pixels.csv')!r}, delimiter=",", skiprows=1, dtype="float32")
served = tf.saved_model.load({str(tmp_path / 'serving' / 'captioner' / '1')!r}).signatures["serving_default"]
out = served(pixels=tf.constant(pixels))
try:
    served(pixels=tf.constant(np.full((1, 48), 40.0, "float32")))
    refused = ""
except tf.errors.InvalidArgumentError as error:
    refused = str(error)
lite = CaptionerRunner({str(tmp_path / 'lite' / 'captioner.tflite')!r}).caption(pixels)
print(json.dumps({{"saved": [c.decode() for c in out["caption"].numpy()], "lite": lite,
                  "refused": "must lie in 0..32" in refused}}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    outputs = json.loads(result.stdout.strip().splitlines()[-1])
    assert outputs == {"saved": expected, "lite": expected, "refused": True}
