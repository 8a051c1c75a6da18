import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.model_selection import TimeSeriesSplit

from seqkeras.data import corpora
from seqkeras.data.splits import Fold, WalkForwardSplit


def test_expanding_and_sliding_folds():
    expanding = WalkForwardSplit(train_size=4, horizon=2, gap=1, keep_partial=False).folds(12)
    assert expanding == [Fold(0, (0, 4), (5, 7)), Fold(1, (0, 6), (7, 9)), Fold(2, (0, 8), (9, 11))]
    sliding = WalkForwardSplit(train_size=4, horizon=2, step=3, mode="sliding").folds(12)
    assert sliding == [Fold(0, (0, 4), (4, 6)), Fold(1, (3, 7), (7, 9)), Fold(2, (6, 10), (10, 12))]
    last = WalkForwardSplit(train_size=4, horizon=2, max_folds=1).folds(12)
    assert last == [Fold(0, (0, 10), (10, 12))]


def test_partial_last_fold_is_kept_or_reported():
    kept = WalkForwardSplit(train_size=4, horizon=2, gap=1).folds(12)
    assert kept[-1] == Fold(3, (0, 10), (11, 12))  # one test step left: a shorter horizon
    with pytest.warns(UserWarning, match=r"last 1 step\(s\) \[11, 12\)"):
        dropped = WalkForwardSplit(train_size=4, horizon=2, gap=1, keep_partial=False).folds(12)
    assert len(dropped) == 3
    assert WalkForwardSplit(4, 2, gap=1, keep_partial=False).untested(12, dropped) == (11, 12)


def test_refit_every_marks_folds():
    folds = WalkForwardSplit(train_size=5, horizon=1, refit_every=3).folds(12)
    assert [f.refit for f in folds] == [True, False, False, True, False, False, True]


@pytest.mark.parametrize("n_splits,test_size,gap,sliding", [(5, 11, 0, False), (3, 4, 2, False), (4, 7, 1, True)])
def test_split_equals_sklearn_time_series_split(n_splits, test_size, gap, sliding):
    spots = corpora.sunspots()
    n = len(spots)
    train_size = n - n_splits * test_size - gap
    ours = WalkForwardSplit(train_size, test_size, gap=gap, mode="sliding" if sliding else "expanding",
                            max_train_size=60 if sliding else None)
    theirs = TimeSeriesSplit(n_splits, test_size=test_size, gap=gap, max_train_size=60 if sliding else None)
    pairs = list(zip(ours.split(spots), theirs.split(spots), strict=True))
    assert ours.get_n_splits(spots) == theirs.get_n_splits(spots) == n_splits
    for (our_train, our_test), (train, test) in pairs:
        np.testing.assert_array_equal(our_train, train)
        np.testing.assert_array_equal(our_test, test)
    anchored = WalkForwardSplit.anchored(n, n_splits, test_size, gap=gap,
                                         mode="sliding" if sliding else "expanding", sliding_size=60 if sliding else None)
    for (a_train, a_test), (train, test) in zip(anchored.split(spots), theirs.split(spots), strict=True):
        np.testing.assert_array_equal(a_train, train)
        np.testing.assert_array_equal(a_test, test)


def test_anchored_names_the_minimum_length():
    with pytest.raises(ValueError, match="at least 41 steps"):
        WalkForwardSplit.anchored(40, n_splits=3, horizon=10, gap=10)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    length=st.integers(5, 60), train_size=st.integers(1, 20), horizon=st.integers(1, 6),
    step=st.integers(1, 6), gap=st.integers(0, 4), mode=st.sampled_from(["expanding", "sliding"]),
)
def test_folds_never_leak(length, train_size, horizon, step, gap, mode):
    splitter = WalkForwardSplit(train_size, horizon, step=step, gap=gap, mode=mode)
    if length < train_size + gap + 1:
        with pytest.raises(ValueError, match="too short"):
            splitter.folds(length)
        return
    folds = splitter.folds(length)
    for fold in folds:
        (a, b), (c, d) = fold.train, fold.test
        assert 0 <= a < b and b + gap == c and 1 <= d - c <= horizon and d <= length
        assert (d - c == horizon) or d == length  # only the last fold may be partial
        assert (b - a == train_size) if mode == "sliding" else a == 0
    # the next origin would not fit
    assert folds[-1].train[1] + step + gap >= length
    for train_idx, test_idx in splitter.split(np.zeros(length)):
        # no test index inside the training span + gap, and training never reaches the test range
        assert test_idx.min() >= train_idx.max() + 1 + gap
        assert np.intersect1d(train_idx, test_idx).size == 0


def test_fold_datasets_on_sunspots_are_leak_free():
    spots = corpora.sunspots()
    splitter = WalkForwardSplit(train_size=200, horizon=20, gap=2, keep_partial=False)
    folds = list(splitter.datasets(spots, input_width=6, target_horizon=2, batch_size=16))
    assert len(folds) == splitter.get_n_splits(spots)
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
