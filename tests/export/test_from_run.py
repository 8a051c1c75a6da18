"""`seqkeras export savedmodel RUN` / `export tflite RUN`: everything read from the run's model.keras.

Each family's export is loaded in a fresh process (only tensorflow + tensorflow_text imported) and its
raw-text signature must give the loaded Keras model's outputs; TFLite matches in float32 and an int8
char LM calibrates on character ids.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from export import verify
from export.from_run import calibration_examples, load_exportable
from pipelines import common
from pipelines.cli import COMMANDS, build_parser

pytestmark = pytest.mark.slow

EXPORT_COMMANDS = [command for command in COMMANDS if command[0][0] == "export"]


def _cli(argv):
    args = build_parser(EXPORT_COMMANDS).parse_args(argv)
    return args._run(args)


def test_savedmodel_from_each_run_matches_keras_in_a_fresh_process(served_in_a_fresh_process, runs, tagger_bundle,
                                                                   classifier_bundle, char_lm_bundle):
    from seqkeras.models.char_lm import CharScorer

    tagger_texts = tagger_bundle.texts[:4]
    classifier_texts = classifier_bundle.texts[:4]
    lm_texts = char_lm_bundle.texts[:3]
    # each run's text signature, called in a process that imports only TF + TF Text (conftest.py)
    fresh, info = served_in_a_fresh_process
    outputs = [fresh["tagger"], fresh["classifier"], fresh["charlm"], fresh["charlm_legacy"]]
    assert info["modules"] == []  # the serving host needs none of our code

    tagger = common.load_model(runs["tagger"] / "model.keras")  # the run's own self-contained model
    expected = tf.nn.softmax(tagger(tf.constant(tagger_texts)), axis=-1).numpy()  # (B, T, C)
    mask = tagger.features(tagger_texts)["padding_mask"].numpy()
    width = expected.shape[1]
    np.testing.assert_allclose(outputs[0]["tag_probabilities"][:, :width], expected * mask[..., None], atol=1e-5)
    assert [t.decode() for t in outputs[0]["tags"][0, : mask[0].sum()]] == [
        tagger.labels[i] for i in expected[0, : mask[0].sum()].argmax(-1)]

    classifier = common.load_model(runs["classifier"] / "model.keras")
    expected = tf.nn.softmax(classifier(tf.constant(classifier_texts)), axis=-1).numpy()
    np.testing.assert_allclose(outputs[1]["probabilities"], expected, atol=1e-5)
    assert [label.decode() for label in outputs[1]["label"]] == [classifier.labels[i] for i in expected.argmax(-1)]

    reference = CharScorer(char_lm_bundle.model, char_lm_bundle.vocabulary).score(lm_texts)
    for lm_outputs in outputs[2:]:  # the TextTask run and the older model.keras + vocabulary.txt run
        np.testing.assert_allclose(lm_outputs["log_prob_nats"], reference["log_prob_nats"], rtol=1e-5, atol=1e-4)


def test_tflite_from_runs_float32_parity_and_int8_char_lm_calibrates_on_characters(runs, tmp_path, classifier_bundle,
                                                                                  char_lm_bundle):
    from export.tflite import TFLiteRunner

    out = tmp_path / "classifier.tflite"
    assert _cli(["export", "tflite", str(runs["classifier"]), "--out", str(out)]) == 0
    classifier = common.load_model(runs["classifier"] / "model.keras")
    runner = TFLiteRunner(out)
    for text in classifier_bundle.texts[:4]:
        ids = classifier.features([text])["token_ids"].numpy()
        expected = classifier({"token_ids": ids, "padding_mask": np.ones_like(ids, bool)}).numpy()
        assert verify.max_abs_diff(expected, runner(ids)) < 1e-5

    representative = tmp_path / "lee.txt"
    representative.write_text("\n".join(char_lm_bundle.texts), encoding="utf-8")
    out = tmp_path / "charlm.tflite"
    assert _cli(["export", "tflite", str(runs["charlm"]), "--out", str(out), "--quantization", "int8",
                 "--representative-file", str(representative)]) == 0
    metadata = json.loads(out.with_suffix(".json").read_text())
    calibration = metadata["calibration"]
    assert calibration["examples"] == len(char_lm_bundle.texts)
    assert calibration["tokens"] == sum(len(text) for text in char_lm_bundle.texts)  # characters, not words
    assert calibration["oov_fraction"] < 0.1  # character ids, not words looked up among characters
    # What the old default (a whitespace split) would have fed the same vocabulary: mostly <oov>.
    exportable = load_exportable(runs["charlm"])
    exportable.arguments = {**exportable.arguments, "tokenizer": "whitespace"}
    exportable.family = "classifier"
    _, word_stats = calibration_examples(exportable, char_lm_bundle.texts)
    assert word_stats["oov_fraction"] > 0.5
    ids = load_exportable(runs["charlm"]).model.features([char_lm_bundle.texts[0]])["token_ids"].numpy()
    assert TFLiteRunner(out)(ids).shape == (1, ids.shape[1], char_lm_bundle.vocabulary.size)


def test_unsupported_and_non_self_contained_runs_are_one_line_errors(tmp_path, classifier_bundle):
    run = tmp_path / "w2v"
    run.mkdir()
    (run / "config.json").write_text('{"family": "word2vec"}')
    with pytest.raises(common.UserError, match="model file not found"):  # tflite: export/task_tflite.py
        _cli(["export", "tflite", str(run), "--out", str(tmp_path / "w2v.tflite")])
    with pytest.raises(common.UserError, match="model file not found"):  # savedmodel: export/task_archives.py
        _cli(["export", "savedmodel", str(run), "--base-dir", str(tmp_path / "serving")])
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text('{"family": "classifier"}')
    classifier_bundle.model.save(bare / "model.keras")  # a token-id network without its preprocessing
    with pytest.raises(common.UserError, match="not a self-contained TextTask"):
        _cli(["export", "tflite", str(bare), "--out", str(tmp_path / "x.tflite")])
