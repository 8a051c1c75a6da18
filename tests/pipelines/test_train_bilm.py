"""`seqkeras train bilm` and `seqkeras evaluate` on a biLM run: config wiring, run dir, CLI errors."""

import dataclasses
import json
import math
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import conllu_slice
from pipelines import common, train_bilm
from pipelines import cli
from seqkeras.data import corpora
from seqkeras.models.elmo import ElmoEmbedder

REPO = pathlib.Path(__file__).resolve().parents[2]
EWT_DEV = REPO.parent / "shared" / "data" / "ud-english-ewt" / "en_ewt-ud-dev.conllu.gz"

# Every TrainConfig field with a non-default value (run_dir and exclude set per test).
TINY = dict(
    corpus=("lee", f"ewt:{EWT_DEV}"), exclude=None, max_sentences=60, min_words=4, max_words=40, valid_fraction=0.2, split_seed=3,
    split="whitespace", lowercase=False, vocabulary_size=40, min_count=3, max_word_length=7, char_embedding_dim=5,
    char_filters=6, hidden_dim=4, num_layers=1, dropout=0.2, matmul_dtype="bfloat16", sampled_softmax=9, batching="bucketed", batch_size=7,
    token_budget=300, num_buckets=3, epochs=2, steps_per_epoch=3, learning_rate=0.004, clipnorm=0.5, seed=11,
    max_minutes=30.0, run_dir=None, verbose=0,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    if not EWT_DEV.exists():
        pytest.skip(f"UD English EWT not found at {EWT_DEV}")
    folder = tmp_path_factory.mktemp("bilm")
    exclude = conllu_slice(EWT_DEV, folder / "excluded.conllu", 8, stride=3)  # EWT dev sentences 0, 3, ..., 21
    config = train_bilm.TrainConfig(**{**TINY, "exclude": (str(exclude),), "run_dir": str(folder / "run")})
    return config, train_bilm.main(config)


def test_the_table_names_every_field():
    assert set(TINY) == {field.name for field in dataclasses.fields(train_bilm.TrainConfig)}
    defaults = train_bilm.TrainConfig()
    assert all(getattr(defaults, name) != value for name, value in TINY.items() if value is not None)


@pytest.mark.slow
def test_every_config_field_reaches_data_model_and_optimizer(trained, capsys):
    config, results = trained
    # data: both corpora, --exclude, the word-count filter, max_sentences per corpus, the seeded split
    assert results["corpus_sentences_per_corpus"] == {"lee": 60, f"ewt:{EWT_DEV}": 60}
    lee = [s for d in corpora.lee_documents() for s in corpora.split_sentences(d) if 4 <= len(s.split()) <= 40][:60]
    ewt = [" ".join(s.words) for s in corpora.read_conllu(EWT_DEV) if 4 <= len(s.words) <= 40]
    left_out = {" ".join(s.words) for s in corpora.read_conllu(config.exclude[0])}
    removed = sum(text in left_out for text in ewt)
    assert removed >= 4  # most of the 8 have 4..40 words
    ewt = [text for text in ewt if text not in left_out][:60]
    everything = lee + ewt  # whitespace split: the counts above are the tokenizer's
    order = np.random.default_rng(3).permutation(120)
    assert results["texts"]["valid"] == [everything[i] for i in np.sort(order[:24])]  # valid_fraction 0.2
    assert results["corpus_words"] == sum(len(text.split()) for text in everything)
    # vocabularies: size cap, min_count, case kept, characters cut at max_word_length
    vocabulary = results["vocabulary"]
    assert vocabulary.size == 40 and min(vocabulary.counts.values()) >= 3
    assert any(token != token.lower() for token in vocabulary.tokens[4:])  # lowercase=False
    preprocessor = results["task"].preprocessor
    assert (preprocessor.split, preprocessor.lowercase, preprocessor.max_word_length) == ("whitespace", False, 7)
    assert preprocessor.char_vocabulary.tokens == results["char_vocabulary"].tokens
    # batching: bucketed, batch_size 7, at most num_buckets buckets; steps_per_epoch x epochs steps
    info = results["batching_info"]
    assert info.strategy == "bucketed" and len(info.boundaries) <= 2 and set(info.bucket_batch_sizes) == {7}
    batch = next(iter(results["train_data"]))
    assert batch["token_ids"].shape[0] <= 7 and batch["char_ids"].shape[2] <= 7
    # model
    network = results["network"]
    encoder = network.get_layer("char_encoder")
    assert (encoder.char_vocabulary_size, encoder.char_embedding_dim, encoder.filters) == (
        results["char_vocabulary"].size, 5, 6)
    assert network.get_layer("token_projection").units == 4
    assert {layer.name for layer in network.layers} >= {"forward_lstm_0", "backward_lstm_0"}
    assert "forward_lstm_1" not in {layer.name for layer in network.layers}
    assert network.get_layer("forward_output_dropout").rate == 0.2
    assert {network.get_layer(name).train_matmul_dtype for name in ("forward_lstm_0", "backward_lstm_0")} == {"bfloat16"}
    assert network.get_layer("word_logits").units == 40
    assert network.num_sampled == 9  # sampled softmax in training
    # optimizer
    optimizer = network.optimizer
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.004)
    assert optimizer.global_clipnorm == 0.5
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 2 * 3
    # output
    run_dir = pathlib.Path(config.run_dir)
    for name in ("config.json", "model.keras", "metrics.json", "training_curves.png", "ckpt/best.keras", "tb/train"):
        assert (run_dir / name).exists(), name
    assert json.loads((run_dir / "config.json").read_text()) == json.loads(json.dumps(common.config_dict(config, "bilm")))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["history"]["loss"]) == 2 and metrics["history"]["epoch"] == [0, 1]
    assert metrics["corpus_words"] == results["corpus_words"] and metrics["tokens_per_s"] > 0
    assert metrics["excluded_sentences_per_corpus"] == {"lee": 0, f"ewt:{EWT_DEV}": removed}
    assert metrics["softmax"] == "sampled (9 per step)" and metrics["tokens_per_cpu_s"] > 0
    assert metrics["train_matmul_dtype"] == "bfloat16"
    assert metrics["train_steps"] == 6 and not metrics["stopped_by_max_minutes"]  # max_minutes 30: no stop
    assert [row["epoch"] for row in metrics["curve"]] == [1, 2]
    assert 0 < metrics["curve"][0]["cpu_seconds"] <= metrics["curve"][1]["cpu_seconds"]
    assert metrics["threads"] == {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                                  "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
    assert metrics["curve"][-1]["val_forward_perplexity"] == pytest.approx(
        math.exp(metrics["history"]["val_forward_loss"][-1]))
    assert 0 <= metrics["padding_fraction"] < 1
    assert math.isfinite(metrics["heldout_forward_perplexity"]) and metrics["heldout_forward_perplexity"] > 1
    assert capsys.readouterr().out == ""  # verbose=0


def test_token_budget_batches_stay_within_the_budget():
    config = train_bilm.TrainConfig(split="whitespace", token_budget=60, max_words=12, num_buckets=4, max_word_length=5)
    texts = [" ".join(["word"] * n) for n in (1, 2, 3, 5, 8, 12, 12, 4, 2, 7)]
    vocabulary, chars = train_bilm.build_vocabularies(config, texts)
    preprocessor = train_bilm.make_preprocessor(config, vocabulary, chars)
    data, ragged, info = train_bilm.batches(config, train_bilm.encode(preprocessor, texts), shuffle=False)
    assert info.strategy == "token_budget"
    sizes = []
    for batch in data:
        rows, width = batch["token_ids"].shape
        assert rows * width <= 60
        assert batch["char_ids"].shape[2] == 4  # "word": 4 characters (<= max_word_length)
        sizes.append(int(batch["padding_mask"].numpy().sum()))
    assert sum(sizes) == sum(len(text.split()) for text in texts)  # every word, once


@pytest.mark.slow
def test_model_file_alone_embeds_raw_strings(trained):
    config, results = trained
    task = keras.saving.load_model(pathlib.Path(config.run_dir, "model.keras"))
    assert task.task == "bilm"
    texts = ["The cat sat on the mat .", "Hello world"]
    features = task.features(texts)
    trained_network = results["network"]
    expected = ElmoEmbedder.from_bilm(trained_network)({"char_ids": features["char_ids"],
                                                        "padding_mask": features["padding_mask"]})
    layers = ElmoEmbedder.from_bilm(task.network)({"char_ids": features["char_ids"],
                                                   "padding_mask": features["padding_mask"]})
    assert len(layers) == 2 and tuple(layers[0].shape) == (2, 7, 8)
    for got, want in zip(layers, expected):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    logits = task(tf.constant(texts))  # raw strings through the whole biLM
    assert tuple(logits["forward_logits"].shape) == (2, 7, 40)


@pytest.mark.slow
def test_evaluate_prints_perplexities_equal_to_the_loaded_model(trained, tmp_path, capsys):
    config, _ = trained
    sentences = [" ".join(s.words) for s in corpora.read_conllu(EWT_DEV)[100:130]]
    data = tmp_path / "dev.txt"
    data.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate", config.run_dir, "--data", str(data), "--batch-size", "8"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "forward" in out and "backward" in out
    figures = json.loads(pathlib.Path(config.run_dir, "eval-dev.json").read_text())
    # the same figure from the model file alone: mean NLL per forward target
    task = keras.saving.load_model(pathlib.Path(config.run_dir, "model.keras"))
    total, count = 0.0, 0
    for text in sentences:
        features = task.features([text])
        logits = task.network(features)["forward_logits"][0].numpy()  # (T, V)
        ids = features["token_ids"][0].numpy()
        log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
            - logits.max(-1, keepdims=True)
        total -= sum(log_probs[t, ids[t + 1]] for t in range(len(ids) - 1))
        count += len(ids) - 1
    assert figures["targets_per_direction"] == count
    assert figures["forward_perplexity"] == pytest.approx(math.exp(total / count), rel=1e-4)
    assert f"{figures['forward_perplexity']:.2f}" in out
    # the held-out default and CoNLL-U input
    with pytest.raises(SystemExit):
        cli.main(["evaluate", config.run_dir])
    heldout = json.loads(pathlib.Path(config.run_dir, "eval-heldout.json").read_text())
    assert heldout["sentences"] == 24
    assert heldout["forward_perplexity"] == pytest.approx(
        json.loads(pathlib.Path(config.run_dir, "metrics.json").read_text())["heldout_forward_perplexity"], rel=1e-4)


@pytest.mark.slow
def test_an_existing_run_dir_is_refused(trained):
    config, _ = trained
    with pytest.raises(common.UserError, match="already exists"):
        train_bilm.main(config)


@pytest.mark.parametrize("args, message", [
    (["train", "bilm", "--corpus", "no_such_corpus.txt"], "--corpus"),
    (["train", "bilm", "--corpus", "ewt:"], "ewt:PATH"),
    (["train", "bilm", "--exclude", "no_such_file.conllu"], "--exclude: not one of"),
    (["train", "bilm", "--exclude", "ewt:"], "`exclude` entry ewt:PATH needs a path"),
    (["train", "bilm", "--corpus", "data/*.txt", "--exclude", "lee"], "`exclude` needs an in-memory corpus"),
    (["train", "bilm", "--corpus", f"ewt:{EWT_DEV}", "--exclude", f"ewt:{EWT_DEV}"], "words left by --exclude"),
    (["train", "bilm", "--batching", "packed"], "batching='packed'"),
    (["train", "bilm", "--hidden-dim", "0"], "hidden_dim=0"),
    (["train", "bilm", "--token-budget", "10"], "token_budget=10"),
    (["evaluate", "no_such_run_dir"], "run dir not found"),
])
def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args + ["--run-dir", str(tmp_path / "run")] if args[0] == "train" else args)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqkeras: error") and message in lines[0], lines
    assert not (tmp_path / "run").exists()  # nothing written before the inputs are checked


@pytest.mark.slow
def test_the_console_command_exits_2_on_bad_data(trained):
    config, _ = trained
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "evaluate", config.run_dir, "--data",
                             "no_such_file.conllu"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("seqkeras:")] == [
        "seqkeras: error: --data: CoNLL-U file not found. Received: no_such_file.conllu"]


# Run in a fresh process (thread pools are set once per process): the pools before and after `split_threads`.
THREADS = """
import json, os, tensorflow as tf
from pipelines import common
pools = lambda: {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                 "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
%s
print(json.dumps([before, after, os.environ.get("ONEDNN_PRIMITIVE_CACHE_CAPACITY")]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("code, sets", [
    ("before = pools(); after = common.split_threads(); tf.constant(1.0) + 1.0", True),
    ("tf.constant(1.0) + 1.0; before = pools(); after = common.split_threads()", False),  # too late: left alone
])
def test_split_threads_gives_each_op_half_the_cores_before_tensorflow_starts(code, sets):
    environment = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    result = subprocess.run([sys.executable, "-c", THREADS % code], capture_output=True, text=True, cwd=REPO,
                            timeout=300, env=environment)
    assert result.returncode == 0, result.stderr
    before, after, capacity = json.loads(result.stdout.strip().splitlines()[-1])
    cores = len(os.sched_getaffinity(0))
    assert after == ({"intra_op": max(1, cores // 2), "inter_op": max(2, cores)} if sets else before)
    assert capacity == str(common.ONEDNN_CACHE_CAPACITY)  # a larger oneDNN kernel cache (read at the first kernel)


@pytest.mark.slow
def test_split_threads_keeps_a_onednn_cache_capacity_the_environment_sets():
    code = "before = pools(); after = common.split_threads()"
    result = subprocess.run([sys.executable, "-c", THREADS % code], capture_output=True, text=True, cwd=REPO,
                            timeout=300, env={**os.environ, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "512"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])[2] == "512"


def test_max_minutes_stops_training_and_the_clock_leaves_out_the_first_step():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((40, 3), "float32"), np.zeros((40, 1), "float32")
    clock = train_bilm._training_clock(max_minutes=0, words_per_step=10)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[clock])
    assert (clock.total_steps, clock.steps) == (20, 19)  # 10 batches x 2 epochs; the first is not timed
    assert clock.words_per_s() == pytest.approx(19 * 10 / clock.seconds)
    assert [row["words"] for row in clock.curve] == [100, 200]
    stopper = train_bilm._training_clock(max_minutes=1e-9, words_per_step=10)
    history = model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[stopper])
    assert stopper.total_steps == 1 and len(history.epoch) == 1  # out of time after the first step
