"""Argument and input checks shared by the task-model builders (private)."""

import numpy as np

from seqkeras.layers._validation import (  # noqa: F401 (re-exported)
    check_choice,
    check_positive_float,
    check_positive_int,
    check_rate,
)


def check_embedding_weights(embedding_weights, vocabulary_size, embedding_dim):
    """Validates initial embedding weights; returns (float32 array or None, embedding_dim).

    `embedding_dim=None` takes the width of the weights (64 without weights).
    """
    if embedding_weights is None:
        return None, check_positive_int("embedding_dim", 64 if embedding_dim is None else embedding_dim)
    weights = np.asarray(embedding_weights, dtype="float32")
    if weights.ndim != 2 or weights.shape[0] != vocabulary_size:
        raise ValueError(
            "`embedding_weights` must have shape [vocabulary_size, embedding_dim] = "
            f"[{vocabulary_size}, embedding_dim]. Received: embedding_weights.shape={weights.shape}"
        )
    if embedding_dim is not None and weights.shape[1] != embedding_dim:
        raise ValueError(
            f"`embedding_weights` width {weights.shape[1]} disagrees with embedding_dim. "
            f"Received: embedding_dim={embedding_dim!r}"
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError("`embedding_weights` contains NaN or infinite values.")
    return weights, int(weights.shape[1])
