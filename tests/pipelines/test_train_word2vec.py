import dataclasses
import json

import numpy as np
import pytest

from pipelines import common, train_word2vec
from pipelines.train_word2vec import TrainConfig
from seqkeras import cli

# Field -> keyword of `train_word2vec` it must reach (None: used before training).
TRAINING_FIELDS = {
    "vector_size": "vector_size", "window": "window", "min_count": "min_count", "max_vocab_size": "max_vocab_size",
    "sample": "sample", "negative": "negative", "ns_exponent": "ns_exponent", "alpha": "alpha",
    "min_alpha": "min_alpha", "epochs": "epochs", "seed": "seed", "batch_size": "batch_size",
    "steps_per_execution": "steps_per_execution", "jit_compile": "jit_compile", "verbose": "verbose",
    "workers": "workers", "negative_group_size": "negative_group_size",
}
OTHER_FIELDS = {"corpus", "max_documents", "lowercase", "run_dir"}


def test_every_field_is_accounted_for():
    assert {f.name for f in dataclasses.fields(TrainConfig)} == set(TRAINING_FIELDS) | OTHER_FIELDS


def test_every_training_field_reaches_train_word2vec(monkeypatch):
    seen = {}

    def fake_train(documents, **kwargs):
        seen.update(kwargs)
        return "trained"

    monkeypatch.setattr(train_word2vec, "train_word2vec", fake_train)
    config = TrainConfig(
        vector_size=7, window=3, min_count=2, max_vocab_size=50, sample=1e-4, negative=4, ns_exponent=0.5,
        alpha=0.03, min_alpha=0.002, epochs=2, seed=11, batch_size=64, steps_per_execution=3, jit_compile=False, verbose=0,
        workers=3, negative_group_size=16,
    )
    assert train_word2vec.train(config, [["a"]]) == "trained"
    for field, keyword in TRAINING_FIELDS.items():
        assert seen[keyword] == getattr(config, field), field
    # 0 means "no limit" for max_vocab_size
    train_word2vec.train(dataclasses.replace(config, max_vocab_size=0), [["a"]])
    assert seen["max_vocab_size"] is None


def test_data_fields_select_the_documents(tmp_path):
    corpus = tmp_path / "docs.txt"
    corpus.write_text("First doc.\n\nSecond Doc here.\nthird\n")
    texts = train_word2vec.load_texts(TrainConfig(corpus=str(corpus), max_documents=2))
    assert texts == ["First doc.", "Second Doc here."]
    assert len(train_word2vec.load_texts(TrainConfig(corpus="lee", max_documents=5))) == 5
    assert len(train_word2vec.load_texts(TrainConfig(corpus="wiki", max_documents=2))) == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [({"corpus": "nope"}, "Received: corpus='nope'"), ({"window": 0}, "Received: window=0"), ({"sample": -1.0}, "Received: sample=-1.0"),
     ({"batch_size": 100}, "Received: negative_group_size=32, batch_size=100")],
)
def test_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_cli_builds_the_config(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"epochs": 3, "window": 2}))
    args = cli.build_parser().parse_args(
        ["train", "word2vec", "--config", str(tmp_path / "run.json"), "--window", "4", "--jit-compile", "false"]
    )
    config = common.config_from_args(TrainConfig, args)
    assert (config.epochs, config.window, config.jit_compile) == (3, 4, False)


@pytest.mark.slow
def test_main_writes_vectors_projector_and_results(tmp_path):
    gensim_models = pytest.importorskip("gensim.models")
    config = TrainConfig(
        corpus="lee", max_documents=60, min_count=3, vector_size=8, epochs=2, batch_size=512,
        run_dir=str(tmp_path / "run"), verbose=0,
    )
    results = train_word2vec.main(config)
    run_dir = tmp_path / "run"
    for name in ("config.json", "model.keras", "vocabulary.txt", "vectors.txt", "vectors.bin", "results.json"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "tb" / "projector" / "projector_config.pbtxt").is_file()
    text = gensim_models.KeyedVectors.load_word2vec_format(str(run_dir / "vectors.txt"))
    binary = gensim_models.KeyedVectors.load_word2vec_format(str(run_dir / "vectors.bin"), binary=True)
    np.testing.assert_array_equal(text.vectors, binary.vectors)
    assert len(text) == results["vocabulary_size"]
    assert len(results["loss_per_epoch"]) == 2
    assert results["wordsim353"]["pairs"] + results["wordsim353"]["skipped"] == 353
    probe = results["bias_probe"]
    assert probe["direction"]["pairs"][0] == ["he", "she"] and len(probe["rows"]) + len(probe["missing"]) == 30
    assert all(row["low"] <= row["high"] for row in probe["rows"])
    assert json.loads((run_dir / "results.json").read_text())["words"] == results["words"]
