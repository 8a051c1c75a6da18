"""Per-replica losses of the seqkeras task models for `StrategyTrainer`."""

import tensorflow as tf


def masked_token_replica_loss(network):
    """The per-replica loss of a token classifier (a tagger) for `StrategyTrainer`.

    Returns `fn(batch, carry, training) -> (losses (b, T), real tokens, [], [correct tokens])`:
    the per-token softmax cross-entropy of `network`'s logits (zero at padding), the number of
    real tokens (the sum of the weights), no carried state, and the count of real tokens whose
    arg-max is the gold tag (`StrategyTrainer(count_metrics=["accuracy"])` logs it as the token
    accuracy). The trainer divides the summed losses by the real tokens of ALL replicas.

    Args:
        network: a Keras model mapping the feature dict to logits `(b, T, num_tags)`.

    Example:

    >>> trainer = StrategyTrainer(strategy, network, optimizer, masked_token_replica_loss(network),
    ...                           checkpoint_dir="run/ckpt/steps", count_metrics=["accuracy"])
    """

    def replica_loss(batch, carry, training):
        features, tags, weights = batch  # text_batches: features dict, (b, T) int32, (b, T) float32
        logits = tf.cast(network(features, training=training), tf.float32)  # (b, T, C)
        tags = tf.cast(tags, tf.int32)
        weights = tf.cast(weights, tf.float32)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tags, logits=logits) * weights  # (b, T)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), tags), tf.float32)
                                * weights)
        return losses, tf.reduce_sum(weights), [], [correct]

    return replica_loss
