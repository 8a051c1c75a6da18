"""Skip-gram training pairs with negative sampling, built in `tf.data` the way word2vec.c does it.

Keras 3 dropped `keras.preprocessing.sequence.skipgrams` (which could draw the true context word
as a "negative") and TensorFlow's tutorial draws negatives from a Zipf prior. This module follows
word2vec.c / gensim instead, vectorised over chunks of the corpus and run inside the graph:

1. **subsampling**: a word with corpus frequency `f = count / total` is kept with probability
   `(sqrt(f / sample) + 1) * sample / f` (capped at 1), drawn afresh every epoch; dropped words are
   removed *before* windowing, so the window reaches further, as in word2vec.c;
2. **dynamic window**: each centre word draws its effective window `b` uniformly from
   `1..window` and pairs with the kept words at distance `1..b` on both sides, inside its document;
3. **negatives**: `negative` words per pair drawn from `count ** ns_exponent` through
   word2vec's unigram table, conditioned on being different from that pair's context word
   (exact: the uniform draw skips the context word's run of the table);
   or, with `negative_group_size = G > 1`, **shared negatives** (Ji et al. 2016): each group of
   `G` consecutive pairs of a batch shares one draw of `negative` words from the same
   distribution; a shared negative equal to a pair's context word is masked out for that pair
   by the model (`Word2Vec`), so it never counts as a negative of its own context.

`skipgram_dataset` is the one entry point: one pass over it is one epoch (fresh random draws on
each pass, reproducible from `seed`), made of fixed-size batches
`{"target", "context", "negatives", "weight", "progress"}`. The last batch of an epoch is padded
with `weight == 0` rows so every batch has the same shape (one XLA compilation).

`streamed_skipgram_dataset` gives the same batches from a corpus streamed in fixed-size chunks
(`id_chunks`: blocks of documents laid end to end, as `seqkeras.models.word2vec.training.
stream_id_chunks` builds them from files) instead of id arrays held in memory: one counting pass
fixes the words, chunks and expected pairs (so `steps` and the learning-rate decay), and each
epoch then holds one chunk of pairs at a time (the shuffle buffer is a chunk, as in memory).
"""

import numpy as np
import tensorflow as tf

# Seed-stream tags, so the random draws of one chunk are independent of each other.
_SUBSAMPLE, _WINDOW, _SHUFFLE, _NEGATIVES = 1, 2, 3, 4


def keep_probabilities(counts, sample):
    """word2vec's probability of keeping each occurrence of a word during subsampling.

    Args:
        counts: 1-D array of word counts (zeros allowed, e.g. for reserved ids).
        sample: threshold; `0` (or less) disables subsampling.

    Returns:
        float32 array, same length as `counts`, values in `[0, 1]`.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones(counts.shape, np.float32)
    threshold = sample * counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = (np.sqrt(counts / threshold) + 1.0) * threshold / counts
    keep = np.where(counts > 0, np.minimum(keep, 1.0), 0.0)
    return keep.astype(np.float32)


def negative_sampling_table(counts, ns_exponent=0.75, table_size=None):
    """word2vec's unigram table: word ids laid out so a uniform slot draws `count ** ns_exponent`.

    Word `i` fills the slots `[round(cdf[i - 1] * table_size), round(cdf[i] * table_size))`, one
    contiguous run per word, so every word's share is within one slot of exact (word2vec.c uses
    1e8 slots). The default size is a trade-off: drawing a negative is one random read from the
    table, and a table much larger than the CPU caches makes those reads dominate the data
    pipeline (2**22 slots, 16 MB, cost 3-5x the time per draw of 2**20 slots, 4 MB, on the
    benchmark CPU). `2**20` slots keep a word of count 5 in the 479k-word benchmark corpus
    (9.3k words, 29 slots) within 4% of its exact share.
    Words with a zero count get no slot (also with `ns_exponent == 0`).

    Args:
        counts: 1-D array of word counts.
        ns_exponent: exponent applied to the counts.
        table_size: number of slots; None uses `1024 * len(counts)` clipped to `[2**16, 2**20]`.

    Returns:
        `(table, starts)`: int32 arrays, `table` of length `table_size` and `starts` of length
        `len(counts) + 1` (word `i` owns `table[starts[i]:starts[i + 1]]`).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if table_size is None:
        table_size = int(np.clip(1024 * counts.size, 2**16, 2**20))
    weights = np.zeros_like(counts)
    positive = counts > 0
    weights[positive] = np.power(counts[positive], ns_exponent)
    if weights.sum() <= 0:
        raise ValueError("Negative sampling needs at least one word with a positive count.")
    cdf = np.cumsum(weights) / weights.sum()
    starts = np.concatenate([[0], np.round(cdf * table_size)]).astype(np.int64)
    starts[-1] = table_size
    table = np.repeat(np.arange(counts.size, dtype=np.int32), np.diff(starts))
    return table, starts.astype(np.int32)


def sample_negatives(contexts, table, starts, negative, seed):
    """Draws `negative` words per pair from the unigram table, never equal to the pair's context.

    Exact conditional sampling in one pass: a slot is drawn uniformly among the slots that do
    not belong to the context word (the draw skips that word's run of the table).

    Args:
        contexts: int32 tensor `(P,)` of context ids.
        table, starts: from `negative_sampling_table`.
        negative: number of negatives per pair.
        seed: stateless seed, int tensor of shape `(2,)`.

    Returns:
        int32 tensor `(P, negative)`.
    """
    table = tf.convert_to_tensor(table, tf.int32)
    starts = tf.convert_to_tensor(starts, tf.int32)
    contexts = tf.convert_to_tensor(contexts, tf.int32)
    first = tf.gather(starts, contexts)[:, None]  # (P, 1) first slot of the context word
    owned = tf.gather(starts, contexts + 1)[:, None] - first  # (P, 1) its number of slots
    free = tf.cast(tf.size(table), tf.int32) - owned  # (P, 1) slots of the other words
    uniform = tf.random.stateless_uniform([tf.size(contexts), negative], seed)  # (P, N)
    slot = tf.minimum(tf.cast(uniform * tf.cast(free, tf.float32), tf.int32), free - 1)
    slot = tf.where(slot >= first, slot + owned, slot)  # skip the context word's run
    return tf.gather(table, slot)


def sample_shared_negatives(num_groups, table, negative, seed):
    """Draws `negative` words for each of `num_groups` groups of pairs (shared negatives).

    Unconditional draws from the unigram table: the pairs of a group have different context
    words, so a draw cannot exclude them all; the model masks a negative that equals a pair's
    context word instead (see `Word2Vec`).

    Args:
        num_groups: number of groups (int or int32 scalar tensor).
        table: from `negative_sampling_table`.
        negative: number of negatives per group.
        seed: stateless seed, int tensor of shape `(2,)`.

    Returns:
        int32 tensor `(num_groups, negative)`.
    """
    table = tf.convert_to_tensor(table, tf.int32)
    slot = tf.random.stateless_uniform([num_groups, negative], seed, maxval=tf.size(table), dtype=tf.int32)  # (Q, N)
    return tf.gather(table, slot)


def skipgram_pairs(ids, doc_ids, keep_probs, window, seed):
    """(target, context) pairs of one chunk: subsampling, then a dynamic window per centre word.

    Args:
        ids: int32 `(L,)` word ids; `-1` marks padding (never used).
        doc_ids: int32 `(L,)` document index of each position; windows stay inside a document.
        keep_probs: float32 `(V,)` from `keep_probabilities`.
        window: maximum distance between target and context (>= 1).
        seed: stateless seed, int tensor of shape `(2,)`.

    Returns:
        `(targets, contexts, positions)` int32 tensors of shape `(P,)`; `positions` is the index
        of the target word in `ids` (used for learning-rate progress).
    """
    ids = tf.convert_to_tensor(ids, tf.int32)
    doc_ids = tf.convert_to_tensor(doc_ids, tf.int32)
    positions = tf.range(tf.size(ids), dtype=tf.int32)
    valid = ids >= 0
    uniform = tf.random.stateless_uniform(tf.shape(ids), tf.random.experimental.stateless_fold_in(seed, _SUBSAMPLE))
    keep = valid & (uniform < tf.gather(keep_probs, tf.maximum(ids, 0)))
    ids = tf.boolean_mask(ids, keep)  # (K,) the kept words, in order
    doc_ids = tf.boolean_mask(doc_ids, keep)
    positions = tf.boolean_mask(positions, keep)
    reach = tf.random.stateless_uniform(
        tf.shape(ids), tf.random.experimental.stateless_fold_in(seed, _WINDOW), minval=1, maxval=window + 1, dtype=tf.int32
    )  # (K,) effective window of each centre word
    size = tf.size(ids)
    # Every (centre, neighbour) candidate at once: one mask over (K, 2 * window) rather than a
    # loop over distances (fewer, larger ops are much cheaper inside tf.data).
    offsets = tf.constant([o for d in range(1, window + 1) for o in (d, -d)], tf.int32)  # (2W,)
    centres = tf.broadcast_to(tf.range(size)[:, None], [size, 2 * window])  # (K, 2W)
    neighbours = centres + offsets[None, :]  # (K, 2W)
    inside = (neighbours >= 0) & (neighbours < size)
    neighbours = tf.clip_by_value(neighbours, 0, tf.maximum(size - 1, 0))
    use = (
        inside
        & (tf.abs(offsets)[None, :] <= reach[:, None])
        & tf.equal(tf.gather(doc_ids, neighbours), doc_ids[:, None])
    )  # (K, 2W)
    centres, neighbours = tf.boolean_mask(centres, use), tf.boolean_mask(neighbours, use)  # (P,)
    return tf.gather(ids, centres), tf.gather(ids, neighbours), tf.gather(positions, centres)


def flatten_documents(documents):
    """Concatenates id sequences into `(ids, doc_ids)` int32 NumPy arrays; empty documents vanish."""
    arrays = [np.asarray(doc, dtype=np.int32).reshape(-1) for doc in documents]
    arrays = [a for a in arrays if a.size]
    if not arrays:
        return np.zeros([0], np.int32), np.zeros([0], np.int32)
    ids = np.concatenate(arrays)
    doc_ids = np.repeat(np.arange(len(arrays), dtype=np.int32), [a.size for a in arrays])
    return ids, doc_ids


def expected_pairs(ids, doc_ids, keep_probs, window, chunk_size):
    """Expected number of (target, context) pairs in one epoch.

    Each stretch of words sharing a document and a chunk keeps `n = sum(keep_probs)` words on
    average; with a dynamic window, distance `d` is used with probability `(window - d + 1) /
    window`, on both sides, by the `n - d` words that have a neighbour at that distance.
    """
    ids = np.asarray(ids)
    if ids.size == 0:
        return 0.0
    segment = np.asarray(doc_ids, np.int64) * (ids.size // chunk_size + 1) + np.arange(ids.size) // chunk_size
    _, segment_index = np.unique(segment, return_inverse=True)
    kept = np.bincount(segment_index.reshape(-1), weights=np.asarray(keep_probs, np.float64)[ids])  # (S,)
    distances = np.arange(1, window + 1)
    use = (window - distances + 1) / window  # (W,)
    return float(np.sum(2.0 * use[None, :] * np.maximum(kept[:, None] - distances[None, :], 0.0)))


def skipgram_dataset(
    documents,
    counts,
    window=5,
    negative=5,
    sample=1e-3,
    ns_exponent=0.75,
    batch_size=4096,
    chunk_size=10000,
    seed=0,
    negative_group_size=1,
):
    """One epoch of shuffled skip-gram batches with negatives; each pass draws anew.

    The corpus is cut into chunks of `chunk_size` raw words (a window never crosses a chunk
    border, like gensim's 10,000-word sentence limit); chunks are processed in parallel, their
    pairs shuffled within the chunk and regrouped into batches of exactly `batch_size` pairs.

    Every epoch has the same number of batches, `info["steps"]` (Keras' `fit` expects that): the
    expected pair count plus a margin of about five standard deviations, topped up with all-padding
    batches (`weight == 0`). Pairs beyond it (a > 5-sigma event) would be dropped.

    Args:
        documents: iterable of 1-D int sequences (word ids in `[0, len(counts))`, out-of-vocabulary
            words already removed).
        counts: 1-D array, count of every id in the training corpus (zeros for reserved ids).
        window: maximum context distance, >= 1.
        negative: negatives per pair, >= 1.
        sample: subsampling threshold (0 disables it).
        ns_exponent: exponent of the negative-sampling distribution.
        batch_size: pairs per batch.
        chunk_size: raw words per chunk.
        seed: integer seed; the i-th pass over the dataset is the same for the same seed.
        negative_group_size: `G`, pairs sharing one draw of negatives. `1` (default): every pair
            draws its own negatives, never equal to its context word (word2vec.c and gensim's
            scheme). `G > 1` (must divide `batch_size`): pairs `[g * G, (g + 1) * G)` of a batch
            (random pairs, as the chunk is shuffled) share the negatives of row `g`, drawn
            unconditionally; the model masks a negative equal to a pair's context word.

    Returns:
        `(dataset, info)`: a `tf.data.Dataset` of dicts with `target` int32 `(B,)`, `context`
        int32 `(B,)`, `negatives` int32 `(B / G, negative)`, `weight` float32 `(B,)` (0 for padding)
        and `progress` float32 `(B,)` (fraction of the epoch's words before the target word);
        `info` is a dict with `words` (words per epoch), `chunks`, `expected_pairs`, `steps`
        (batches per epoch) and `negative_group_size`.

    Raises:
        ValueError: empty corpus, `window < 1`, `negative < 1`, fewer distinct words than
            `negative + 1` (a negative must differ from the context word), bad sizes.

    Example:

    >>> dataset, info = skipgram_dataset([[4, 5, 6, 7, 4, 5]], counts=[0, 0, 0, 0, 2, 2, 1, 1],
    ...                                  window=2, negative=1, sample=0, batch_size=4)
    >>> batch = next(iter(dataset))
    >>> batch["negatives"].shape
    TensorShape([4, 1])
    """
    for name, value in (("window", window), ("negative", negative), ("batch_size", batch_size), ("chunk_size", chunk_size)):
        if int(value) != value or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value}")
    if sample < 0:
        raise ValueError(f"`sample` must be >= 0. Received: sample={sample}")
    if int(negative_group_size) != negative_group_size or negative_group_size < 1 or batch_size % negative_group_size:
        raise ValueError(
            f"`negative_group_size` must be a positive integer dividing `batch_size`. "
            f"Received: negative_group_size={negative_group_size}, batch_size={batch_size}"
        )
    negative_group_size = int(negative_group_size)
    counts = np.asarray(counts, dtype=np.int64).reshape(-1)
    ids, doc_ids = flatten_documents(documents)
    if ids.size == 0:
        raise ValueError("The corpus is empty: no word left to train on (check `min_count` and the input).")
    if ids.min() < 0 or ids.max() >= counts.size:
        raise ValueError(f"Word ids must be in [0, {counts.size}). Received ids in [{ids.min()}, {ids.max()}].")
    distinct = int(np.count_nonzero(counts))
    if distinct < negative + 1:
        raise ValueError(
            f"Negative sampling needs more distinct words than `negative` (negatives must differ from the "
            f"context word). Received: {distinct} distinct words with negative={negative}."
        )
    keep_array = keep_probabilities(counts, sample)
    mean_pairs = expected_pairs(ids, doc_ids, keep_array, window, chunk_size)
    steps = max(1, int(np.ceil((mean_pairs + 5.0 * np.sqrt(mean_pairs * window) + 1.0) / batch_size)))
    total = ids.size
    num_chunks = -(-total // chunk_size)
    padded = num_chunks * chunk_size
    id_chunks = np.pad(ids, (0, padded - total), constant_values=-1).reshape(num_chunks, chunk_size)
    doc_chunks = np.pad(doc_ids, (0, padded - total), constant_values=-1).reshape(num_chunks, chunk_size)
    chunks = tf.data.Dataset.from_tensor_slices((id_chunks, doc_chunks))
    return _chunk_batches(
        chunks, counts, keep_array, total, num_chunks, mean_pairs, window, negative, ns_exponent, batch_size, chunk_size,
        seed, negative_group_size,
    )


def _chunk_batches(chunks, counts, keep_array, total, num_chunks, mean_pairs, window, negative, ns_exponent, batch_size,
                   chunk_size, seed, negative_group_size):
    """The epoch's batches from `chunks`, a re-iterable dataset of `(ids, doc_ids)` int32 `(chunk_size,)`
    pairs padded with -1 (the same for an in-memory corpus and a streamed one)."""
    steps = max(1, int(np.ceil((mean_pairs + 5.0 * np.sqrt(mean_pairs * window) + 1.0) / batch_size)))
    keep_probs = tf.constant(keep_array)
    table, starts = (tf.constant(array) for array in negative_sampling_table(counts, ns_exponent))
    shared = negative_group_size > 1

    def chunk_pairs(epoch_seed, index, chunk_ids, chunk_docs):
        seed_pair = tf.stack([epoch_seed, index])  # (2,) stateless seed of this chunk
        index = tf.cast(index, tf.int32)
        targets, contexts, positions = skipgram_pairs(chunk_ids, chunk_docs, keep_probs, window, seed_pair)
        order = tf.random.experimental.stateless_shuffle(
            tf.range(tf.size(targets)), tf.random.experimental.stateless_fold_in(seed_pair, _SHUFFLE)
        )
        targets, contexts, positions = (tf.gather(t, order) for t in (targets, contexts, positions))
        progress = tf.cast(index * chunk_size + positions, tf.float32) / float(total)
        pairs = {
            "target": targets,
            "context": contexts,
            "weight": tf.ones(tf.shape(targets), tf.float32),
            "progress": progress,
        }
        if not shared:  # (P, N), each pair's own draw, never its context word
            pairs["negatives"] = sample_negatives(
                contexts, table, starts, negative, tf.random.experimental.stateless_fold_in(seed_pair, _NEGATIVES)
            )
        return pairs

    def pad_batch(batch):
        missing = batch_size - tf.shape(batch["target"])[0]
        return {key: tf.pad(value, [[0, missing]] + [[0, 0]] * (value.shape.rank - 1)) for key, value in batch.items()}

    def batch_with_shared_negatives(epoch_seed, index, batch):
        # Batch seeds (epoch_seed, num_chunks + index) never meet a chunk's (epoch_seed, chunk index).
        seed_pair = tf.stack([epoch_seed, num_chunks + index])
        batch = pad_batch(batch)
        batch["negatives"] = sample_shared_negatives(
            num_groups, table, negative, tf.random.experimental.stateless_fold_in(seed_pair, _NEGATIVES)
        )  # (B / G, N)
        return batch

    def epoch(epoch_seed):
        pairs = chunks.enumerate().map(
            lambda index, chunk: chunk_pairs(epoch_seed, index, *chunk), num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        if shared:
            batches = pairs.rebatch(batch_size).enumerate().map(
                lambda index, batch: batch_with_shared_negatives(epoch_seed, index, batch),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
            )
        else:
            batches = pairs.rebatch(batch_size).map(pad_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return batches.concatenate(padding.repeat()).take(steps)

    num_groups = batch_size // negative_group_size
    padding = pad_batch({
        "target": tf.zeros([0], tf.int32),
        "context": tf.zeros([0], tf.int32),
        "weight": tf.zeros([0], tf.float32),
        "progress": tf.zeros([0], tf.float32),
    })
    # All-padding batches: negatives are inert (weight 0), any valid id does.
    padding["negatives"] = tf.zeros([num_groups if shared else batch_size, negative], tf.int32)
    padding = tf.data.Dataset.from_tensors(padding)

    # A fresh int64 seed on every pass over the dataset, reproducible from `seed`.
    epoch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    dataset = epoch_seeds.flat_map(epoch).apply(tf.data.experimental.assert_cardinality(steps))
    info = {
        "words": int(total), "chunks": int(num_chunks), "expected_pairs": mean_pairs, "steps": steps,
        "negative_group_size": negative_group_size,
    }
    return dataset.prefetch(tf.data.AUTOTUNE), info


def id_chunks(flat_ids, chunk_size=10000):
    """Fixed-size chunks of a stream of words: `flat_ids` is a `tf.data.Dataset` of `(ids, doc_ids)`
    int32 vectors of any length (a block of documents, laid end to end); the result holds `(ids,
    doc_ids)` vectors of exactly `chunk_size` words, the last one padded with -1. The chunks are
    those `skipgram_dataset` cuts from the same words held in memory (only the equality of
    neighbouring `doc_ids` matters)."""

    def pad(ids, doc_ids):
        missing = chunk_size - tf.shape(ids)[0]
        return tf.pad(ids, [[0, missing]], constant_values=-1), tf.pad(doc_ids, [[0, missing]], constant_values=-1)

    return flat_ids.rebatch(chunk_size).map(pad)


def streamed_skipgram_dataset(
    chunks,
    counts,
    window=5,
    negative=5,
    sample=1e-3,
    ns_exponent=0.75,
    batch_size=4096,
    chunk_size=10000,
    seed=0,
    negative_group_size=1,
):
    """`skipgram_dataset` over a corpus streamed in chunks rather than held in memory.

    One counting pass over `chunks` (words, chunks, expected pairs: the epoch length and the
    learning-rate schedule need them before training) holds one chunk at a time; training passes
    then read the chunks again. On the same words the batches equal `skipgram_dataset`'s.

    Args:
        chunks: re-iterable `tf.data.Dataset` of `(ids, doc_ids)` int32 `(chunk_size,)` vectors
            padded with -1 (see `id_chunks`).
        counts, window, negative, sample, ns_exponent, batch_size, chunk_size, seed,
            negative_group_size: as in `skipgram_dataset`.

    Returns:
        `(dataset, info)` as `skipgram_dataset`.

    Example:

    >>> flat = tf.data.Dataset.from_tensors(([4, 5, 6, 7, 4, 5], [0, 0, 0, 0, 0, 0]))
    >>> dataset, info = streamed_skipgram_dataset(id_chunks(flat, 4), counts=[0, 0, 0, 0, 2, 2, 1, 1],
    ...                                           window=2, negative=1, sample=0, batch_size=4, chunk_size=4)
    """
    for name, value in (("window", window), ("negative", negative), ("batch_size", batch_size), ("chunk_size", chunk_size)):
        if int(value) != value or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value}")
    if sample < 0:
        raise ValueError(f"`sample` must be >= 0. Received: sample={sample}")
    if int(negative_group_size) != negative_group_size or negative_group_size < 1 or batch_size % negative_group_size:
        raise ValueError(
            f"`negative_group_size` must be a positive integer dividing `batch_size`. "
            f"Received: negative_group_size={negative_group_size}, batch_size={batch_size}"
        )
    counts = np.asarray(counts, dtype=np.int64).reshape(-1)
    distinct = int(np.count_nonzero(counts))
    if distinct < negative + 1:
        raise ValueError(
            f"Negative sampling needs more distinct words than `negative` (negatives must differ from the "
            f"context word). Received: {distinct} distinct words with negative={negative}."
        )
    keep_array = keep_probabilities(counts, sample)
    total, num_chunks, mean_pairs = 0, 0, 0.0
    for ids, doc_ids in chunks.as_numpy_iterator():  # one chunk at a time
        valid = ids >= 0
        total += int(valid.sum())
        num_chunks += 1
        mean_pairs += expected_pairs(ids[valid], doc_ids[valid], keep_array, window, chunk_size)
    if total == 0:
        raise ValueError("The corpus is empty: no word left to train on (check `min_count` and the input).")
    return _chunk_batches(
        chunks, counts, keep_array, total, num_chunks, mean_pairs, window, negative, ns_exponent, batch_size, chunk_size,
        seed, int(negative_group_size),
    )
