import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from seqkeras.data import corpora
from seqkeras.data.splits import Fold, WalkForwardSplit


def test_expanding_and_sliding_folds():
    expanding = WalkForwardSplit(train_size=4, horizon=2, gap=1).split(12)
    assert expanding == [Fold(0, (0, 4), (5, 7)), Fold(1, (0, 6), (7, 9)), Fold(2, (0, 8), (9, 11))]
    sliding = WalkForwardSplit(train_size=4, horizon=2, step=3, mode="sliding").split(12)
    assert sliding == [Fold(0, (0, 4), (4, 6)), Fold(1, (3, 7), (7, 9)), Fold(2, (6, 10), (10, 12))]
    last = WalkForwardSplit(train_size=4, horizon=2, max_folds=1).split(12)
    assert last == [Fold(0, (0, 10), (10, 12))]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    length=st.integers(5, 60), train_size=st.integers(1, 20), horizon=st.integers(1, 6),
    step=st.integers(1, 6), gap=st.integers(0, 4), mode=st.sampled_from(["expanding", "sliding"]),
)
def test_folds_never_leak(length, train_size, horizon, step, gap, mode):
    splitter = WalkForwardSplit(train_size, horizon, step=step, gap=gap, mode=mode)
    if length < train_size + gap + horizon:
        with pytest.raises(ValueError, match="too short"):
            splitter.split(length)
        return
    folds = splitter.split(length)
    for fold in folds:
        (a, b), (c, d) = fold.train, fold.test
        assert 0 <= a < b and b + gap == c and d - c == horizon and d <= length
        assert (b - a == train_size) if mode == "sliding" else a == 0
    # the next origin would not fit
    assert folds[-1].train[1] + step + gap + horizon > length


def test_fold_datasets_on_sunspots_are_leak_free():
    spots = corpora.sunspots()
    splitter = WalkForwardSplit(train_size=200, horizon=20, gap=2)
    folds = list(splitter.datasets(spots, input_width=6, target_horizon=2, batch_size=16))
    assert len(folds) == len(splitter.split(len(spots)))
    for data in folds:
        (a, b), (c, d) = data.fold.train, data.fold.test
        mean, std = data.standardization
        np.testing.assert_allclose(mean, spots[a:b].mean())
        np.testing.assert_allclose(std, spots[a:b].std())
        train_raw = np.concatenate([y for _, y in data.train.as_numpy_iterator()])[..., 0] * std + mean
        test_x, test_y = (np.concatenate(p) for p in zip(*data.test.as_numpy_iterator()))
        test_raw = test_y[..., 0] * std + mean
        # each training target is a training-range value; the last one is spots[b-1]
        np.testing.assert_allclose(train_raw[-1, -1], spots[b - 1], rtol=1e-4)
        # test targets tile the test range (stride 1), all inside [c, d)
        np.testing.assert_allclose(test_raw[0], spots[c:c + 2], rtol=1e-4)
        np.testing.assert_allclose(test_raw[-1], spots[d - 2:d], rtol=1e-4)
        assert len(test_raw) == d - c - 1
        np.testing.assert_allclose(test_x[0, :, 0] * std + mean, spots[c - 6:c], rtol=1e-4)


def test_training_windows_cannot_see_future_values():
    series = np.arange(30.0)
    series_with_future_poison = series.copy()
    series_with_future_poison[10:] = 1e9  # anything after the first training range
    clean = next(WalkForwardSplit(train_size=10, horizon=5).datasets(series, 3, standardize_values=False))
    poisoned = next(WalkForwardSplit(train_size=10, horizon=5).datasets(series_with_future_poison, 3, standardize_values=False))
    for (x1, y1), (x2, y2) in zip(clean.train.as_numpy_iterator(), poisoned.train.as_numpy_iterator()):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"train_size": 0, "horizon": 1}, "train_size=0"), ({"train_size": 5, "horizon": 1, "gap": -1}, "gap=-1"),
     ({"train_size": 5, "horizon": 1, "mode": "rolling"}, "mode='rolling'"),
     ({"train_size": 5, "horizon": 1, "max_folds": 0}, "max_folds=0")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WalkForwardSplit(**kwargs)


def test_nan_series_names_index():
    series = np.arange(30.0)
    series[17] = np.nan
    with pytest.raises(ValueError, match="index 17"):
        next(WalkForwardSplit(10, 5).datasets(series, 3))
