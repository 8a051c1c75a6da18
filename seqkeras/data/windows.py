"""Windows and shifted targets: language-model inputs/targets and time-series windows.

- `shift_by_one`: next-token targets for a set of sequences, with bos/eos.
- `stream_windows`: one long id stream cut into `batch_size` contiguous lanes, so row j of batch
  i continues row j of batch i-1 (truncated backpropagation through time with stateful RNNs).
- `series_windows`: (input window, target window) pairs from a 1-D or multivariate series.
- `fit_standardization`: mean / std fitted on a training range only, applied anywhere.
"""

import collections

import numpy as np
import tensorflow as tf

from seqkeras.data.vocabulary import BOS_ID, EOS_ID


def shift_by_one(ids, bos_id=BOS_ID, eos_id=EOS_ID):
    """Autoregressive inputs and targets: `inputs[t]` predicts `targets[t]`.

    Each sequence becomes `full = [bos] + ids + [eos]`, then `inputs = full[:-1]` and
    `targets = full[1:]`. With `bos_id=None` (or `eos_id=None`) that id is not added, so with
    both None this is the plain shift `ids[:-1] -> ids[1:]`. Works on one sequence `(T,)`
    (e.g. inside `Dataset.map`) or on a batch `(B, None)` ragged / `(B, T)` dense, where every
    row is treated as a full sequence (no padding expected).

    Args:
        ids: int tensor `(T,)`, `(B, T)` or ragged `(B, None)`.
        bos_id: id prepended, or None.
        eos_id: id appended, or None.

    Returns:
        `(inputs, targets)` of the same kind as `ids`, each row of length `T + n_added - 1`.

    Example:

    >>> inputs, targets = shift_by_one(tf.ragged.constant([[7, 8], [9]]))
    >>> inputs.to_list(), targets.to_list()
    ([[2, 7, 8], [2, 9]], [[7, 8, 3], [9, 3]])
    """
    is_ragged = isinstance(ids, tf.RaggedTensor)
    if not is_ragged:
        ids = tf.convert_to_tensor(ids)
    rank = ids.shape.rank
    if rank not in (1, 2):
        raise ValueError(f"`ids` must be (T,) or (B, T). Received shape {ids.shape}")
    if rank == 1:
        inputs, targets = shift_by_one(ids[tf.newaxis], bos_id, eos_id)
        return inputs[0], targets[0]
    rows = ids.nrows() if is_ragged else tf.shape(ids)[0]
    pieces = []
    if bos_id is not None:
        pieces.append(tf.fill(tf.stack([rows, 1]), tf.cast(bos_id, ids.dtype)))
    pieces.append(ids)
    if eos_id is not None:
        pieces.append(tf.fill(tf.stack([rows, 1]), tf.cast(eos_id, ids.dtype)))
    full = tf.concat(pieces, axis=1) if len(pieces) > 1 else ids  # (B, T + n_added)
    return full[:, :-1], full[:, 1:]


def stream_window_count(length, batch_size, window):
    """`(batches, dropped_tokens)` that `stream_windows` gives for a stream of `length` ids."""
    lane = (length - 1) // batch_size
    batches = lane // window
    used = batches * window * batch_size
    return batches, length - used


def stream_windows(ids_1d, batch_size, window):
    """Contiguous `(inputs, targets)` windows of one long stream, lane by lane.

    The stream is cut into `batch_size` lanes of equal length `L = (len - 1) // batch_size`;
    lane j covers `ids[j*L : (j+1)*L + 1]`. Batch i holds window i of every lane, so row j of
    batch i continues row j of batch i-1 exactly and `targets` are `inputs` shifted by one
    step. The tail that does not fill a whole window in every lane is dropped
    (`stream_window_count` says how many ids).

    Args:
        ids_1d: 1-D int array or tensor (e.g. the character ids of a corpus).
        batch_size: number of lanes (rows per batch).
        window: time steps per batch (the truncated-BPTT length).

    Returns:
        `tf.data.Dataset` of `(inputs, targets)`, each int32 `(batch_size, window)`, in order.

    Raises:
        ValueError: bad sizes, or a stream too short for one batch.

    Example:

    >>> ds = stream_windows(np.arange(9), batch_size=2, window=2)
    >>> [(x.tolist(), y.tolist()) for x, y in ds.as_numpy_iterator()]
    [([[0, 1], [4, 5]], [[1, 2], [5, 6]]), ([[2, 3], [6, 7]], [[3, 4], [7, 8]])]
    """
    for name, value in (("batch_size", batch_size), ("window", window)):
        if int(value) != value or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value}")
    ids = tf.convert_to_tensor(ids_1d)
    if ids.shape.rank != 1:
        raise ValueError(f"`ids_1d` must be 1-D. Received shape {ids.shape}")
    ids = tf.cast(ids, tf.int32)
    length = int(ids.shape[0])
    batches, _ = stream_window_count(length, batch_size, window)
    if batches < 1:
        raise ValueError(
            f"A stream of {length} ids is too short for one batch of {batch_size} lanes x {window} steps "
            f"(needs at least {batch_size * window + 1})."
        )
    lane = batches * window
    # Lanes start L = (length - 1) // batch_size apart; each uses its first `lane + 1` ids.
    starts = tf.range(batch_size) * ((length - 1) // batch_size)  # (B,)
    positions = starts[:, None] + tf.range(lane + 1)[None, :]  # (B, lane + 1)
    lanes = tf.gather(ids, positions)  # (B, lane + 1)
    inputs = tf.reshape(lanes[:, :-1], [batch_size, batches, window])  # (B, N, W)
    targets = tf.reshape(lanes[:, 1:], [batch_size, batches, window])  # (B, N, W)
    inputs = tf.transpose(inputs, [1, 0, 2])  # (N, B, W)
    targets = tf.transpose(targets, [1, 0, 2])  # (N, B, W)
    return tf.data.Dataset.from_tensor_slices((inputs, targets))


# --------------------------------------------------------------------------------------------
# Time series
# --------------------------------------------------------------------------------------------
def check_finite(values, name="series"):
    """Raises ValueError naming the first NaN / inf position of `values` (1-D or 2-D)."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.number):
        raise TypeError(f"`{name}` must be numeric. Received dtype={values.dtype}")
    bad = ~np.isfinite(values)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"index {index[0]}" if len(index) == 1 else f"index {index[0]} (row), column {index[1]}"
        raise ValueError(
            f"`{name}` has {int(bad.sum())} non-finite value(s); the first is {values[index]!r} at {where}."
        )
    return values


Standardization = collections.namedtuple("Standardization", ["mean", "std"])
Standardization.__doc__ = "Per-feature mean and std fitted by `fit_standardization`."


def fit_standardization(train_values):
    """Per-feature mean and std of the training part only (std 0 becomes 1).

    Returns a `Standardization(mean, std)`; use `standardize` / `unstandardize` with it.
    """
    train_values = check_finite(np.asarray(train_values, dtype=np.float64), "train_values")
    if train_values.shape[0] < 2:
        raise ValueError(f"Need at least 2 training steps to fit a standardization. Received {train_values.shape[0]}")
    mean = train_values.mean(axis=0)
    std = train_values.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return Standardization(mean, std)


def standardize(values, standardization):
    """`(values - mean) / std` with a fitted `Standardization`."""
    return (np.asarray(values, dtype=np.float64) - standardization.mean) / standardization.std


def unstandardize(values, standardization, columns=None):
    """Inverse of `standardize`; `columns` picks the features that `values` holds (targets)."""
    mean, std = standardization.mean, standardization.std
    if columns is not None:
        mean, std = np.atleast_1d(mean)[list(columns)], np.atleast_1d(std)[list(columns)]
    return np.asarray(values) * std + mean


def window_starts(length, input_width, horizon=1, shift=1, stride=1, target_range=None):
    """Start indices of the windows `series_windows` makes.

    A window starting at `t` reads inputs `[t, t + input_width)` and targets
    `[t + input_width - 1 + shift, ... + horizon)`. With `target_range=(lo, hi)`, only windows
    whose targets lie entirely in `[lo, hi)` are kept.
    """
    for name, value, low in (("input_width", input_width, 1), ("horizon", horizon, 1),
                             ("shift", shift, 1), ("stride", stride, 1)):
        if int(value) != value or value < low:
            raise ValueError(f"`{name}` must be an integer >= {low}. Received: {name}={value}")
    span = input_width - 1 + shift + horizon  # steps one window touches
    if span > length:
        raise ValueError(
            f"A window spans {span} steps (input_width={input_width}, shift={shift}, horizon={horizon}) "
            f"but the series has only {length}."
        )
    starts = np.arange(0, length - span + 1, stride)
    if target_range is not None:
        lo, hi = target_range
        first_target = starts + input_width - 1 + shift
        starts = starts[(first_target >= lo) & (first_target + horizon <= hi)]
    return starts


def series_windows(
    series,
    input_width,
    horizon=1,
    shift=1,
    stride=1,
    target_columns=None,
    batch_size=32,
    shuffle=False,
    seed=0,
    starts=None,
):
    """(inputs, targets) windows of a 1-D or multivariate series as a `tf.data.Dataset`.

    Inputs are `input_width` consecutive steps; targets are the `horizon` steps that begin
    `shift` steps after the last input step (`shift=1`: right after it). Window starts are
    `stride` apart. A 1-D series is treated as one feature.

    Args:
        series: float array `(T,)` or `(T, F)`, finite (NaN/inf raise, naming the index).
        input_width: input steps per window.
        horizon: target steps per window.
        shift: steps from the last input step to the first target step (>= 1).
        stride: steps between consecutive window starts.
        target_columns: feature indices predicted (default all).
        batch_size: batch size, or None for unbatched windows.
        shuffle: shuffle windows (seeded) before batching.
        seed: shuffle seed.
        starts: explicit window starts (as from `window_starts`) instead of all of them.

    Returns:
        Dataset of `(inputs float32 (B, input_width, F), targets float32 (B, horizon, n_targets))`.

    Raises:
        ValueError: non-finite values, a window longer than the series, bad sizes.
    """
    values = check_finite(np.asarray(series, dtype=np.float64))
    if values.ndim == 1:
        values = values[:, None]  # (T, 1)
    if values.ndim != 2:
        raise ValueError(f"`series` must be (T,) or (T, F). Received shape {np.shape(series)}")
    features = values.shape[1]
    columns = list(range(features)) if target_columns is None else [int(c) for c in target_columns]
    if not columns or min(columns) < 0 or max(columns) >= features:
        raise ValueError(f"`target_columns` must index the {features} features. Received: target_columns={target_columns}")
    if starts is None:
        starts = window_starts(len(values), input_width, horizon, shift, stride)
    else:
        window_starts(len(values), input_width, horizon, shift, stride)  # validates the sizes
        starts = np.asarray(starts, dtype=np.int64)
        span = input_width - 1 + shift + horizon
        if starts.size and (starts.min() < 0 or starts.max() + span > len(values)):
            raise ValueError(f"`starts` must lie in [0, {len(values) - span}]. Received {starts.min()}..{starts.max()}")
    if len(starts) == 0:
        raise ValueError("No window fits the requested range.")
    table = tf.constant(values, dtype=tf.float32)  # (T, F)
    input_offsets = tf.range(input_width, dtype=tf.int64)  # (W,)
    target_offsets = tf.range(horizon, dtype=tf.int64) + (input_width - 1 + shift)  # (H,)
    column_ids = tf.constant(columns, dtype=tf.int32)

    def gather(start):
        # start: (B,) or () -> inputs (..., W, F), targets (..., H, n_targets)
        inputs = tf.gather(table, start[..., None] + input_offsets)
        targets = tf.gather(tf.gather(table, start[..., None] + target_offsets), column_ids, axis=-1)
        return inputs, targets

    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(starts, dtype=tf.int64))
    if shuffle:
        dataset = dataset.shuffle(len(starts), seed=seed, reshuffle_each_iteration=True)
    if batch_size is not None:
        dataset = dataset.batch(batch_size)
    return dataset.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def series_window_arrays(series, input_width, horizon=1, target_columns=None, origins=None):
    """Direct-forecast windows as NumPy arrays: inputs `(N, input_width, F)`, targets `(N, horizon, T)`.

    Window `i` reads `series[o - input_width : o]` and targets `series[o : o + horizon]` at origin
    `o` (the first forecast step); by default every origin whose inputs and targets fit in the
    series. A 1-D series is one feature.

    Example:

    >>> x, y = series_window_arrays(np.arange(6.0), input_width=3, horizon=2)
    >>> x[:, :, 0].tolist(), y[:, :, 0].tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [[3.0, 4.0], [4.0, 5.0]])
    """
    values = check_finite(np.asarray(series, dtype=np.float64))
    if values.ndim == 1:
        values = values[:, None]  # (T, 1)
    columns = list(range(values.shape[1])) if target_columns is None else [int(c) for c in target_columns]
    if origins is None:
        window_starts(len(values), input_width, horizon)  # validates the sizes
        origins = np.arange(input_width, len(values) - horizon + 1)
    origins = np.asarray(origins, dtype=np.int64)
    if origins.size and (origins.min() < input_width or origins.max() + horizon > len(values)):
        raise ValueError(f"`origins` must lie in [{input_width}, {len(values) - horizon}]. "
                         f"Received {origins.min()}..{origins.max()}")
    inputs = np.stack([values[o - input_width:o] for o in origins])  # (N, W, F)
    targets = np.stack([values[o:o + horizon][:, columns] for o in origins])  # (N, H, T)
    return inputs, targets
