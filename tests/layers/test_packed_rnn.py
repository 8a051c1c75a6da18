import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkeras.data.packing import pack_padded, pack_sequences, unpack_to_padded
from seqkeras.layers import ElmanCell, LSTMCell, PackedRNN


def make_cell(kind):
    keras.utils.set_random_seed(0)
    if kind == "lstm":
        return LSTMCell(4)
    return ElmanCell(4, output_dim=3)


def padded_reference(cell, inputs, mask, initial_state=None):
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    outputs, *states = rnn(inputs, mask=mask, initial_state=initial_state)
    return np.asarray(outputs), [np.asarray(s) for s in states]


@pytest.mark.parametrize("kind", ["lstm", "elman"])
def test_equals_padded_masked_run(sunspot_batch, kind):
    """Outputs on real steps and final states equal keras.layers.RNN with a mask."""
    inputs, mask = sunspot_batch  # real lengths 6, 3, 5, 1
    cell = make_cell(kind)
    packed_out, states = PackedRNN(cell)(pack_padded(inputs, mask))
    want_out, want_states = padded_reference(cell, inputs, mask)
    got_out, got_mask = unpack_to_padded(packed_out, max_length=inputs.shape[1])
    np.testing.assert_array_equal(np.asarray(got_mask), mask)
    np.testing.assert_allclose(np.asarray(got_out)[mask], want_out[mask], atol=1e-5)
    for got, want in zip(states, want_states):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "elman"])
def test_gradients_equal_padded_run(sunspot_batch, kind):
    inputs, mask = sunspot_batch
    cell = make_cell(kind)
    packed_rnn = PackedRNN(cell)
    padded_rnn = keras.layers.RNN(cell, return_sequences=True)
    packed = pack_padded(inputs, mask)

    @tf.function
    def packed_grads(packed):
        with tf.GradientTape() as tape:
            out, _ = packed_rnn(packed)
            loss = tf.reduce_sum(tf.sin(out.data))
        return tape.gradient(loss, cell.trainable_weights)

    with tf.GradientTape() as tape:
        out = padded_rnn(inputs, mask=mask)
        loss = tf.reduce_sum(tf.where(mask[..., None], tf.sin(out), 0.0))
    want = tape.gradient(loss, cell.trainable_weights)
    for got, expected in zip(packed_grads(packed), want):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=1e-5)


def test_initial_state_in_original_order(sunspot_batch):
    inputs, mask = sunspot_batch
    cell = make_cell("lstm")
    rng = np.random.default_rng(0)
    initial = [rng.normal(size=(4, 4)).astype("float32") for _ in range(2)]
    _, states = PackedRNN(cell)(pack_padded(inputs, mask), initial_state=initial)
    _, want_states = padded_reference(cell, inputs, mask, initial_state=initial)
    for got, want in zip(states, want_states):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)


def test_empty_sequence_keeps_initial_state():
    cell = make_cell("elman")
    ragged = tf.ragged.constant([[[1.0, 0.5]], [], [[0.2, 0.1], [0.3, 0.0]]], ragged_rank=1)
    initial = [np.full((3, 4), 0.25, "float32")]
    out, (state,) = PackedRNN(cell)(pack_sequences(ragged), initial_state=initial)
    assert out.data.shape == (3, 3)
    np.testing.assert_allclose(np.asarray(state)[1], initial[0][1])


def test_config_round_trip():
    layer = PackedRNN(ElmanCell(4, output_dim=2), name="packed")
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, PackedRNN) and isinstance(restored.cell, ElmanCell)
    assert restored.cell.get_config() == layer.cell.get_config()


def test_bad_inputs(sunspot_batch):
    inputs, mask = sunspot_batch
    layer = PackedRNN(make_cell("lstm"))
    with pytest.raises(TypeError, match="Received: ndarray"):
        layer(inputs)
    ids = pack_sequences(tf.ragged.constant([[[1], [2]], [[3]]], ragged_rank=1))
    with pytest.raises(ValueError, match="Received: packed.data.dtype=int32"):
        layer(ids)
    with pytest.raises(ValueError, match="Received: cell="):
        PackedRNN(keras.layers.Dense(3))
