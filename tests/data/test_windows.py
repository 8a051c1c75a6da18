import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from seqkeras.data import corpora
from seqkeras.data.tokenization import CharTokenizer
from seqkeras.data.vocabulary import BOS_ID, EOS_ID, Vocabulary
from seqkeras.data.windows import (
    fit_standardization,
    series_windows,
    shift_by_one,
    standardize,
    stream_window_count,
    stream_windows,
    unstandardize,
)


@pytest.fixture(scope="module")
def wiki_char_ids():
    text = corpora.wiki_articles()[2].text[:4000]
    chars = CharTokenizer().tokenize(tf.constant(text))
    vocab = Vocabulary.build([chars.numpy().tolist()])
    return vocab.lookup(chars).numpy()


@pytest.mark.parametrize(
    "bos,eos,inputs,targets",
    [
        (BOS_ID, EOS_ID, [[2, 7, 8], [2, 9], [2]], [[7, 8, 3], [9, 3], [3]]),
        (None, EOS_ID, [[7, 8], [9], []], [[8, 3], [3], []]),
        (BOS_ID, None, [[2, 7], [2], []], [[7, 8], [9], []]),
        (None, None, [[7], [], []], [[8], [], []]),
    ],
)
def test_shift_by_one_table(bos, eos, inputs, targets):
    x, y = shift_by_one(tf.ragged.constant([[7, 8], [9], []]), bos_id=bos, eos_id=eos)
    assert x.to_list() == inputs and y.to_list() == targets


def test_shift_by_one_single_sequence_in_dataset(wiki_char_ids):
    ds = tf.data.Dataset.from_tensor_slices(tf.RaggedTensor.from_row_lengths(wiki_char_ids[:30], [10, 20]))
    for (x, y), row in zip(ds.map(shift_by_one).as_numpy_iterator(), (wiki_char_ids[:10], wiki_char_ids[10:30])):
        np.testing.assert_array_equal(x, np.concatenate([[BOS_ID], row]))
        np.testing.assert_array_equal(y, np.concatenate([row, [EOS_ID]]))
        np.testing.assert_array_equal(x[1:], y[:-1])


def test_stream_windows_lanes_continue_on_real_ids(wiki_char_ids):
    batch_size, window = 4, 16
    batches = list(stream_windows(wiki_char_ids, batch_size, window).as_numpy_iterator())
    expected_batches, dropped = stream_window_count(len(wiki_char_ids), batch_size, window)
    assert len(batches) == expected_batches and 0 <= dropped < batch_size * window + batch_size + 1
    lane = (len(wiki_char_ids) - 1) // batch_size
    for row in range(batch_size):
        stream_x = np.concatenate([x[row] for x, _ in batches])
        stream_y = np.concatenate([y[row] for _, y in batches])
        start = row * lane
        np.testing.assert_array_equal(stream_x, wiki_char_ids[start:start + len(stream_x)])
        np.testing.assert_array_equal(stream_y, wiki_char_ids[start + 1:start + 1 + len(stream_x)])
    assert batches[0][0].shape == (batch_size, window) and batches[0][0].dtype == np.int32


@settings(max_examples=30, deadline=None, derandomize=True)
@given(length=st.integers(2, 80), batch_size=st.integers(1, 6), window=st.integers(1, 8))
def test_stream_windows_property(length, batch_size, window):
    ids = np.arange(length) + 10
    batches, _ = stream_window_count(length, batch_size, window)
    if batches < 1:
        with pytest.raises(ValueError, match="too short"):
            stream_windows(ids, batch_size, window)
        return
    data = list(stream_windows(ids, batch_size, window).as_numpy_iterator())
    assert len(data) == batches
    for i in range(1, len(data)):  # row j of batch i continues row j of batch i-1
        np.testing.assert_array_equal(data[i][0][:, 0], data[i - 1][0][:, -1] + 1)
    for x, y in data:
        np.testing.assert_array_equal(y, x + 1)


def test_series_windows_sunspots_values():
    spots = corpora.sunspots()
    ds = series_windows(spots, input_width=5, horizon=2, shift=3, stride=4, batch_size=8)
    xs, ys = zip(*ds.as_numpy_iterator())
    x, y = np.concatenate(xs), np.concatenate(ys)
    span = 5 - 1 + 3 + 2
    assert len(x) == len(range(0, len(spots) - span + 1, 4))
    assert x.shape[1:] == (5, 1) and y.shape[1:] == (2, 1) and x.dtype == np.float32
    for k, start in enumerate(range(0, len(spots) - span + 1, 4)):
        np.testing.assert_allclose(x[k, :, 0], spots[start:start + 5], rtol=1e-6)
        np.testing.assert_allclose(y[k, :, 0], spots[start + 7:start + 9], rtol=1e-6)


def test_series_windows_multivariate_target_columns():
    values, columns = corpora.macrodata()
    unemp = columns.index("unemp")
    ds = series_windows(values, input_width=8, horizon=1, target_columns=[unemp], batch_size=None)
    first_x, first_y = next(iter(ds))
    assert first_x.shape == (8, 12) and first_y.shape == (1, 1)
    np.testing.assert_allclose(first_y[0, 0], values[8, unemp], rtol=1e-6)


def test_series_windows_shuffle_is_seeded_permutation():
    series = np.arange(40.0)
    plain = np.concatenate([x[:, 0, 0] for x, _ in series_windows(series, 3).as_numpy_iterator()])
    shuffled = [np.concatenate([x[:, 0, 0] for x, _ in series_windows(series, 3, shuffle=True, seed=1).as_numpy_iterator()])
                for _ in range(2)]
    np.testing.assert_array_equal(shuffled[0], shuffled[1])
    assert sorted(shuffled[0]) == sorted(plain) and not np.array_equal(shuffled[0], plain)


@pytest.mark.parametrize(
    "series,kwargs,match",
    [
        (np.array([1.0, np.nan, 3.0]), {"input_width": 1}, "at index 1"),
        (np.array([[1.0, 2.0], [3.0, np.inf]]), {"input_width": 1}, r"index 1 \(row\), column 1"),
        (np.arange(5.0), {"input_width": 5}, "only 5"),
        (np.arange(5.0), {"input_width": 2, "horizon": 0}, "horizon=0"),
        (np.arange(5.0), {"input_width": 2, "target_columns": [3]}, "target_columns"),
    ],
)
def test_series_windows_bad_input(series, kwargs, match):
    with pytest.raises(ValueError, match=match):
        series_windows(series, **kwargs)


def test_standardization_round_trip():
    values, _ = corpora.macrodata()
    stats = fit_standardization(values[:100])
    scaled = standardize(values[:100], stats)
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(unstandardize(scaled, stats), values[:100])
    np.testing.assert_allclose(unstandardize(scaled[:, [3]], stats, columns=[3]), values[:100, [3]])
    with pytest.raises(ValueError, match="non-finite"):
        fit_standardization(np.array([1.0, np.nan]))
