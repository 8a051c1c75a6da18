"""Input and padding-mask validation shared by the sequence layers (private).

Static problems (wrong rank, wrong dtype, a mask whose known shape disagrees with the
inputs, a known zero-length time axis) raise `ValueError` while tracing. Problems that
depend on values (a left-padded mask, an all-pad row, shapes only known at run time) are
checked with `tf.debugging` asserts, so they also fire inside `tf.function` graphs and
raise `tf.errors.InvalidArgumentError` carrying the same kind of message.
"""

import keras
import tensorflow as tf
from keras import ops


def check_sequence_inputs(layer_name, inputs, rank=3, dtype_kind="float"):
    """Validate a `[batch, time, features]` input; returns it unchanged.

    Args:
        layer_name: name used in error messages.
        inputs: the tensor to check.
        rank: the required rank (an int) or a tuple of allowed ranks.
        dtype_kind: "float" (floating point required) or None (any dtype).
    """
    ranks = (rank,) if isinstance(rank, int) else tuple(rank)
    shape = tuple(inputs.shape)
    if len(shape) not in ranks:
        wanted = " or ".join(str(r) for r in ranks)
        raise ValueError(
            f"{layer_name} expects inputs of rank {wanted} ([batch, time, features]). "
            f"Received: inputs.shape={shape}"
        )
    dtype = keras.backend.standardize_dtype(inputs.dtype)
    if dtype_kind == "float" and "float" not in dtype:
        raise ValueError(
            f"{layer_name} expects floating-point inputs (embed integer ids first). "
            f"Received: inputs.dtype={dtype}"
        )
    if shape[1] == 0:
        raise ValueError(
            f"{layer_name} cannot process zero-length sequences. Received: inputs.shape={shape}"
        )
    return inputs


def check_mask(layer_name, mask, inputs):
    """Validate a padding mask against `inputs`; returns it as a bool tensor (or None).

    The mask must be `[batch, time]` matching the first two axes of `inputs`.
    """
    if mask is None:
        return None
    mask = ops.convert_to_tensor(mask)
    mask_shape = tuple(mask.shape)
    input_shape = tuple(inputs.shape)
    if len(mask_shape) != 2:
        raise ValueError(
            f"{layer_name} expects a padding mask of shape [batch, time] = {input_shape[:2]}. "
            f"Received: mask.shape={mask_shape}"
        )
    for got, want in zip(mask_shape, input_shape[:2]):
        if got is not None and want is not None and got != want:
            raise ValueError(
                f"{layer_name} expects a padding mask of shape [batch, time] = "
                f"{input_shape[:2]}. Received: mask.shape={mask_shape}"
            )
    if None in mask_shape or None in input_shape[:2]:
        tf.debugging.assert_equal(
            tf.shape(mask),
            tf.shape(inputs)[:2],
            message=f"{layer_name}: the padding mask shape must equal inputs.shape[:2]",
        )
    if mask.dtype != "bool":
        mask = ops.cast(mask, "bool")
    return mask


def assert_no_empty_rows(layer_name, mask):
    """Fail (in eager and in graphs) when a row of `mask` has no valid step."""
    counts = ops.sum(ops.cast(mask, "int32"), axis=1)
    tf.debugging.assert_positive(
        counts,
        message=(
            f"{layer_name} received a row with no valid (non-pad) step; the number of "
            "valid steps per row is"
        ),
        summarize=16,
    )
    return counts


def assert_right_padded(layer_name, mask):
    """Fail when any row of `mask` has a valid step after a pad step (left/inner padding)."""
    valid = ops.cast(mask, "int32")
    # A pad step followed by a valid step: valid[t + 1] > valid[t].
    rises = ops.cast(ops.greater(valid[:, 1:], valid[:, :-1]), "int32")  # (B, T-1)
    bad_rows = ops.sum(rises, axis=1)  # (B,)
    tf.debugging.assert_equal(
        bad_rows,
        ops.zeros_like(bad_rows),
        message=(
            f"{layer_name} needs right-padded masks (all valid steps first, then pads). "
            "Rows with a valid step after a pad step are marked non-zero in"
        ),
        summarize=16,
    )
    return mask


def zero_padded_steps(inputs, mask):
    """Set `inputs[b, t, ...]` to zero wherever `mask[b, t]` is False."""
    if mask is None:
        return inputs
    keep = ops.cast(mask, "bool")
    while len(keep.shape) < len(inputs.shape):
        keep = ops.expand_dims(keep, -1)
    # `where`, not a product: pads holding inf/NaN must not leak as NaN.
    return ops.where(keep, inputs, ops.zeros_like(inputs))
