"""`LSTM(train_matmul_dtype="bfloat16")`: bfloat16 matrix products in training calls only."""

import numpy as np
import pytest
import tensorflow as tf

from helpers import assert_causal, outputs_and_grads, reload_keras
from seqkeras.layers import LSTM
from seqkeras.layers.lstm import cpu_has_bfloat16

HIDDEN = 8


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(3)
    inputs = rng.normal(size=(3, 6, 4)).astype("float32")
    mask = np.ones((3, 6), bool)
    mask[1, 4:] = False
    state = [rng.normal(scale=0.5, size=(3, HIDDEN)).astype("float32") for _ in range(2)]
    return inputs, mask, state


def twins(inputs, **kwargs):
    """A float32 LSTM and a bfloat16-matmul LSTM with the same weights."""
    full = LSTM(HIDDEN, return_sequences=True, return_state=True, seed=0, **kwargs)
    low = LSTM(HIDDEN, return_sequences=True, return_state=True, seed=0, train_matmul_dtype="bfloat16", **kwargs)
    full(inputs)
    low(inputs)
    low.set_weights(full.get_weights())
    return full, low


def relative_error(got, want):
    return float(tf.norm(tf.cast(got, tf.float32) - want) / tf.norm(want))


@pytest.mark.parametrize("cell_clip", [None, 1.0])
def test_training_call_is_float32_within_bfloat16_rounding(batch, cell_clip):
    """Outputs and every gradient within 2% (bfloat16 keeps 8 bits of mantissa); results,
    states and gradients stay float32."""
    inputs, mask, state = batch
    full, low = twins(inputs, cell_clip=cell_clip)
    want_out, want_grads = outputs_and_grads(full, inputs, mask, state, training=True)
    got_out, got_grads = outputs_and_grads(low, inputs, mask, state, training=True)
    assert all(t.dtype == tf.float32 for t in [*got_out, *got_grads])
    assert all(relative_error(g, w) < 2e-2 for g, w in zip(got_out, want_out))
    assert all(relative_error(g, w) < 2e-2 for g, w in zip(got_grads, want_grads))
    # ... and not the float32 computation itself: the option is in effect.
    assert max(relative_error(g, w) for g, w in zip(got_grads, want_grads)) > 1e-6


def test_inference_call_is_exactly_float32(batch):
    inputs, mask, state = batch
    full, low = twins(inputs)
    for got, want in zip(outputs_and_grads(low, inputs, mask, state, training=False)[0],
                         outputs_and_grads(full, inputs, mask, state, training=False)[0]):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_training_call_in_a_graph_with_recurrent_dropout(batch):
    inputs, mask, _ = batch
    full, low = twins(inputs, recurrent_dropout=0.25)

    @tf.function
    def run(layer):
        return layer(inputs, mask=mask, training=True)[0]

    tf.random.set_seed(0)
    got = run(low)
    tf.random.set_seed(0)
    want = run(full)
    assert relative_error(got, want) < 2e-2


@pytest.mark.parametrize("step", [0, 3])
def test_causal(step):
    layer = LSTM(HIDDEN, return_sequences=True, train_matmul_dtype="bfloat16")
    inputs = np.random.default_rng(step).normal(size=(2, 7, 4)).astype("float32")
    assert_causal(lambda x, m: layer(x, mask=m, training=True), inputs, step)


def test_config_round_trip_and_validation(batch):
    import keras

    inputs, _, _ = batch
    model = keras.Sequential([keras.Input((6, 4)), LSTM(HIDDEN, train_matmul_dtype="bfloat16")])
    loaded = reload_keras(model)
    assert loaded.layers[0].get_config()["train_matmul_dtype"] == "bfloat16"
    np.testing.assert_array_equal(loaded(inputs).numpy(), model(inputs).numpy())
    assert LSTM(HIDDEN).get_config()["train_matmul_dtype"] is None
    with pytest.raises(ValueError, match=r"train_matmul_dtype.*Received: train_matmul_dtype='float16'"):
        LSTM(HIDDEN, train_matmul_dtype="float16")


def test_cpu_flag_detection_reads_this_machine():
    flags = ""
    with open("/proc/cpuinfo") as handle:
        flags = next((line for line in handle if line.startswith("flags")), "")
    assert cpu_has_bfloat16() == ("avx512_bf16" in flags.split() or "amx_bf16" in flags.split())
