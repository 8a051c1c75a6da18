"""`seqkeras export savedmodel RUN` of biLM, seq2seq and word2vec runs (export/task_archives.py).

Each family: a tiny run trained through its pipeline's `main` on real data, exported through the
CLI, loaded in a fresh process (only TF and TF Text imported) and called on raw strings; the outputs
equal `seqkeras embed` / `seqkeras predict` / the run's `KeyedVectors`. One fresh process serves
the three exports.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from export.verify import call_in_fresh_process
from export.warmup import read_warmup_requests
from pipelines import cli, common

SENTENCES = ["The cat sat on the mat .", "A much longer sentence with words the model never saw , zyzzyva .", ""]
SOURCES = ["12+7", "3+45", "9+9"]
WORDS = ["the", "The", "government", "zyzzyva-unknown", ""]


def _cli(argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(arg) for arg in argv])
    assert exit_info.value.code == 0, argv


@pytest.fixture(scope="module")
def exported(task_runs):
    root = task_runs["bilm"].parent  # the runs' own folder: serving/ and the reference outputs go beside them
    versions = {}
    for family, run_dir in task_runs.items():
        warmup = []
        if family == "word2vec":  # warm-up records on the default signature
            (root / "warmup.txt").write_text("the\ngovernment\nzyzzyva\nnews\nthe\n", encoding="utf-8")
            warmup = ["--warmup-file", root / "warmup.txt"]
        _cli(["export", "savedmodel", run_dir, "--base-dir", root / "serving", "--version", "1", *warmup])
        versions[family] = root / "serving" / family / "1"
    calls = [
        (versions["bilm"], "embed_text", {"text": np.array(SENTENCES, dtype=object)}),
        (versions["seq2seq"], "generate_text", {"text": np.array(SOURCES, dtype=object)}),
        (versions["word2vec"], "vectors", {"words": np.array(WORDS, dtype=object)}),
        (versions["word2vec"], "request_limits", {}),
    ]
    outputs, info = call_in_fresh_process(versions["bilm"], calls)
    assert info["modules"] == []  # the exports need none of the project's code
    return root, versions, dict(zip(("bilm", "seq2seq", "word2vec", "limits"), outputs)), info


@pytest.mark.slow
def test_bilm_embed_text_equals_seqkeras_embed(exported):
    root, versions, outputs, info = exported
    assert {"serving_default", "embed_text", "request_limits"} <= set(info["signatures"][str(versions["bilm"])])
    _cli(["embed", root / "bilm", *sum((["--text", text] for text in SENTENCES), []), "--out", root / "bilm.npz"])
    reference = np.load(root / "bilm.npz")
    served = outputs["bilm"]
    layers, mask = served["layers"], served["padding_mask"]
    assert layers.shape[:2] == (3, reference["layers"].shape[0]) and layers.shape[-1] == reference["layers"].shape[-1]
    splits = reference["row_splits"]
    assert served["num_tokens"].tolist() == np.diff(splits).tolist() == [7, 13, 0]
    for row in range(len(SENTENCES)):
        count = int(served["num_tokens"][row])
        assert mask[row].sum() == count and mask[row, :count].all()
        assert [t.decode() for t in served["tokens"][row, :count]] == list(reference["tokens"][splits[row]: splits[row + 1]])
        np.testing.assert_allclose(layers[row, :, :count], reference["layers"][:, splits[row]: splits[row + 1]],
                                   atol=1e-5)
        assert not layers[row, :, count:].any()  # padding: zeros
    assert not served["truncated"].any()


@pytest.mark.slow
def test_seq2seq_generate_text_equals_seqkeras_predict(exported):
    root, versions, outputs, _ = exported
    out = root / "predict.jsonl"
    _cli(["predict", root / "seq2seq", *sum((["--text", text] for text in SOURCES), []), "--out", out])
    predicted = [json.loads(line)["target"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert [value.decode("utf-8") for value in outputs["seq2seq"]["target"]] == predicted
    task = common.load_model(root / "seq2seq" / "model.keras")
    assert predicted == task.generate(SOURCES)  # greedy, as the Python API


@pytest.mark.slow
def test_word2vec_vectors_equal_the_runs_keyed_vectors(exported):
    from seqkeras.models.word2vec import load_keyed_vectors

    root, _, outputs, _ = exported
    vectors = load_keyed_vectors(root / "word2vec")
    served = outputs["word2vec"]
    assert served["vectors"].shape == (len(WORDS), vectors.vector_size)
    # the run lower-cases: "The" is "the"; unknown and empty words give zeros and known=False
    assert served["known"].tolist() == [True, True, True, False, False]
    for row, word in enumerate(WORDS[:3]):
        np.testing.assert_allclose(served["vectors"][row], vectors[word.lower()], atol=1e-6)
    assert not served["vectors"][3:].any()
    assert int(outputs["limits"]["max_batch_size"]) == 128
    requests = read_warmup_requests(root / "serving" / "word2vec" / "1")
    assert [(r.model_spec.signature_name, len(r.inputs["words"].string_val)) for r in requests] == [
        ("serving_default", 4), ("serving_default", 1)]
    assert json.loads((root / "serving" / "word2vec" / "1" / "assets.extra" / "request_limits.json").read_text())[
        "max_batch_size"] == 128


@pytest.mark.slow
@pytest.mark.parametrize("family,signature", [("bilm", "embed_text"), ("seq2seq", "generate_text"),
                                              ("word2vec", "vectors")])
def test_an_empty_batch_is_refused(exported, family, signature):
    _, versions, _, _ = exported
    function = tf.saved_model.load(str(versions[family])).signatures[signature]
    name = "words" if family == "word2vec" else "text"
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"must hold 1 to 128 rows \(max_batch_size\)"):
        function(**{name: tf.constant([], tf.string)})


@pytest.mark.slow
def test_max_length_does_not_apply(exported, capsys):
    root, _, _, _ = exported
    for argv, message in (
        (["export", "savedmodel", root / "word2vec", "--base-dir", root / "serving", "--max-length", "5"],
         "--max-length does not apply to word2vec runs"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([str(arg) for arg in argv])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
