"""TFLite export: fused LSTM (no WHILE), parity with Keras, quantisation variants, files, errors."""

import json

import keras
import numpy as np
import pytest

from export import verify
from export.tflite import (
    FLOAT_OUTPUT_LAYER_OPS, TFLiteRunner, convert, export_tflite, fusable_inference_model, int8_output_grid,
    remove_lstm_cell_clip,
)
from seqkeras.data.token_file import read_token_file

pytestmark = pytest.mark.slow


def _examples(lookup, texts, max_word_length=16):
    """Batch-1 model inputs per text (the training `TokenLookup`'s); `char_ids` padded to the static TFLite width."""
    import tensorflow as tf

    examples = []
    for text in texts:
        batch = lookup(tf.constant([text]))
        example = {key: value.numpy() for key, value in batch.items()}
        if "char_ids" in example:
            chars = example["char_ids"]
            example["char_ids"] = np.pad(chars, [(0, 0), (0, 0), (0, max_word_length - chars.shape[2])])
        examples.append(example)
    return examples


def _parity(model, runner, examples):
    references, outputs = [], []
    for example in examples:
        references.append(np.asarray(model(example)))
        outputs.append(runner({k: v for k, v in example.items() if k != "padding_mask"}))
    diff = max(verify.max_abs_diff(r, o) for r, o in zip(references, outputs))
    agree = np.mean([verify.argmax_agreement(r, o) for r, o in zip(references, outputs)])
    return diff, agree


def test_tagger_converts_to_fused_lstm_and_matches_keras(tagger_bundle):
    content, info = convert(tagger_bundle.model)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in info["ops"] and "WHILE" not in info["ops"]
    assert info["fused_lstm"] and verify_ops_consistent(content, info)
    examples = _examples(tagger_bundle.lookup, tagger_bundle.texts[:8])
    # Repeat one length twice in a row: the fused LSTM's state must not carry over between calls.
    examples = examples + examples[-1:]
    diff, agree = _parity(tagger_bundle.model, TFLiteRunner(content), examples)
    assert diff < 1e-5 and agree == 1.0


def verify_ops_consistent(content, info):
    from export.tflite import tflite_ops

    return tflite_ops(content) == info["ops"]


def test_char_lm_state_carrying_layers_get_a_fusable_copy(char_lm_bundle):
    model = char_lm_bundle.model
    copy = fusable_inference_model(model)
    assert copy is not model
    ids = np.array([[2, 5, 6, 7, 8, 9]], np.int32)
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids, bool)}
    np.testing.assert_allclose(np.asarray(copy(inputs)), np.asarray(model(inputs)), atol=1e-6)
    content, info = convert(model)
    assert info["fused_lstm"], info["ops"]
    assert verify.max_abs_diff(np.asarray(model(inputs)), TFLiteRunner(content)(ids)) < 1e-5


def test_quantisation_variants_convert_and_parity_catches_wrong_outputs(classifier_bundle):
    model, lookup = classifier_bundle.model, classifier_bundle.lookup
    examples = _examples(lookup, classifier_bundle.texts[:6])
    representative = [{"token_ids": e["token_ids"][0]} for e in _examples(lookup, classifier_bundle.texts[6:20])]
    sizes, contents = {}, {}
    for quantization in ("float32", "dynamic_range", "float16", "int8"):
        content, info = convert(model, quantization=quantization, representative_token_ids=representative)
        assert info["fused_lstm"], (quantization, info["ops"])
        sizes[quantization], contents[quantization] = len(content), content
        diff, _ = _parity(model, TFLiteRunner(content), examples)
        assert diff < (1e-5 if quantization == "float32" else 0.5), (quantization, diff)
    assert sizes["int8"] < sizes["float32"] and sizes["float16"] < sizes["float32"]

    # A runner that forgets to reset the fused LSTM state between calls gives wrong outputs,
    # and the parity check sees it (same length twice in a row).
    runner = TFLiteRunner(contents["float32"])
    runner.interpreter.reset_all_variables = lambda: None
    same_length = [examples[0], examples[0]]
    diff, _ = _parity(model, runner, same_length)
    assert diff > 1e-4


def test_export_tflite_writes_model_vocabulary_and_metadata(tmp_path, classifier_bundle):
    path = tmp_path / "genre.tflite"
    metadata = export_tflite(classifier_bundle.model, path, vocabulary=classifier_bundle.lookup.vocabulary,
                             labels=classifier_bundle.labels)
    assert path.stat().st_size == metadata["model_bytes"]
    assert read_token_file(tmp_path / "genre.vocabulary.txt") == classifier_bundle.lookup.vocabulary.tokens
    assert read_token_file(tmp_path / "genre.labels.txt") == classifier_bundle.labels
    assert json.loads((tmp_path / "genre.json").read_text())["fused_lstm"] is True
    assert metadata["input"] == {"name": "token_ids", "dtype": "int32", "shape": [1, None]}
    assert metadata["output_quantization"] is None  # float32: no int8 output grid
    with pytest.raises(FileExistsError):
        export_tflite(classifier_bundle.model, path, vocabulary=classifier_bundle.lookup.vocabulary)
    with pytest.raises(ValueError, match="vocabulary=None"):
        export_tflite(classifier_bundle.model, tmp_path / "x.tflite", vocabulary=None)
    with pytest.raises(ValueError, match="representative"):
        export_tflite(classifier_bundle.model, tmp_path / "y.tflite", vocabulary=classifier_bundle.lookup.vocabulary,
                      quantization="int8")
    runner = TFLiteRunner(path)
    with pytest.raises(ValueError, match="shape"):
        runner(np.zeros((2, 3), np.int32))  # the batch size is static


def _cell_growing_char_lm():
    """A 2-unit char LM whose cell state climbs to ~25 on token 5 and falls again on token 6."""
    from seqkeras.models.char_lm import CharLanguageModel

    keras.utils.set_random_seed(0)
    model = CharLanguageModel(vocabulary_size=8, embedding_dim=1, hidden_dim=2)
    embedding = np.zeros((8, 1), np.float32)
    embedding[5], embedding[6] = 1.0, -1.0
    kernel = np.zeros((1, 8), np.float32)
    kernel[0, 4:6] = 6.0  # candidate g = tanh(+-6) = +-1
    bias = np.array([6, 6, 8, 8, 0, 0, 0, 0], np.float32)  # input gate open, forget gate closed
    model.embedding.set_weights([embedding])
    model.recurrent_layers[0].set_weights([kernel, np.zeros((2, 8), np.float32), bias])
    ids = np.array([[2] + [5] * 25 + [6] * 14], np.int32)  # c: 0 -> ~25 -> ~11 (-> ~-3 if clipped at 10)
    return model, ids


def test_fused_lstm_keeps_large_cell_states_unclipped(monkeypatch):
    # The converter sets cell_clip=10 on fused LSTMs; Keras does not clip, so `convert` turns it off.
    model, ids = _cell_growing_char_lm()
    reference = np.asarray(model({"token_ids": ids, "padding_mask": np.ones_like(ids, bool)}))
    content, info = convert(model)
    assert info["cell_clip_removed"] == 1 and remove_lstm_cell_clip(content)[1] == 0
    assert verify.max_abs_diff(reference, TFLiteRunner(content)(ids)) < 1e-4

    # Without the fix, the same parity check sees the clipped cell state.
    import export.tflite as tflite_module

    monkeypatch.setattr(tflite_module, "remove_lstm_cell_clip", lambda content: (content, 0))
    clipped, _ = convert(model)
    assert verify.max_abs_diff(reference, TFLiteRunner(clipped)(ids)) > 0.1
    with pytest.raises(ValueError, match="float_ops"):
        convert(model, float_ops=("ADD",))


def test_char_lm_int8_logits_lie_on_the_output_grid_unless_the_output_layer_stays_float(char_lm_bundle):
    from seqkeras.data.corpora import lee_documents
    from seqkeras.models.char_lm.datasets import encode_documents, window_arrays

    model, vocabulary = char_lm_bundle.model, char_lm_bundle.vocabulary
    # Calibrate on the training documents' windows; measure on held-out text.
    windows, _, mask = window_arrays(encode_documents(lee_documents()[:3], vocabulary), 32)
    representative = list(windows[mask.all(axis=1)][:20])
    held_out = [ids for ids, _ in encode_documents(char_lm_bundle.texts, vocabulary)]

    def logit_errors(content):
        runner = TFLiteRunner(content)
        outputs, errors = [], []
        for ids in held_out:
            ids = ids[None]  # (1, T)
            reference = np.asarray(model({"token_ids": ids, "padding_mask": np.ones_like(ids, bool)}))
            outputs.append(runner(ids))
            errors.append(np.abs(outputs[-1] - reference).ravel())
        return np.concatenate([o.ravel() for o in outputs]), np.concatenate(errors)

    int8, info = convert(model, quantization="int8", representative_token_ids=representative)
    assert info["fused_lstm"] and info["int8_float_ops"] == []
    scale, zero_point = int8_output_grid(int8)
    outputs, int8_errors = logit_errors(int8)
    steps = outputs / scale + zero_point
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)  # every logit is scale * (q - zero_point)
    assert steps.min() >= -128 - 1e-3 and steps.max() <= 127 + 1e-3

    float_head, info = convert(model, quantization="int8", representative_token_ids=representative,
                               float_ops=FLOAT_OUTPUT_LAYER_OPS)
    assert info["fused_lstm"] and set(FLOAT_OUTPUT_LAYER_OPS) <= set(info["int8_float_ops"])
    assert int8_output_grid(float_head) is None
    lstm = [t for t in TFLiteRunner(float_head).interpreter.get_tensor_details()
            if t["name"] == "tfl.unidirectional_sequence_lstm"]
    assert lstm and lstm[0]["dtype"] == np.int8  # the recurrence stays int8
    _, float_head_errors = logit_errors(float_head)
    assert float_head_errors.mean() < int8_errors.mean()


def test_float_output_layer_flag_needs_int8():
    import argparse

    from export import commands_tflite

    parser = argparse.ArgumentParser()
    commands_tflite.configure(parser)
    args = parser.parse_args(["runs/none", "--out", "m.tflite", "--float-output-layer"])
    from pipelines.common import UserError

    with pytest.raises(UserError, match="--float-output-layer needs --quantization int8"):
        commands_tflite.run(args)


def test_classifier_with_character_ngram_wide_branch_converts_exactly():
    """The in-graph character n-gram hashing (int64 arithmetic) and tf-idf counting survive TFLite conversion."""
    from seqkeras.models.classifier import build_wide_and_deep_classifier

    keras.utils.set_random_seed(0)
    model = build_wide_and_deep_classifier(30, 5, hidden_dim=8, char_vocabulary_size=20, char_filters=8,
                                           wide_buckets=50, wide_char_buckets=200)
    wide = model.get_layer("wide_ngram_logits")
    rng = np.random.default_rng(0)
    wide.set_weights([rng.normal(size=wide.kernel.shape), rng.uniform(1.0, 4.0, size=wide.idf.shape)])  # non-trivial
    rng = np.random.default_rng(1)
    ids = rng.integers(4, 30, size=(1, 6)).astype("int32")
    chars = rng.integers(1, 20, size=(1, 6, 16)).astype("int32")
    chars[..., 5:] = 0  # words of 5 characters, the rest padding
    expected = np.asarray(model({"token_ids": ids, "padding_mask": np.ones_like(ids, bool), "char_ids": chars}))
    content, info = convert(model)
    assert info["fused_lstm"], info["ops"]
    np.testing.assert_allclose(TFLiteRunner(content)({"token_ids": ids, "char_ids": chars}), expected, atol=1e-5)
