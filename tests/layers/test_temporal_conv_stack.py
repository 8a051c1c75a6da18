import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from helpers import assert_causal, assert_padded_matches_unpadded, run_layer_test
from seqkeras.layers import TemporalConvStack


def test_layer_contract_with_projection(sunspot_batch):
    inputs, mask = sunspot_batch
    out = run_layer_test(
        TemporalConvStack,
        {"filters": 4, "kernel_size": 2, "dilation_rates": [1, 2], "dropout": 0.1},
        inputs,
        expected_output_shape=(4, 6, 4),
        mask=mask,
        # conv_0 and conv_1 (kernel + bias each) and the bias-free input projection.
        expected_num_trainable_weights=5,
    )
    # Padded steps of the output are zero.
    assert np.all(keras.ops.convert_to_numpy(out)[~mask] == 0)


def test_layer_contract_non_causal_without_projection():
    inputs = np.random.default_rng(2).normal(size=(2, 5, 3)).astype("float32")
    run_layer_test(
        TemporalConvStack,
        {"filters": 3, "kernel_size": 3, "dilation_rates": [1], "causal": False},
        inputs,
        expected_output_shape=(2, 5, 3),
        expected_num_trainable_weights=2,
    )


@pytest.mark.parametrize(
    "kernel_size, rates, expected", [(2, (1, 2, 4), 8), (3, (1, 2), 7), (1, (1, 8), 1)]
)
def test_receptive_field_property(kernel_size, rates, expected):
    assert TemporalConvStack(2, kernel_size, rates).receptive_field == expected


@pytest.mark.parametrize("kernel_size, rates", [(2, (1, 2)), (3, (1, 2))])
def test_receptive_field_is_exact(kernel_size, rates):
    # Linear, all-ones kernels and positive inputs: every path adds, nothing cancels.
    stack = TemporalConvStack(
        1, kernel_size, rates, activation="linear", kernel_initializer="ones"
    )
    field = stack.receptive_field
    steps = field + 3
    inputs = np.ones((1, steps, 1), "float32")
    base = keras.ops.convert_to_numpy(stack(inputs))[0, -1, 0]
    for source in range(steps):
        bumped = inputs.copy()
        bumped[0, source, 0] += 1.0
        moved = keras.ops.convert_to_numpy(stack(bumped))[0, -1, 0] != base
        assert moved == (source >= steps - field), (source, field)


@pytest.mark.parametrize("causal", [True, False])
def test_padded_and_masked_equals_unpadded(sunspot_sequences, causal):
    keras.utils.set_random_seed(0)
    stack = TemporalConvStack(3, kernel_size=3, dilation_rates=(1, 2), causal=causal)
    assert_padded_matches_unpadded(
        lambda x, m: stack(x, mask=m), sunspot_sequences, per_step=True, pad_value=1e3
    )


def test_left_padding_also_matches_when_causal(sunspot_sequences):
    keras.utils.set_random_seed(0)
    stack = TemporalConvStack(3, kernel_size=2, dilation_rates=(1, 2, 4))
    max_len = max(len(s) for s in sunspot_sequences)
    inputs = np.full((len(sunspot_sequences), max_len, 2), -50.0, "float32")
    mask = np.zeros(inputs.shape[:2], bool)
    for i, seq in enumerate(sunspot_sequences):
        inputs[i, max_len - len(seq) :] = seq
        mask[i, max_len - len(seq) :] = True
    padded = keras.ops.convert_to_numpy(stack(inputs, mask=mask))
    for i, seq in enumerate(sunspot_sequences):
        alone = keras.ops.convert_to_numpy(stack(seq[None]))[0]
        np.testing.assert_allclose(padded[i, max_len - len(seq) :], alone, atol=1e-5)


def test_mask_propagates_through_a_functional_model():
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(ids)
    x = TemporalConvStack(4, dilation_rates=(1,))(x)
    model = keras.Model(ids, x)
    out = model(np.array([[3, 4, 0]], "int32"))
    np.testing.assert_array_equal(out._keras_mask.numpy(), [[True, True, False]])


_STACK_KWARGS = {"filters": 3, "kernel_size": 2, "dilation_rates": (1, 2)}


@settings(max_examples=12, deadline=None, derandomize=True)
@given(steps=st.integers(2, 6), data=st.data())
def test_causal_property(seeded_layer, draw_causal_case, steps, data):
    inputs, step, mask, seed = draw_causal_case(data, steps, features=2, padded_row=1)
    stack = seeded_layer(TemporalConvStack, causal=True, **_STACK_KWARGS)
    assert_causal(lambda x, m: stack(x, mask=m), inputs, step, mask=mask, seed=seed)


def test_non_causal_stack_sees_the_future(seeded_layer):
    inputs = np.random.default_rng(0).normal(size=(1, 6, 2)).astype("float32")
    stack = seeded_layer(TemporalConvStack, causal=False, **_STACK_KWARGS)
    with pytest.raises(AssertionError, match="changed when later inputs changed"):
        assert_causal(lambda x, m: stack(x), inputs, step=2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": 0}, "Received: filters=0"),
        ({"filters": 2, "kernel_size": -3}, "Received: kernel_size=-3"),
        ({"filters": 2, "dilation_rates": []}, r"Received: dilation_rates=\[\]"),
        ({"filters": 2, "dilation_rates": (1, 0)}, r"Received: dilation_rates=\(1, 0\)"),
        ({"filters": 2, "causal": "yes"}, "Received: causal='yes'"),
        ({"filters": 2, "dropout": 1.0}, "Received: dropout=1.0"),
        ({"filters": 2, "activation": "nope"}, "Received: activation='nope'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TemporalConvStack(**kwargs)


def test_bad_inputs():
    stack = TemporalConvStack(2)
    with pytest.raises(ValueError, match=r"Received: input_shape=\(2, 4\)"):
        stack(np.zeros((2, 4), "float32"))
    stack(np.zeros((2, 4, 3), "float32"))
    with pytest.raises(ValueError, match="Received: inputs.dtype=int32"):
        stack(np.zeros((2, 4, 3), "int32"))
    with pytest.raises(ValueError, match=r"zero-length.*Received: inputs.shape=\(2, 0, 3\)"):
        stack(np.zeros((2, 0, 3), "float32"))
    with pytest.raises(ValueError, match=r"Received: mask.shape=\(2, 3\)"):
        stack(np.zeros((2, 4, 3), "float32"), mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"Received: mask.shape=\(2, 4, 1\)"):
        stack(np.zeros((2, 4, 3), "float32"), mask=np.ones((2, 4, 1), bool))


def test_mask_shape_checked_at_run_time_in_graphs():
    stack = TemporalConvStack(2)

    signature = [tf.TensorSpec((None, None, 3)), tf.TensorSpec((None, None), tf.bool)]

    @tf.function(input_signature=signature)
    def run(x, m):
        return stack(x, mask=m)

    run(tf.zeros((2, 4, 3)), tf.ones((2, 4), tf.bool))
    with pytest.raises(tf.errors.InvalidArgumentError, match="mask shape must equal"):
        run(tf.zeros((2, 4, 3)), tf.ones((2, 5), tf.bool))
