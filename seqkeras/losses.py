"""Losses for padded sequence batches, and the sampled softmax of word-level language models."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqkeras")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy averaged over real tokens only.

    For labels `y_true` `[batch, time]` (int) and predictions `y_pred`
    `[batch, time, classes]`, the loss is

        sum_{b,t} w[b,t] * CE(y_true[b,t], y_pred[b,t]) / sum_{b,t} w[b,t]

    where the weight `w` of a token is the product of everything that marks it: the
    padding mask Keras attaches to `y_pred` (propagated from the model's inputs),
    `y_true != ignore_class` when `ignore_class` is set, and `sample_weight` when
    given (`[batch]` or `[batch, time]`). With 0/1 weights this is the plain mean over
    the real tokens of the whole batch, not over `batch * time` positions, and padded
    positions contribute nothing whatever labels or predictions they hold. A batch
    with no real token has loss 0.

    Args:
        from_logits: bool, whether `y_pred` holds logits (True) or probabilities.
        ignore_class: optional int label marking padded positions in `y_true`
            (e.g. `seqkeras.data.vocabulary.PAD_ID`); None uses masks/weights only.
        name: loss name.
        dtype: dtype of the loss computation (default `keras.backend.floatx()`).

    Call arguments:
        y_true: `[batch, time]` (or `[batch, time, 1]`) integer labels.
        y_pred: `[batch, time, classes]` logits or probabilities; a Keras mask
            attached to it (from `mask_zero` embeddings or an explicit padding mask)
            marks the real tokens.
        sample_weight: optional `[batch]` or `[batch, time]` weights; a 0/1 padding
            mask works as one.

    Example:

    >>> loss = MaskedSparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    >>> y_true = np.array([[2, 1, 0]])
    >>> logits = np.zeros((1, 3, 4), "float32")
    >>> float(loss(y_true, logits))  # log(4), averaged over the 2 real tokens
    1.3862943649291992
    """

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        name="masked_sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(name=name, reduction="sum", dtype=dtype)
        if not isinstance(from_logits, bool):
            raise ValueError(f"`from_logits` must be a bool. Received: from_logits={from_logits!r}")
        if ignore_class is not None and (
            isinstance(ignore_class, bool) or not isinstance(ignore_class, int)
        ):
            raise ValueError(
                f"`ignore_class` must be an int or None. Received: ignore_class={ignore_class!r}"
            )
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self._dtype_argument = dtype

    def call(self, y_true, y_pred):
        """Per-token cross-entropy `[batch, time]`, unweighted and unreduced."""
        return ops.sparse_categorical_crossentropy(
            y_true, y_pred, from_logits=self.from_logits
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        mask = getattr(y_pred, "_keras_mask", None)  # Set by Keras mask propagation.
        with keras.name_scope(self.name):
            y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)  # (B, T, V)
            y_true = ops.convert_to_tensor(y_true)
            if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
                y_true = ops.squeeze(y_true, -1)  # (B, T, 1) -> (B, T)
            self._check_shapes(y_true, y_pred, mask)
            y_true = ops.cast(y_true, "int32")  # (B, T)

            weights = ops.ones(ops.shape(y_true), dtype=self.dtype)  # (B, T)
            if mask is not None:
                weights = weights * ops.cast(mask, self.dtype)
            if self.ignore_class is not None:
                weights = weights * ops.cast(ops.not_equal(y_true, self.ignore_class), self.dtype)
            if sample_weight is not None:
                sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), self.dtype)
                while len(sample_weight.shape) < len(weights.shape):
                    sample_weight = ops.expand_dims(sample_weight, -1)  # (B,) -> (B, 1)
                if len(sample_weight.shape) > len(weights.shape):
                    sample_weight = ops.squeeze(sample_weight, -1)  # (B, T, 1) -> (B, T)
                weights = weights * sample_weight

            real = ops.greater(weights, 0)  # (B, T)
            # Padded positions may hold any label (even out of range): replace it first.
            safe_labels = ops.where(real, y_true, ops.zeros_like(y_true))
            losses = self.call(safe_labels, y_pred)  # (B, T)
            losses = ops.where(real, losses * weights, ops.zeros_like(losses))
            return ops.divide_no_nan(ops.sum(losses), ops.sum(weights))

    @staticmethod
    def _check_shapes(y_true, y_pred, mask):
        pred_shape, true_shape = tuple(y_pred.shape), tuple(y_true.shape)
        if len(pred_shape) < 2 or len(true_shape) != len(pred_shape) - 1:
            raise ValueError(
                "MaskedSparseCategoricalCrossentropy expects y_true [batch, time] and y_pred "
                f"[batch, time, classes]. Received: y_true.shape={true_shape}, "
                f"y_pred.shape={pred_shape}"
            )
        for got, want in zip(true_shape, pred_shape[:-1]):
            if got is not None and want is not None and got != want:
                raise ValueError(
                    "y_true must match the leading axes of y_pred. Received: "
                    f"y_true.shape={true_shape}, y_pred.shape={pred_shape}"
                )
        if mask is not None:
            mask_shape = tuple(mask.shape)
            clash = any(
                m is not None and p is not None and m != p
                for m, p in zip(mask_shape, pred_shape[:-1])
            )
            if clash or len(mask_shape) != len(pred_shape) - 1:
                raise ValueError(
                    "The mask attached to y_pred must match its leading axes. Received: "
                    f"mask.shape={tuple(mask.shape)}, y_pred.shape={pred_shape}"
                )

    def get_config(self):
        return {
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
            "name": self.name,
            "dtype": self._dtype_argument,
        }


def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, matmul_dtype=None, sampled_values=None):
    """Per-example sampled-softmax loss, optionally with the sampled logits' product in bfloat16.

    The estimator of `tf.nn.sampled_softmax_loss` with `remove_accidental_hits=True` and one true
    class per example: `num_sampled` distinct ids drawn once per call from the log-uniform (Zipf)
    distribution over `[0, V)` (ids sorted by frequency), every logit corrected by the log of its
    id's expected count, and a sampled id equal to an example's own label dropped from that
    example's softmax. Given the same `sampled_values` both functions return the same losses (in
    float32). Two differences make it the faster one on CPUs: the `(N, H) x (H, S)` product of the
    inputs and the sampled ids' weights may run in `matmul_dtype` (bfloat16 uses AMX / AVX512_BF16
    where the CPU has them; the true logits, the correction and the log-sum-exp stay float32), and
    the loss is a log-sum-exp over `[true, sampled]` instead of a softmax cross-entropy against
    a one-hot row.

    Args:
        weights: float `[V, H]` output embedding (one row per id).
        biases: float `[V]`.
        labels: int `[N]` true ids.
        inputs: float `[N, H]`.
        num_sampled: int `S` < `V`, ids drawn per call (shared by the `N` examples).
        matmul_dtype: None (the inputs' dtype) or "bfloat16": dtype of the sampled logits' product.
        sampled_values: optional `(sampled [S], true_expected_count [N, 1], sampled_expected_count
            [S])`, as from `tf.random.log_uniform_candidate_sampler`; drawn when None.

    Returns:
        float `[N]`: each example's negative log-likelihood (nats) under the sampled softmax.
    """
    import tensorflow as tf

    from seqkeras.layers.lstm import matmul_in  # the LSTMs' products in a given dtype

    vocabulary_size = weights.shape[0]
    if vocabulary_size is None:
        raise ValueError(f"`weights` needs a static number of rows (the vocabulary). Received: shape {weights.shape}")
    if isinstance(num_sampled, bool) or not isinstance(num_sampled, int) or not 0 < num_sampled < vocabulary_size:
        raise ValueError(f"`num_sampled` must be an int in (0, vocabulary_size={vocabulary_size}). "
                         f"Received: num_sampled={num_sampled!r}")
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int64)  # (N,)
    if sampled_values is None:
        sampled_values = tf.random.log_uniform_candidate_sampler(
            labels[:, None], num_true=1, num_sampled=num_sampled, unique=True, range_max=vocabulary_size
        )
    sampled, true_expected, sampled_expected = (tf.stop_gradient(value) for value in sampled_values)
    sampled = tf.cast(sampled, tf.int64)
    true_weights = tf.gather(weights, labels)  # (N, H)
    sampled_weights = tf.gather(weights, sampled)  # (S, H)
    true_logits = (tf.reduce_sum(inputs * true_weights, axis=1) + tf.gather(biases, labels)
                   - tf.math.log(tf.reshape(true_expected, [-1])))  # (N,)
    products = matmul_in(matmul_dtype)(inputs, tf.transpose(sampled_weights))  # (N, S), in the inputs' dtype
    sampled_logits = products + (tf.gather(biases, sampled) - tf.math.log(sampled_expected))[None]  # (N, S)
    hits = tf.equal(labels[:, None], sampled[None, :])  # an example's own label among the draws
    sampled_logits = tf.where(hits, inputs.dtype.min, sampled_logits)
    logits = tf.concat([true_logits[:, None], sampled_logits], axis=1)  # (N, 1 + S)
    return tf.reduce_logsumexp(logits, axis=1) - true_logits
