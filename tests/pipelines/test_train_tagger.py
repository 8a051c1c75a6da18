"""`seqkeras train tagger`, `evaluate`, `predict`: config wiring, the run dir, raw strings in, one-line errors."""

import argparse
import contextlib
import dataclasses
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
from pipelines import _text_tasks, common, evaluate, predict, train_tagger

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files(ewt_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tagger_data")
    return {
        "train": conllu_slice(ewt_dir / "en_ewt-ud-train.conllu.gz", folder / "train.conllu", 90, stride=97),  # ~70 documents
        "dev": conllu_slice(ewt_dir / "en_ewt-ud-dev.conllu.gz", folder / "dev.conllu", 30),
        "folder": folder,
    }


@pytest.fixture(scope="module")
def word2vec_file(files):
    """Real word2vec vectors (gensim, 8 dimensions) of the training slice's words, in word2vec text format."""
    from gensim.models import Word2Vec

    from seqkeras.data.conllu import read_conllu_sentences

    sentences = [list(s.words) for s in read_conllu_sentences(files["train"])]
    vectors = Word2Vec(sentences, vector_size=8, min_count=1, epochs=2, seed=0, workers=1).wv
    path = files["folder"] / "vectors.txt"
    vectors.save_word2vec_format(str(path))
    return path, vectors


@pytest.fixture(scope="module")
def bilm_run(files):
    """A biLM run dir as `seqkeras train bilm` writes it: model.keras = TextTask(TokenLookup, biLM)."""
    from seqkeras.data.conllu import read_conllu_sentences
    from seqkeras.models.common import TextTask, build_word_lookup
    from seqkeras.models.elmo import build_bidirectional_lm

    words = [s.words for s in read_conllu_sentences(files["train"])]
    lookup = build_word_lookup(words, min_count=2, max_word_length=10)
    keras.utils.set_random_seed(0)
    bilm = build_bidirectional_lm(lookup.vocabulary_size, lookup.char_vocabulary.size, hidden_dim=4, char_filters=4,
                                  num_layers=1, dropout=0.0)
    run_dir = files["folder"] / "bilm"
    run_dir.mkdir()
    (run_dir / "config.json").write_text('{"family": "bilm"}')
    TextTask(lookup, bilm, task="bilm").save(run_dir / "model.keras")
    return run_dir, lookup


# Every TrainConfig field with a non-default value; the test fails when a field is added here
# without a check below (or the other way round).
def _tiny(files, word2vec_file, bilm_run, run_dir):
    return dict(
        train=str(files["train"]), dev=str(files["dev"]), column="xpos", max_train_sentences=60,
        validation_fraction=0.25, min_count=1, lowercase=False, max_word_length=6, embeddings=str(word2vec_file[0]),
        freeze_embeddings=True, contextual=str(bilm_run[0]), contextual_dropout=0.25, contextual_layer_norm=False,
        embedding_dim=8, char_embedding_dim=4, char_filters=6,
        embeddings_vocabulary=False,
        hidden_dim=5, num_layers=1, dropout=0.1, word_dropout=0.3, epochs=3, patience=1, batching="bucketed",
        batch_size=16, token_budget=300, num_buckets=4, learning_rate=0.004, clipnorm=0.5, seed=3,
        run_dir=str(run_dir), verbose=0,
    )


def test_embeddings_vocabulary_gives_pretrained_words_an_id(files, word2vec_file):
    """--embeddings-vocabulary (the default): a word2vec word unseen in training gets an id (and its row);
    the characters stay the training words'."""
    sentences = train_tagger.read_sentences(files["train"], "upos", "--train")
    few, vectors = sentences[:5], word2vec_file[1]
    seen = {w.lower() for s in few for w in s.words}
    options = dict(train="t", dev="d", embeddings=str(word2vec_file[0]), embedding_dim=8)
    plain = train_tagger.build_lookup(train_tagger.TrainConfig(embeddings_vocabulary=False, **options), few)
    extended = train_tagger.build_lookup(train_tagger.TrainConfig(**options), few)
    unseen = [w for w in vectors.index_to_key if w == w.lower() and w not in seen]
    assert unseen and not set(unseen) & set(plain.tokens) and set(unseen) <= set(extended.tokens)
    assert extended.char_vocabulary.tokens == plain.char_vocabulary.tokens
    weights, found = _text_tasks.load_embedding_weights(str(word2vec_file[0]), extended, 8)
    row = extended.tokens.index(unseen[0])
    np.testing.assert_allclose(weights[row], vectors[unseen[0]], atol=1e-6)


@pytest.fixture(scope="module")
def trained(files, word2vec_file, bilm_run, tmp_path_factory):
    config = train_tagger.TrainConfig(**_tiny(files, word2vec_file, bilm_run, tmp_path_factory.mktemp("run")))
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        result = train_tagger.main(config)
    return config, dict(result, printed=printed.getvalue())


def test_the_table_names_every_field(tmp_path):
    # Deployment fields (distribute, workers, task_index, checkpoint_every) are exercised by
    # tests/distribute/test_tagger_workers.py.
    # `ensemble` has its own test (test_ensemble_trains_members_apart_and_saves_their_average).
    names = {field.name for field in dataclasses.fields(train_tagger.TrainConfig) if not field.metadata.get("deployment")}
    tiny = _tiny({"train": "t", "dev": "d"}, ("v",), ("b",), tmp_path)
    assert set(tiny) == names - {"ensemble"}
    defaults = train_tagger.TrainConfig()
    assert all(getattr(defaults, name) != value for name, value in tiny.items())


@pytest.mark.slow
def test_every_config_field_reaches_data_model_and_optimizer(trained, word2vec_file, bilm_run):
    config, result = trained
    task, lookup, network = result["task"], result["lookup"], result["task"].network
    # data: 60 sentences, a quarter of their documents held out whole for validation (seed 3), the xpos
    # column, words with their case (lowercase=False, min_count=1) from the training part only
    train, held = result["train_sentences"], result["validation_sentences"]
    assert len(train) + len(held) == 60 and held
    documents = {train_tagger.document_of(s) for s in train + held}
    held_documents = {train_tagger.document_of(s) for s in held}
    assert len(held_documents) == round(0.25 * len(documents)) and not held_documents & {
        train_tagger.document_of(s) for s in train}
    assert held == train_tagger.split_documents(train + held, 0.25, 3)[1] != \
        train_tagger.split_documents(train + held, 0.25, 4)[1]
    assert "NN" in task.labels and "NOUN" not in task.labels
    words = {w for s in train for w in s.words}
    assert set(lookup.tokens[4:]) == words and not lookup.lowercase
    assert lookup.max_word_length == 6
    # contextual: the biLM's characters feed its frozen layers, mixed by a ScalarMix
    assert lookup.char_vocabulary.tokens == bilm_run[1].char_vocabulary.tokens
    assert not network.get_layer("contextual_mix").layer_norm
    assert network.get_layer("contextual_dropout").rate == 0.25
    assert not network.get_layer("elmo_embedder").trainable
    # embeddings: word2vec rows, frozen
    vectors = word2vec_file[1]
    embedding = network.get_layer("token_embedding")
    row = lookup.tokens.index("the")
    np.testing.assert_allclose(embedding.get_weights()[0][row], vectors["the"], atol=1e-6)
    assert not embedding.trainable and result["summary"]["embeddings_found"] == len(words)
    # model sizes
    backbone = network.get_layer("backbone")
    assert (backbone.embedding_dim, backbone.char_embedding_dim, backbone.char_filters) == (8, 4, 6)
    assert (backbone.hidden_dim, backbone.num_layers, backbone.dropout) == (5, 1, 0.1)
    assert backbone.word_dropout == 0.3 and backbone.get_layer("word_dropout").rate == 0.3
    # batching: bucketed batches of <= 16 sentences, 4 quantile buckets at most
    summary = result["summary"]
    assert summary["batching"] == "bucketed" and len(summary["bucket_boundaries"]) <= 3
    assert all(features["token_ids"].shape[0] <= 16 for features, _, _ in result["datasets"]["train"])
    # optimizer, epochs and early stopping (patience 1): the saved weights are the best epoch's on validation
    optimizer = network.optimizer
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.004)
    assert optimizer.clipnorm == 0.5
    metrics = json.loads(pathlib.Path(config.run_dir, "metrics.json").read_text())
    accuracies = metrics["history"]["val_accuracy"]
    assert summary["epochs_run"] == len(accuracies) == len(metrics["history"]["loss"]) <= 3
    assert int(optimizer.iterations.numpy()) == summary["epochs_run"] * summary["batches_per_epoch"]
    assert summary["best_epoch"] == int(np.argmax(accuracies)) + 1 and summary["best_validation_accuracy"] == \
        max(accuracies)
    network.run_eagerly = True  # one pass over a few validation batches: cheaper op by op than traced
    restored = network.evaluate(result["datasets"]["validation"], verbose=0, return_dict=True)["accuracy"]
    assert restored == pytest.approx(max(accuracies), abs=1e-6)
    assert summary["epochs_run"] == 3 or summary["epochs_run"] == summary["best_epoch"] + 1  # patience 1
    assert 0.0 <= metrics["training"]["padding_fraction"] < 1.0
    assert metrics["training"]["real_tokens_per_second"] > 0
    # the run dir; verbose=0 prints only the summary line
    for name in ("config.json", "model.keras", "metrics.json", "training_curves.png", "training_words.txt",
                 "ckpt/best.keras", "tb"):
        assert pathlib.Path(config.run_dir, name).exists(), name
    assert json.loads(pathlib.Path(config.run_dir, "config.json").read_text()) == {
        "family": "tagger", **dataclasses.asdict(config)}
    assert result["printed"].startswith("tagger: dev xpos accuracy") and len(result["printed"].splitlines()) == 1


@pytest.mark.slow
def test_token_budget_and_seed_reach_the_batches(files):
    """token_budget (unused by the bucketed run above) sets every bucket's batch size; seed its shuffles."""
    config = train_tagger.TrainConfig(train=str(files["train"]), dev=str(files["dev"]), token_budget=300,
                                      num_buckets=4, seed=5)
    sentences = train_tagger.read_sentences(files["train"], "upos", "--train")
    lookup = train_tagger.build_lookup(config, sentences)
    texts = train_tagger.texts_of(sentences)
    targets = [[0] * len(s.words) for s in sentences]
    _, (info, statistics) = _text_tasks.batches(config, lookup, texts, targets, train=True)
    assert info.bucket_batch_sizes == [300 // width for width in info.bucket_widths]
    assert statistics["real_tokens"] == sum(len(s.words) for s in sentences)

    def first_batch(seed):
        data, _ = _text_tasks.batches(dataclasses.replace(config, seed=seed), lookup, texts, targets, train=True)
        return next(iter(data))[0]["token_ids"].numpy()

    assert np.array_equal(first_batch(5), first_batch(5)) and not np.array_equal(first_batch(5), first_batch(6))


@pytest.fixture(scope="module")
def plain_run(files, tmp_path_factory):
    """A small run with default features (lower-cased words, characters, token-budget batches)."""
    run_dir = tmp_path_factory.mktemp("plain")
    config = train_tagger.TrainConfig(train=str(files["train"]), dev=str(files["dev"]), epochs=3, hidden_dim=8,
                                      num_layers=1, embedding_dim=8, char_filters=8, learning_rate=0.03,
                                      run_dir=str(run_dir), verbose=0)
    train_tagger.main(config, overwrite=True)
    return run_dir


def _args(configure, argv):
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(argv)


@pytest.mark.slow
def test_evaluate_predict_and_model_keras_alone(plain_run, files, tmp_path, capsys):
    # evaluate: table, eval-<data>.json, confusion PNG, unseen-word accuracy
    assert evaluate.run(_args(evaluate.configure, [str(plain_run), "--data", str(files["dev"])])) == 0
    report = json.loads((plain_run / "eval-dev.json").read_text())
    assert 0.3 < report["accuracy"] <= 1.0 and report["unseen_tokens"] > 0  # NOUN for every word: 0.18
    assert set(report["per_tag"]["NOUN"]) == {"precision", "recall", "f1", "support"}
    assert (plain_run / "confusion-dev.png").stat().st_size > 0
    assert "accuracy" in capsys.readouterr().out
    # predict from a .conllu file: CoNLL-U with the column filled, every other field kept
    out = tmp_path / "tagged.conllu"
    assert predict.run(_args(predict.configure, [str(plain_run), "--file", str(files["dev"]), "--out", str(out)])) == 0
    tagged = out.read_text().strip().split("\n\n")
    original = files["dev"].read_text().strip().split("\n\n")
    assert len(tagged) == len(original) == 30
    assert [line.split("\t")[1] for line in tagged[0].splitlines() if line[0].isdigit()] == \
        [line.split("\t")[1] for line in original[0].splitlines() if line[0].isdigit()]
    # predict from text lines: JSONL
    texts = ["The cat sat on the mat .", "I love it !"]
    lines_file = tmp_path / "sentences.txt"
    lines_file.write_text("\n".join(texts) + "\n")
    out = tmp_path / "tags.jsonl"
    assert predict.run(_args(predict.configure, [str(plain_run), "--file", str(lines_file), "--out", str(out)])) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["words"] for row in rows] == [t.split() for t in texts]
    # model.keras alone, in a fresh process, tags raw strings exactly as predict does
    code = ("import json, sys, keras, numpy as np, tensorflow as tf, seqkeras.models.tagger\n"
            "task = keras.saving.load_model(sys.argv[1])\n"
            "probabilities = task(tf.constant(json.loads(sys.argv[2])))\n"
            "mask = task.preprocessor(tf.constant(json.loads(sys.argv[2])))['padding_mask'].numpy()\n"
            "print(json.dumps([[task.labels[i] for i, m in zip(row, keep) if m]"
            " for row, keep in zip(np.argmax(probabilities, -1), mask)]))\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", code, str(plain_run / "model.keras"), json.dumps(texts)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [row["upos"] for row in rows]


@pytest.mark.slow
def test_cli_bad_inputs_are_one_line_exit_2(files, tmp_path, cli_cases):
    empty = tmp_path / "empty.conllu"
    empty.write_text("")
    corrupt = tmp_path / "corrupt.conllu.gz"
    corrupt.write_bytes(b"not gzip at all")
    short = tmp_path / "short.conllu"  # a token line cut to 2 fields: the conllu parser alone fills them with None
    short.write_text("# sent_id = a\n1\tHello\thello\tINTJ\tUH\t_\t0\troot\t_\t_\n2\tworld\n\n")
    tiny = tmp_path / "tiny.conllu"  # two sentences, no word twice: nothing reaches the default min_count
    tiny.write_text("".join(f"# sent_id = {word}\n1\t{word}\t_\tNOUN\t_\t_\t0\troot\t_\t_\n\n" for word in ("Hello", "World")))
    run = ["--run-dir", str(tmp_path / "run")]
    cases = [
        (["--train", str(tiny), "--dev", str(files["dev"]), "--validation-fraction", "0"],
         "--train: No token occurs at least min_count=2 times"),
        (["--train", str(tmp_path / "missing.conllu"), "--dev", str(files["dev"])], "--train: file not found"),
        (["--train", str(empty), "--dev", str(files["dev"])], "is empty"),
        (["--train", str(files["train"]), "--dev", str(corrupt)], "not a valid gzip file"),
        (["--train", str(short), "--dev", str(files["dev"])],
         "short.conllu is not valid CoNLL-U (line 3 has 2 tab-separated fields, 10 expected: '2\\tworld')"),
        (["--train", str(files["train"]), "--dev", str(files["dev"]), "--column", "lemma"], "column='lemma'"),
        (["--train", str(files["train"]), "--dev", str(files["dev"]), "--batching", "packed"], "packed"),
        (["--train", str(files["train"]), "--dev", str(files["dev"]), "--epochs", "0"], "epochs=0"),
    ]
    # every case through `pipelines.cli.main` in one fresh process (tests/conftest.py `cli_cases`)
    results = cli_cases([["train", "tagger", *argv, *run] for argv, _ in cases])
    for (argv, message), (code, _, stderr) in zip(cases, results):
        assert code == 2, (argv, stderr[-1000:])
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in stderr, (argv, stderr)
    assert not (tmp_path / "run").exists()  # nothing was created for a bad input


@pytest.mark.slow
def test_ensemble_trains_members_apart_and_saves_their_average(files, tmp_path):
    """--ensemble 2: two taggers (seeds 4 and 5) on the same held-out documents, each with its own early
    stopping, checkpoints, TensorBoard folder and history; model.keras averages their tag probabilities
    and scores as evaluate does; a resumed finished run trains nothing more."""
    import tensorflow as tf

    from seqkeras.models.common import TextTask

    run_dir = tmp_path / "run"
    config = train_tagger.TrainConfig(train=str(files["train"]), dev=str(files["dev"]), epochs=3, patience=1,
                                      hidden_dim=8, num_layers=1, embedding_dim=8, char_filters=8, learning_rate=0.03,
                                      seed=4, ensemble=2, run_dir=str(run_dir), verbose=0)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        result = train_tagger.main(config)
    network, summary = result["task"].network, result["summary"]
    members = [network.get_layer(f"tagger_{k}") for k in range(2)]
    texts = ["The cat sat on the mat .", "I love it !"]
    inputs = result["task"].preprocessor(tf.constant(texts))
    expected = np.mean([keras.ops.softmax(m(inputs)).numpy() for m in members], axis=0)
    np.testing.assert_allclose(keras.ops.softmax(network(inputs)).numpy(), expected, atol=1e-5)
    assert not np.allclose(members[0].get_layer("tag_logits").kernel.numpy(),
                           members[1].get_layer("tag_logits").kernel.numpy())
    # each member: its own early stopping on the same validation documents, restored to its best epoch
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "history" not in metrics and len(metrics["members"]) == len(summary["members"]) == 2
    for k, (record, stopping) in enumerate(zip(metrics["members"], summary["members"])):
        accuracies = record["history"]["val_accuracy"]
        assert record["history"]["epoch"] == list(range(stopping["epochs_run"])) and len(accuracies) <= 3
        assert stopping["best_validation_accuracy"] == max(accuracies)
        members[k].run_eagerly = True
        restored = members[k].evaluate(result["datasets"]["validation"], verbose=0, return_dict=True)["accuracy"]
        assert restored == pytest.approx(max(accuracies), abs=1e-6)
        for name in (f"ckpt/member_{k}/best.keras", f"ckpt/member_{k}/steps", f"tb/member_{k}"):
            assert (run_dir / name).exists(), name
    # the ensemble's own validation figure, and dev through the saved model as `evaluate` reads it
    validation = train_tagger.score(result["task"], result["validation_sentences"], set(), True, result["tags"])
    assert summary["ensemble_validation_accuracy"] == validation["accuracy"]
    saved = keras.saving.load_model(run_dir / "model.keras")
    assert isinstance(saved, TextTask)
    np.testing.assert_allclose(saved(tf.constant(texts)).numpy(), result["task"](tf.constant(texts)).numpy(), atol=1e-6)
    assert evaluate.run(_args(evaluate.configure, [str(run_dir), "--data", str(files["dev"])])) == 0
    assert json.loads((run_dir / "eval-dev.json").read_text())["accuracy"] == metrics["dev"]["accuracy"]
    assert (run_dir / "training_curves.png").stat().st_size > 0
    assert "ensemble of 2 (validation" in printed.getvalue()
    # exports: the SavedModel's raw-text signature gives the ensemble's probabilities; TFLite keeps fused LSTMs
    from export.tflite import TFLiteRunner, tflite_ops
    from pipelines import cli

    for argv in (["export", "savedmodel", run_dir, "--base-dir", tmp_path / "serving"],
                 ["export", "tflite", run_dir, "--out", tmp_path / "tagger.tflite"]):
        with pytest.raises(SystemExit) as exit_info, contextlib.redirect_stdout(io.StringIO()):
            cli.main([str(arg) for arg in argv])
        assert exit_info.value.code == 0, argv
    served = tf.saved_model.load(str(tmp_path / "serving" / "tagger" / "1")).signatures["tag_text"](text=tf.constant(texts))
    probabilities = keras.ops.softmax(result["task"](tf.constant(texts))).numpy()
    for row, text in enumerate(texts):
        n = len(text.split())
        np.testing.assert_allclose(served["tag_probabilities"][row, :n].numpy(), probabilities[row, :n], atol=1e-5)
    content = (tmp_path / "tagger.tflite").read_bytes()
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in tflite_ops(content) and "WHILE" not in tflite_ops(content)
    runner, width = TFLiteRunner(content), result["lookup"].max_word_length
    for text in texts:  # batch 1, characters padded to the static width the TFLite model reads
        example = {key: value.numpy() for key, value in result["task"].preprocessor(tf.constant([text])).items()}
        chars = example["char_ids"]
        example["char_ids"] = np.pad(chars, [(0, 0), (0, 0), (0, width - chars.shape[2])])
        np.testing.assert_allclose(runner({k: v for k, v in example.items() if k != "padding_mask"}),
                                   network(example).numpy(), atol=1e-5)
    # --resume of the finished run: every member restores its last step; nothing trains, the same model
    with contextlib.redirect_stdout(io.StringIO()):
        resumed = train_tagger.main(config, resume=True)
    np.testing.assert_allclose(resumed["task"](tf.constant(texts)).numpy(), result["task"](tf.constant(texts)).numpy(),
                               atol=1e-6)
    assert [json.loads((run_dir / "metrics.json").read_text())["members"][k]["history"]["epoch"]
            for k in range(2)] == [record["history"]["epoch"] for record in metrics["members"]]


def test_existing_run_dir_is_refused_without_resume_or_overwrite(files, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "model.keras").write_text("an earlier run")
    config = train_tagger.TrainConfig(train=str(files["train"]), dev=str(files["dev"]), run_dir=str(run_dir))
    with pytest.raises(common.UserError, match="already exists; pass --resume .* or --overwrite"):
        train_tagger.main(config)
    assert (run_dir / "model.keras").read_text() == "an earlier run"


@pytest.mark.parametrize("values, message", [
    ({"column": "feats"}, "column='feats'"),
    ({"batching": "packed"}, "batching`='packed'"),
    ({"dropout": 1.0}, "dropout=1.0"),
    ({"learning_rate": 0.0}, "learning_rate=0.0"),
    ({"hidden_dim": 0}, "hidden_dim=0"),
    ({"validation_fraction": 0.5}, "validation_fraction=0.5"),
    ({"word_dropout": 1.0}, "word_dropout=1.0"),
    ({"patience": -1}, "patience=-1"),
    ({"contextual": "runs/bilm", "char_filters": 0}, "char_filters=0"),
    ({"distribute": "bogus"}, "distribute='bogus'"),
    ({"task_index": -1}, "task_index=-1"),
    ({"checkpoint_every": -1}, "checkpoint_every=-1"),
    ({"ensemble": 0}, "ensemble=0"),
])
def test_bad_config_values_are_user_errors(values, message):
    with pytest.raises(common.UserError, match=message):
        common.config_from_dict(train_tagger.TrainConfig, values)


@pytest.mark.parametrize("values, message", [
    ({"distribute": "multi-worker"}, "needs --workers host:port,... and --task-index, or the TF_CONFIG"),
    ({"workers": "127.0.0.1:2222"}, "--workers needs --distribute multi-worker"),
    ({"distribute": "multi-worker", "workers": "127.0.0.1:2222", "task_index": 1}, "--task-index must be in"),
    ({"distribute": "multi-worker", "workers": "host-without-port"}, "--workers: expected host:port"),
])
def test_distribution_options_are_checked_before_anything_loads(values, message, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    config = train_tagger.TrainConfig(train=str(tmp_path / "missing"), dev=str(tmp_path / "missing"),
                                      run_dir=str(tmp_path / "run"), **values)
    with pytest.raises(common.UserError, match=message):
        train_tagger.main(config)
    assert not (tmp_path / "run").exists() and "TF_CONFIG" not in os.environ
