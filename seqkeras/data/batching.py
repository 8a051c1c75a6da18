"""Batching variable-length sequences: one entry point, five strategies.

`batch_sequences(data, strategy, ...)` turns a finite set of examples into a `tf.data.Dataset`
of batches. Sequences stay ragged `(B, None)` inside `tf.data`; `to_model_inputs` makes the
dense `token_ids` + `padding_mask` a model takes.

Strategies:

| strategy | batches | padding |
|---|---|---|
| `"random"` | `batch_size` examples drawn at random | high (skewed lengths) |
| `"sorted"` | `batch_size` consecutive examples after sorting by length; batch order shuffled | lowest, least random |
| `"bucketed"` | `batch_size` examples from one length bucket (boundaries from length quantiles) | low |
| `"token_budget"` | per-bucket batch size `token_budget // bucket_length`: short sequences get big batches, long ones small | low, constant cost per batch |
| `"packed"` | token-budget batches packed into a `PackedSequence` (PyTorch semantics) | none |

How it works: the examples are materialised once into in-memory tensors (the corpora here are
megabytes). Each epoch, one `tf.data` element computes a fresh plan in-graph - a seeded
permutation, a stable sort by bucket (or length), cut into batches - and the batches are
gathered with vectorised `tf.gather`, in parallel, with prefetch. Bucket membership and batch
sizes are fixed by the data; which examples share a batch and the batch order change every
epoch (`shuffle=True`). Every kept example appears exactly once per epoch.

Bad input: empty sequences are dropped and counted (`on_empty="drop"`, the default) or raise
(`"error"`) or are kept (`"keep"`); with a token budget, sequences longer than the budget raise
(`on_too_long="error"`, the default) or are dropped and counted (`"drop"`). Counts are in the
`BatchingInfo` that `return_info=True` returns and are logged as warnings.
"""

import collections
import logging

import numpy as np
import tensorflow as tf

from seqkeras.data.packing import PackedSequence, pack_sequences
from seqkeras.data.vocabulary import PAD_ID

STRATEGIES = ("random", "sorted", "bucketed", "token_budget", "packed")
_BUCKETED = ("bucketed", "token_budget", "packed")

logger = logging.getLogger(__name__)

BatchingInfo = collections.namedtuple(
    "BatchingInfo",
    ["strategy", "num_examples", "dropped_empty", "dropped_too_long", "boundaries",
     "bucket_batch_sizes", "bucket_widths", "batches_per_epoch"],
)
BatchingInfo.__doc__ = (
    "What `batch_sequences` planned: examples kept, dropped (empty / too long), bucket "
    "boundaries, per-bucket batch sizes and widths (longest sequence per bucket, or the padded "
    "width with `pad_to_bucket_boundary`), batches per epoch."
)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def materialize(data, chunk_size=65536):
    """All examples of a finite dataset as one structure of tensors with a leading example axis.

    Sequence components become `tf.RaggedTensor (N, None, ...)`, scalar components dense `(N,)`.
    A tensor / ragged tensor / nested structure of them is returned unchanged.
    """
    if not isinstance(data, tf.data.Dataset):
        return data
    chunks = list(data.ragged_batch(chunk_size).prefetch(1))
    if not chunks:
        raise ValueError("Cannot batch an empty dataset (it has no examples).")
    if len(chunks) == 1:
        return chunks[0]
    return tf.nest.map_structure(lambda *parts: tf.concat(parts, axis=0), *chunks)


def _first_ragged(data):
    for component in tf.nest.flatten(data, expand_composites=False):
        if isinstance(component, tf.RaggedTensor):
            return component
    raise ValueError(
        "No sequence component found: examples need at least one variable-length (ragged) component. "
        f"Received: {tf.nest.map_structure(lambda c: type(c).__name__, data)}"
    )


def sequence_lengths(data):
    """Length of every example: the row lengths of the first ragged component, int64 numpy."""
    return _first_ragged(data).row_lengths().numpy()


def length_quantile_boundaries(lengths, num_buckets=64, sample_size=10_000, seed=0):
    """Bucket boundaries from length quantiles of a seeded sample.

    Boundaries follow `tf.data` conventions: bucket i holds lengths in `[b[i-1], b[i])`, the
    last bucket everything `>= b[-1]`. The `num_buckets - 1` inner quantiles are rounded so a
    quantile value falls in the bucket it closes, duplicates removed: with few distinct lengths
    you get fewer buckets.

    Returns:
        A strictly increasing list of ints (possibly empty: one bucket).
    """
    if int(num_buckets) != num_buckets or num_buckets < 1:
        raise ValueError(f"`num_buckets` must be a positive integer. Received: num_buckets={num_buckets}")
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        raise ValueError("Cannot choose bucket boundaries from zero lengths.")
    if lengths.size > sample_size:
        lengths = np.random.default_rng(seed).choice(lengths, size=sample_size, replace=False)
    quantiles = np.quantile(lengths, np.arange(1, num_buckets) / num_buckets)
    boundaries = np.unique(np.floor(quantiles).astype(np.int64) + 1)
    boundaries = boundaries[(boundaries > lengths.min()) & (boundaries <= lengths.max())]
    return [int(b) for b in boundaries]


def _check_boundaries(boundaries):
    boundaries = list(boundaries)
    if not all(isinstance(b, (int, np.integer)) and b >= 1 for b in boundaries):
        raise ValueError(f"Bucket boundaries must be positive integers. Received: boundaries={boundaries}")
    if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
        raise ValueError(f"Bucket boundaries must be strictly increasing. Received: boundaries={boundaries}")
    return [int(b) for b in boundaries]


def padding_fraction(batch_lengths_list):
    """Share of padded cells when each batch is padded to its longest sequence.

    Args:
        batch_lengths_list: iterable of 1-D arrays, the sequence lengths of each batch.
    """
    real = padded = 0
    for lengths in batch_lengths_list:
        lengths = np.asarray(lengths)
        if lengths.size:
            real += int(lengths.sum())
            padded += int(lengths.max()) * lengths.size
    return 0.0 if padded == 0 else 1.0 - real / padded


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------
def batch_sequences(
    data,
    strategy,
    batch_size=32,
    *,
    token_budget=None,
    boundaries=None,
    num_buckets=64,
    sample_size=10_000,
    pad_to_bucket_boundary=False,
    shuffle=True,
    seed=0,
    on_empty="drop",
    on_too_long="error",
    return_info=False,
):
    """Batches variable-length examples with one of five strategies (see module docstring).

    Args:
        data: a finite `tf.data.Dataset` whose elements are 1-D sequences, or tuples / dicts
            of them and of scalars (e.g. `(token_ids, tag_ids)` or `(token_ids, label)`); or the
            same already stacked (`tf.RaggedTensor (N, None)` or a structure of them). The
            length of an example is the length of its first ragged component.
        strategy: `"random"`, `"sorted"`, `"bucketed"`, `"token_budget"` or `"packed"`.
        batch_size: examples per batch for `"random"`, `"sorted"`, `"bucketed"`.
        token_budget: for `"token_budget"` / `"packed"`: per-bucket batch size is
            `token_budget // bucket_width`, so batch x bucket length <= budget.
        boundaries: explicit bucket boundaries (strictly increasing); default: from length
            quantiles of a `sample_size` sample (`length_quantile_boundaries`, `num_buckets`).
        num_buckets: quantile buckets to aim for when `boundaries` is None.
        sample_size: examples sampled (seeded) to choose the boundaries.
        pad_to_bucket_boundary: for bucketed strategies, return dense batches padded to the
            bucket width (`boundary - 1`; the longest length for the last bucket), so a
            model sees a small fixed set of shapes. Also used as the width for token budgets.
        shuffle: new example-to-batch assignment and batch order every epoch (seeded); False
            gives a fixed, reproducible order.
        seed: seed of the per-epoch shuffles and of the boundary sample.
        on_empty: `"drop"` (counted), `"error"` or `"keep"` for zero-length examples.
        on_too_long: `"error"` or `"drop"` (counted) for examples longer than `token_budget`.
        return_info: also return a `BatchingInfo`.

    Returns:
        A `tf.data.Dataset` of batches with the structure of one example: ragged `(B, None)`
        sequences (dense `(B, W)` with `pad_to_bucket_boundary`, `PackedSequence` for
        `"packed"`) and dense `(B,)` scalars. With `return_info=True`, `(dataset, info)`.

    Raises:
        ValueError: unknown strategy, bad sizes or boundaries, an empty dataset, empty
            examples with `on_empty="error"`, or a token budget below the longest example with
            `on_too_long="error"`.

    Example:

    >>> ids = tf.ragged.constant([[4, 5], [6], [7, 8, 9], [4]])
    >>> ds = batch_sequences(ids, "sorted", batch_size=2, shuffle=False)
    >>> [b.to_list() for b in ds]
    [[[6], [4]], [[4, 5], [7, 8, 9]]]
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {STRATEGIES}. Received: strategy={strategy!r}")
    if on_empty not in ("drop", "error", "keep"):
        raise ValueError(f"`on_empty` must be 'drop', 'error' or 'keep'. Received: on_empty={on_empty!r}")
    if on_too_long not in ("drop", "error"):
        raise ValueError(f"`on_too_long` must be 'drop' or 'error'. Received: on_too_long={on_too_long!r}")
    uses_budget = strategy in ("token_budget", "packed")
    if uses_budget:
        if token_budget is None or int(token_budget) != token_budget or token_budget < 1:
            raise ValueError(f"`token_budget` must be a positive integer for strategy={strategy!r}. Received: token_budget={token_budget}")
    elif int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size}")
    if pad_to_bucket_boundary and strategy not in ("bucketed", "token_budget"):
        raise ValueError(f"`pad_to_bucket_boundary` needs strategy 'bucketed' or 'token_budget'. Received: strategy={strategy!r}")
    if boundaries is not None:
        boundaries = _check_boundaries(boundaries)

    data = materialize(data)
    lengths = sequence_lengths(data)
    if lengths.size == 0:
        raise ValueError("Cannot batch an empty dataset (it has no examples).")

    # ---- which examples take part ------------------------------------------------------
    keep = np.ones(lengths.shape, dtype=bool)
    empty = lengths == 0
    dropped_empty = 0
    if empty.any():
        if on_empty == "error":
            raise ValueError(
                f"{int(empty.sum())} empty example(s) (first at index {int(np.argmax(empty))}); "
                "use on_empty='drop' or 'keep'."
            )
        if on_empty == "drop":
            dropped_empty = int(empty.sum())
            keep &= ~empty
    dropped_too_long = 0
    if uses_budget:
        too_long = keep & (lengths > token_budget)
        if too_long.any():
            if on_too_long == "error":
                raise ValueError(
                    f"token_budget={token_budget} is smaller than the longest example ({int(lengths.max())} tokens, "
                    f"index {int(np.argmax(lengths))}; {int(too_long.sum())} example(s) too long). "
                    "Raise the budget or pass on_too_long='drop'."
                )
            dropped_too_long = int(too_long.sum())
            keep &= ~too_long
    if dropped_empty or dropped_too_long:
        logger.warning("batch_sequences(%s): dropped %d empty and %d too-long examples.",
                       strategy, dropped_empty, dropped_too_long)
    kept = np.flatnonzero(keep).astype(np.int32)
    if kept.size == 0:
        raise ValueError("No example left to batch after dropping empty / too-long ones.")
    kept_lengths = lengths[kept]

    # ---- buckets and the fixed batch skeleton -------------------------------------------
    if strategy in _BUCKETED:
        if boundaries is None:
            boundaries = length_quantile_boundaries(kept_lengths, num_buckets, sample_size, seed)
        bucket = np.searchsorted(np.asarray(boundaries, dtype=np.int64), kept_lengths, side="right")
    else:
        bucket = np.zeros(kept.shape, dtype=np.int64)
    num_bucket_ids = (len(boundaries) + 1) if strategy in _BUCKETED else 1
    bucket_sizes, bucket_widths, row_lengths, batch_bucket = [], [], [], []
    for k in range(num_bucket_ids):
        count = int((bucket == k).sum())
        longest = int(kept_lengths[bucket == k].max()) if count else 0
        if pad_to_bucket_boundary and k < len(boundaries):
            width = boundaries[k] - 1
        else:
            width = longest
        if uses_budget and count and width > token_budget:
            raise ValueError(
                f"pad_to_bucket_boundary: bucket {k} pads to {width} steps, more than token_budget={token_budget}. "
                f"Use smaller boundaries or a larger budget. Received: boundaries={boundaries}"
            )
        size = max(1, token_budget // max(width, 1)) if uses_budget else int(batch_size)
        bucket_sizes.append(size)
        bucket_widths.append(width)
        full, rest = divmod(count, size)
        row_lengths += [size] * full + ([rest] if rest else [])
        batch_bucket += [k] * (full + (1 if rest else 0))
    info = BatchingInfo(
        strategy=strategy, num_examples=int(kept.size), dropped_empty=dropped_empty,
        dropped_too_long=dropped_too_long, boundaries=list(boundaries or []),
        bucket_batch_sizes=bucket_sizes, bucket_widths=bucket_widths, batches_per_epoch=len(row_lengths),
    )

    # ---- per-epoch plan, in-graph -------------------------------------------------------
    kept_t = tf.constant(kept, dtype=tf.int32)  # (K,) example indices
    if strategy == "sorted":
        sort_key = tf.constant(kept_lengths, dtype=tf.int64)
    elif strategy in _BUCKETED:
        sort_key = tf.constant(bucket, dtype=tf.int64)
    else:
        sort_key = None
    row_lengths_t = tf.constant(row_lengths, dtype=tf.int64)  # (n_batches,)
    widths_t = tf.constant([bucket_widths[k] for k in batch_bucket], dtype=tf.int32)  # (n_batches,)
    num_batches = len(row_lengths)

    @tf.autograph.experimental.do_not_convert  # plain graph code: skip AutoGraph's conversion cost
    def make_plan(epoch_seed):
        seed_a = tf.stack([epoch_seed, tf.constant(1, tf.int64)])
        seed_b = tf.stack([epoch_seed, tf.constant(2, tf.int64)])
        positions = tf.range(tf.size(kept_t))  # (K,)
        if shuffle:
            positions = tf.random.experimental.stateless_shuffle(positions, seed=seed_a)
        if sort_key is not None:  # stable: ties keep the shuffled order
            positions = tf.gather(positions, tf.argsort(tf.gather(sort_key, positions), stable=True))
        batches = tf.RaggedTensor.from_row_lengths(tf.gather(kept_t, positions), row_lengths_t)  # (n_batches, None)
        batch_order = tf.range(num_batches)
        if shuffle:
            batch_order = tf.random.experimental.stateless_shuffle(batch_order, seed=seed_b)
        return tf.gather(batches, batch_order), tf.gather(widths_t, batch_order)

    @tf.autograph.experimental.do_not_convert
    def gather_batch(indices, width):
        def take(component):
            rows = tf.gather(component, indices)
            if isinstance(rows, tf.RaggedTensor):
                if strategy == "packed":
                    return pack_sequences(rows)
                if pad_to_bucket_boundary:
                    shape = tf.concat(
                        [tf.stack([rows.nrows(), tf.cast(width, tf.int64)]), tf.shape(rows.flat_values, out_type=tf.int64)[1:]],
                        axis=0,
                    )  # (B, width, ...)
                    return rows.to_tensor(default_value=tf.zeros([], rows.dtype), shape=shape)
            return rows

        return tf.nest.map_structure(take, data)

    if pad_to_bucket_boundary:
        _check_fits_width(data, kept, bucket, bucket_widths)

    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    dataset = (
        seeds.map(make_plan)
        .unbatch()
        .map(gather_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
    return (dataset, info) if return_info else dataset


def _check_fits_width(data, kept, bucket, bucket_widths):
    """With pad_to_bucket_boundary every ragged component must fit its bucket's width."""
    limit = np.asarray(bucket_widths)[bucket]
    for component in tf.nest.flatten(data):
        if isinstance(component, tf.RaggedTensor):
            lengths = component.row_lengths().numpy()[kept]
            over = lengths > limit
            if over.any():
                raise ValueError(
                    f"pad_to_bucket_boundary: a component of example {int(kept[np.argmax(over)])} has "
                    f"{int(lengths[over][0])} steps, more than its bucket width {int(limit[over][0])}."
                )


def to_model_inputs(ids):
    """The model edge: `{"token_ids": int32 (B, T), "padding_mask": bool (B, T)}`.

    Args:
        ids: ragged `(B, None)` ids (padded to the longest row) or dense `(B, T)` ids padded
            with `PAD_ID` (the mask is `ids != PAD_ID`; real tokens never use id 0).
    """
    if isinstance(ids, tf.RaggedTensor):
        token_ids = tf.cast(ids.to_tensor(default_value=tf.cast(PAD_ID, ids.dtype)), tf.int32)  # (B, T)
        padding_mask = tf.sequence_mask(ids.row_lengths(), maxlen=tf.shape(token_ids)[1])  # (B, T)
        return {"token_ids": token_ids, "padding_mask": padding_mask}
    token_ids = tf.cast(tf.convert_to_tensor(ids), tf.int32)
    return {"token_ids": token_ids, "padding_mask": tf.not_equal(token_ids, PAD_ID)}


def _first_sequence(batch):
    for component in tf.nest.flatten(batch):
        if isinstance(component, (PackedSequence, tf.RaggedTensor)):
            return component
        if isinstance(component, tf.Tensor) and component.shape.rank == 2:
            return component
    raise ValueError("A batch needs a sequence component (ragged, packed or dense (B, T)).")


def batch_token_counts(batch):
    """`(real_tokens, cells)` of one batch's first sequence component, as int64 scalars.

    Cells are what a model computes on: `B x longest` for a ragged batch (padded to its longest
    row), `B x T` for a dense one (real = non-`PAD_ID` ids), the data rows for a packed one.
    """
    sequence = _first_sequence(batch)
    if isinstance(sequence, PackedSequence):
        real = tf.cast(tf.reduce_sum(sequence.batch_sizes), tf.int64)
        return real, real
    if isinstance(sequence, tf.RaggedTensor):
        lengths = tf.cast(sequence.row_lengths(), tf.int64)
        longest = tf.reduce_max(tf.concat([lengths, [0]], axis=0))
        return tf.reduce_sum(lengths), longest * tf.size(lengths, out_type=tf.int64)
    real = tf.math.count_nonzero(tf.not_equal(sequence, tf.cast(PAD_ID, sequence.dtype)), dtype=tf.int64)
    return real, tf.size(sequence, out_type=tf.int64)


def epoch_statistics(dataset):
    """One pass over a batched dataset: `{"batches", "real_tokens", "cells", "padding_fraction"}`."""
    counts = dataset.map(
        tf.autograph.experimental.do_not_convert(lambda *batch: batch_token_counts(batch)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    batches = real = cells = 0
    for batch_real, batch_cells in counts.as_numpy_iterator():
        batches += 1
        real += int(batch_real)
        cells += int(batch_cells)
    return {
        "batches": batches,
        "real_tokens": real,
        "cells": cells,
        "padding_fraction": 0.0 if cells == 0 else 1.0 - real / cells,
    }
