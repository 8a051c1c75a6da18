"""`seqkeras train seq2seq`, `evaluate` and `predict` on a seq2seq run: config wiring, run dir, CLI errors."""

import dataclasses
import json
import pathlib
import subprocess
import sys

import keras
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pipelines import common, train_seq2seq
from pipelines import cli
from seqkeras.data.addition import addition_problems
from seqkeras.data.corpora import read_conllu

REPO = pathlib.Path(__file__).resolve().parents[2]
EWT_DEV = REPO.parent / "shared" / "data" / "ud-english-ewt" / "en_ewt-ud-dev.conllu.gz"

# Every TrainConfig field with a non-default value (pairs and run_dir set per test; valid_fraction
# applies to TSV pairs and is checked on its own).
TINY = dict(
    pairs=None, num_problems=300, heldout_problems=40, max_digits=2, valid_fraction=0.25, split_seed=3,
    max_target_length=6, embedding_dim=5, hidden_dim=8, num_layers=2, pooling="mean", conditioning="concat",
    cell="elman", dropout=0.1, batching="sorted", batch_size=16, token_budget=200, num_buckets=3, epochs=2,
    steps_per_epoch=4, learning_rate=0.01, clipnorm=0.5, seed=5, num_samples=3, run_dir=None, verbose=0,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("seq2seq") / "run"
    config = train_seq2seq.TrainConfig(**{**TINY, "pairs": "addition", "run_dir": str(run_dir)})
    return config, train_seq2seq.main(config)


def test_the_table_names_every_field():
    assert set(TINY) == {field.name for field in dataclasses.fields(train_seq2seq.TrainConfig)}
    defaults = train_seq2seq.TrainConfig()
    assert all(getattr(defaults, name) != value for name, value in TINY.items() if value is not None)


@pytest.mark.slow
def test_every_config_field_reaches_data_model_and_optimizer(trained, capsys):
    config, results = trained
    # data: the generated problems, held-out ones never in training
    train = addition_problems(300, 2, seed=3)
    assert results["pairs"]["train"] == train
    assert results["pairs"]["valid"] == addition_problems(40, 2, seed=4, exclude=train[0])
    task = results["task"]
    assert task.max_target_length == 6
    assert set(task.source_preprocessor.tokens[4:]) == set("".join(train[0]))
    assert set(task.target_preprocessor.tokens[4:]) == set("".join(train[1]))
    # batching: sorted, batch_size 16; steps_per_epoch x epochs steps
    info = results["batching_info"]
    assert info.strategy == "sorted" and info.bucket_batch_sizes == [16]
    inputs, targets = next(iter(results["train_data"]))
    assert inputs["encoder_token_ids"].shape[0] <= 16 and targets.shape == inputs["decoder_token_ids"].shape
    # model
    network = results["network"]
    assert network.get_layer("encoder_embedding").output_dim == 5
    assert network.get_layer("encoder_pooling").mode == "mean"
    decoder = network.get_layer("decoder")
    assert (decoder.hidden_dim, decoder.num_layers, decoder.embedding_dim, decoder.conditioning, decoder.cell,
            decoder.dropout) == (8, 2, 5, "concat", "elman", 0.1)
    # optimizer
    optimizer = network.optimizer
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.01)
    assert optimizer.global_clipnorm == 0.5
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 2 * 4
    # samples: 3 lines in TensorBoard after each epoch, held-out exact match in the history
    events = EventAccumulator(str(pathlib.Path(config.run_dir, "tb", "samples")), size_guidance={"tensors": 0})
    events.Reload()
    written = events.Tensors("samples")
    assert [event.step for event in written] == [0, 1]
    assert len(written[-1].tensor_proto.string_val[0].decode().splitlines()) == 3
    # output
    run_dir = pathlib.Path(config.run_dir)
    for name in ("config.json", "model.keras", "metrics.json", "training_curves.png", "ckpt/best.keras"):
        assert (run_dir / name).exists(), name
    assert json.loads((run_dir / "config.json").read_text()) == json.loads(
        json.dumps(common.config_dict(config, "seq2seq")))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["history"]["val_exact_match"]) == 2 and metrics["heldout_pairs"] == 40
    assert metrics["tokens_per_s"] > 0 and 0 <= metrics["padding_fraction"] < 1
    assert capsys.readouterr().out == ""  # verbose=0


def test_tsv_pairs_split_and_token_budget_batches(tmp_path):
    # real pairs: EWT dev words -> their UPOS tags, one word per line
    if not EWT_DEV.exists():
        pytest.skip(f"UD English EWT not found at {EWT_DEV}")
    sentences = read_conllu(EWT_DEV)[:20]
    lines = sorted({f"{word}\t{tag}" for sentence in sentences for word, tag in zip(sentence.words, sentence.upos)})
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    config = train_seq2seq.TrainConfig(pairs=str(path), valid_fraction=0.25, split_seed=1, batching="token_budget",
                                       token_budget=40, num_buckets=3)
    pairs = train_seq2seq.load_pairs(config)
    assert len(pairs["valid"][0]) == round(len(lines) * 0.25)
    assert sorted(f"{s}\t{t}" for part in pairs.values() for s, t in zip(*part)) == lines
    source, target = train_seq2seq.build_preprocessors(*pairs["train"])
    task = train_seq2seq.build_task(config, source, target, 8)
    data, _, info = train_seq2seq.batches(config, train_seq2seq.encode(task, *pairs["train"]), shuffle=False)
    assert info.strategy == "token_budget" and len(info.boundaries) <= 2
    rows = 0
    for inputs, targets in data:
        batch, width = inputs["encoder_token_ids"].shape
        assert batch * width <= 40
        # teacher forcing: decoder inputs start with BOS, targets end with EOS, the same characters between
        first = inputs["decoder_token_ids"].numpy()
        assert (first[:, 0] == 2).all()
        rows += batch
    assert rows == len(pairs["train"][0])


@pytest.mark.slow
def test_evaluate_predict_and_the_model_file_agree(trained, tmp_path, capsys):
    config, results = trained
    sources, targets = results["pairs"]["valid"]
    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"{s}\t{t}\n" for s, t in zip(sources[:10], targets[:10])), encoding="utf-8")
    task = keras.saving.load_model(pathlib.Path(config.run_dir, "model.keras"))  # alone: vocabularies inside
    greedy = task.generate(sources[:10])
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate", config.run_dir, "--data", str(data)])
    assert exit_info.value.code == 0
    figures = json.loads(pathlib.Path(config.run_dir, "eval-pairs.json").read_text())
    assert figures["pairs"] == 10
    assert figures["exact_match"] == pytest.approx(sum(g == t for g, t in zip(greedy, targets)) / 10)
    capsys.readouterr()
    # predict: greedy (the in-graph raw-string call) and seeded sampling
    with pytest.raises(SystemExit):
        cli.main(["predict", config.run_dir, "--text", sources[0], "--text", sources[1]])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"source": s, "target": g} for s, g in zip(sources[:2], greedy[:2])]
    ids = task(tf.constant(sources[:2]))
    assert [text.decode() for text in task.detokenize(ids).numpy()] == greedy[:2]
    with pytest.raises(SystemExit):
        cli.main(["predict", config.run_dir, "--text", sources[0], "--decoding", "sample", "--temperature", "2.0",
                  "--seed", "7", "--format", "text"])
    sampled = capsys.readouterr().out.splitlines()
    assert sampled == task.generate(sources[:1], strategy="sample", temperature=2.0, seed=7)
    # the held-out default equals metrics.json
    with pytest.raises(SystemExit):
        cli.main(["evaluate", config.run_dir])
    heldout = json.loads(pathlib.Path(config.run_dir, "eval-heldout.json").read_text())
    metrics = json.loads(pathlib.Path(config.run_dir, "metrics.json").read_text())
    assert heldout["pairs"] == 40 and heldout["exact_match"] == pytest.approx(metrics["heldout_exact_match"])


@pytest.mark.slow
def test_an_existing_run_dir_is_refused(trained):
    config, _ = trained
    with pytest.raises(common.UserError, match="already exists"):
        train_seq2seq.main(config)


@pytest.mark.parametrize("args, message", [
    (["--pairs", "no_such.tsv"], "--pairs"),
    (["--pairs", "BAD"], "line 2"),
    (["--pooling", "first"], "pooling='first'"),
    (["--hidden-dim", "-1"], "hidden_dim=-1"),
    (["--num-problems", "20000", "--max-digits", "1", "--heldout-problems", "5"], "--num-problems"),
])
def test_bad_train_inputs_exit_2_with_one_line(tmp_path, capsys, args, message):
    bad = tmp_path / "bad.tsv"
    bad.write_text("1+1\t2\nno tab here\n", encoding="utf-8")
    args = [str(bad) if value == "BAD" else value for value in args]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "seq2seq", *args, "--run-dir", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqkeras: error") and message in lines[0], lines
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_bad_predict_and_evaluate_inputs(trained, tmp_path, capsys):
    config, _ = trained
    bad = tmp_path / "bad.tsv"
    bad.write_text("1+1\n", encoding="utf-8")
    for args, message in [
        (["predict", config.run_dir], "--text"),
        (["predict", config.run_dir, "--text", "1+1", "--format", "conllu"], "conllu"),
        (["predict", config.run_dir, "--text", "1+1", "--temperature", "0"], "--temperature"),
        (["predict", config.run_dir, "--text", "1+1", "--text", ""], "--text/--file: a source is empty"),
        (["predict", config.run_dir, "--text", "12+7xyz"],
         "--text/--file: source '12+7xyz' has characters the model never saw in training: ['x', 'y', 'z']"),
        (["evaluate", config.run_dir, "--data", str(bad)], "line 1"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(args)
        lines = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2 and len(lines) == 1 and message in lines[0], (args, lines)
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "predict", config.run_dir, "--file",
                             str(tmp_path / "missing.txt")], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("seqkeras:")] == [
        f"seqkeras: error: --file: file not found. Received: {tmp_path / 'missing.txt'}"]
