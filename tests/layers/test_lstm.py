import functools
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from helpers import assert_causal, assert_padded_matches_unpadded, outputs_and_grads, reload_keras, run_layer_test
from seqkeras.layers import LSTM
from seqkeras.layers import lstm as lstm_module

HIDDEN = 3


def twin_layers(inputs, seed=0, **kwargs):
    """A seqkeras LSTM and a keras LSTM with the same (perturbed) weights."""
    rng = np.random.default_rng(seed)
    zero_output = kwargs.pop("zero_output_for_mask", False)
    ours = LSTM(HIDDEN, zero_output_for_mask=zero_output, **kwargs)
    theirs = keras.layers.LSTM(HIDDEN, **kwargs)
    theirs.zero_output_for_mask = zero_output
    ours(inputs)
    theirs(inputs)
    weights = [
        w + rng.normal(scale=0.3, size=w.shape).astype("float32") for w in theirs.get_weights()
    ]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


def assert_all_close(got, want, atol):
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=atol)


@pytest.fixture(scope="module")
def rng_inputs():
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(3, 5, 2)).astype("float32")
    mask = np.ones((3, 5), bool)
    mask[1, 3:] = False
    mask[2, 1:] = False
    state = [rng.normal(size=(3, HIDDEN)).astype("float32") for _ in range(2)]
    return inputs, mask, state


def test_layer_contract_with_mask(sunspot_batch):
    inputs, mask = sunspot_batch
    run_layer_test(
        LSTM,
        {"hidden_dim": 4, "return_sequences": True, "dropout": 0.1, "seed": 3},
        inputs,
        expected_output_shape=(4, 6, 4),
        mask=mask,
        expected_num_trainable_weights=3,
    )


def test_layer_contract_return_state(sunspot_batch):
    inputs, mask = sunspot_batch
    run_layer_test(
        LSTM,
        {"hidden_dim": 4, "return_state": True, "go_backwards": True},
        inputs,
        expected_output_shape=[(4, 4), (4, 4), (4, 4)],
        mask=mask,
        expected_output_mask=None,
        run_saving=False,
    )


@pytest.mark.parametrize(
    "go_backwards, zero_output, use_mask, use_state",
    list(itertools.product([False, True], [False, True], [False, True], [False, True])),
)
def test_matches_keras_lstm_eager(rng_inputs, go_backwards, zero_output, use_mask, use_state):
    """Outputs, final states and every gradient equal keras.layers.LSTM's."""
    inputs, mask, state = rng_inputs
    ours, theirs = twin_layers(
        inputs,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output,
    )
    args = (inputs, mask if use_mask else None, state if use_state else None)
    got_out, got_grad = outputs_and_grads(ours, *args)
    want_out, want_grad = outputs_and_grads(theirs, *args)
    assert_all_close(got_out, want_out, atol=1e-5)
    assert_all_close(got_grad, want_grad, atol=1e-5)


@pytest.mark.parametrize("go_backwards, training", [(False, True), (True, False)])
def test_matches_keras_lstm_in_graph(rng_inputs, go_backwards, training):
    """The tagged tf.function path (what fit() and exports trace) gives the same numbers."""
    inputs, mask, state = rng_inputs
    ours, theirs = twin_layers(
        inputs, return_sequences=True, return_state=True, go_backwards=go_backwards
    )
    graph = tf.function(
        lambda x, m, s0, s1: outputs_and_grads(ours, x, m, [s0, s1], training=training)
    )
    got_out, got_grad = graph(inputs, mask, *state)
    want_out, want_grad = outputs_and_grads(theirs, inputs, mask, state)
    assert_all_close(got_out, want_out, atol=1e-5)
    assert_all_close(got_grad, want_grad, atol=1e-5)


def test_generic_activations_match_keras(rng_inputs):
    inputs, mask, _ = rng_inputs
    ours, theirs = twin_layers(
        inputs, return_sequences=True, return_state=True, activation="relu",
        recurrent_activation="hard_sigmoid",
    )
    got_out, got_grad = outputs_and_grads(ours, inputs, mask, None)
    want_out, want_grad = outputs_and_grads(theirs, inputs, mask, None)
    assert_all_close(got_out, want_out, atol=1e-5)
    assert_all_close(got_grad, want_grad, atol=1e-5)


@pytest.mark.parametrize("use_mask", [False, True])
def test_hand_written_gradient_equals_autodiff(rng_inputs, use_mask):
    """The fused recurrence's backward pass (with recurrent dropout) equals autodiff."""
    inputs, mask, state = rng_inputs
    rng = np.random.default_rng(2)
    kernel = tf.constant(rng.normal(size=(2, 4 * HIDDEN)).astype("float32"))
    recurrent = tf.constant(rng.normal(size=(HIDDEN, 4 * HIDDEN)).astype("float32"))
    bias = tf.constant(rng.normal(size=(4 * HIDDEN,)).astype("float32"))
    rec_keep = tf.constant((rng.random((3, HIDDEN)) > 0.3).astype("float32") / 0.7)
    sources = [tf.constant(inputs), *[tf.constant(s) for s in state], kernel, recurrent, bias]

    def grads(gate_fn):
        with tf.GradientTape() as tape:
            tape.watch(sources)
            last, seq, h, c, _ = lstm_module._standard_lstm(
                *sources, mask if use_mask else None, gate_fn=gate_fn, rec_keep=rec_keep
            )
            loss = tf.reduce_sum(tf.cos(seq)) + tf.reduce_sum(h * c) + tf.reduce_sum(last)
        return [loss] + tape.gradient(loss, sources)

    assert_all_close(grads(None), grads(lstm_module._default_gates), atol=1e-4)


def test_padded_matches_unpadded(sunspot_sequences):
    layer = LSTM(HIDDEN, return_sequences=True)
    assert_padded_matches_unpadded(
        lambda x, m: layer(x, mask=m), sunspot_sequences, pad_value=1e3
    )
    last = LSTM(HIDDEN)
    assert_padded_matches_unpadded(
        lambda x, m: last(x, mask=m), sunspot_sequences, per_step=False, pad_value=1e3
    )


_CAUSAL_LAYER = LSTM(HIDDEN, return_sequences=True)


@settings(max_examples=10, deadline=None)
@given(step=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_causal(step, seed):
    inputs = np.random.default_rng(seed).normal(size=(2, 7, 2)).astype("float32")
    assert_causal(lambda x, m: _CAUSAL_LAYER(x, mask=m), inputs, step, seed=seed)


def test_left_padded_mask(rng_inputs):
    inputs, _, _ = rng_inputs
    left = np.ones((3, 5), bool)
    left[0, :2] = False  # pads first
    # The portable path handles any mask exactly like Keras ...
    ours, theirs = twin_layers(inputs, return_sequences=True)
    np.testing.assert_allclose(
        np.asarray(ours(inputs, mask=left)), np.asarray(theirs(inputs, mask=left)), atol=1e-5
    )
    # ... but a layer that must run the cuDNN kernel says why it cannot.
    strict = LSTM(HIDDEN, use_cudnn=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match="right-padded"):
        strict(inputs, mask=left)


def test_bidirectional_matches_keras(rng_inputs):
    inputs, mask, _ = rng_inputs
    ours = keras.layers.Bidirectional(LSTM(HIDDEN, return_sequences=True))
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(HIDDEN, return_sequences=True))
    ours(inputs)
    theirs(inputs)
    weights = [w + 0.2 for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    np.testing.assert_allclose(
        np.asarray(ours(inputs, mask=mask)), np.asarray(theirs(inputs, mask=mask)), atol=1e-5
    )


def test_stateful_carries_state_between_batches(rng_inputs):
    inputs, _, _ = rng_inputs
    whole = LSTM(HIDDEN, return_sequences=True)
    stateful = LSTM(HIDDEN, return_sequences=True, stateful=True)
    expected = np.asarray(whole(inputs))
    stateful(inputs[:, :2])
    stateful.set_weights(whole.get_weights())
    stateful.reset_state()  # the build call above already moved the states
    first = np.asarray(stateful(inputs[:, :2]))
    second = np.asarray(stateful(inputs[:, 2:]))  # continues where the first stopped
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), expected, atol=1e-5)
    stateful.reset_state()
    np.testing.assert_allclose(np.asarray(stateful(inputs[:, :2])), first, atol=1e-6)


def test_stateful_inside_fit(rng_inputs):
    """fit() traces the stateful update into its graph; the carried states move."""
    inputs, _, _ = rng_inputs
    layer = LSTM(HIDDEN, return_sequences=True, stateful=True)
    x = keras.Input(inputs.shape[1:], batch_size=inputs.shape[0])
    model = keras.Model(x, layer(x))
    model.compile("sgd", "mse")
    model.fit(inputs, np.zeros((3, 5, HIDDEN), "float32"), batch_size=3, epochs=1, verbose=0)
    assert np.abs(np.asarray(layer.states[0])).sum() > 0
    assert len(model.get_weights()) == 3  # carried states are not weights, as in Keras


def test_stateful_needs_static_batch():
    with pytest.raises(ValueError, match="static batch size"):
        LSTM(HIDDEN, stateful=True)(keras.Input((4, 2)))


def test_single_steps_with_carried_state_equal_full_run(rng_inputs):
    """The char-LM sampler's use: length-1 calls carrying [h, c] reproduce the sequence."""
    inputs, _, _ = rng_inputs
    layer = LSTM(HIDDEN, return_sequences=True, return_state=True)
    full, h_full, c_full = layer(inputs)
    step = tf.function(lambda x, h, c: layer(x, initial_state=[h, c]))
    h = c = tf.zeros((3, HIDDEN))
    outputs = []
    for t in range(inputs.shape[1]):
        out, h, c = step(inputs[:, t : t + 1], h, c)
        outputs.append(out)
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), np.asarray(full), atol=1e-5)
    np.testing.assert_allclose(np.asarray(c), np.asarray(c_full), atol=1e-5)


def test_cudnn_weight_layout_and_padding_match_standard(rng_inputs):
    """`_cudnn_lstm` with an emulated CudnnRNNV3 equals the portable path.

    The emulator unpacks the opaque buffer the way cuDNN documents its canonical LSTM
    layout (W_i, W_f, W_c, W_o as (H, D), R_* as (H, H), then 4 input and 4 recurrent
    biases) and honours `sequence_lengths` (zero outputs and frozen states past each
    length). No GPU runs here: this checks our conversion and padding logic only.
    """
    inputs, mask, state = rng_inputs

    def emulated_cudnn(input, input_h, input_c, params, sequence_lengths, **kwargs):
        x, params = np.asarray(input), np.asarray(params)
        steps, batch, dim = x.shape
        units = input_h.shape[-1]
        sizes = [units * dim] * 4 + [units * units] * 4 + [units] * 8
        pieces = np.split(params, np.cumsum(sizes)[:-1])
        w = [p.reshape(units, dim) for p in pieces[:4]]
        r = [p.reshape(units, units) for p in pieces[4:8]]
        bw, br = pieces[8:12], pieces[12:16]
        h, c = np.array(input_h[0]), np.array(input_c[0])
        out = np.zeros((steps, batch, units), "float32")
        lengths = np.asarray(sequence_lengths)
        for t in range(steps):
            gate = [x[t] @ w[k].T + h @ r[k].T + bw[k] + br[k] for k in range(4)]
            i, f, o = (1 / (1 + np.exp(-g)) for g in (gate[0], gate[1], gate[3]))
            c_new = f * c + i * np.tanh(gate[2])
            h_new = o * np.tanh(c_new)
            alive = (t < lengths)[:, None]
            h, c = np.where(alive, h_new, h), np.where(alive, c_new, c)
            out[t] = np.where(alive, h_new, 0.0)
        return tf.constant(out), tf.constant(h[None]), tf.constant(c[None]), None, None

    rng = np.random.default_rng(3)
    weights = [
        tf.constant(rng.normal(scale=0.5, size=s).astype("float32"))
        for s in [(2, 4 * HIDDEN), (HIDDEN, 4 * HIDDEN), (4 * HIDDEN,)]
    ]
    for go_backwards, zero_output, use_mask in itertools.product([False, True], repeat=3):
        args = (
            tf.constant(inputs),
            *[tf.constant(s) for s in state],
            *weights,
            tf.constant(mask) if use_mask else None,
        )
        options = {"go_backwards": go_backwards, "zero_output_for_mask": zero_output}
        got = lstm_module._cudnn_lstm(*args, rnn_op=emulated_cudnn, **options)
        want = lstm_module._standard_lstm(*args, **options)
        assert_all_close(got[1:4], want[1:4], atol=1e-5)  # sequence, h, c


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_dim": 0}, "Received: hidden_dim=0"),
        ({"hidden_dim": 2, "dropout": 1.5}, "Received: dropout=1.5"),
        ({"hidden_dim": 2, "use_cudnn": "yes"}, "Received: use_cudnn='yes'"),
        ({"hidden_dim": 2, "use_cudnn": True, "activation": "relu"}, "activation='relu'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LSTM(**kwargs)


def test_bad_inputs(rng_inputs):
    inputs, mask, state = rng_inputs
    layer = LSTM(HIDDEN)
    with pytest.raises(ValueError, match=r"Received: inputs.shape=\(3, 5\)"):
        layer(inputs[..., 0])
    with pytest.raises(ValueError, match="Received: mask.shape"):
        layer(inputs, mask=mask[:, :4])
    with pytest.raises(ValueError, match="initial_state"):
        layer(inputs, initial_state=state[0])
    run = tf.function(lambda x: layer(x), input_signature=[tf.TensorSpec([None, None, 2])])
    with pytest.raises(tf.errors.InvalidArgumentError, match="zero-length"):
        run(np.zeros((3, 0, 2), "float32"))


def test_frozen_lstm_stays_frozen_after_reload():
    """The cell inherits the layer's `trainable`, so a frozen LSTM inside a saved model loads frozen."""
    inputs = keras.Input((None, 4))
    frozen = keras.Model(inputs, LSTM(3, return_sequences=True)(inputs), name="frozen")
    frozen.trainable = False
    outer_inputs = keras.Input((None, 4))
    model = keras.Model(outer_inputs, keras.layers.Dense(2)(frozen(outer_inputs)))
    reloaded = reload_keras(model)
    assert len(model.trainable_weights) == len(reloaded.trainable_weights) == 2  # the Dense kernel and bias


CLIP = 0.5


def clip_driving_weights(seed=4):
    """Weights whose input and forget gates stay open, so cell states pass CLIP within 2 steps."""
    rng = np.random.default_rng(seed)
    kernel = rng.normal(scale=0.5, size=(2, 4 * HIDDEN)).astype("float32")
    recurrent = rng.normal(scale=0.5, size=(HIDDEN, 4 * HIDDEN)).astype("float32")
    bias = np.concatenate(
        [np.full(2 * HIDDEN, 3.0), [1.5, -1.5, 1.5], rng.normal(size=HIDDEN)]
    ).astype("float32")
    return [kernel, recurrent, bias]


@pytest.mark.parametrize("use_mask", [False, True])
def test_clipped_hand_written_gradient_equals_autodiff(rng_inputs, use_mask):
    """With cell states driven past the clip, the fused backward pass equals autodiff."""
    inputs, mask, state = rng_inputs
    weights = [tf.constant(w) for w in clip_driving_weights()]
    sources = [tf.constant(inputs), *[tf.constant(s) for s in state], *weights]
    step_mask = mask if use_mask else None

    def grads(gate_fn, cell_clip):
        with tf.GradientTape() as tape:
            tape.watch(sources)
            last, seq, h, c, _ = lstm_module._standard_lstm(
                *sources, step_mask, gate_fn=gate_fn, cell_clip=cell_clip
            )
            loss = tf.reduce_sum(tf.cos(seq)) + tf.reduce_sum(h * c) + tf.reduce_sum(last)
        return [loss, c] + tape.gradient(loss, sources)

    clipped_gates = functools.partial(lstm_module._default_gates, cell_clip=CLIP)
    fused, autodiff = grads(None, CLIP), grads(clipped_gates, None)
    unclipped = grads(None, None)
    assert np.abs(unclipped[1]).max() > 2 * CLIP  # the clip is active ...
    assert np.abs(fused[1]).max() == CLIP
    assert not np.allclose(fused[3], unclipped[3], atol=1e-3)  # ... and changes the gradients
    assert_all_close(fused, autodiff, atol=1e-6)


def test_clipped_layer_equals_rnn_of_clipped_cell(rng_inputs):
    """Every LSTM path (eager/graph, fused/lean) equals keras.layers.RNN over the clipped cell."""
    from seqkeras.layers import LSTMCell

    inputs, mask, state = rng_inputs
    ours = LSTM(HIDDEN, return_sequences=True, return_state=True, cell_clip=CLIP)
    reference = keras.layers.RNN(
        LSTMCell(HIDDEN, cell_clip=CLIP), return_sequences=True, return_state=True
    )
    ours(inputs)
    reference(inputs)
    ours.set_weights(clip_driving_weights())
    reference.set_weights(clip_driving_weights())
    want_out, want_grad = outputs_and_grads(reference, inputs, mask, state)
    assert np.abs(want_out[2]).max() == CLIP
    for training in (True, False):
        got_out, got_grad = outputs_and_grads(ours, inputs, mask, state, training=training)
        assert_all_close(got_out, want_out, atol=1e-5)
        assert_all_close(got_grad, want_grad, atol=1e-5)
    graph = tf.function(lambda x, m, s0, s1: outputs_and_grads(ours, x, m, [s0, s1]))
    got_out, got_grad = graph(inputs, mask, *state)
    assert_all_close(got_out, want_out, atol=1e-5)
    assert_all_close(got_grad, want_grad, atol=1e-5)
    # Traced, a clipped layer is not tagged for cuDNN / TFLite fusion (neither can clip).
    functions = graph.get_concrete_function(inputs, mask, *state).graph.as_graph_def().library.function
    assert not any("api_implements" in f.attr for f in functions)


def test_cell_clip_config_validation_and_old_configs():
    layer = LSTM(HIDDEN, cell_clip=3)
    config = layer.get_config()
    assert config["cell_clip"] == 3.0 and layer.cell.get_config()["cell_clip"] == 3.0
    assert LSTM.from_config(config).cell_clip == 3.0
    assert layer.supports_jit  # no cuDNN kernel to protect from XLA
    del config["cell_clip"]  # saved before the argument existed
    assert LSTM.from_config(config).cell_clip is None
    assert LSTM(HIDDEN).get_config()["cell_clip"] is None
    for bad in (0, -1.0, float("inf"), float("nan"), True, "3"):
        with pytest.raises(ValueError, match=r"Received: cell_clip="):
            LSTM(HIDDEN, cell_clip=bad)
    with pytest.raises(ValueError, match=r"cuDNN.*no cell clip.*Received: cell_clip=3"):
        LSTM(HIDDEN, cell_clip=3.0, use_cudnn=True)
