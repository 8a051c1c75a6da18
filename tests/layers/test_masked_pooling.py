import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from helpers import assert_padded_matches_unpadded, run_layer_test
from seqkeras.layers import MaskedPooling

NUMPY_REDUCE = {"mean": np.mean, "max": np.max, "sum": np.sum}


@pytest.mark.parametrize("mode", ["mean", "max", "sum"])
def test_layer_contract(sunspot_batch, mode):
    inputs, mask = sunspot_batch
    run_layer_test(
        MaskedPooling,
        {"mode": mode},
        inputs,
        expected_output_shape=(4, 2),
        mask=mask,
        expected_output_mask=None,
        expected_num_trainable_weights=0,
    )


@pytest.mark.parametrize("mode", ["mean", "max", "sum"])
def test_padded_and_masked_equals_unpadded(sunspot_sequences, mode):
    pool = MaskedPooling(mode)
    # Pads hold a huge value: any leak would dominate max, mean and sum.
    assert_padded_matches_unpadded(
        lambda x, m: pool(x, mask=m), sunspot_sequences, per_step=False, pad_value=1e4
    )


def test_known_numbers():
    x = np.array([[[1.0, -2.0], [3.0, -4.0], [100.0, 100.0]]], "float32")
    mask = np.array([[True, True, False]])
    np.testing.assert_allclose(MaskedPooling("mean")(x, mask=mask), [[2.0, -3.0]])
    np.testing.assert_allclose(MaskedPooling("max")(x, mask=mask), [[3.0, -2.0]])
    np.testing.assert_allclose(MaskedPooling("sum")(x, mask=mask), [[4.0, -6.0]])
    np.testing.assert_allclose(MaskedPooling("mean")(x), [[104.0 / 3, 94.0 / 3]], rtol=1e-6)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    mode=st.sampled_from(["mean", "max", "sum"]),
    mask_rows=st.lists(
        st.lists(st.booleans(), min_size=5, max_size=5).filter(any), min_size=1, max_size=3
    ),
    seed=st.integers(0, 2**16),
)
def test_any_mask_pattern_matches_numpy(mode, mask_rows, seed):
    # Left, right and inner pads alike: only the valid steps count.
    mask = np.array(mask_rows)
    x = np.random.default_rng(seed).normal(size=(*mask.shape, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(MaskedPooling(mode)(x, mask=mask))
    expected = np.stack([NUMPY_REDUCE[mode](row[m], axis=0) for row, m in zip(x, mask)])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_all_pad_row_is_an_error_eagerly():
    x = np.ones((2, 3, 1), "float32")
    mask = np.array([[True, False, False], [False, False, False]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="no valid .*step"):
        MaskedPooling("max")(x, mask=mask)


def test_all_pad_row_is_an_error_in_a_compiled_model():
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(5, 2, mask_zero=True)(ids)
    model = keras.Model(ids, MaskedPooling("mean")(x))
    model.predict_on_batch(np.array([[1, 2, 0]], "int32"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="no valid .*step"):
        model.predict_on_batch(np.array([[1, 2, 0], [0, 0, 0]], "int32"))


def test_bad_mode_and_inputs():
    with pytest.raises(ValueError, match="Received: mode='median'"):
        MaskedPooling("median")
    pool = MaskedPooling()
    with pytest.raises(ValueError, match=r"Received: inputs.shape=\(2, 3\)"):
        pool(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="Received: inputs.dtype=int32"):
        pool(np.zeros((2, 3, 1), "int32"))
    with pytest.raises(ValueError, match=r"Received: mask.shape=\(2, 4\)"):
        pool(np.zeros((2, 3, 1), "float32"), mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="zero-length"):
        pool(np.zeros((2, 0, 1), "float32"))
