"""`text_batches`: raw texts (and targets) -> model batches through the task's own `TokenLookup`."""

import numpy as np
import tensorflow as tf

from seqkeras.data.batching import STRATEGIES, batch_sequences, epoch_statistics, length_quantile_boundaries

DEFAULT_NUM_BUCKETS = 16


def matched_token_budget(lengths, boundaries, batch_size):
    """The smallest token budget whose token-budget batches are no more than `batch_size`-example batches.

    With budget b, bucket k (longest length w_k, n_k examples) is cut into ceil(n_k / (b // w_k))
    batches. The budget returned gives at most ceil(N / batch_size) batches per epoch, so an
    epoch makes as many updates as batches of `batch_size` examples would (a recipe tuned for
    `batch_size` keeps its number of steps), each batch about the same number of tokens.
    """
    lengths = np.asarray(lengths)
    bucket = np.searchsorted(np.asarray(boundaries, dtype=np.int64), lengths, side="right")
    widths = np.array([lengths[bucket == k].max() for k in np.unique(bucket)])
    counts = np.array([(bucket == k).sum() for k in np.unique(bucket)])
    target = -(-lengths.size // batch_size)

    def num_batches(budget):
        return int(np.sum(-(-counts // np.maximum(1, budget // widths))))

    low, high = int(widths.max()), int(widths.max() * max(counts.max(), 1))
    while low < high:  # num_batches falls as the budget grows
        middle = (low + high) // 2
        if num_batches(middle) <= target:
            high = middle
        else:
            low = middle + 1
    return low


def text_batches(
    lookup,
    texts,
    targets=None,
    *,
    batching="token_budget",
    batch_size=32,
    token_budget=None,
    num_buckets=DEFAULT_NUM_BUCKETS,
    shuffle=True,
    seed=0,
    keep_order_index=False,
    return_info=False,
):
    """Batches texts with `seqkeras.data.batching.batch_sequences`, then runs `lookup` on each batch.

    Each text is split once with the lookup's own tokenizer so `batch_sequences` knows its
    length; a batch's tokens are joined by spaces again and given to `lookup` inside the
    `tf.data` pipeline, so training reads exactly what `TextTask` and the exported signatures
    compute from raw strings (one text path). The lookup must split at white space or by
    Unicode script (re-joining by spaces then gives the same tokens).

    Args:
        lookup: the task's `TokenLookup` (no bos/eos, no `sequence_length`).
        texts: list of str.
        targets: None; one int per text (classification); or one list of ints per text with one
            value per token (tagging; padded with 0 in the batch, where the mask is False).
        batching: a `batch_sequences` strategy except `"packed"` (the task models take dense ids
            and a padding mask).
        batch_size: texts per batch for `"random"`, `"sorted"`, `"bucketed"`.
        token_budget: tokens per batch (batch x bucket width) for `"token_budget"`; None takes
            `matched_token_budget`: as many batches per epoch as `batch_size`-text batches.
        num_buckets: length buckets, boundaries at the length quantiles of the data.
        shuffle: new batches and batch order every epoch (seeded); False for a fixed order.
        seed: shuffle seed.
        keep_order_index: add `"index"` (int32 `(B,)`, each text's position in `texts`) to the
            features, so predictions can be put back in order.
        return_info: also return `(info, statistics)`: the `BatchingInfo` and one epoch's
            `{"batches", "real_tokens", "cells", "padding_fraction"}`.

    Returns:
        A `tf.data.Dataset` of `features`, `(features, labels)` (one int32 label per text, `(B,)`)
        or `(features, tags, weights)` (per-token int32 `(B, T)`, weights float32 `(B, T)`: 1 at
        real tokens, 0 at padding). Features as the lookup gives them (`token_ids`,
        `padding_mask`, `char_ids`).

    Raises:
        ValueError: `"packed"` batching, an empty text, or tags that do not match the tokens.
    """
    if batching == "packed":
        raise ValueError("batching='packed' gives PackedSequence batches, which the tagger and classifier "
                         "(dense ids + padding mask) cannot read; use token_budget, bucketed, sorted or random")
    if batching not in STRATEGIES:
        raise ValueError(f"`batching` must be one of {STRATEGIES}. Received: batching={batching!r}")
    texts = [str(text) for text in texts]
    if not texts:
        raise ValueError("No texts to batch.")
    tokens = lookup.tokenizer.tokenize(tf.constant(texts, tf.string))  # (N, None) str
    lengths = tokens.row_lengths().numpy()
    if (lengths == 0).any():
        raise ValueError(f"Text {int(np.argmax(lengths == 0))} has no tokens. Received: {texts[int(np.argmax(lengths == 0))]!r}")
    data = {"tokens": tokens}
    per_token = False
    if targets is not None:
        targets = list(targets)
        if len(targets) != len(texts):
            raise ValueError(f"Need one target per text. Received: {len(texts)} texts, {len(targets)} targets")
        per_token = isinstance(targets[0], (list, tuple, np.ndarray))
        if per_token:
            counts = np.array([len(row) for row in targets])
            if (counts != lengths).any():
                bad = int(np.argmax(counts != lengths))
                raise ValueError(f"Text {bad} splits into {lengths[bad]} tokens but has {counts[bad]} tags. "
                                 f"Received: {texts[bad]!r}")
            data["targets"] = tf.RaggedTensor.from_row_lengths(
                tf.constant(np.concatenate([np.asarray(row, "int32") for row in targets]), tf.int32), lengths)
        else:
            data["targets"] = tf.constant(np.asarray(targets, "int32"))
    if keep_order_index:
        data["index"] = tf.range(len(texts), dtype=tf.int32)
    boundaries = None
    if batching in ("bucketed", "token_budget"):
        boundaries = length_quantile_boundaries(lengths, num_buckets, seed=seed)
    if batching == "token_budget" and token_budget is None:
        token_budget = matched_token_budget(lengths, boundaries, batch_size)
    raw, info = batch_sequences(
        data, batching, batch_size, token_budget=token_budget if batching == "token_budget" else None,
        boundaries=boundaries, shuffle=shuffle, seed=seed, on_empty="error", return_info=True,
    )

    def to_model_batch(batch):
        texts = tf.strings.reduce_join(batch["tokens"], axis=1, separator=" ")  # (B,)
        features = dict(lookup(texts))
        if keep_order_index:
            features["index"] = batch["index"]
        if targets is None:
            return features
        labels = batch["targets"]
        if per_token:
            labels = labels.to_tensor(0, shape=tf.shape(features["token_ids"], out_type=tf.int64))  # (B, T)
            # Padded steps weigh 0, so the loss and every compiled metric count real tokens only.
            return features, labels, tf.cast(features["padding_mask"], tf.float32)
        return features, labels

    dataset = raw.map(tf.autograph.experimental.do_not_convert(to_model_batch), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    if not return_info:
        return dataset
    statistics = epoch_statistics(raw.map(lambda batch: batch["tokens"]))
    return dataset, (info, statistics)
