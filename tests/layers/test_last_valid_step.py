import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from helpers import assert_padded_matches_unpadded, run_layer_test
from seqkeras.layers import ElmanCell, LastValidStep


def test_layer_contract(sunspot_batch):
    inputs, mask = sunspot_batch
    out = run_layer_test(
        LastValidStep,
        {},
        inputs,
        expected_output_shape=(4, 2),
        mask=mask,
        expected_output_mask=None,
        expected_num_trainable_weights=0,
    )
    lengths = mask.sum(axis=1)
    np.testing.assert_array_equal(out, inputs[np.arange(4), lengths - 1])


def test_picks_the_last_valid_step_of_each_row():
    x = np.arange(12, dtype="float32").reshape(3, 4, 1)
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], bool)
    np.testing.assert_array_equal(LastValidStep()(x, mask=mask), [[1.0], [7.0], [8.0]])
    np.testing.assert_array_equal(LastValidStep()(x), [[3.0], [7.0], [11.0]])


def test_rank_two_and_integer_inputs():
    ids = np.array([[5, 6, 0], [7, 0, 0]], "int32")
    np.testing.assert_array_equal(LastValidStep()(ids, mask=ids != 0), [6, 7])


@settings(max_examples=15, deadline=None, derandomize=True)
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_matches_indexing_for_any_right_padding(lengths, seed):
    x = np.random.default_rng(seed).normal(size=(len(lengths), 6, 2)).astype("float32")
    mask = np.arange(6)[None, :] < np.array(lengths)[:, None]
    got = keras.ops.convert_to_numpy(LastValidStep()(x, mask=mask))
    np.testing.assert_array_equal(got, x[np.arange(len(lengths)), np.array(lengths) - 1])


def test_reads_the_label_step_of_a_causal_rnn(sunspot_sequences):
    # The classic use: the final state of a causal model over a padded batch.
    keras.utils.set_random_seed(0)
    rnn = keras.layers.RNN(ElmanCell(3), return_sequences=True)
    last = LastValidStep()
    assert_padded_matches_unpadded(
        lambda x, m: last(rnn(x, mask=m), mask=m), sunspot_sequences, per_step=False, pad_value=1e3
    )


@pytest.mark.parametrize(
    "mask_row", [[False, True, True], [True, False, True], [False, False, True]]
)
def test_left_or_inner_padding_is_an_error(mask_row):
    x = np.ones((2, 3, 1), "float32")
    mask = np.array([[True, True, True], mask_row])
    with pytest.raises(tf.errors.InvalidArgumentError, match="right-padded"):
        LastValidStep()(x, mask=mask)


def test_left_padding_is_an_error_in_a_compiled_model():
    x_in = keras.Input((None, 1))
    m_in = keras.Input((None,), dtype="bool")
    model = keras.Model([x_in, m_in], LastValidStep()(x_in, mask=m_in))
    x = np.ones((1, 3, 1), "float32")
    model.predict_on_batch([x, np.array([[True, True, False]])])
    with pytest.raises(tf.errors.InvalidArgumentError, match="right-padded"):
        model.predict_on_batch([x, np.array([[False, True, True]])])


def test_all_pad_row_and_bad_inputs():
    with pytest.raises(tf.errors.InvalidArgumentError, match="no valid .*step"):
        LastValidStep()(np.ones((1, 3, 1), "float32"), mask=np.zeros((1, 3), bool))
    with pytest.raises(ValueError, match=r"Received: inputs.shape=\(3,\)"):
        LastValidStep()(np.ones((3,), "float32"))
    with pytest.raises(ValueError, match=r"Received: mask.shape=\(1, 2\)"):
        LastValidStep()(np.ones((1, 3, 1), "float32"), mask=np.ones((1, 2), bool))
    with pytest.raises(ValueError, match="zero-length"):
        LastValidStep()(np.ones((1, 0, 1), "float32"))
