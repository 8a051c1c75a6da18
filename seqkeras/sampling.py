"""Next-token sampling from logits: temperature, top-k, top-p (nucleus), seeded and in-graph.

Every function takes tensors (scalars may be Python numbers) and works inside `tf.function`, so a
generation loop can call it once per step. Randomness is stateless: the same `seed` (int32 (2,))
gives the same draw, which is what makes generation reproducible.
"""

import tensorflow as tf

_MASKED_LOGIT = -1e9


def validate_sampling_arguments(temperature=1.0, top_k=0, top_p=1.0, max_length=1):
    """Python-side checks with messages that echo the value; returns nothing."""
    if not 0.0 < float(temperature) < float("inf"):
        raise ValueError(f"`temperature` must be a finite number > 0. Received: temperature={temperature!r}")
    if isinstance(top_k, bool) or int(top_k) != top_k or top_k < 0:
        raise ValueError(f"`top_k` must be an integer >= 0 (0 disables it). Received: top_k={top_k!r}")
    if not 0.0 < float(top_p) <= 1.0:
        raise ValueError(f"`top_p` must be in (0, 1]. Received: top_p={top_p!r}")
    if isinstance(max_length, bool) or int(max_length) != max_length or max_length <= 0:
        raise ValueError(f"`max_length` must be a positive integer. Received: max_length={max_length!r}")


def filter_top_k(logits, top_k):
    """Keeps the `top_k` largest logits of each row (all of them when `top_k` is 0). (B, V) -> (B, V)."""
    vocabulary_size = tf.shape(logits)[-1]
    top_k = tf.convert_to_tensor(top_k, dtype=tf.int32)
    k = tf.where(top_k > 0, tf.minimum(top_k, vocabulary_size), vocabulary_size)
    kth_largest = tf.math.top_k(logits, k=k).values[:, -1:]  # (B, 1)
    return tf.where(logits < kth_largest, tf.cast(_MASKED_LOGIT, logits.dtype), logits)


def filter_top_p(logits, top_p):
    """Keeps the smallest set of most likely tokens whose probability reaches `top_p`. (B, V) -> (B, V)."""
    top_p = tf.convert_to_tensor(top_p, dtype=logits.dtype)
    sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")  # (B, V)
    probabilities_before = tf.math.cumsum(tf.nn.softmax(sorted_logits, axis=-1), axis=-1, exclusive=True)
    # A token is kept when the tokens ranked above it have not yet reached top_p; the first always is.
    num_kept = tf.reduce_sum(tf.cast(probabilities_before < top_p, tf.int32), axis=-1)  # (B,)
    num_kept = tf.maximum(num_kept, 1)
    threshold = tf.gather(sorted_logits, num_kept - 1, batch_dims=1)[:, tf.newaxis]  # (B, 1)
    return tf.where(logits < threshold, tf.cast(_MASKED_LOGIT, logits.dtype), logits)


def sample_next_ids(logits, seed, temperature=1.0, top_k=0, top_p=1.0):
    """Draws one id per row from `logits` (B, V) -> int32 (B,).

    Args:
        logits: float (B, V), unnormalised log-probabilities.
        seed: int32 (2,), the stateless random seed of this draw.
        temperature: float > 0; logits are divided by it before filtering.
        top_k: int >= 0; keep only the k most likely ids (0 keeps all).
        top_p: float in (0, 1]; keep the smallest most-likely set with total probability >= top_p.
    """
    logits = tf.convert_to_tensor(logits)
    logits = logits / tf.cast(temperature, logits.dtype)
    logits = filter_top_k(logits, top_k)
    logits = filter_top_p(logits, top_p)
    draws = tf.random.stateless_categorical(logits, num_samples=1, seed=seed, dtype=tf.int32)  # (B, 1)
    return draws[:, 0]
