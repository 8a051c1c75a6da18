"""Walk-forward (rolling-origin) evaluation for time series, built so that leakage cannot happen."""

import collections

import numpy as np

from seqkeras.data.windows import (
    check_finite,
    fit_standardization,
    series_windows,
    standardize,
    window_starts,
)

Fold = collections.namedtuple("Fold", ["index", "train", "test"])
Fold.__doc__ = "One walk-forward fold: `train` and `test` are half-open `(start, end)` step ranges."

FoldData = collections.namedtuple("FoldData", ["fold", "train", "test", "standardization"])
FoldData.__doc__ = (
    "A fold with its datasets: `train` / `test` are `tf.data.Dataset`s of (inputs, targets) "
    "in standardized units; `standardization` was fitted on the fold's training steps only."
)


class WalkForwardSplit:
    """Folds that move forward in time: train on the past, test on the next `horizon` steps.

    Fold k trains on `[train_start, train_end)` with `train_end = train_size + k * step`
    (`train_start = 0` when expanding, `train_end - train_size` when sliding), skips `gap`
    steps, and tests on `[train_end + gap, train_end + gap + horizon)`. Folds stop when the
    test range would pass the end of the series.

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
        max_folds: keep only the last `max_folds` folds (None: all).

    Example:

    >>> [tuple(f) for f in WalkForwardSplit(train_size=4, horizon=2).split(9)]
    [(0, (0, 4), (4, 6)), (1, (0, 6), (6, 8))]
    """

    MODES = ("expanding", "sliding")

    def __init__(self, train_size, horizon, step=None, gap=0, mode="expanding", max_folds=None):
        step = horizon if step is None else step
        for name, value, low in (("train_size", train_size, 1), ("horizon", horizon, 1),
                                 ("step", step, 1), ("gap", gap, 0)):
            if int(value) != value or value < low:
                raise ValueError(f"`{name}` must be an integer >= {low}. Received: {name}={value}")
        if mode not in self.MODES:
            raise ValueError(f"`mode` must be one of {self.MODES}. Received: mode={mode!r}")
        if max_folds is not None and (int(max_folds) != max_folds or max_folds < 1):
            raise ValueError(f"`max_folds` must be a positive integer or None. Received: max_folds={max_folds}")
        self.train_size = int(train_size)
        self.horizon = int(horizon)
        self.step = int(step)
        self.gap = int(gap)
        self.mode = mode
        self.max_folds = max_folds

    def split(self, length):
        """The folds for a series of `length` steps (a list of `Fold`).

        Raises:
            ValueError: the series cannot hold one training range, gap and test range.
        """
        needed = self.train_size + self.gap + self.horizon
        if length < needed:
            raise ValueError(
                f"A series of {length} steps is too short for one fold "
                f"(train_size={self.train_size} + gap={self.gap} + horizon={self.horizon} = {needed})."
            )
        folds = []
        train_end = self.train_size
        while train_end + self.gap + self.horizon <= length:
            train_start = 0 if self.mode == "expanding" else train_end - self.train_size
            test_start = train_end + self.gap
            folds.append(Fold(len(folds), (train_start, train_end), (test_start, test_start + self.horizon)))
            train_end += self.step
        if self.max_folds is not None:
            folds = [Fold(i, f.train, f.test) for i, f in enumerate(folds[-self.max_folds:])]
        return folds

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
        for fold in self.split(len(values)):
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
