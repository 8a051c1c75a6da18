import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from helpers import assert_causal, assert_padded_matches_unpadded, run_layer_test
from seqkeras.layers import ElmanCell


def numpy_elman(inputs, kernel, bias, activation, output_kernel=None, output_bias=None):
    """Reference: h_t = act([x_t; h_{t-1}] @ kernel + bias), y_t = h_t @ W_y + b_y."""
    batch, steps, _ = inputs.shape
    state = np.zeros((batch, kernel.shape[1]), "float32")
    outputs = []
    for t in range(steps):
        state = activation(np.concatenate([inputs[:, t], state], axis=-1) @ kernel + bias)
        output = state if output_kernel is None else state @ output_kernel + output_bias
        outputs.append(output)
    return np.stack(outputs, axis=1)


def test_layer_contract_with_mask(sunspot_batch):
    inputs, mask = sunspot_batch
    run_layer_test(
        ElmanCell,
        {"hidden_dim": 4, "activation": "relu", "output_dim": 3},
        inputs,
        expected_output_shape=(4, 6, 3),
        mask=mask,
        expected_num_trainable_weights=4,
    )


def test_layer_contract_final_state_and_initial_state():
    inputs = np.random.default_rng(1).normal(size=(2, 3, 2)).astype("float32")
    run_layer_test(
        ElmanCell,
        {"hidden_dim": 3},
        inputs,
        expected_output_shape=[(2, 3), (2, 3)],
        rnn_kwargs={"return_sequences": False, "return_state": True},
        call_kwargs={"initial_state": [np.full((2, 3), 0.5, "float32")]},
        expected_num_trainable_weights=2,
        run_saving=False,
    )


def test_one_weight_matrix_over_input_and_state():
    rnn = keras.layers.RNN(ElmanCell(5), return_sequences=True)
    rnn(np.zeros((1, 2, 3), "float32"))
    shapes = {w.name: tuple(w.shape) for w in rnn.weights}
    assert shapes == {"kernel": (3 + 5, 5), "bias": (5,)}


def test_constant_weights_known_numbers():
    # kernel = [[0.5], [1.0]] over [x; h], linear: h_t = 0.5 x_t + h_{t-1}.
    cell = ElmanCell(1, activation="linear")
    rnn = keras.layers.RNN(cell, return_sequences=True)
    rnn(np.zeros((1, 3, 1), "float32"))
    cell.kernel.assign(np.array([[0.5], [1.0]], "float32"))
    cell.bias.assign(np.array([0.25], "float32"))
    got = rnn(np.array([[[1.0], [2.0], [-4.0]]], "float32"))
    # h1 = 0.5 + 0.25, h2 = 1.0 + 0.75 + 0.25, h3 = -2.0 + 2.0 + 0.25
    np.testing.assert_allclose(np.ravel(got), [0.75, 2.0, 0.25], atol=1e-6)


@pytest.mark.parametrize("activation, reference", [("tanh", np.tanh), ("sigmoid", None)])
def test_matches_numpy_reference(sunspot_batch, activation, reference):
    reference = reference or (lambda z: 1.0 / (1.0 + np.exp(-z)))
    inputs, _ = sunspot_batch
    cell = ElmanCell(4, activation=activation, output_dim=2)
    rnn = keras.layers.RNN(cell, return_sequences=True)
    got = keras.ops.convert_to_numpy(rnn(inputs))
    expected = numpy_elman(
        inputs,
        cell.kernel.numpy(),
        cell.bias.numpy(),
        reference,
        cell.output_kernel.numpy(),
        cell.output_bias.numpy(),
    )
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_padded_and_masked_equals_unpadded(sunspot_sequences):
    keras.utils.set_random_seed(0)
    rnn = keras.layers.RNN(ElmanCell(4, output_dim=2), return_sequences=True)
    assert_padded_matches_unpadded(
        lambda x, m: rnn(x, mask=m), sunspot_sequences, per_step=True, pad_value=1e3
    )
    last = keras.layers.RNN(ElmanCell(4), return_sequences=False)
    assert_padded_matches_unpadded(
        lambda x, m: last(x, mask=m), sunspot_sequences, per_step=False, pad_value=1e3
    )


_CAUSAL_RNN = None


def _causal_rnn():
    global _CAUSAL_RNN
    if _CAUSAL_RNN is None:
        keras.utils.set_random_seed(0)
        _CAUSAL_RNN = keras.layers.RNN(ElmanCell(3, output_dim=2), return_sequences=True)
    return _CAUSAL_RNN


@settings(max_examples=12, deadline=None, derandomize=True)
@given(steps=st.integers(2, 6), data=st.data())
def test_causal_property(steps, data):
    step = data.draw(st.integers(0, steps - 2), label="step")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    inputs = np.random.default_rng(seed).normal(size=(2, steps, 2)).astype("float32")
    rnn = _causal_rnn()
    assert_causal(lambda x, m: rnn(x), inputs, step, seed=seed)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_dim": -1}, "Received: hidden_dim=-1"),
        ({"hidden_dim": 2.5}, "Received: hidden_dim=2.5"),
        ({"hidden_dim": 4, "output_dim": 0}, "Received: output_dim=0"),
        ({"hidden_dim": 4, "activation": "nope"}, "Received: activation='nope'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ElmanCell(**kwargs)


def test_bad_input_shapes():
    with pytest.raises(ValueError, match="known feature size"):
        ElmanCell(2).build((None, None))
    # A [batch, time] sequence reaches the cell as [batch] steps.
    with pytest.raises(ValueError, match=r"Received: input_shape=\(2,\)"):
        keras.layers.RNN(ElmanCell(2))(np.zeros((2, 3), "float32"))
