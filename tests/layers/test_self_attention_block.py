import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from helpers import assert_causal, assert_padded_matches_unpadded, run_layer_test
from seqkeras.layers import SelfAttentionBlock


def test_layer_contract_causal_with_mask(sunspot_batch):
    inputs, mask = sunspot_batch
    out = run_layer_test(
        SelfAttentionBlock,
        {"num_heads": 2, "key_dim": 3, "causal": True, "intermediate_dim": 5, "dropout": 0.1},
        inputs,
        expected_output_shape=(4, 6, 2),
        mask=mask,
        # attention: 4 kernels + 4 biases; 2 layer norms x 2; 2 dense x 2.
        expected_num_trainable_weights=16,
    )
    assert np.all(keras.ops.convert_to_numpy(out)[~mask] == 0)


def test_layer_contract_non_causal_without_mask():
    inputs = np.random.default_rng(3).normal(size=(2, 4, 4)).astype("float32")
    run_layer_test(
        SelfAttentionBlock,
        {"num_heads": 1, "key_dim": 2, "activation": "gelu", "layer_norm_epsilon": 1e-3},
        inputs,
        expected_output_shape=(2, 4, 4),
    )


def test_default_intermediate_dim_is_four_times_model_dim():
    block = SelfAttentionBlock(num_heads=1, key_dim=2)
    block(np.zeros((1, 3, 5), "float32"))
    assert tuple(block.hidden.kernel.shape) == (5, 20)


@pytest.mark.parametrize("causal", [True, False])
def test_padded_and_masked_equals_unpadded(sunspot_sequences, causal):
    keras.utils.set_random_seed(0)
    block = SelfAttentionBlock(num_heads=2, key_dim=2, causal=causal, intermediate_dim=6)
    assert_padded_matches_unpadded(
        lambda x, m: block(x, mask=m), sunspot_sequences, per_step=True, pad_value=1e3
    )


def test_pads_anywhere_never_reach_valid_steps(sunspot_sequences):
    # Non-causal attention ignores masked keys wherever they sit (here: inner pads).
    keras.utils.set_random_seed(0)
    block = SelfAttentionBlock(num_heads=1, key_dim=2)
    seq = sunspot_sequences[0]  # (6, 2)
    holey = np.concatenate([seq[:2], np.full((3, 2), 99.0, "float32"), seq[2:]])[None]
    mask = np.array([[True, True, False, False, False, True, True, True, True]])
    got = keras.ops.convert_to_numpy(block(holey, mask=mask))[0][mask[0]]
    alone = keras.ops.convert_to_numpy(block(seq[None]))[0]
    np.testing.assert_allclose(got, alone, atol=1e-5)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(steps=st.integers(2, 6), data=st.data())
def test_causal_property(seeded_layer, draw_causal_case, steps, data):
    inputs, step, mask, seed = draw_causal_case(data, steps, features=4, padded_row=0)
    block = seeded_layer(SelfAttentionBlock, num_heads=2, key_dim=2, causal=True)
    assert_causal(lambda x, m: block(x, mask=m), inputs, step, mask=mask, seed=seed)


def test_non_causal_block_sees_the_future(seeded_layer):
    inputs = np.random.default_rng(0).normal(size=(1, 5, 4)).astype("float32")
    block = seeded_layer(SelfAttentionBlock, num_heads=2, key_dim=2, causal=False)
    with pytest.raises(AssertionError, match="changed when later inputs changed"):
        assert_causal(lambda x, m: block(x), inputs, step=1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_heads": 0, "key_dim": 2}, "Received: num_heads=0"),
        ({"num_heads": 1, "key_dim": -2}, "Received: key_dim=-2"),
        ({"num_heads": 1, "key_dim": 2, "intermediate_dim": 0}, "Received: intermediate_dim=0"),
        ({"num_heads": 1, "key_dim": 2, "causal": 1}, "Received: causal=1"),
        ({"num_heads": 1, "key_dim": 2, "dropout": -0.1}, "Received: dropout=-0.1"),
        ({"num_heads": 1, "key_dim": 2, "layer_norm_epsilon": 0}, "Received: layer_norm_epsilon=0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SelfAttentionBlock(**kwargs)


def test_bad_inputs():
    block = SelfAttentionBlock(num_heads=1, key_dim=2)
    with pytest.raises(ValueError, match=r"Received: input_shape=\(2, 3, 4, 1\)"):
        block(np.zeros((2, 3, 4, 1), "float32"))
    block(np.zeros((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="Received: inputs.dtype=int32"):
        block(np.zeros((2, 3, 4), "int32"))
    with pytest.raises(ValueError, match=r"Received: mask.shape=\(3, 3\)"):
        block(np.zeros((2, 3, 4), "float32"), mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match=r"zero-length.*Received: inputs.shape=\(2, 0, 4\)"):
        block(np.zeros((2, 0, 4), "float32"))
