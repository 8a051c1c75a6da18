"""`seqkeras export tflite RUN` of word2vec, biLM and seq2seq runs (export/task_tflite.py).

The tiny runs of conftest's `task_runs` (trained through their pipelines) are exported through the
CLI. One fresh process that imports numpy and LiteRT only (no TensorFlow, Keras or seqkeras) runs
every `.tflite` on real inputs from each run's data (Lee corpus words and sentences, held-out
addition problems); the outputs equal the run's model.keras: the word2vec run's `KeyedVectors`,
`ElmoEmbedder` layers (what `seqkeras embed` writes), `Seq2SeqTask.generate` and the teacher-forced
logits of the network.
"""

import json

import numpy as np
import pytest

from export import verify
from export.task_tflite import Seq2SeqStepRunner, read_tokens, word_ids
from pipelines import cli, common

pytestmark = pytest.mark.slow


def _cli(argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(arg) for arg in argv])
    assert exit_info.value.code == 0, argv


def _lee_texts(start, stop):
    from seqkeras.data.corpora import lee_documents, split_sentences

    return [sentence for document in lee_documents()[start:stop] for sentence in split_sentences(document)]


@pytest.fixture(scope="module")
def lstm_seq2seq_run(task_runs):
    """A second seq2seq run: 2-layer LSTM, `initial_state` conditioning, `last` pooling (the trained
    run is Elman + `concat` + `mean`), on the trained run's vocabularies."""
    import keras

    from seqkeras.models.seq2seq import build_seq2seq
    from seqkeras.models.seq2seq.seq2seq_task import Seq2SeqTask

    trained = common.load_model(task_runs["seq2seq"] / "model.keras")
    source, target = trained.source_preprocessor, trained.target_preprocessor
    keras.utils.set_random_seed(3)
    network = build_seq2seq(source.vocabulary_size, target.vocabulary_size, hidden_dim=6, num_layers=2,
                            embedding_dim=4, pooling="last", conditioning="initial_state", cell="lstm")
    run = task_runs["seq2seq"].parent / "seq2seq_lstm"
    run.mkdir()
    (run / "config.json").write_text('{"family": "seq2seq"}')
    common.save_model(Seq2SeqTask(source, target, network, max_target_length=6), run / "model.keras")
    return run


@pytest.fixture(scope="module")
def tflite_exports(task_runs, lstm_seq2seq_run):
    root = task_runs["bilm"].parent / "tflite"
    representative = root / "lee.txt"
    root.mkdir(exist_ok=True)
    representative.write_text("\n".join(_lee_texts(30, 36)), encoding="utf-8")  # documents the runs never read
    int8 = ["--quantization", "int8", "--representative-file", representative]
    exports = {
        "word2vec": (task_runs["word2vec"], []),
        "word2vec_int8": (task_runs["word2vec"], int8),
        "bilm": (task_runs["bilm"], []),
        "bilm_int8": (task_runs["bilm"], int8),
        "seq2seq": (task_runs["seq2seq"], []),
        "seq2seq_lstm_float16": (lstm_seq2seq_run, ["--quantization", "float16"]),
    }
    for name, (run, options) in exports.items():
        _cli(["export", "tflite", run, "--out", root / f"{name}.tflite", *options])
    return {name: root / f"{name}.tflite" for name in exports}


@pytest.fixture(scope="module")
def fresh(task_runs, lstm_seq2seq_run, tflite_exports):
    """Every export run once in a process without TensorFlow; the inputs and references come from here."""
    from seqkeras.data.addition import addition_problems
    from seqkeras.models.elmo import ElmoEmbedder
    from seqkeras.models.word2vec import load_keyed_vectors
    from seqkeras.models.word2vec.training import tokenize_documents
    from export.task_tflite import bilm_examples

    # word2vec: every word of two Lee documents beyond the run's 30 (known and unknown words).
    words = [word for document in tokenize_documents(_lee_texts(30, 32)) for word in document]
    vocabulary = read_tokens(tflite_exports["word2vec"].with_suffix(".vocabulary.txt"))
    ids = word_ids(words, vocabulary)
    # bilm: Lee sentences, each its own call (batch 1, every position a word).
    bilm_task = common.load_model(task_runs["bilm"] / "model.keras")
    sentences = _lee_texts(40, 41)[:4]
    examples, _ = bilm_examples(bilm_task.preprocessor, sentences)
    # seq2seq: held-out addition problems, and the network's teacher-forced logits on their answers.
    sources, answers = addition_problems(6, max_digits=2, seed=99)
    calls = [(tflite_exports[name], "serving_default", {"token_ids": ids[None]})
             for name in ("word2vec", "word2vec_int8")]
    calls += [(tflite_exports[name], "serving_default", {"char_ids": example["char_ids"][None]})
              for name in ("bilm", "bilm_int8") for example in examples]
    references = {"vectors": load_keyed_vectors(task_runs["word2vec"]), "words": words, "ids": ids,
                  "bilm": [], "seq2seq": {}}
    embedder = ElmoEmbedder.from_bilm(bilm_task.network)
    for example in examples:
        length = example["char_ids"].shape[0]
        layers = embedder({"char_ids": example["char_ids"][None], "padding_mask": np.ones((1, length), bool)})
        references["bilm"].append(np.stack([np.asarray(layer) for layer in layers], axis=1))  # (1, L + 1, T, 2H)
    for name, run in (("seq2seq", task_runs["seq2seq"]), ("seq2seq_lstm_float16", lstm_seq2seq_run)):
        task = common.load_model(run / "model.keras")
        previous, _ = task.target_sequences(answers)  # [BOS] + answer characters
        previous = [np.asarray(row) for row in previous.to_list()]
        features = task.source_features(sources)
        forced = []
        for row, ids_row in enumerate(previous):
            length = int(features["encoder_padding_mask"][row].numpy().sum())
            logits = task({"encoder_token_ids": features["encoder_token_ids"][row: row + 1, :length],
                           "encoder_padding_mask": features["encoder_padding_mask"][row: row + 1, :length],
                           "decoder_token_ids": ids_row[None],
                           "decoder_padding_mask": np.ones((1, len(ids_row)), bool)})
            forced.append(np.asarray(logits)[0])
        references["seq2seq"][name] = {"generated": task.generate(sources), "forced": forced}
        calls.append((tflite_exports[name], "seq2seq", sources, dict(enumerate(previous))))
    outputs, modules = verify.call_tflite_in_fresh_process(calls)
    assert modules == []  # no tensorflow, keras or project model code in the TFLite host
    count = len(examples)
    return {"word2vec": outputs[0], "word2vec_int8": outputs[1], "bilm": outputs[2: 2 + count],
            "bilm_int8": outputs[2 + count: 2 + 2 * count], "seq2seq": outputs[-2],
            "seq2seq_lstm_float16": outputs[-1]}, references


def test_word2vec_tflite_gives_the_runs_keyed_vectors(fresh, tflite_exports):
    outputs, references = fresh
    vectors, words, ids = references["vectors"], references["words"], references["ids"]
    known = ids != 1
    assert known.sum() > 20 and (~known).sum() > 5  # real text: words in the vocabulary and outside it
    served = outputs["word2vec"]["vectors"][0]  # (T, dim)
    expected = np.stack([vectors[word] if k else np.zeros(vectors.vector_size) for word, k in zip(words, known)])
    np.testing.assert_allclose(served, expected, atol=1e-6)
    int8 = outputs["word2vec_int8"]["vectors"][0]
    scale = np.abs(expected).max()
    assert np.abs(int8 - expected).max() < 0.02 * scale and not int8[~known].any()
    metadata = json.loads(tflite_exports["word2vec_int8"].with_suffix(".json").read_text())
    assert metadata["lowercase"] is True and metadata["calibration"]["examples"] > 10
    assert tflite_exports["word2vec_int8"].stat().st_size < tflite_exports["word2vec"].stat().st_size


def test_bilm_tflite_gives_the_embed_layers_with_fused_lstms(fresh, tflite_exports):
    outputs, references = fresh
    for served, served_int8, expected in zip(outputs["bilm"], outputs["bilm_int8"], references["bilm"]):
        np.testing.assert_allclose(served["layers"], expected, atol=1e-5)
        int8 = served_int8["layers"][0]  # (L + 1, T, 2H)
        cosine = (int8 * expected[0]).sum(-1) / np.linalg.norm(int8, axis=-1) / np.linalg.norm(expected[0], axis=-1)
        assert cosine.min() > 0.99, cosine.min()  # every layer, every word
    metadata = json.loads(tflite_exports["bilm"].with_suffix(".json").read_text())
    assert metadata["fused_lstm"] and "WHILE" not in metadata["ops"]
    assert metadata["input"] == {"name": "char_ids", "dtype": "int32", "shape": [1, None, 7]}
    assert metadata["num_layer_outputs"] == 2 and not [op for op in metadata["ops"] if op.startswith("CUSTOM")]
    assert read_tokens(tflite_exports["bilm"].with_suffix(".char_vocabulary.txt"))[:2] == ["<pad>", "<oov>"]
    int8 = json.loads(tflite_exports["bilm_int8"].with_suffix(".json").read_text())
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in int8["int8_float_ops"] and int8["fused_lstm"]
    assert int8["calibration"]["oov_fraction"] < 0.1  # characters of real text, looked up as in training


def test_seq2seq_tflite_step_model_decodes_as_predict(fresh, tflite_exports):
    outputs, references = fresh
    for name, atol in (("seq2seq", 1e-5), ("seq2seq_lstm_float16", 2e-2)):
        reference = references["seq2seq"][name]
        if name == "seq2seq":  # float32: the same greedy strings
            assert [text for text in outputs[name]["target"]] == reference["generated"]
        for row, expected in enumerate(reference["forced"]):  # every step, fed the real answers
            np.testing.assert_allclose(outputs[name][f"forced_{row}"], expected, atol=atol)
    metadata = json.loads(tflite_exports["seq2seq_lstm_float16"].with_suffix(".json").read_text())
    assert metadata["state_names"] == ["state_0_0", "state_0_1", "state_1_0", "state_1_1"]  # (h, c) per layer
    assert not metadata["step_takes_context"] and metadata["quantization"] == "float16"
    assert json.loads(tflite_exports["seq2seq"].with_suffix(".json").read_text())["step_takes_context"]


def test_seq2seq_runner_generates_in_this_process_too(task_runs, tflite_exports):
    task = common.load_model(task_runs["seq2seq"] / "model.keras")
    runner = Seq2SeqStepRunner(tflite_exports["seq2seq"])
    assert runner.generate(["12+7", "9+9"]) == task.generate(["12+7", "9+9"])
    with pytest.raises(ValueError, match="at least one character"):
        runner.generate([""])


def test_options_that_do_not_apply_are_one_line_errors(task_runs, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("12+7\n3+4\n", encoding="utf-8")
    punctuation = tmp_path / "punctuation.txt"
    punctuation.write_text("+ - .\n!!\n", encoding="utf-8")
    cases = [
        (["export", "tflite", task_runs["seq2seq"], "--out", tmp_path / "a.tflite", "--quantization", "int8",
          "--representative-file", texts], "int8 does not apply to seq2seq runs"),
        (["export", "tflite", task_runs["seq2seq"], "--out", tmp_path / "b.tflite", "--batch-size", "2"],
         "--batch-size does not apply to seq2seq runs"),
        (["export", "tflite", task_runs["word2vec"], "--out", tmp_path / "c.tflite", "--quantization", "int8",
          "--representative-file", punctuation], "holds no text that gives a token"),  # no word at all
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([str(arg) for arg in argv])
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2 and len(err) == 1 and message in err[0], (argv, err)
        assert not list(tmp_path.glob("*.tflite"))
