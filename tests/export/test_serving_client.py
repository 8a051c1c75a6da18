"""REST request building/parsing against real signatures, warm-up and models.config, token files, CLI."""

import re

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from export import serving_client as client
from seqkeras.data.token_file import escape_token, escape_tokens, read_token_file, unescape_token, write_token_file
from export.warmup import read_models_config, write_models_config


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=8, unique=True))
def test_token_files_round_trip_any_token(tmp_path_factory, tokens):
    path = tmp_path_factory.mktemp("tokens") / "vocabulary.txt"
    write_token_file(path, tokens)
    assert read_token_file(path) == tokens
    assert len(path.read_text(encoding="utf-8").split("\n")) == len(tokens) + 1  # one line each
    graph = [t.decode("utf-8") for t in escape_tokens(tf.constant(tokens)).numpy()]
    assert graph == [escape_token(t) for t in tokens]
    assert [unescape_token(escape_token(t)) for t in tokens] == tokens


def test_models_config_round_trip(tmp_path):
    path = tmp_path / "models.config"
    text = write_models_config(path, [("tagger", "/models/tagger"), ("classifier", "/models/classifier")])
    assert 'model_platform: "tensorflow"' in text
    assert read_models_config(path) == [("tagger", "/models/tagger"), ("classifier", "/models/classifier")]
    with pytest.raises(ValueError, match="twice"):
        write_models_config(path, [("a", "/x"), ("a", "/y")])


@pytest.mark.slow
def test_rest_requests_in_both_forms_match_the_signatures(exports, loaded, classifier_bundle, tagger_bundle):
    specs = {task: client.signature_specs(path) for task, path in exports[1].items()}
    texts = np.array(classifier_bundle.texts[:3], dtype=object)
    model = loaded["classifier"]
    direct = model.signatures["classify_text"](text=tf.constant(list(texts)))
    spec = specs["classifier"]["classify_text"]
    for form in ("instances", "inputs"):
        body = client.build_predict_request(spec, {"text": texts}, form=form, signature_name="classify_text")
        response = client.simulate_predict(model, body)
        parsed = client.parse_predict_response(spec, response)
        np.testing.assert_allclose(parsed["probabilities"], direct["probabilities"].numpy(), atol=1e-6)
        assert list(parsed["label"]) == [label.decode() for label in direct["label"].numpy()]

    # Token-id signature with three inputs (tagger: token_ids, padding_mask, char_ids), row form.
    batch = tagger_bundle.lookup(tf.constant(tagger_bundle.texts[:2]))
    inputs = {key: value.numpy() for key, value in batch.items()}
    spec = specs["tagger"]["tag_token_ids"]
    body = client.build_predict_request(spec, inputs, form="instances", signature_name="tag_token_ids")
    assert set(body["instances"][0]) == {"token_ids", "padding_mask", "char_ids"}
    parsed = client.parse_predict_response(spec, client.simulate_predict(loaded["tagger"], body))
    direct = loaded["tagger"].signatures["tag_token_ids"](**batch)
    np.testing.assert_array_equal(parsed["tag_ids"], direct["tag_ids"].numpy())

    # generate has scalar inputs: the row form cannot carry them, the columnar form can.
    spec = specs["char_lm"]["generate"]
    request = {"prompt": np.array(["The"], dtype=object), "num_chars": np.int32(4), "temperature": np.float32(1.0),
               "top_k": np.int32(0), "top_p": np.float32(1.0), "seed": np.int32(3)}
    with pytest.raises(ValueError, match="scalars"):
        client.build_predict_request(spec, request, form="instances")
    body = client.build_predict_request(spec, request, form="inputs", signature_name="generate")
    parsed = client.parse_predict_response(spec, client.simulate_predict(loaded["char_lm"], body))
    assert parsed["text"].shape == (1,)

    # Checked before sending: wrong dtype, wrong rank, missing input, mismatched batch.
    spec = specs["classifier"]["classify_token_ids"]
    good = {"token_ids": np.array([[4, 5]], np.int32), "padding_mask": np.array([[True, True]])}
    with pytest.raises(TypeError, match="padding_mask"):
        client.build_predict_request(spec, {**good, "padding_mask": np.array([[0.5, 1.0]])})
    with pytest.raises(ValueError, match="rank"):
        client.build_predict_request(spec, {**good, "token_ids": np.array([4, 5], np.int32)})
    with pytest.raises(ValueError, match="missing"):
        client.build_predict_request(spec, {"token_ids": good["token_ids"]})
    with pytest.raises(ValueError, match="batch size"):
        client.build_predict_request(spec, {**good, "padding_mask": np.ones((2, 2), bool)})
    with pytest.raises(TypeError, match="string"):
        client.build_predict_request(specs["classifier"]["classify_text"], {"text": np.array([1, 2])})
    assert client.rest_url("tagger", version=2) == "http://localhost:8501/v1/models/tagger/versions/2:predict"


def test_signature_specs_from_server_metadata():
    metadata = {"metadata": {"signature_def": {"signature_def": {"classify_text": {
        "inputs": {"text": {"dtype": "DT_STRING", "tensor_shape": {"dim": [{"size": "-1"}]}}},
        "outputs": {"label": {"dtype": "DT_STRING", "tensor_shape": {"dim": [{"size": "-1"}]}},
                    "probabilities": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}, {"size": "5"}]}}},
    }}}}}
    spec = client.signature_specs_from_metadata(metadata)["classify_text"]
    assert spec.inputs["text"] == client.TensorSpec("string", (None,))
    assert spec.outputs["probabilities"] == client.TensorSpec("float32", (None, 5))
    parsed = client.parse_predict_response(spec, {"predictions": [{"label": "email", "probabilities": [0.1] * 5}]})
    assert parsed["label"].tolist() == ["email"] and parsed["probabilities"].shape == (1, 5)
    with pytest.raises(RuntimeError, match="Could not"):
        client.parse_predict_response(spec, {"error": "Could not parse"})


def test_float_inputs_must_be_finite_and_fit_their_dtype():
    # a forecast signature's window: NaN / Inf are not JSON, and 1e39 would reach a float32 graph as Inf
    spec = client.SignatureSpec({"window": client.TensorSpec("float32", (None, 3, 1))},
                                {"forecast": client.TensorSpec("float32", (None, 2))})
    good = client.build_predict_request(spec, {"window": [[[1.0], [2.0], [3.0]]]})
    assert good == {"instances": [[[1.0], [2.0], [3.0]]]}
    for value, shown in ((float("nan"), "nan"), (float("-inf"), "-inf"), (1e39, "1e+39")):
        window = np.array([[[1.0], [value], [3.0]]])
        message = f"Input 'window' must be finite float32 values. Received: {shown} at index [0, 1, 0]"
        with pytest.raises(ValueError, match=re.escape(message)):
            client.build_predict_request(spec, {"window": window})
