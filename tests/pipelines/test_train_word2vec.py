import dataclasses
import json

import numpy as np
import pytest

from pipelines import common, train_word2vec
from pipelines.train_word2vec import TrainConfig
from pipelines import cli

# Field -> keyword of `train_word2vec` it must reach (None: used before training).
TRAINING_FIELDS = {
    "vector_size": "vector_size", "window": "window", "min_count": "min_count", "max_vocab_size": "max_vocab_size",
    "sample": "sample", "negative": "negative", "ns_exponent": "ns_exponent", "alpha": "alpha",
    "min_alpha": "min_alpha", "epochs": "epochs", "seed": "seed", "batch_size": "batch_size",
    "steps_per_execution": "steps_per_execution", "jit_compile": "jit_compile", "verbose": "verbose",
    "threads": "workers", "negative_group_size": "negative_group_size", "lowercase": "lowercase",
}
# Used before training, or by the StrategyTrainer path (tests/distribute/test_word2vec_workers.py).
OTHER_FIELDS = {"corpus", "max_documents", "run_dir", "distribute", "workers", "task_index",
                "checkpoint_every"}


def test_every_field_is_accounted_for_and_has_help_text():
    assert {f.name for f in dataclasses.fields(TrainConfig)} == set(TRAINING_FIELDS) | OTHER_FIELDS
    assert all(f.metadata.get("help") for f in dataclasses.fields(TrainConfig))


def test_every_training_field_reaches_train_word2vec(monkeypatch):
    seen = {}

    def fake_train(documents, **kwargs):
        seen.update(kwargs)
        return "trained"

    import seqkeras.models.word2vec

    monkeypatch.setattr(seqkeras.models.word2vec, "train_word2vec", fake_train)  # records the keywords
    config = TrainConfig(
        vector_size=7, window=3, min_count=2, max_vocab_size=50, sample=1e-4, negative=4, ns_exponent=0.5,
        alpha=0.03, min_alpha=0.002, epochs=2, seed=11, batch_size=64, steps_per_execution=3, jit_compile=False, verbose=0,
        threads=3, negative_group_size=16,
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
    lines = train_word2vec.corpus_lines(TrainConfig(corpus=str(corpus), max_documents=2))  # streamed
    assert [line.decode() for line in lines.as_numpy_iterator()] == ["First doc.", "Second Doc here."]
    assert len(train_word2vec.load_texts(TrainConfig(corpus="lee", max_documents=5))) == 5
    assert len(train_word2vec.load_texts(TrainConfig(corpus="wiki", max_documents=2))) == 2


def test_a_list_of_corpora_is_read_in_order(tmp_path, ewt_dir):
    (tmp_path / "own.txt").write_text("my own document\n\nand a second one\n")
    ewt = ewt_dir / "en_ewt-ud-dev.conllu.gz"
    config = TrainConfig(corpus=f"lee, ewt:{ewt},{tmp_path / 'own.txt'}")
    texts = train_word2vec.load_texts(config)
    from seqkeras.data import corpora

    lee = corpora.lee_documents()
    ewt_sentences = [" ".join(sentence.words) for sentence in corpora.read_conllu(ewt) if sentence.words]
    assert texts == lee + ewt_sentences + ["my own document", "and a second one"]
    assert train_word2vec.load_texts(dataclasses.replace(config, max_documents=len(lee) + 3)) == lee + ewt_sentences[:3]
    assert train_word2vec.corpus_entries(str(tmp_path / "own.txt")) is None  # one file alone is streamed
    with pytest.raises(ValueError, match="Received: corpus entry 'ewt:nope.conllu' \\(not found\\)"):
        TrainConfig(corpus="wiki,ewt:nope.conllu")
    with pytest.raises(ValueError, match="Received: corpus entry ''"):
        TrainConfig(corpus="wiki,")


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
    argv = ["train", "word2vec", "--config", str(tmp_path / "run.json"), "--window", "4", "--no-jit-compile"]
    args = cli.build_parser(argv=argv).parse_args(argv)
    config = common.config_from_args(TrainConfig, args)
    assert (config.epochs, config.window, config.jit_compile) == (3, 4, False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    pytest.importorskip("gensim.models")
    run_dir = tmp_path_factory.mktemp("w2v") / "run"
    config = TrainConfig(
        corpus="lee", max_documents=60, min_count=3, vector_size=8, epochs=2, batch_size=512,
        run_dir=str(run_dir), verbose=0,
    )
    return run_dir, config, train_word2vec.main(config)


@pytest.mark.slow
def test_main_writes_vectors_projector_and_metrics(run_dir):
    from gensim.models import KeyedVectors

    from seqkeras.models.word2vec import load_keyed_vectors

    run_dir, config, results = run_dir
    for name in ("config.json", "model.keras", "vectors.txt", "vectors.bin", "metrics.json", "training_curve.png"):
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "config.json").read_text()) == json.loads(json.dumps(common.config_dict(config, "word2vec")))
    assert (run_dir / "tb" / "projector" / "projector_config.pbtxt").is_file()
    text = KeyedVectors.load_word2vec_format(str(run_dir / "vectors.txt"))
    binary = KeyedVectors.load_word2vec_format(str(run_dir / "vectors.bin"), binary=True)
    np.testing.assert_array_equal(text.vectors, binary.vectors)
    assert len(text) == results["vocabulary_size"]
    # the Python API hands back gensim's class, from the run dir or from model.keras alone
    for source in (run_dir, run_dir / "model.keras"):
        loaded = load_keyed_vectors(source)
        assert isinstance(loaded, KeyedVectors) and loaded.index_to_key == binary.index_to_key
        np.testing.assert_array_equal(loaded.vectors, binary.vectors)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["history"]["loss"]) == 2 and metrics["history"]["epoch"] == [0.0, 1.0]
    assert metrics["wordsim353"]["pairs"] + metrics["wordsim353"]["skipped"] == 353
    assert metrics["analogies"]["correct"] + metrics["analogies"]["incorrect"] + metrics["analogies"]["skipped"] == 19544
    probe = metrics["bias_probe"]
    assert probe["direction"]["pairs"][0] == ["he", "she"] and len(probe["rows"]) + len(probe["missing"]) == 30
    assert all(row["low"] <= row["high"] for row in probe["rows"])
    assert metrics["words"] == results["words"]


@pytest.mark.slow
def test_evaluate_and_predict_commands(run_dir, tmp_path, capsys):
    from seqkeras.data.corpora import gensim_test_data

    run_dir, _, results = run_dir
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate", str(run_dir), "--data", str(gensim_test_data("wordsim353.tsv"))])
    assert exit_info.value.code == 0
    written = json.loads((run_dir / "eval-wordsim353.json").read_text())
    assert written["wordsim353"] == results["wordsim353"]  # same gensim figures as after training
    assert "wordsim353 Spearman" in capsys.readouterr().out
    analogies = tmp_path / "analogies.txt"
    analogies.write_text(": tiny\nthe of and to\nzebra of and to\n")
    with pytest.raises(SystemExit):
        cli.main(["evaluate", str(run_dir), "--data", str(analogies)])
    assert json.loads((run_dir / "eval-analogies.json").read_text())["analogies"]["skipped"] == 1
    sentences = tmp_path / "sentences.txt"  # 4 words a line, no section header: one line, exit 2
    sentences.write_text("The cat sat .\nA dog ran .\n")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate", str(run_dir), "--data", str(sentences)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and "is not an analogy file (': section' lines" in err[0]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["predict", str(run_dir), "--text", "government", "--text", "Government -the", "--text", "xyzzy"])
    assert exit_info.value.code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows[0]["neighbours"]) == 10 and "government" not in [w for w, _ in rows[0]["neighbours"]]
    from seqkeras.models.word2vec import load_keyed_vectors

    expected = load_keyed_vectors(run_dir).most_similar(positive=["government"], negative=["the"], topn=10)
    assert [w for w, _ in rows[1]["neighbours"]] == [w for w, _ in expected]
    assert "xyzzy" in rows[2]["error"]
