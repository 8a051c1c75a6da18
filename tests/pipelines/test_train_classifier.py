"""`seqkeras train classifier`, `evaluate`, `predict`: config wiring, TSV and CoNLL-U labels, raw strings in."""

import argparse
import contextlib
import dataclasses
import gzip
import io
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from helpers import conllu_slice
from pipelines import common, evaluate, predict, train_classifier

REPO = pathlib.Path(__file__).resolve().parents[2]


def _tsv(source, target, every, count):
    """`genre<TAB>sentence text` lines of every `every`-th sentence of an EWT file (real labels and text)."""
    lines, genre = [], None
    for line in gzip.open(source, "rt", encoding="utf-8"):
        if line.startswith("# sent_id"):
            genre = line.split("=", 1)[1].strip().split("-", 1)[0]
        elif line.startswith("# text ="):
            lines.append(f"{genre}\t{line.split('=', 1)[1].strip()}")
    target.write_text("\n".join(lines[::every][:count]) + "\n", encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def files(ewt_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("classifier_data")
    train, dev = ewt_dir / "en_ewt-ud-train.conllu.gz", ewt_dir / "en_ewt-ud-dev.conllu.gz"
    return {
        "train": _tsv(train, folder / "train.tsv", 40, 200), "dev": _tsv(dev, folder / "dev.tsv", 20, 60),
        "train_conllu": conllu_slice(train, folder / "train.conllu", 120, stride=40),
        "dev_conllu": conllu_slice(dev, folder / "dev.conllu", 40, stride=20), "folder": folder,
    }


@pytest.fixture(scope="module")
def word2vec_file(files):
    from gensim.models import Word2Vec

    texts = [line.split("\t", 1)[1].split() for line in files["train"].read_text().splitlines()]
    vectors = Word2Vec(texts, vector_size=6, min_count=1, epochs=2, seed=0, workers=1).wv
    path = files["folder"] / "vectors.bin"
    vectors.save_word2vec_format(str(path), binary=True)
    return path, vectors


@pytest.fixture(scope="module")
def bilm_run(files):
    from seqkeras.models.common import TextTask, build_word_lookup
    from seqkeras.models.elmo import build_bidirectional_lm

    words = [line.split("\t", 1)[1].split() for line in files["train"].read_text().splitlines()]
    lookup = build_word_lookup(words, min_count=2)
    keras.utils.set_random_seed(0)
    bilm = build_bidirectional_lm(lookup.vocabulary_size, lookup.char_vocabulary.size, hidden_dim=4, char_filters=4,
                                  num_layers=1, dropout=0.0)
    run_dir = files["folder"] / "bilm"
    run_dir.mkdir()
    TextTask(lookup, bilm, task="bilm").save(run_dir / "model.keras")
    return run_dir, lookup


def _tiny(files, word2vec_file, bilm_run, run_dir):
    """Every TrainConfig field with a non-default value."""
    return dict(
        train=str(files["train_conllu"]), dev=str(files["dev_conllu"]), label_from="sent-id-prefix",
        split="unicode_script", max_train_sentences=100, min_count=1, lowercase=False, max_word_length=7,
        embeddings=str(word2vec_file[0]), freeze_embeddings=True, contextual=str(bilm_run[0]), contextual_dropout=0.25,
        contextual_layer_norm=False, embedding_dim=6,
        char_embedding_dim=3, char_filters=5, hidden_dim=4, num_layers=2, pooling="max", dropout=0.2,
        wide_buckets=300, wide_char_buckets=400, wide_scale=2.0, bigram_buckets=50, epochs=1, batching="random",
        batch_size=16, token_budget=500, num_buckets=3, learning_rate=0.003, weight_decay=0.01, clipnorm=0.7,
        seed=4, run_dir=str(run_dir), verbose=0,
    )


@pytest.fixture(scope="module")
def trained(files, word2vec_file, bilm_run, tmp_path_factory):
    config = train_classifier.TrainConfig(**_tiny(files, word2vec_file, bilm_run, tmp_path_factory.mktemp("run")))
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        result = train_classifier.main(config)
    return config, dict(result, printed=printed.getvalue())


def test_the_table_names_every_field(tmp_path):
    tiny = _tiny({"train_conllu": "t", "dev_conllu": "d"}, ("v",), ("b",), tmp_path)
    assert set(tiny) == {field.name for field in dataclasses.fields(train_classifier.TrainConfig)}
    defaults = train_classifier.TrainConfig()
    assert all(getattr(defaults, name) != value for name, value in tiny.items())


@pytest.mark.slow
def test_every_config_field_reaches_data_model_and_optimizer(trained, word2vec_file, bilm_run):
    config, result = trained
    task, lookup, network = result["task"], result["lookup"], result["task"].network
    # data: 100 CoNLL-U sentences labelled by their id prefix, split by script, words keep their case
    assert len(result["train_texts"]) == 100 and set(task.labels) <= {"answers", "email", "newsgroup", "reviews",
                                                                     "weblog"}
    assert lookup.split == "unicode_script" and not lookup.lowercase and lookup.max_word_length == 7
    assert "The" in lookup.tokens  # min_count=1, case kept
    assert lookup.char_vocabulary.tokens == bilm_run[1].char_vocabulary.tokens  # the biLM's characters
    assert not network.get_layer("contextual_mix").layer_norm
    assert network.get_layer("contextual_dropout").rate == 0.25
    embedding = network.get_layer("token_embedding")
    assert not embedding.trainable and result["summary"]["embeddings_found"] > 0
    found = next(word for word in lookup.tokens[4:] if word in word2vec_file[1].key_to_index)
    np.testing.assert_allclose(embedding.get_weights()[0][lookup.tokens.index(found)], word2vec_file[1][found],
                               atol=1e-6)
    # model
    backbone = network.get_layer("backbone")
    assert (backbone.embedding_dim, backbone.char_embedding_dim, backbone.char_filters) == (6, 3, 5)
    assert (backbone.hidden_dim, backbone.num_layers, backbone.dropout) == (4, 2, 0.2)
    assert network.get_layer("max_pooling") is not None and network.get_layer("bag_dropout").rate == 0.2
    wide = network.get_layer("wide_ngram_logits")
    assert (wide.num_buckets, wide.char_buckets, wide.scale) == (300, 400, 2.0)
    assert network.get_layer("bigram_mean").num_buckets == 50
    assert not np.allclose(wide.idf.numpy(), 1.0)  # adapted on the training texts
    # batching (random batches of 16), optimizer, epochs
    summary = result["summary"]
    assert summary["batching"] == "random" and summary["batches_per_epoch"] == -(-100 // 16)
    optimizer = network.optimizer
    assert isinstance(optimizer, keras.optimizers.AdamW) and optimizer.weight_decay == pytest.approx(0.01)
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.003)
    assert optimizer.clipnorm == 0.7 and int(optimizer.iterations.numpy()) == 7
    metrics = json.loads(pathlib.Path(config.run_dir, "metrics.json").read_text())
    assert len(metrics["history"]["loss"]) == 1 and "macro_f1" in metrics["dev"]
    # this slice's dev holds a genre its 100 training sentences lack: announced first, then the one summary line
    note, summary = result["printed"].splitlines()
    assert note == ("note: --dev has 1 label(s) never seen in --train, {'newsgroup': 2} of 40 examples; they are "
                    "scored as errors") and summary.startswith("classifier: dev accuracy")
    assert result["summary"]["dev_only_labels"] == {"newsgroup": 2}


@pytest.mark.slow
def test_token_budget_num_buckets_and_seed_reach_the_batches(files):
    from pipelines import _text_tasks

    config = train_classifier.TrainConfig(train=str(files["train"]), dev=str(files["dev"]), batching="token_budget",
                                          token_budget=500, num_buckets=3, seed=4)
    texts, labels = train_classifier.read_examples(files["train"], "", "--train")
    lookup = train_classifier.build_lookup(config, texts)
    assert lookup.split == "unicode_script"  # "auto" for TSV text
    _, (info, _) = _text_tasks.batches(config, lookup, texts, [0] * len(texts), train=True)
    assert len(info.boundaries) <= 2 and info.bucket_batch_sizes == [500 // w for w in info.bucket_widths]


@pytest.fixture(scope="module")
def plain_run(files, tmp_path_factory):
    """A small TSV run: words only in the deep part (no characters), the generic classifier head."""
    run_dir = tmp_path_factory.mktemp("plain")
    config = train_classifier.TrainConfig(train=str(files["train"]), dev=str(files["dev"]), epochs=3,
                                          hidden_dim=8, embedding_dim=8, char_filters=0, wide_buckets=0,
                                          learning_rate=0.02, run_dir=str(run_dir), verbose=0)
    train_classifier.main(config, overwrite=True)
    return run_dir


@pytest.mark.slow
def test_dev_labels_never_seen_in_training_are_announced(files, tmp_path, capsys):
    dev = tmp_path / "dev.tsv"
    poem = files["dev"].read_text().splitlines()[0].split("\t", 1)[1]
    dev.write_text(files["dev"].read_text() + f"poetry\t{poem}\npoetry\t{poem}\n")
    config = train_classifier.TrainConfig(train=str(files["train"]), dev=str(dev), epochs=1, hidden_dim=4,
                                          embedding_dim=4, char_filters=0, wide_buckets=0,
                                          run_dir=str(tmp_path / "run"), verbose=0)
    capsys.readouterr()
    train_classifier.main(config)
    assert ("note: --dev has 1 label(s) never seen in --train, {'poetry': 2} of 62 examples; they are scored as "
            "errors") in capsys.readouterr().out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["training"]["dev_only_labels"] == {"poetry": 2} and metrics["dev"]["per_class"]["poetry"]["recall"] == 0


def _args(configure, argv):
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(argv)


@pytest.mark.slow
def test_evaluate_predict_and_model_keras_alone(plain_run, files, tmp_path):
    assert evaluate.run(_args(evaluate.configure, [str(plain_run), "--data", str(files["dev"])])) == 0
    report = json.loads((plain_run / "eval-dev.json").read_text())
    assert 0.0 <= report["accuracy"] <= 1.0 and report["examples"] == 60 and 0.0 <= report["macro_f1"] <= 1.0
    assert set(next(iter(report["per_class"].values()))) == {"precision", "recall", "f1", "support"}
    assert (plain_run / "confusion-dev.png").stat().st_size > 0
    texts = ["Thanks for the quick reply!", "The food was great and the staff friendly."]
    out = tmp_path / "labels.jsonl"
    argv = [str(plain_run), "--text", texts[0], "--text", texts[1], "--out", str(out)]
    assert predict.run(_args(predict.configure, argv)) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["text"] for row in rows] == texts
    assert all(abs(sum(row["probabilities"].values()) - 1.0) < 1e-4 for row in rows)
    assert all(row["label"] == max(row["probabilities"], key=row["probabilities"].get) for row in rows)
    code = ("import json, sys, keras, numpy as np, tensorflow as tf, seqkeras.models.classifier\n"
            "task = keras.saving.load_model(sys.argv[1])\n"
            "probabilities = tf.nn.softmax(task(tf.constant(json.loads(sys.argv[2])))).numpy()\n"
            "print(json.dumps(probabilities.tolist()))\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", code, str(plain_run / "model.keras"), json.dumps(texts)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    alone = np.array(json.loads(done.stdout.strip().splitlines()[-1]))
    expected = np.array([[row["probabilities"][label] for label in sorted(row["probabilities"],
                          key=lambda name: list(row["probabilities"]).index(name))] for row in rows])
    np.testing.assert_allclose(alone, expected, atol=1e-5)


@pytest.mark.slow
def test_cli_bad_inputs_are_one_line_exit_2(files, tmp_path, cli_cases):
    no_tab = tmp_path / "no_tab.tsv"
    no_tab.write_text("weblog this line has no tab\n")
    tiny = tmp_path / "tiny.tsv"  # no word twice: nothing reaches the default min_count
    tiny.write_text("pos\tgood movie\nneg\tbad film\n")
    run = ["--run-dir", str(tmp_path / "run")]
    cases = [
        (["--train", str(tmp_path / "missing.tsv"), "--dev", str(files["dev"])], "--train: file not found"),
        (["--train", str(no_tab), "--dev", str(files["dev"])], "line 1 is not 'label<TAB>text'"),
        (["--train", str(files["train_conllu"]), "--dev", str(files["dev_conllu"])], "--label-from sent-id-prefix"),
        (["--train", str(files["train"]), "--dev", str(files["dev"]), "--label-from", "sent-id-prefix"],
         "applies to CoNLL-U files"),
        (["--train", str(files["train"]), "--dev", str(files["dev"]), "--pooling", "median"], "pooling='median'"),
        (["--train", str(tiny), "--dev", str(files["dev"])], "--train: No token occurs at least min_count=2 times"),
    ]
    # every case through `pipelines.cli.main` in one fresh process (tests/conftest.py `cli_cases`)
    results = cli_cases([["train", "classifier", *argv, *run] for argv, _ in cases])
    for (argv, message), (code, _, stderr) in zip(cases, results):
        lines = stderr.strip().splitlines()
        assert code == 2 and len(lines) == 1 and message in lines[0], (argv, stderr[-1000:])
    assert not (tmp_path / "run").exists()


def test_existing_run_dir_is_refused_without_resume_or_overwrite(files, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text('{"family": "classifier"}')
    config = train_classifier.TrainConfig(train=str(files["train"]), dev=str(files["dev"]),
                                          run_dir=str(tmp_path / "run"))
    with pytest.raises(common.UserError, match="already exists"):
        train_classifier.main(config)


@pytest.mark.parametrize("values, message", [
    ({"label_from": "file-name"}, "label_from='file-name'"),
    ({"split": "char"}, "split='char'"),
    ({"wide_buckets": 1}, "wide_buckets=1"),
    ({"char_filters": 0}, "char_filters=0"),  # the default wide branch reads characters
    ({"weight_decay": -0.1}, "weight_decay=-0.1"),
])
def test_bad_config_values_are_user_errors(values, message):
    with pytest.raises(common.UserError, match=message):
        common.config_from_dict(train_classifier.TrainConfig, values)
