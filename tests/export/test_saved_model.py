"""SavedModel export: layout, signatures, parity with Keras, bad input, versioning, portability."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  the raw-string signatures use its ops

from export import verify
from export.saved_model import export_saved_model
from export.versioning import existing_versions, next_version, write_version_atomically
from seqkeras.data.token_file import read_token_file
from export.warmup import read_warmup_requests, request_inputs

pytestmark = pytest.mark.slow


@pytest.fixture
def signatures(loaded):
    return {task: model.signatures for task, model in loaded.items()}


def keras_tag_probabilities(bundle, word_lists):
    """Per-sentence softmax probabilities from the Keras tagger (the parity reference)."""
    from seqkeras.models.common import TextTask

    outputs = TextTask(bundle.lookup, bundle.model).predict_texts([" ".join(words) for words in word_lists])
    return [tf.nn.softmax(output, axis=-1).numpy() for output in outputs]


def test_layout_assets_and_named_signatures(exports, loaded, tagger_bundle):
    base, paths = exports
    assert paths["tagger"] == base / "tagger" / "1"
    names = sorted(p.name for p in paths["tagger"].iterdir())
    assert {"saved_model.pb", "variables", "assets", "assets.extra"} <= set(names)
    assert read_token_file(paths["tagger"] / "assets" / "labels.txt") == tagger_bundle.labels
    assert read_token_file(paths["tagger"] / "assets" / "vocabulary.txt") == tagger_bundle.lookup.vocabulary.tokens
    assert read_token_file(paths["tagger"] / "assets" / "char_vocabulary.txt") == tagger_bundle.lookup.char_vocabulary.tokens
    assert not [p for p in (base / "tagger").iterdir() if p.name.startswith(".")]  # no temp dirs left
    expected = {
        "tagger": {"tag_text", "tag_token_ids", "serving_default", "request_limits"},
        "classifier": {"classify_text", "classify_token_ids", "serving_default", "request_limits"},
        "char_lm": {"score_text", "score_token_ids", "generate", "serving_default", "request_limits"},
    }
    for task, model in loaded.items():
        assert set(model.signatures) == expected[task]
        for signature in model.signatures.values():
            names = set(signature.structured_input_signature[1]) | set(signature.structured_outputs)
            assert not {"inputs", "output_0", "outputs"} & names


def test_tagger_text_signature_matches_keras(loaded, tagger_bundle):
    loaded = loaded["tagger"]
    texts = tagger_bundle.texts[:6]
    words = [text.split() for text in texts]
    out = loaded.signatures["tag_text"](text=tf.constant(texts))
    reference = keras_tag_probabilities(tagger_bundle, [w[:24] for w in words])
    for row, probabilities in enumerate(reference):
        n = len(probabilities)
        assert out["num_tokens"][row].numpy() == n
        np.testing.assert_allclose(out["tag_probabilities"][row, :n].numpy(), probabilities, atol=1e-5)
        tags = [tagger_bundle.labels[i] for i in probabilities.argmax(-1)]
        assert [t.decode() for t in out["tags"][row, :n].numpy()] == tags
        assert [t.decode() for t in out["tokens"][row, :n].numpy()] == words[row][:24]
        assert set(out["tags"][row, n:].numpy()) <= {b""}


def test_classifier_token_id_signature_matches_keras(loaded, classifier_bundle):
    loaded = loaded["classifier"]
    batch = classifier_bundle.lookup(tf.constant(classifier_bundle.texts[:8]))
    out = loaded.signatures["classify_token_ids"](**batch)
    expected = tf.nn.softmax(classifier_bundle.model(batch), axis=-1).numpy()
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    labels = [classifier_bundle.labels[i] for i in expected.argmax(-1)]
    assert [label.decode() for label in out["label"].numpy()] == labels


def test_char_lm_score_and_generate_match_the_python_api(loaded, char_lm_bundle):
    from seqkeras.models.char_lm import CharGenerator, CharScorer

    loaded = loaded["char_lm"]
    texts = char_lm_bundle.texts[:3] + [""]
    out = loaded.signatures["score_text"](text=tf.constant(texts))
    expected = CharScorer(char_lm_bundle.model, char_lm_bundle.vocabulary).score(texts)
    np.testing.assert_allclose(out["log_prob_nats"].numpy(), expected["log_prob_nats"], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(out["num_characters"].numpy(), expected["num_characters"])

    arguments = dict(num_chars=tf.constant(20), temperature=tf.constant(0.8), top_k=tf.constant(0),
                     top_p=tf.constant(1.0), seed=tf.constant(7))
    first = loaded.signatures["generate"](prompt=tf.constant(["The ", "A"]), **arguments)
    again = loaded.signatures["generate"](prompt=tf.constant(["The ", "A"]), **arguments)
    np.testing.assert_array_equal(first["text"].numpy(), again["text"].numpy())  # seeded
    generator = CharGenerator(char_lm_bundle.model, char_lm_bundle.vocabulary)
    reference = generator.generate(["The ", "A"], max_length=20, temperature=0.8, seed=7)
    assert [t.decode() for t in first["text"].numpy()] == reference
    # refused in the graph with the value (an infinite temperature would draw the masked special ids)
    for name, value, message in (("temperature", float("inf"), "temperature=inf"),
                                 ("temperature", float("nan"), "temperature=nan"),
                                 ("temperature", 0.0, "temperature=0"), ("top_p", 1.5, "top_p=1.5"),
                                 ("top_k", -1, "top_k=-1")):
        bad = {**arguments, name: tf.constant(value, dtype=arguments[name].dtype)}
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            loaded.signatures["generate"](prompt=tf.constant(["The "]), **bad)


def test_bad_serving_input_is_documented_behaviour(signatures):
    tagger = signatures["tagger"]["tag_text"]
    long_text = " ".join(["word"] * 40)
    out = tagger(text=tf.constant(["", "   ", "one two", long_text]))
    np.testing.assert_array_equal(out["num_tokens"].numpy(), [0, 0, 2, 24])  # truncated to max_length
    np.testing.assert_array_equal(out["truncated"].numpy(), [False, False, False, True])
    assert out["tags"].shape == (4, 24)
    assert (out["tag_ids"].numpy()[:2] == -1).all()

    classifier = signatures["classifier"]["classify_text"]
    out = classifier(text=tf.constant(["", "This is fine ."]))
    assert out["label"].numpy()[0] == b"" and out["label_id"].numpy()[0] == -1
    assert out["probabilities"].numpy()[0].sum() == 0.0
    np.testing.assert_allclose(out["probabilities"].numpy()[1].sum(), 1.0, atol=1e-5)
    all_empty = classifier(text=tf.constant(["", ""]))
    assert list(all_empty["label_id"].numpy()) == [-1, -1]

    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError), match="string"):
        classifier(text=tf.constant([1, 2]))  # wrong dtype: refused before the graph runs
    for signature in (tagger, signatures["char_lm"]["score_text"]):  # word and character splits
        with pytest.raises(tf.errors.InvalidArgumentError, match="invalid UTF-8"):
            signature(text=tf.constant([b"fine", b"caf\xe9"]))  # Latin-1, not UTF-8: a clear error


def test_fresh_process_calls_every_signature_without_our_code(exports, signatures, served_in_a_fresh_process,
                                                              tagger_bundle, char_lm_bundle):
    _, paths = exports
    batch = tagger_bundle.lookup(tf.constant(tagger_bundle.texts[:3]))
    # text, token-id and scalar-input signatures, called in one process importing only TF + TF Text
    # (conftest.py `served_in_a_fresh_process`, shared with test_from_run.py)
    fresh, info = served_in_a_fresh_process
    outputs = [fresh["tag_text"], fresh["tag_token_ids"], fresh["score_text"], fresh["generate"]]
    assert info["modules"] == []  # none of our code: only tensorflow + tensorflow_text were imported
    assert "tag_text" in info["signatures"][str(paths["tagger"])]
    expected = tf.nn.softmax(tagger_bundle.model(batch), axis=-1).numpy()
    np.testing.assert_allclose(outputs[1]["tag_probabilities"], expected * batch["padding_mask"].numpy()[..., None],
                               atol=1e-5)
    assert outputs[0]["tags"].shape[0] == 3

    lm_outputs = outputs[2:]
    in_process = signatures["char_lm"]["score_text"](text=tf.constant(char_lm_bundle.texts[:2]))
    np.testing.assert_allclose(lm_outputs[0]["log_prob_nats"], in_process["log_prob_nats"].numpy(), rtol=1e-6)
    assert lm_outputs[1]["num_characters"][0] <= 5


def test_saved_model_cli_show_and_run(exports, signatures, classifier_bundle):
    path = exports[1]["classifier"]
    batch = classifier_bundle.lookup(tf.constant(classifier_bundle.texts[:4]))
    inputs = {key: value.numpy() for key, value in batch.items()}
    shown, (outputs,) = verify.saved_model_cli_show_and_run(path, [("classify_token_ids", inputs)])
    for name in ("classify_text", "classify_token_ids", "serving_default", "inputs['text']", "outputs['label']"):
        assert name in shown
    direct = signatures["classifier"]["classify_token_ids"](**batch)
    np.testing.assert_allclose(outputs["probabilities"], direct["probabilities"].numpy(), atol=1e-6)


def test_serving_graph_has_no_cudnn_only_ops(loaded):
    for model in loaded.values():
        ops = verify.graph_op_types(model)
        assert "While" in ops or "StatelessWhile" in ops  # the walk reaches function bodies
        assert not ops & verify.CUDNN_ONLY_OPS
        assert verify.assert_portable_ops(model)
    with pytest.raises(AssertionError, match="CudnnRNNV3"):
        original = verify.graph_op_types
        try:
            verify.graph_op_types = lambda path: {"CudnnRNNV3", "MatMul"}
            verify.assert_portable_ops("somewhere")
        finally:
            verify.graph_op_types = original


def test_warmup_records_replay_against_the_signatures(exports, loaded):
    for task, path in exports[1].items():
        requests = read_warmup_requests(path)
        assert requests
        model = loaded[task]
        for request in requests:
            assert request.model_spec.name == task
            signature = model.signatures[request.model_spec.signature_name]
            inputs = request_inputs(request)
            outputs = signature(**{k: tf.constant(v) for k, v in inputs.items()})
            assert outputs


def _pooled_classifier(vocabulary_size, num_classes):
    """A recurrence-free token-id classifier: cheap to export, enough for the directory logic."""
    import keras

    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
    x = keras.layers.Embedding(vocabulary_size, 4)(token_ids)
    x = keras.layers.GlobalAveragePooling1D()(x, mask=padding_mask)
    return keras.Model({"token_ids": token_ids, "padding_mask": padding_mask}, keras.layers.Dense(num_classes)(x))


def test_versions_are_atomic_and_not_overwritten(tmp_path, classifier_bundle):
    lookup = classifier_bundle.lookup
    model = _pooled_classifier(lookup.vocabulary.size, len(classifier_bundle.labels))
    kwargs = dict(task="classifier", labels=classifier_bundle.labels, max_length=8, vocabulary=lookup.vocabulary)
    first = export_saved_model(model, tmp_path, **kwargs)
    assert first.name == "1" and next_version(tmp_path / "classifier") == 2
    with pytest.raises(FileExistsError, match="already exists"):
        export_saved_model(model, tmp_path, version=1, **kwargs)

    def marker(text):
        return lambda directory: (directory / "marker.txt").write_text(text)

    with pytest.raises(FileExistsError):
        write_version_atomically(tmp_path, "classifier", 1, marker("new"))
    assert write_version_atomically(tmp_path, "classifier", 1, marker("new"), overwrite=True) == first
    assert sorted(p.name for p in first.iterdir()) == ["marker.txt"]  # replaced as a whole

    def half_written(directory):
        (directory / "saved_model.pb").write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_version_atomically(tmp_path, "classifier", 5, half_written)
    assert existing_versions(tmp_path / "classifier") == [1]
    assert not [p for p in (tmp_path / "classifier").iterdir() if p.name.startswith(".")]
    assert write_version_atomically(tmp_path, "classifier", None, marker("x")).name == "2"
    with pytest.raises(ValueError, match="version"):
        write_version_atomically(tmp_path, "classifier", 0, marker("x"))
    # TF Serving reads version folders as int64: nothing past 2**63 - 1 is written or claimed
    with pytest.raises(ValueError, match=r"Received: version=9223372036854775808"):
        write_version_atomically(tmp_path, "classifier", 2**63, marker("x"))
    (tmp_path / "classifier" / str(2**63 - 1)).mkdir()
    with pytest.raises(ValueError, match="the next would pass TF Serving's int64 limit 9223372036854775807"):
        write_version_atomically(tmp_path, "classifier", None, marker("x"))
    assert existing_versions(tmp_path / "classifier") == [1, 2, 2**63 - 1]
    import argparse

    from export.commands_savedmodel import _version
    assert _version(str(2**63 - 1)) == 2**63 - 1
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected a version in \[1, 9223372036854775807\]"):
        _version(str(2**63))


def test_exporter_refuses_bad_requests(tmp_path, tagger_bundle, classifier_bundle):
    lookup = classifier_bundle.lookup
    with pytest.raises(ValueError, match="vocabulary=None"):
        export_saved_model(classifier_bundle.model, tmp_path, task="classifier", vocabulary=None,
                           labels=classifier_bundle.labels)
    with pytest.raises(ValueError, match="labels"):
        export_saved_model(classifier_bundle.model, tmp_path, task="classifier", vocabulary=lookup.vocabulary)
    from seqkeras.models.tagger import build_tagger

    bidirectional = build_tagger(lookup.vocabulary.size, lookup.vocabulary.size, hidden_dim=4, embedding_dim=4)
    with pytest.raises(ValueError, match="not causal"):  # a bidirectional model cannot `generate`
        export_saved_model(bidirectional, tmp_path, task="char_lm", vocabulary=lookup.vocabulary)
    with pytest.raises(ValueError, match="task"):
        export_saved_model(classifier_bundle.model, tmp_path, task="translator", vocabulary=lookup.vocabulary)
    with pytest.raises(ValueError, match="char_ids"):  # the tagger needs its character vocabulary
        export_saved_model(tagger_bundle.model, tmp_path, task="tagger", labels=tagger_bundle.labels,
                           vocabulary=tagger_bundle.lookup.vocabulary, lowercase=True)
    with pytest.raises(ValueError, match="tokenizer=.*bpe"):  # the serving split must be a TokenLookup split
        export_saved_model(classifier_bundle.model, tmp_path, task="classifier", vocabulary=lookup.vocabulary,
                           labels=classifier_bundle.labels, tokenizer="bpe")
    with pytest.raises(ValueError, match="max_length=1"):  # the char LM's BOS leaves no room for a character
        export_saved_model(classifier_bundle.model, tmp_path, task="char_lm", vocabulary=lookup.vocabulary, max_length=1)
    assert not (tmp_path / "tagger").exists() or existing_versions(tmp_path / "tagger") == []
