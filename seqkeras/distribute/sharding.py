"""Deterministic sharding of global batches of any size across the replicas of all workers."""

import tensorflow as tf


def split_global_batches(global_dataset, input_context):
    """Global batches of varying size -> the per-replica batches of one input pipeline.

    Every worker builds the same global batches (same data, same seeded shuffles). A batch of B
    rows is padded with all-zero rows (padding mask 0, weight 0: they add nothing to the loss,
    its count or the gradient) to R * b rows, b = ceil(B / R) for R replicas in all, and replica
    r gets rows `[r * b, (r + 1) * b)`. So R replicas see exactly the rows one process sees in
    one batch, whatever R, and a token-budget batch whose size is not a multiple of R is fine.
    A worker with k local replicas yields k consecutive elements per global batch (for
    `distribute_datasets_from_function`, which hands them to its replicas in turn).

    Args:
        global_dataset: a `tf.data.Dataset` of nested structures of tensors, each with the
            batch on axis 0 (e.g. `(features dict, tags, weights)`).
        input_context: the `tf.distribute.InputContext` of this input pipeline.

    Returns:
        A `tf.data.Dataset` of this pipeline's per-replica batches.

    Example:

    >>> strategy.distribute_datasets_from_function(
    ...     lambda context: split_global_batches(text_batches(lookup, texts, tags).repeat(), context))
    """
    replicas = input_context.num_replicas_in_sync
    if replicas == 1:
        return global_dataset
    local = replicas // input_context.num_input_pipelines
    first = input_context.input_pipeline_id * local  # this pipeline's first replica

    def split(*element):
        element = element[0] if len(element) == 1 else element
        rows = tf.shape(tf.nest.flatten(element)[0])[0]
        per_replica = (rows + replicas - 1) // replicas

        def part(tensor):  # (B, ...) -> (local, b, ...)
            extra = per_replica * replicas - rows
            padded = tf.pad(tensor, [[0, extra]] + [[0, 0]] * (tensor.shape.rank - 1))
            mine = padded[first * per_replica:(first + local) * per_replica]
            return tf.reshape(mine, tf.concat([[local, per_replica], tf.shape(mine)[1:]], axis=0))

        return tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(part, element))

    return global_dataset.flat_map(split)
