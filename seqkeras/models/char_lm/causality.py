"""A probe that a sequence model is causal: logits at t must not depend on inputs after t."""

import numpy as np
import tensorflow as tf


def check_causal(model, vocabulary_size, length=8, batch_size=2, seed=0, atol=1e-5):
    """Raises `ValueError` when `model` lets a later character change an earlier prediction.

    The model is called on `{"token_ids", "padding_mask"}` twice: once on random ids and once with
    the ids from position `length // 2` on replaced. Logits before that position must be equal.

    Args:
        model: callable on the dict inputs, returning logits (B, T, V).
        vocabulary_size: int, ids are drawn from `[0, vocabulary_size)`.
        length, batch_size, seed: size and seed of the probe.
        atol: absolute tolerance on the logits.
    """
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(0, vocabulary_size, size=(batch_size, length)).astype("int32")
    changed = token_ids.copy()
    cut = length // 2
    changed[:, cut:] = (changed[:, cut:] + 1 + rng.integers(0, max(vocabulary_size - 1, 1), size=changed[:, cut:].shape)) % vocabulary_size
    mask = np.ones((batch_size, length), dtype=bool)
    before = np.asarray(model({"token_ids": tf.constant(token_ids), "padding_mask": tf.constant(mask)}, training=False))
    after = np.asarray(model({"token_ids": tf.constant(changed), "padding_mask": tf.constant(mask)}, training=False))
    if before.ndim != 3 or before.shape[:2] != (batch_size, length):
        raise ValueError(
            "A language model must map (B, T) ids to (B, T, V) logits. "
            f"Received output shape {before.shape} for input shape {(batch_size, length)}"
        )
    difference = float(np.max(np.abs(before[:, :cut] - after[:, :cut])))
    if difference > atol:
        raise ValueError(
            f"The model is not causal: changing the characters from position {cut} on changed the "
            f"logits at earlier positions by up to {difference:.3g}. Generation and scoring need a "
            "model whose prediction at t depends only on characters <= t (no bidirectional or "
            "look-ahead layers)."
        )


def check_language_model(model, vocabulary, vocabulary_size):
    """What the generator and the scorer both need: `vocabulary` matches the model's output
    size (`vocabulary_size`), and the model is causal (`check_causal`)."""
    if vocabulary.size != vocabulary_size:
        raise ValueError(
            f"The vocabulary has {vocabulary.size} ids but the model predicts "
            f"{vocabulary_size}. Received: vocabulary.size={vocabulary.size}"
        )
    check_causal(model, vocabulary_size)
