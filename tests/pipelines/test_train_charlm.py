"""`seqkeras train charlm`, `generate` and `score`: config wiring and command-line smoke tests."""

import argparse
import dataclasses
import json
import pathlib

import keras
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pipelines import common, generate, score, train_charlm
from seqkeras.data.corpora import split_documents, wiki_articles

# Every TrainConfig field with a non-default value; the test fails when a field is added here
# without a check below (or the other way round).
TINY = dict(
    valid_fraction=0.2, test_fraction=0.15, split_seed=3, max_article_characters=900,
    valid_article_characters=300, min_character_count=4, embedding_dim=6, hidden_dim=10, num_layers=2,
    dropout=0.1, mode="windows", window=24, batch_size=5, epochs=2, steps_per_epoch=3, learning_rate=0.004,
    lr_schedule="constant", clipnorm=0.5, seed=11, sample_seed_text="{{", sample_length=17,
    sample_temperature=0.7, run_dir=None, verbose=0,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("charlm")
    config = train_charlm.TrainConfig(**{**TINY, "run_dir": str(run_dir)})
    return config, train_charlm.main(config)


def test_the_table_names_every_field():
    assert set(TINY) == {field.name for field in dataclasses.fields(train_charlm.TrainConfig)}
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
    # windows mode: independent windows of (batch_size, window)
    features, targets = results["datasets"]["train"].element_spec
    assert tuple(targets.shape) == (5, 24) and tuple(features["token_ids"].shape) == (5, 24)
    assert "reset" not in features
    trainer = results["trainer"]
    assert trainer.truncated_bptt is False
    # model
    model = trainer.language_model
    assert (model.embedding_dim, model.hidden_dim, model.num_layers, model.dropout) == (6, 10, 2, 0.1)
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
    run_dir = config.run_dir
    for name in ("config.json", "model.keras", "vocabulary.txt", "results.json", "ckpt/best.keras", "tb/samples"):
        assert pathlib.Path(run_dir, name).exists(), name
    assert json.loads(pathlib.Path(run_dir, "config.json").read_text()) == dataclasses.asdict(config)
    assert capsys.readouterr().out == ""  # verbose=0


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
    config = train_charlm.TrainConfig(lr_schedule="cosine", learning_rate=0.01, mode="tbptt", batch_size=3, window=7)
    optimizer = train_charlm.build_optimizer(config, total_steps=100)
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.01)
    optimizer.iterations.assign(100)  # the end of the schedule: 10% of the peak
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.001)
    documents = {"train": [([2, 5, 6], [5, 6, 3])] * 4, "valid": [([2, 5], [5, 3])]}
    train, valid = train_charlm.build_datasets(config, documents)
    features, targets = train.element_spec
    assert tuple(features["token_ids"].shape) == (3, 7) and tuple(features["reset"].shape) == (3,)


@pytest.mark.parametrize("field, value, message", [
    ("mode", "stateful", "mode='stateful'"),
    ("lr_schedule", "linear", "lr_schedule='linear'"),
    ("window", 0, "window=0"),
    ("learning_rate", 0.0, "learning_rate=0.0"),
    ("steps_per_epoch", -1, "steps_per_epoch=-1"),
])
def test_bad_config_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        train_charlm.TrainConfig(**{field: value})


def test_command_line_builds_the_config(tmp_path):
    parser = argparse.ArgumentParser()
    train_charlm.configure(parser)
    (tmp_path / "run.json").write_text(json.dumps({"hidden_dim": 12, "mode": "windows"}))
    args = parser.parse_args(["--config", str(tmp_path / "run.json"), "--hidden-dim", "20", "--epochs", "3"])
    config = common.config_from_args(train_charlm.TrainConfig, args)
    assert (config.hidden_dim, config.mode, config.epochs) == (20, "windows", 3)


@pytest.mark.slow
def test_generate_and_score_commands(trained, capsys):
    config, results = trained
    model_path = f"{config.run_dir}/model.keras"
    parser = argparse.ArgumentParser()
    generate.configure(parser)
    args = parser.parse_args(["--model", model_path, "--seed", "[[", "--length", "12", "--num-samples", "2"])
    assert generate.run(args) == 0
    out = capsys.readouterr().out
    assert out.count("--- sample") == 2 and "[[" in out
    bad = parser.parse_args(["--model", model_path, "--seed", "[[", "--temperature", "0"])
    assert generate.run(bad) == 2
    assert "temperature=0.0" in capsys.readouterr().err

    parser = argparse.ArgumentParser()
    score.configure(parser)
    args = parser.parse_args(["--model", model_path, "--text", "[[a]]", "--text", "", "--json"])
    assert score.run(args) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["characters"] for row in rows] == [5, 0] and rows[0]["log_prob_bits"] < 0
