import keras
import numpy as np
import pytest

from helpers import run_layer_test
from seqkeras.layers import LSTMCell


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_lstm(inputs, kernel, recurrent_kernel, bias, h=None, c=None):
    """Reference LSTM over `[B, T, D]`, gates written out in [i, f, g, o] order."""
    batch, steps, _ = inputs.shape
    units = recurrent_kernel.shape[0]
    h = np.zeros((batch, units), "float32") if h is None else h
    c = np.zeros((batch, units), "float32") if c is None else c
    outputs = []
    for t in range(steps):
        z = inputs[:, t] @ kernel + h @ recurrent_kernel + bias
        forget = sigmoid(z[:, units : 2 * units])
        write = sigmoid(z[:, :units])
        candidate = np.tanh(z[:, 2 * units : 3 * units])
        c = forget * c + write * candidate
        h = sigmoid(z[:, 3 * units :]) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1), h, c


def test_layer_contract_with_mask(sunspot_batch):
    inputs, mask = sunspot_batch
    run_layer_test(
        LSTMCell,
        {"hidden_dim": 4, "unit_forget_bias": False},
        inputs,
        expected_output_shape=(4, 6, 4),
        mask=mask,
        expected_num_trainable_weights=3,
        run_saving=False,  # the same cell is saved through LSTM in test_lstm.py
    )


def test_matches_numpy_reference(sunspot_batch):
    inputs, _ = sunspot_batch
    rng = np.random.default_rng(0)
    cell = LSTMCell(3)
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    rnn(inputs)
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in cell.get_weights()]
    cell.set_weights(weights)
    outputs, h, c = (keras.ops.convert_to_numpy(v) for v in rnn(inputs))
    ref_outputs, ref_h, ref_c = numpy_lstm(inputs, *weights)
    np.testing.assert_allclose(outputs, ref_outputs, atol=1e-5)
    np.testing.assert_allclose(h, ref_h, atol=1e-5)
    np.testing.assert_allclose(c, ref_c, atol=1e-5)


def test_constant_weights_known_numbers():
    # Zero weights: every gate is sigmoid(0) = 0.5 and the candidate is tanh(0) = 0, so
    # the belt halves (c = 0.5 c_prev) and h = 0.5 tanh(c).
    cell = LSTMCell(2, kernel_initializer="zeros", recurrent_initializer="zeros",
                    unit_forget_bias=False)
    x = np.ones((1, 3), "float32")
    h, (h_state, c) = cell(x, [np.zeros((1, 2), "float32"), np.ones((1, 2), "float32")])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(c), [[0.5, 0.5]], atol=1e-7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(h), [[0.2310586, 0.2310586]], atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(h_state), keras.ops.convert_to_numpy(h))


def test_cell_clip_known_numbers():
    # Zero weights: c = 0.5 c_prev + 0.5 * 0. From c_prev = [8, -1] the belt gives [4, -0.5];
    # cell_clip=3 bounds the first to 3 and h = 0.5 tanh(c) reads the clipped value.
    cell = LSTMCell(2, kernel_initializer="zeros", recurrent_initializer="zeros",
                    unit_forget_bias=False, cell_clip=3)
    c_prev = np.array([[8.0, -1.0]], "float32")
    h, (_, c) = cell(np.ones((1, 3), "float32"), [np.zeros((1, 2), "float32"), c_prev])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(c), [[3.0, -0.5]], atol=1e-7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(h), 0.5 * np.tanh([[3.0, -0.5]]), atol=1e-6)
    assert cell.get_config()["cell_clip"] == 3.0 and LSTMCell(2).get_config()["cell_clip"] is None


def test_unit_forget_bias_initialises_forget_block_to_one():
    cell = LSTMCell(3)
    cell.build((None, 2))
    bias = keras.ops.convert_to_numpy(cell.bias)
    np.testing.assert_array_equal(bias[3:6], 1.0)
    np.testing.assert_array_equal(np.concatenate([bias[:3], bias[6:]]), 0.0)


def test_same_weights_as_keras_cell(sunspot_batch):
    inputs, mask = sunspot_batch
    ours = keras.layers.RNN(LSTMCell(4), return_sequences=True)
    theirs = keras.layers.RNN(keras.layers.LSTMCell(4), return_sequences=True)
    ours(inputs)
    theirs(inputs)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(inputs, mask=mask)),
        keras.ops.convert_to_numpy(theirs(inputs, mask=mask)),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_dim": -1}, "Received: hidden_dim=-1"),
        ({"hidden_dim": 4, "activation": "nope"}, "Received: activation='nope'"),
        ({"hidden_dim": 4, "recurrent_activation": 3}, "Received: recurrent_activation=3"),
        ({"hidden_dim": 4, "cell_clip": 0.0}, "Received: cell_clip=0.0"),
        ({"hidden_dim": 4, "cell_clip": float("nan")}, "Received: cell_clip=nan"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LSTMCell(**kwargs)
