"""`seqkeras train charlm`, `generate`, `score`, `evaluate`, `predict`: config wiring, the run dir,
and command-line smoke tests."""

import argparse
import dataclasses
import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pipelines import common, train_charlm
from pipelines import cli
from seqkeras.data.corpora import split_documents, wiki_articles

# Every TrainConfig field with a non-default value; the test fails when a field is added here
# without a check below (or the other way round).
TINY = dict(
    valid_fraction=0.2, test_fraction=0.15, split_seed=3, max_article_characters=900,
    valid_article_characters=300, min_character_count=4, embedding_dim=6, hidden_dim=10, num_layers=2,
    dropout=0.15, cell_clip=2.5, matmul_dtype="bfloat16", parallel_rows=1, mode="windows", window=24, batch_size=5, epochs=2, steps_per_epoch=3, learning_rate=0.004,
    lr_schedule="constant", clipnorm=0.5, seed=11, sample_seed_text="{{", sample_length=17,
    sample_temperature=0.7, run_dir=None, verbose=0,
)
# Corpus streaming and distribution fields: their wiring is tested in tests/distribute/.
CHECKED_ELSEWHERE = {"corpus", "distribute", "workers", "task_index", "checkpoint_every"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("charlm")
    config = train_charlm.TrainConfig(**{**TINY, "run_dir": str(run_dir)})
    return config, train_charlm.main(config)


def test_the_table_names_every_field():
    fields = {field.name for field in dataclasses.fields(train_charlm.TrainConfig)}
    assert set(TINY) == fields - CHECKED_ELSEWHERE
    assert all(field.metadata.get("help") for field in dataclasses.fields(train_charlm.TrainConfig))
    defaults = train_charlm.TrainConfig()
    assert all(getattr(defaults, name) != value for name, value in TINY.items() if value is not None)


@pytest.mark.slow
def test_every_config_field_reaches_data_model_and_optimizer(trained, capsys):
    config, results = trained
    # data: the split, the article cuts, the vocabulary
    texts = [article.text[: config.max_article_characters] for article in wiki_articles()]
    train, valid, test = split_documents(texts, valid_fraction=0.2, test_fraction=0.15, seed=3)
    assert results["train_characters"] == sum(map(len, train))
    assert results["test_characters"] == sum(map(len, test))
    assert results["valid_characters"] == sum(len(text[:300]) for text in valid)
    assert min(results["vocabulary"].counts.values()) >= 4
    assert results["test_xz_bpc"] == pytest.approx(train_charlm.xz_bits_per_character(test))
    # windows mode: independent windows of (batch_size, window)
    features, targets = results["datasets"]["train"].element_spec
    assert tuple(targets.shape) == (5, 24) and tuple(features["token_ids"].shape) == (5, 24)
    assert "reset" not in features
    trainer = results["trainer"]
    assert trainer.truncated_bptt is False
    # model
    model = trainer.language_model
    assert (model.embedding_dim, model.hidden_dim, model.num_layers, model.dropout) == (6, 10, 2, 0.15)
    assert model.cell_clip == 2.5 and [layer.cell_clip for layer in model.recurrent_layers] == [2.5, 2.5]
    assert train_charlm.build_model(train_charlm.TrainConfig(), 9).cell_clip is None  # 0: unbounded
    assert [layer.train_matmul_dtype for layer in model.recurrent_layers] == ["bfloat16", "bfloat16"]
    assert model.get_config()["train_matmul_dtype"] == "bfloat16"
    assert model.parallel_rows == 1 and train_charlm.build_model(train_charlm.TrainConfig(), 9).parallel_rows == 2
    assert train_charlm.TrainConfig(mode="windows", batch_size=5).parallel_rows == 2  # row groups: tbptt only
    from seqkeras.layers.lstm import cpu_has_bfloat16
    auto = train_charlm.build_model(train_charlm.TrainConfig(), 9).train_matmul_dtype  # default: "auto"
    assert auto == ("bfloat16" if cpu_has_bfloat16() else None)
    assert train_charlm.build_model(train_charlm.TrainConfig(matmul_dtype="float32"), 9).train_matmul_dtype is None
    assert model.vocabulary_size == results["vocabulary"].size
    # optimizer and schedule
    optimizer = trainer.optimizer
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.004)
    assert optimizer.clipnorm == 0.5
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 2 * 3  # epochs * steps_per_epoch
    assert len(results["history"]["loss"]) == 2
    # samples
    callback = results["samples_callback"]
    assert (callback.seed_text, callback.length, callback.temperature, callback.seed) == ("{{", 17, 0.7, 11)
    assert sorted(callback.history) == [0, 1]
    assert results["sample"].startswith("{{") and len(results["sample"]) <= 2 + 17
    # output: run_dir files, config.json equal to the config
    run_dir = pathlib.Path(config.run_dir)
    for name in ("config.json", "model.keras", "metrics.json", "training_curve.png", "ckpt/best.keras", "tb/samples"):
        assert (run_dir / name).exists(), name
    assert not (run_dir / "vocabulary.txt").exists()  # the vocabulary lives in model.keras
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored == json.loads(json.dumps(common.config_dict(config, "charlm")))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_bpc"] == pytest.approx(results["test_bpc"]) and len(metrics["history"]["loss"]) == 2
    assert capsys.readouterr().out == ""  # verbose=0


@pytest.mark.slow
def test_model_file_alone_predicts_from_raw_strings(trained):
    config, results = trained
    task = common.load_model(pathlib.Path(config.run_dir, "model.keras"))
    assert task.task == "charlm" and task.preprocessor.tokens == results["vocabulary"].tokens
    logits = task(tf.constant(["[[ab", "{"]))  # BOS + characters, right-padded
    assert tuple(logits.shape) == (2, 5, results["vocabulary"].size)
    model = results["trainer"].language_model
    ids = results["vocabulary"].lookup(tf.constant(list("[[ab"))).numpy()
    expected = model({"token_ids": tf.constant([[2, *ids]], tf.int32), "padding_mask": tf.ones([1, 5], tf.bool)})
    np.testing.assert_allclose(logits[:1].numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def _tensor_tags(folder):
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return set(events.Tags()["tensors"]), events


@pytest.mark.slow
def test_tensorboard_has_loss_bpc_learning_rate_and_text_samples(trained):
    config, _ = trained
    train_tags, _ = _tensor_tags(pathlib.Path(config.run_dir, "tb", "train"))
    assert {"epoch_loss", "epoch_bpc", "epoch_learning_rate"} <= train_tags
    valid_tags, _ = _tensor_tags(pathlib.Path(config.run_dir, "tb", "validation"))
    assert {"epoch_loss", "epoch_bpc"} <= valid_tags
    sample_tags, events = _tensor_tags(pathlib.Path(config.run_dir, "tb", "samples"))
    assert "samples" in sample_tags
    written = events.Tensors("samples")
    assert [event.step for event in written] == [0, 1]  # one entry per epoch
    assert written[0].tensor_proto.string_val[0].decode().startswith("```\n{{")


def test_cosine_schedule_and_tbptt_data():
    config = train_charlm.TrainConfig(lr_schedule="cosine", learning_rate=0.01, mode="tbptt", batch_size=3, window=7,
                                      parallel_rows=1)
    optimizer = train_charlm.build_optimizer(config, total_steps=100)
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.01)
    optimizer.iterations.assign(100)  # the end of the schedule: 10% of the peak
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.001)
    documents = {"train": [([2, 5, 6], [5, 6, 3])] * 4, "valid": [([2, 5], [5, 3])]}
    train, valid = train_charlm.build_datasets(config, documents)
    features, targets = train.element_spec
    assert tuple(features["token_ids"].shape) == (3, 7) and tuple(features["reset"].shape) == (3,)
    # one validation row per document (not batch_size rows), a multiple of the replicas
    assert tuple(valid.element_spec[1].shape) == (1, 7)
    assert tuple(train_charlm.build_datasets(config, documents, replicas=2)[1].element_spec[1].shape) == (2, 7)
    documents["valid"] = documents["valid"] * 5
    assert tuple(train_charlm.build_datasets(config, documents)[1].element_spec[1].shape) == (3, 7)


@pytest.mark.parametrize("field, value, message", [
    ("mode", "stateful", "mode='stateful'"),
    ("lr_schedule", "linear", "lr_schedule='linear'"),
    ("window", 0, "window=0"),
    ("learning_rate", 0.0, "learning_rate=0.0"),
    ("steps_per_epoch", -1, "steps_per_epoch=-1"),
    ("cell_clip", -1.0, "cell_clip=-1.0"),
])
def test_bad_config_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        train_charlm.TrainConfig(**{field: value})


@pytest.mark.parametrize("values, message", [
    ({"dropout": 1.5}, "dropout=1.5"),
    ({"hidden_dim": 2.5}, "hidden_dim=2.5"),
    ({"learning_rate": float("inf")}, "must be finite"),
    ({"window": "128"}, "must be an integer"),
    ({"valid_fraction": 0.6, "test_fraction": 0.5}, "valid_fraction \\+ test_fraction"),
    ({"batch_size": 5, "parallel_rows": 2}, "Received: batch_size=5, parallel_rows=2"),
    ({"parallel_rows": 0}, "parallel_rows=0"),
])
def test_config_from_json_values_is_checked_before_anything_runs(values, message, tmp_path):
    with pytest.raises(common.UserError, match=message):
        common.config_from_dict(train_charlm.TrainConfig, {**values, "run_dir": str(tmp_path / "run")})
    assert not (tmp_path / "run").exists()


def test_existing_run_dir_is_refused_and_resume_checks_the_config(tmp_path):
    config = train_charlm.TrainConfig(run_dir=str(tmp_path / "run"))
    train_charlm.open_run(config)
    written = (tmp_path / "run" / "config.json").read_text()
    with pytest.raises(common.UserError, match="already exists; pass --resume"):
        train_charlm.open_run(config)
    changed = dataclasses.replace(config, hidden_dim=64)
    with pytest.raises(common.UserError, match=f"hidden_dim: {config.hidden_dim} -> 64"):
        train_charlm.open_run(changed, resume=True)
    assert (tmp_path / "run" / "config.json").read_text() == written  # nothing rewritten
    assert train_charlm.open_run(config, resume=True) == tmp_path / "run"
    (tmp_path / "run" / "model.keras").write_bytes(b"")
    with pytest.raises(common.UserError, match="already finished"):
        train_charlm.open_run(config, resume=True)
    train_charlm.open_run(changed, overwrite=True)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["hidden_dim"] == 64
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.mark.slow
def test_a_diverging_run_stops_with_one_line_and_saves_no_model(tmp_path):
    config = train_charlm.TrainConfig(**{
        # Adam steps of ~1e38 per weight: the second step overflows the weights to inf (float32
        # max 3.4e38), whatever the CPU's matmul does with huge finite values.
        **TINY, "learning_rate": 1e38, "clipnorm": 0.0, "lr_schedule": "constant", "epochs": 1,
        "run_dir": str(tmp_path / "run"),
    })
    with pytest.raises(common.UserError, match="training diverged"):
        train_charlm.main(config)
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.mark.slow
def test_choosing_defaults_scores_the_validation_articles_only(tmp_path):
    # `main(test=False)` is what benchmarks/bench_charlm.py --trial runs: no test BPC, no xz figure.
    config = train_charlm.TrainConfig(**{**TINY, "epochs": 1, "run_dir": str(tmp_path / "run")})
    results = train_charlm.main(config, test=False)
    assert not {"test_bpc", "test_xz_bpc", "sample"} & set(results)
    assert len(results["history"]["val_bpc"]) == 1 and 0 < results["history"]["val_bpc"][0] < 10
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "test_bpc" not in metrics and metrics["history"]["val_bpc"] == results["history"]["val_bpc"]
    assert (tmp_path / "run" / "model.keras").exists()


def test_command_line_builds_the_config(tmp_path):
    parser = argparse.ArgumentParser()
    train_charlm.configure(parser)
    (tmp_path / "run.json").write_text(json.dumps({"hidden_dim": 12, "mode": "windows"}))
    args = parser.parse_args(["--config", str(tmp_path / "run.json"), "--hidden-dim", "20", "--epochs", "3"])
    config = common.config_from_args(train_charlm.TrainConfig, args)
    assert (config.hidden_dim, config.mode, config.epochs) == (20, "windows", 3)


def _cli(argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return exit_info.value.code


@pytest.mark.slow
def test_generate_command(trained, capsys):
    config, _ = trained
    run_dir = config.run_dir
    argv = ["generate", run_dir, "--prompt", "[[", "--length", "12", "--num-samples", "2", "--seed", "5"]
    assert _cli(argv) == 0
    out = capsys.readouterr().out
    assert out.count("--- sample") == 2 and out.count("[[") >= 2
    assert _cli(argv) == 0 and capsys.readouterr().out == out  # same seed, same samples
    assert _cli(["generate", "--model", f"{run_dir}/model.keras", "--prompt", "[[", "--length", "3"]) == 0
    capsys.readouterr()
    for bad, message in ((["--temperature", "0"], "--temperature must be a finite number > 0. Received: --temperature 0.0"),
                         (["--prompt", "ЖЖ"], "outside the model's vocabulary")):
        assert _cli(["generate", run_dir, "--prompt", "[[", *bad]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_score_command_writes_strict_json(trained, capsys):
    config, _ = trained
    long_text = "[[a]] " * 100
    assert _cli(["score", config.run_dir, "--text", "[[a]]", "--text", "", "--text", long_text,
                 "--text", "aЖЖ", "--json"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]  # strict JSON: no NaN
    assert "NaN" not in captured.out
    assert [row["characters"] for row in rows] == [5, 0, 600, 3] and rows[0]["log_prob_bits"] < 0
    assert rows[1]["bits_per_character"] is None and "empty" in rows[1]["message"]
    assert len(rows[2]["text"]) == 80 and rows[2]["text_length"] == 600  # long inputs are not echoed
    assert rows[3]["oov_characters"] == 2 and 0 < rows[3]["oov_bit_share"] <= 1
    assert "2 of 3 characters are outside the model's vocabulary" in captured.err


@pytest.mark.slow
def test_evaluate_and_predict_commands(trained, tmp_path, capsys):
    config, results = trained
    assert _cli(["evaluate", config.run_dir]) == 0  # the run's held-out test articles
    heldout = json.loads(pathlib.Path(config.run_dir, "eval-heldout.json").read_text())
    assert heldout["bits_per_character"] == pytest.approx(results["test_bpc"], rel=1e-4)
    assert heldout["characters"] == results["test_characters"]
    article = tmp_path / "article.txt"
    article.write_text("[[Anarchism]] is a {{cite}}.", encoding="utf-8")
    assert _cli(["evaluate", config.run_dir, "--data", str(article)]) == 0
    assert json.loads(pathlib.Path(config.run_dir, "eval-article.json").read_text())["characters"] == 28
    capsys.readouterr()
    assert _cli(["predict", config.run_dir, "--text", "[[", "--text", "{{", "--decoding", "greedy"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["prompt"] for row in rows] == ["[[", "{{"]
    assert all(len(row["continuation"]) <= config.sample_length for row in rows)
