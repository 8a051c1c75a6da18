"""Walk-forward (rolling-origin) evaluation for time series, built so that leakage cannot happen."""

import collections
import warnings

import numpy as np

from seqkeras.data.windows import (
    check_finite,
    fit_standardization,
    series_windows,
    standardize,
    window_starts,
)

Fold = collections.namedtuple("Fold", ["index", "train", "test", "refit"], defaults=(True,))
Fold.__doc__ = (
    "One walk-forward fold: `train` and `test` are half-open `(start, end)` step ranges; `refit` "
    "says whether a model is (re)fitted at this fold or the last refitted one is reused."
)

FoldData = collections.namedtuple("FoldData", ["fold", "train", "test", "standardization"])
FoldData.__doc__ = (
    "A fold with its datasets: `train` / `test` are `tf.data.Dataset`s of (inputs, targets) "
    "in standardized units; `standardization` was fitted on the fold's training steps only."
)


class WalkForwardSplit:
    """Folds that move forward in time: train on the past, test on the next `horizon` steps.

    Fold k trains on `[train_start, train_end)` with `train_end = train_size + k * step`
    (`train_start = 0` when expanding, `train_end - train_size` when sliding), skips `gap`
    steps, and tests on `[train_end + gap, train_end + gap + horizon)`. When the next test
    range would pass the end of the series but still starts inside it, that last partial fold
    is kept with a shorter test range (`keep_partial=True`) or dropped with a warning naming the
    steps left untested (`keep_partial=False`; `untested(length)` returns them).

    `split(X)` follows scikit-learn's splitter protocol (`TimeSeriesSplit`): it yields
    `(train_idx, test_idx)` integer arrays; `get_n_splits(X)` counts them. With
    `train_size = n - n_splits * h - gap`, `horizon = step = h` it gives exactly
    `TimeSeriesSplit(n_splits, test_size=h, gap=gap)`'s indices (`mode="sliding"`: with
    `max_train_size=train_size`). `anchored` builds such a splitter from a length.

    `datasets()` enforces the no-leakage rules: training windows are cut from a copy of the
    training steps only (inputs and targets inside `[train_start, train_end)`), the
    standardization is fitted on those steps only, and test windows have all their targets
    inside the test range. Test inputs are the steps right before their targets (observed at
    forecast time), which may reach back into the gap and training range.

    Args:
        train_size: steps in the first training range (and the width of every sliding range).
        horizon: test steps per fold.
        step: how far the origin moves between folds (default `horizon`: test ranges tile).
        gap: steps left out between training and test ranges.
        mode: `"expanding"` or `"sliding"`.
        max_train_size: width of the sliding training ranges (default `train_size`); the
            first ones may be shorter. Ignored when expanding.
        max_folds: keep only the last `max_folds` folds (None: all).
        refit_every: fold k has `refit=True` when `k % refit_every == 0` (1: refit every fold).
        keep_partial: keep a last fold whose test range is cut short by the end of the series.

    Example:

    >>> [tuple(f) for f in WalkForwardSplit(train_size=4, horizon=2).folds(9)]
    [(0, (0, 4), (4, 6), True), (1, (0, 6), (6, 8), True), (2, (0, 8), (8, 9), True)]
    >>> [(tr.tolist(), te.tolist()) for tr, te in WalkForwardSplit(3, 2, keep_partial=False).split(np.zeros(7))]
    [([0, 1, 2], [3, 4]), ([0, 1, 2, 3, 4], [5, 6])]
    """

    MODES = ("expanding", "sliding")

    def __init__(self, train_size, horizon, step=None, gap=0, mode="expanding", max_folds=None, refit_every=1,
                 keep_partial=True, max_train_size=None):
        step = horizon if step is None else step
        for name, value, low in (("train_size", train_size, 1), ("horizon", horizon, 1),
                                 ("step", step, 1), ("gap", gap, 0), ("refit_every", refit_every, 1)):
            if isinstance(value, bool) or int(value) != value or value < low:
                raise ValueError(f"`{name}` must be an integer >= {low}. Received: {name}={value}")
        if mode not in self.MODES:
            raise ValueError(f"`mode` must be one of {self.MODES}. Received: mode={mode!r}")
        if max_train_size is not None and (isinstance(max_train_size, bool) or int(max_train_size) != max_train_size
                                           or max_train_size < 1):
            raise ValueError(f"`max_train_size` must be a positive integer or None. Received: max_train_size={max_train_size}")
        if max_folds is not None and (int(max_folds) != max_folds or max_folds < 1):
            raise ValueError(f"`max_folds` must be a positive integer or None. Received: max_folds={max_folds}")
        self.train_size = int(train_size)
        self.horizon = int(horizon)
        self.step = int(step)
        self.gap = int(gap)
        self.mode = mode
        self.max_folds = max_folds
        self.refit_every = int(refit_every)
        self.keep_partial = bool(keep_partial)
        self.max_train_size = None if max_train_size is None else int(max_train_size)

    @classmethod
    def anchored(cls, length, n_splits, horizon, step=None, gap=0, mode="expanding", sliding_size=None,
                 refit_every=1):
        """`n_splits` folds whose last test range ends exactly at the end of a `length`-step series.

        The first training range is what is left before the first test range and the gap; with
        `mode="sliding"` every training range holds the last `sliding_size` steps instead (default:
        as many as the first).
        """
        step = horizon if step is None else step
        train_size = length - gap - horizon - (n_splits - 1) * step
        if train_size < 1:
            raise ValueError(f"A series of {length} steps is too short for {n_splits} folds of horizon {horizon} "
                             f"(step {step}, gap {gap}): it needs at least {length - train_size + 1} steps.")
        return cls(train_size, horizon, step=step, gap=gap, mode=mode, max_train_size=sliding_size,
                   refit_every=refit_every)

    def _length(self, X):
        if isinstance(X, (int, np.integer)):
            return int(X)
        return len(X)

    def folds(self, X):
        """The folds (a list of `Fold`) for a series of `X` steps (an int, or anything with a length).

        Raises:
            ValueError: the series cannot hold one training range, gap and test step.
        """
        length = self._length(X)
        test_steps = 1 if self.keep_partial else self.horizon
        needed = self.train_size + self.gap + test_steps
        if length < needed:
            raise ValueError(
                f"A series of {length} steps is too short for one fold "
                f"(train_size={self.train_size} + gap={self.gap} + {test_steps} test step(s) = {needed})."
            )
        width = self.max_train_size or self.train_size
        folds, dropped = [], False
        train_end = self.train_size
        while train_end + self.gap < length:
            test_start = train_end + self.gap
            test_end = test_start + self.horizon
            if test_end > length:
                if not self.keep_partial:
                    dropped = True
                    break
                test_end = length
            train_start = 0 if self.mode == "expanding" else max(0, train_end - width)
            folds.append(Fold(len(folds), (train_start, train_end), (test_start, test_end)))
            train_end += self.step
        if self.max_folds is not None:
            folds = folds[-self.max_folds:]
        folds = [Fold(i, f.train, f.test, i % self.refit_every == 0) for i, f in enumerate(folds)]
        if dropped:
            start, end = self.untested(length, folds)
            warnings.warn(f"WalkForwardSplit: a partial last fold was dropped; the last {end - start} step(s) "
                          f"[{start}, {end}) are in no test range (keep_partial=True keeps it).", stacklevel=2)
        return folds

    def untested(self, X, folds=None):
        """`(start, end)`: the steps after the last test range that no fold tests (empty: start == end)."""
        length = self._length(X)
        folds = self.folds(length) if folds is None else folds
        end = folds[-1].test[1] if folds else length
        return (end, length)

    def split(self, X, y=None, groups=None):
        """Yields `(train_idx, test_idx)` int arrays per fold, like scikit-learn's `TimeSeriesSplit`."""
        for fold in self.folds(X):
            yield np.arange(*fold.train), np.arange(*fold.test)

    def get_n_splits(self, X=None, y=None, groups=None):
        """The number of folds for `X` (required: the count depends on the series length)."""
        if X is None:
            raise ValueError("`get_n_splits` needs `X` (or its length): the number of folds depends on it.")
        return len(self.folds(X))

    def datasets(
        self,
        series,
        input_width,
        target_horizon=1,
        shift=1,
        stride=1,
        target_columns=None,
        batch_size=32,
        standardize_values=True,
        shuffle_train=False,
        seed=0,
    ):
        """Yields a `FoldData` per fold with leakage-free train and test window datasets.

        Args:
            series: float array `(T,)` or `(T, F)` (NaN/inf raise, naming the index).
            input_width, target_horizon, shift, stride, target_columns: window shape, as in
                `windows.series_windows` (`target_horizon` is its `horizon`).
            batch_size: batch size of both datasets.
            standardize_values: standardize with mean/std of the fold's training steps.
            shuffle_train: shuffle training windows (seeded); test windows stay in order.
            seed: shuffle seed.
        """
        values = check_finite(np.asarray(series, dtype=np.float64))
        for fold in self.folds(len(values)):
            train_start, train_end = fold.train
            test_start, test_end = fold.test
            train_values = values[train_start:train_end].copy()  # nothing later is reachable
            visible = values[:test_end].copy()
            standardization = None
            if standardize_values:
                standardization = fit_standardization(train_values)
                train_values = standardize(train_values, standardization)
                visible = standardize(visible, standardization)
            train = series_windows(
                train_values, input_width, horizon=target_horizon, shift=shift, stride=stride,
                target_columns=target_columns, batch_size=batch_size, shuffle=shuffle_train, seed=seed,
            )
            starts = window_starts(
                len(visible), input_width, target_horizon, shift, stride=1, target_range=(test_start, test_end)
            )
            if len(starts) == 0 and test_end - test_start < target_horizon:
                continue  # a partial last fold shorter than one target window
            if len(starts) == 0:
                raise ValueError(
                    f"Fold {fold.index}: no test window has all {target_horizon} targets inside {fold.test}; "
                    f"use horizon >= target_horizon."
                )
            test = series_windows(
                visible, input_width, horizon=target_horizon, shift=shift, stride=1,
                target_columns=target_columns, batch_size=batch_size, starts=starts,
            )
            yield FoldData(fold, train, test, standardization)
