"""`MeanProbabilityLogits`: averages the class probabilities of several sets of logits."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="seqkeras")
class MeanProbabilityLogits(keras.layers.Layer):
    """Combines K classifiers' (or taggers') logits into logits of their mean probability.

    Each input is turned into class probabilities with a softmax; the output is the log of
    their average, computed stably as `logsumexp_k(log_softmax(logits_k)) - log K`. A softmax
    of the output therefore gives exactly the members' mean probabilities, so an ensemble built
    on this layer is used (trained, exported, argmaxed) like any logits-producing classifier.

    Call arguments:
        inputs: a list of at least one float tensor, all of the same shape `[B, ..., C]`
            (classes on the last axis).

    Example:
    >>> layer = MeanProbabilityLogits()
    >>> out = layer([np.log([[0.2, 0.8]]), np.log([[0.6, 0.4]])])
    >>> np.round(keras.ops.softmax(out).numpy(), 3).tolist()
    [[0.4, 0.6]]
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # taggers' logits carry their padding mask; the first one is passed on

    def build(self, input_shape):
        is_list = isinstance(input_shape, (list, tuple)) and len(input_shape) > 0
        if not is_list or not all(isinstance(shape, (list, tuple)) for shape in input_shape):
            raise ValueError(f"`MeanProbabilityLogits` takes a list of logits tensors. Received: input_shape={input_shape}")
        widths = {tuple(shape[1:]) for shape in input_shape}
        if len(widths) > 1:
            raise ValueError(
                f"All logits must have the same shape after the batch axis. Received shapes: {[tuple(s) for s in input_shape]}"
            )

    def call(self, inputs):
        log_probabilities = tf.stack([tf.nn.log_softmax(x, axis=-1) for x in inputs], axis=0)  # (K, B, ..., C)
        count = tf.cast(len(inputs), log_probabilities.dtype)
        return tf.reduce_logsumexp(log_probabilities, axis=0) - tf.math.log(count)  # (B, ..., C)

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])
