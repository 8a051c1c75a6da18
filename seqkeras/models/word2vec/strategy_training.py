"""word2vec's sparse SGD as a replica loss of `seqkeras.distribute.StrategyTrainer`.

The update of `Word2Vec.train_step` for a batch of pairs `p` (learning rate `a`, weight `w_p`,
0 on padding) is `table[row] -= a * sum_p w_p * dL_p / d row` for every touched row: plain SGD on
the SUM of the per-pair SGNS losses. So the same update, on one device or many, is

- the replica loss `sum_p w_p * L_p` (`sgns_replica_loss`), differentiated as a sum
  (`StrategyTrainer(loss_reduction="sum")`): its gradients w.r.t. the two tables are
  `tf.IndexedSlices` (rows of the gathers), which the optimizer's all-reduce concatenates over the
  replicas and workers (all-gather, no dense `V x D` tensor);
- `keras.optimizers.SGD(learning_rate=word2vec_learning_rate(...))`: `variable -= a * gradient`,
  applied as a scatter (repeated rows add up, as in `train_step`), `a` decaying linearly with the
  optimizer's global step (`keras.optimizers.schedules.PolynomialDecay` with `power=1`,
  serialisable, checkpointed with the iteration count).

The batches are `skipgram_dataset`'s GLOBAL batches; `shard_skipgram_batches` gives replica `r` of
`R` pairs `[r * B / R, (r + 1) * B / R)` and their rows of shared negatives, so `R` replicas
compute exactly the update of one device (up to the order of float additions).
"""

import keras
import tensorflow as tf


def word2vec_learning_rate(alpha, min_alpha, total_steps):
    """word2vec's linear decay over the global step: `alpha` at step 0, `min_alpha` at `total_steps`.

    Step `k` uses `alpha - (alpha - min_alpha) * k / total_steps` (the share of the training
    batches done before it, as word2vec.c's rate follows the share of the words read).

    Args:
        alpha: initial learning rate.
        min_alpha: final learning rate.
        total_steps: SGD steps of the whole run (epochs x batches per epoch).

    Returns:
        A `keras.optimizers.schedules.PolynomialDecay` (power 1).

    Example:

    >>> schedule = word2vec_learning_rate(0.025, 0.0001, 100)
    >>> round(float(schedule(50)), 5)
    0.01255
    """
    return keras.optimizers.schedules.PolynomialDecay(
        float(alpha), decay_steps=max(int(total_steps), 1), end_learning_rate=float(min_alpha), power=1.0
    )


def sgns_pair_losses(target_table, context_table, target, context, negatives):
    """The SGNS loss of every pair, differentiable (gradients w.r.t. the tables are IndexedSlices).

    `L_p = -log sigma(u_p . v_p) - sum_n valid_pn log sigma(-u_p . v_n)` with the negatives of the
    pair's group (`negatives` `(Q, N)`, `G = P / Q` pairs per row); a negative equal to the pair's
    own context word is masked (`valid = 0`), as in `Word2Vec.train_step`.

    Args:
        target_table, context_table: the `(V, D)` tables (variables or tensors).
        target, context: int `(P,)`.
        negatives: int `(Q, N)`, `Q` dividing `P`.

    Returns:
        float32 `(P,)`.
    """
    num_groups = tf.shape(negatives)[0]
    group_size = tf.shape(target)[0] // tf.maximum(num_groups, 1)
    vectors = tf.gather(target_table, target)  # (P, D)
    outputs = tf.gather(context_table, context)  # (P, D)
    noise = tf.gather(context_table, negatives)  # (Q, N, D)
    grouped = tf.reshape(vectors, [num_groups, group_size, -1])  # (Q, G, D)
    positive_logit = tf.reduce_sum(vectors * outputs, axis=1)  # (P,)
    negative_logit = tf.matmul(grouped, noise, transpose_b=True)  # (Q, G, N)
    valid = tf.cast(
        tf.not_equal(negatives[:, None, :], tf.reshape(context, [num_groups, group_size, 1])), negative_logit.dtype
    )  # (Q, G, N)
    negative_loss = -tf.reduce_sum(valid * tf.math.log_sigmoid(-negative_logit), axis=2)  # (Q, G)
    return -tf.math.log_sigmoid(positive_logit) + tf.reshape(negative_loss, [-1])  # (P,)


def sgns_replica_loss(model, optimizer=None):
    """The replica loss of a `Word2Vec` for `StrategyTrainer(loss_reduction="sum")`.

    Returns `fn(batch, carry, training) -> (w_p * L_p (P,), real pairs, [][, [a * real pairs]])`:
    the trainer differentiates the sum over all replicas (word2vec's summed update) and logs the
    mean SGNS loss per real pair, each pair scored before its step's update (as `Word2Vec`'s
    `loss`). With `optimizer`, the count `a * real pairs` (`a`: the step's learning rate) makes
    `StrategyTrainer(count_metrics=["alpha"])` log `alpha`, the mean rate per real pair, as
    `Word2Vec.fit` does.

    Args:
        model: a `Word2Vec` (its `target_embedding` / `context_embedding` tables are trained).
        optimizer: the `SGD` optimizer (for the `alpha` count), or None.

    Example:

    >>> trainer = StrategyTrainer(strategy, model, keras.optimizers.SGD(word2vec_learning_rate(0.025, 1e-4, steps)),
    ...                           sgns_replica_loss(model), checkpoint_dir="run/ckpt/steps", loss_reduction="sum")
    """

    def replica_loss(batch, carry, training):
        weight = tf.cast(batch["weight"], tf.float32)  # (P,) 0 on padding
        losses = sgns_pair_losses(
            model.target_embedding.embeddings.value, model.context_embedding.embeddings.value,
            batch["target"], batch["context"], batch["negatives"],
        )
        pairs = tf.reduce_sum(weight)
        if optimizer is None:
            return losses * weight, pairs, []
        return losses * weight, pairs, [], [tf.cast(optimizer.learning_rate, tf.float32) * pairs]

    return replica_loss


def shard_skipgram_batches(global_dataset, input_context):
    """`skipgram_dataset`'s global batches -> the per-replica batches of one input pipeline.

    Every worker builds the same global batches (same seed). With `R` replicas in all, replica
    `r` gets pairs `[r * B / R, (r + 1) * B / R)` (every per-pair feature) and rows
    `[r * Q / R, (r + 1) * Q / R)` of the shared negatives: the same groups of `G = B / Q` pairs
    as one device. `Q` (so `B`) must be a multiple of `R`. A pipeline with `k` local replicas
    yields `k` consecutive elements per global batch.

    Args:
        global_dataset: a `tf.data.Dataset` of skip-gram batch dicts.
        input_context: the `tf.distribute.InputContext` of this input pipeline.

    Returns:
        A `tf.data.Dataset` of this pipeline's per-replica batches.

    Raises:
        ValueError: the batch's groups of negatives do not split evenly over the replicas.
    """
    replicas = input_context.num_replicas_in_sync
    if replicas == 1:
        return global_dataset
    groups = global_dataset.element_spec["negatives"].shape[0]
    if groups is None or groups % replicas:
        raise ValueError(f"The {groups} groups of negatives of a batch must split evenly over the {replicas} "
                         f"replicas (batch_size / negative_group_size a multiple of {replicas}). Received: {groups}")
    local = replicas // input_context.num_input_pipelines
    first = input_context.input_pipeline_id * local  # this pipeline's first replica

    def split(batch):
        def part(tensor):  # (rows, ...) -> (local, rows / R, ...)
            rows = tf.shape(tensor)[0] // replicas
            mine = tensor[first * rows:(first + local) * rows]
            return tf.reshape(mine, tf.concat([[local, rows], tf.shape(tensor)[1:]], axis=0))

        return tf.data.Dataset.from_tensor_slices({key: part(value) for key, value in batch.items()})

    return global_dataset.flat_map(split)
