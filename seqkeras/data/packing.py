"""Packed variable-length batches with PyTorch `PackedSequence` semantics, built in-graph.

A batch of B sequences is sorted by decreasing length (`sorted_indices[k]` is the original row
of the k-th longest, ties keep the original order) and stored time-major without padding:
`data` first holds step 0 of every sequence (in sorted order), then step 1 of every sequence
that has one, and so on. `batch_sizes[t]` is how many sequences have a step t, so it is
non-increasing and sums to the total length. `unsorted_indices` is the inverse permutation
(`unsorted_indices[r]` is the sorted position of original row r).

    sequences  [a0 a1 a2] [b0] [c0 c1]
    sorted_indices    [0, 2, 1]
    data              [a0, c0, b0, a1, c1, a2]
    batch_sizes       [3, 2, 1]

An RNN over a packed batch runs `len(batch_sizes)` steps and at step t updates only the first
`batch_sizes[t]` states: no compute is spent on padding.
"""

import tensorflow as tf


class PackedSequence(tf.experimental.ExtensionType):
    """A packed batch of variable-length sequences (see module docstring).

    A `tf.experimental.ExtensionType`, so it can be a `tf.data` element, a `tf.function`
    argument and a `tf.nest` leaf structure.

    Fields:
        data: `(sum_len, ...)` time-major steps.
        batch_sizes: int32 `(max_len,)` sequences alive at each step.
        sorted_indices: int32 `(B,)` original row of each sorted position.
        unsorted_indices: int32 `(B,)` sorted position of each original row.
    """

    data: tf.Tensor
    batch_sizes: tf.Tensor
    sorted_indices: tf.Tensor
    unsorted_indices: tf.Tensor

    def __validate__(self):
        for name in ("batch_sizes", "sorted_indices", "unsorted_indices"):
            if getattr(self, name).dtype != tf.int32:
                raise TypeError(f"PackedSequence.{name} must be int32. Received dtype={getattr(self, name).dtype}")
        self.batch_sizes.shape.assert_has_rank(1)
        self.sorted_indices.shape.assert_has_rank(1)
        self.unsorted_indices.shape.assert_has_rank(1)

    @property
    def num_sequences(self):
        """B, as a scalar int32 tensor."""
        return tf.shape(self.sorted_indices)[0]

    def lengths(self):
        """Length of each sequence in original row order, int32 `(B,)`."""
        ranks = tf.range(self.num_sequences)  # (B,)
        sorted_lengths = tf.reduce_sum(
            tf.cast(self.batch_sizes[:, None] > ranks[None, :], tf.int32), axis=0
        )  # (B,) lengths in sorted order
        return tf.gather(sorted_lengths, self.unsorted_indices)


def pack_sequences(ragged):
    """Packs a ragged batch `(B, None, ...)` into a `PackedSequence`.

    Empty rows are allowed (they appear last in `sorted_indices` and contribute no steps).

    Args:
        ragged: `tf.RaggedTensor` with one ragged dimension (axis 1), any dtype.

    Example:

    >>> packed = pack_sequences(tf.ragged.constant([[1, 2, 3], [4], [5, 6]]))
    >>> packed.data.numpy(), packed.batch_sizes.numpy()
    (array([1, 5, 4, 2, 6, 3], dtype=int32), array([3, 2, 1], dtype=int32))
    """
    if not isinstance(ragged, tf.RaggedTensor):
        raise TypeError(f"`pack_sequences` expects a tf.RaggedTensor. Received: {type(ragged).__name__}")
    if ragged.ragged_rank != 1:
        raise ValueError(f"Expected exactly one ragged dimension (B, None, ...). Received ragged_rank={ragged.ragged_rank}")
    lengths = tf.cast(ragged.row_lengths(), tf.int32)  # (B,)
    starts = tf.cast(ragged.row_starts(), tf.int32)  # (B,)
    sorted_indices = tf.argsort(lengths, direction="DESCENDING", stable=True)  # (B,)
    unsorted_indices = tf.math.invert_permutation(sorted_indices)  # (B,)
    sorted_lengths = tf.gather(lengths, sorted_indices)  # (B,)
    max_len = tf.reduce_max(tf.concat([sorted_lengths, [0]], axis=0))
    steps = tf.range(max_len)  # (T,)
    alive = steps[:, None] < sorted_lengths[None, :]  # (T, B) step t of sorted row k exists
    batch_sizes = tf.reduce_sum(tf.cast(alive, tf.int32), axis=1)  # (T,)
    positions = tf.gather(starts, sorted_indices)[None, :] + steps[:, None]  # (T, B) index into values
    order = tf.boolean_mask(positions, alive)  # (sum_len,) time-major
    data = tf.gather(ragged.values, order)  # (sum_len, ...)
    return PackedSequence(
        data=data, batch_sizes=batch_sizes, sorted_indices=sorted_indices, unsorted_indices=unsorted_indices
    )


def pack_padded(values, padding_mask):
    """Packs a padded batch: the steps of each row where `padding_mask` is True, in order.

    Args:
        values: `(B, T, ...)` tensor.
        padding_mask: bool `(B, T)`, True on real steps.
    """
    values = tf.convert_to_tensor(values)
    padding_mask = tf.convert_to_tensor(padding_mask, dtype=tf.bool)
    return pack_sequences(tf.ragged.boolean_mask(values, padding_mask))


def _packed_positions(packed):
    """Index into `packed.data` of every step, as a ragged `(B, None)` in original row order."""
    batch_sizes = packed.batch_sizes
    offsets = tf.cumsum(batch_sizes, exclusive=True)  # (T,) where step t starts in data
    lengths = packed.lengths()  # (B,) original order
    steps = tf.ragged.range(lengths)  # (B, None) values 0..len-1
    ranks = tf.gather(packed.unsorted_indices, steps.value_rowids())  # sorted position of each step's row
    flat = tf.gather(offsets, steps.flat_values) + ranks  # (sum_len,)
    return steps.with_flat_values(flat)


def unpack_sequences(packed):
    """The ragged batch `(B, None, ...)` that `pack_sequences` packed, in original row order."""
    positions = _packed_positions(packed)
    return positions.with_flat_values(tf.gather(packed.data, positions.flat_values))


def unpack_to_padded(packed, padding_value=0, max_length=None):
    """Unpacks to a right-padded batch.

    Args:
        packed: a `PackedSequence`.
        padding_value: fill value for padded steps.
        max_length: pad to this many steps (default: the longest sequence).

    Returns:
        `(values (B, T, ...), padding_mask bool (B, T))`.
    """
    ragged = unpack_sequences(packed)
    width = None if max_length is None else int(max_length)
    values = ragged.to_tensor(default_value=tf.cast(padding_value, ragged.dtype), shape=[None, width] + [None] * (ragged.shape.rank - 2))
    mask = tf.sequence_mask(ragged.row_lengths(), maxlen=tf.shape(values)[1])
    return values, mask
