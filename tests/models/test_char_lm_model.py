"""CharLanguageModel: config, causality, masks, carried state (step / run) and saving."""

import json

import hypothesis
import hypothesis.strategies as st
import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkeras.models.char_lm.causality import check_causal
from seqkeras.models.char_lm.char_language_model import CharLanguageModel

VOCAB = 11


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(1)
    return CharLanguageModel(vocabulary_size=VOCAB, embedding_dim=4, hidden_dim=6, num_layers=2)


def _inputs(ids, mask=None):
    ids = np.asarray(ids, "int32")
    mask = np.ones_like(ids, bool) if mask is None else np.asarray(mask, bool)
    return {"token_ids": tf.constant(ids), "padding_mask": tf.constant(mask)}


def test_config_round_trip_and_json():
    model = CharLanguageModel(vocabulary_size=9, embedding_dim=3, hidden_dim=5, num_layers=2, dropout=0.25, name="lm")
    config = model.get_config()
    for key, value in dict(vocabulary_size=9, embedding_dim=3, hidden_dim=5, num_layers=2, dropout=0.25).items():
        assert config[key] == value
    clone = CharLanguageModel.from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(keras.saving.serialize_keras_object(model))))
    assert isinstance(restored, CharLanguageModel) and restored.get_config() == config


@pytest.mark.parametrize("kwargs, message", [
    (dict(vocabulary_size=0), "vocabulary_size=0"),
    (dict(vocabulary_size=5, hidden_dim=-1), "hidden_dim=-1"),
    (dict(vocabulary_size=5, num_layers=1.5), "num_layers=1.5"),
    (dict(vocabulary_size=5, dropout=1.0), "dropout=1.0"),
])
def test_bad_arguments_echo_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CharLanguageModel(**kwargs)


def test_output_shape_and_probe(model):
    logits = model(_inputs([[2, 5, 6], [2, 7, 8]]))
    assert tuple(logits.shape) == (2, 3, VOCAB)
    check_causal(model, VOCAB)  # does not raise


@hypothesis.settings(max_examples=15, deadline=None, derandomize=True)
@hypothesis.given(
    ids=st.lists(st.integers(0, VOCAB - 1), min_size=2, max_size=6),
    cut=st.integers(1, 5),
    replacement=st.integers(0, VOCAB - 1),
)
def test_logits_never_see_the_future(model, ids, cut, replacement):
    cut = min(cut, len(ids) - 1)
    changed = list(ids)
    changed[cut:] = [replacement] * (len(ids) - cut)
    before = model(_inputs([ids])).numpy()
    after = model(_inputs([changed])).numpy()
    np.testing.assert_allclose(before[:, :cut], after[:, :cut], atol=1e-6)


def test_padded_batch_equals_unpadded_rows(model):
    rows = [[2, 4, 5, 6, 7], [2, 9, 3]]
    padded = np.array([rows[0], rows[1] + [0, 0]])
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    batch = model(_inputs(padded, mask)).numpy()
    for index, row in enumerate(rows):
        alone = model(_inputs([row])).numpy()[0]
        np.testing.assert_allclose(batch[index, : len(row)], alone, atol=1e-5)
    # The final state after right padding is the state after the last real character.
    _, states = model.run(padded, mask)
    _, alone_states = model.run(np.array([rows[1]]))
    for state, alone in zip(states, alone_states):
        np.testing.assert_allclose(state.numpy()[1], alone.numpy()[0], atol=1e-5)


def test_step_by_step_equals_one_pass(model):
    ids = np.array([[2, 4, 5, 6, 7, 8], [2, 10, 9, 8, 7, 6]], "int32")
    full = model(_inputs(ids)).numpy()
    states = model.initial_states(2)
    for t in range(ids.shape[1]):
        logits, states = model.step(ids[:, t], states)
        np.testing.assert_allclose(logits.numpy(), full[:, t], atol=1e-5)


def test_run_continues_from_carried_states(model):
    ids = np.array([[2, 4, 5, 6, 7, 8, 9, 10]], "int32")
    full, full_states = model.run(ids)
    first, states = model.run(ids[:, :3])
    second, end_states = model.run(ids[:, 3:], None, states)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), full.numpy(), atol=1e-5)
    for a, b in zip(end_states, full_states):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_dropout_only_in_training():
    keras.utils.set_random_seed(0)
    model = CharLanguageModel(vocabulary_size=VOCAB, embedding_dim=4, hidden_dim=6, dropout=0.5)
    inputs = _inputs([[2, 4, 5, 6]])
    np.testing.assert_allclose(model(inputs, training=False), model(inputs, training=False))
    assert not np.allclose(model(inputs, training=True), model(inputs, training=False))


@pytest.mark.slow
def test_keras_file_round_trip_keeps_step(model, tmp_path):
    path = tmp_path / "lm.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, CharLanguageModel)
    ids = np.array([[2, 4, 5]], "int32")
    np.testing.assert_allclose(restored(_inputs(ids)), model(_inputs(ids)), atol=1e-6)
    logits, _ = restored.step(ids[:, 0], restored.initial_states(1))
    np.testing.assert_allclose(logits, model(_inputs(ids))[:, 0], atol=1e-6)


@pytest.fixture(scope="module")
def clipped_pair():
    """A 2-layer model with cell_clip=0.5 and its unclipped twin (same weights), with input and forget
    gates held open so the cell states run far past the clip within a few characters."""
    keras.utils.set_random_seed(3)
    clipped = CharLanguageModel(vocabulary_size=VOCAB, embedding_dim=4, hidden_dim=6, num_layers=2, cell_clip=0.5)
    twin = CharLanguageModel(vocabulary_size=VOCAB, embedding_dim=4, hidden_dim=6, num_layers=2)
    ids = np.array([[2, 4, 5, 6, 7, 8, 3, 9], [2, 10, 9, 8, 7, 6, 6, 6]], "int32")
    clipped(_inputs(ids))
    twin(_inputs(ids))
    clipped.embedding.set_weights([20.0 * clipped.embedding.get_weights()[0]])  # inputs that matter
    for layer in clipped.recurrent_layers:
        kernel, recurrent, bias = layer.get_weights()
        bias[:12] = 4.0  # input and forget gates open: c accumulates i * g
        bias[12:18] = [2.0, -2.0, 2.0, -2.0, 2.0, -2.0]  # candidates g near +-1
        layer.set_weights([kernel, recurrent, bias])
    twin.set_weights(clipped.get_weights())
    return clipped, twin, ids


def test_cell_clip_bounds_every_path_and_steps_equal_run(clipped_pair):
    clipped, twin, ids = clipped_pair
    _, twin_states = twin.run(ids)
    assert max(np.abs(c).max() for c in twin_states[1::2]) > 1.0  # unclipped states leave [-0.5, 0.5]
    logits, states = clipped.run(ids)
    for c in states[1::2]:
        assert np.abs(c).max() <= 0.5 and np.isclose(np.abs(c).max(), 0.5)
    assert not np.allclose(logits, twin.run(ids)[0], atol=1e-3)
    # The training path (fused recurrence) and the functional call agree with run.
    np.testing.assert_allclose(clipped.run(ids, training=True)[0], logits, atol=1e-5)
    np.testing.assert_allclose(clipped(_inputs(ids)), logits, atol=1e-5)
    step_states = clipped.initial_states(2)
    for t in range(ids.shape[1]):
        step_logits, step_states = clipped.step(ids[:, t], step_states)
        np.testing.assert_allclose(step_logits.numpy(), logits[:, t], atol=1e-5)
    for a, b in zip(step_states, states):
        np.testing.assert_allclose(a, b, atol=1e-5)
    check_causal(clipped, VOCAB)  # does not raise


def test_cell_clip_survives_the_tflite_inference_copy(clipped_pair):
    """`export.tflite.fusable_inference_model` (the sequence-only copy the TFLite export converts)
    keeps the clip: its logits equal the clipped model's, not its unclipped twin's."""
    from export.tflite import fusable_inference_model

    clipped, twin, ids = clipped_pair
    copy = fusable_inference_model(clipped)
    assert copy is not clipped
    assert [layer.cell_clip for layer in copy.layers if hasattr(layer, "cell_clip")] == [0.5, 0.5]
    np.testing.assert_allclose(copy(_inputs(ids)), clipped.run(ids)[0], atol=1e-5)


def test_cell_clip_config_and_configs_saved_before_it_load():
    model = CharLanguageModel(vocabulary_size=9, embedding_dim=3, hidden_dim=5, num_layers=2, cell_clip=3)
    config = model.get_config()
    assert config["cell_clip"] == 3.0 and all(layer.cell_clip == 3.0 for layer in model.recurrent_layers)
    assert CharLanguageModel.from_config(json.loads(json.dumps(config))).get_config() == config
    del config["cell_clip"]  # a model saved before the field existed
    old = CharLanguageModel.from_config(config)
    assert old.cell_clip is None and all(layer.cell_clip is None for layer in old.recurrent_layers)
    with pytest.raises(ValueError, match=r"Received: cell_clip=-1"):
        CharLanguageModel(vocabulary_size=9, cell_clip=-1.0)
