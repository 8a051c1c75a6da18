import collections

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from seqkeras.data import skipgrams
from seqkeras.data.corpora import lee_documents


# ---------------------------------------------------------------------------------------------
# Subsampling and negative-sampling tables
# ---------------------------------------------------------------------------------------------
def test_keep_probabilities_follow_word2vec_formula():
    counts = np.array([0, 900, 90, 10])  # total 1000
    keep = skipgrams.keep_probabilities(counts, sample=0.01)
    # word2vec: (sqrt(c / (s * T)) + 1) * (s * T) / c with s * T = 10, capped at 1.
    expected = [0.0, (np.sqrt(90.0) + 1) * 10 / 900, (np.sqrt(9.0) + 1) * 10 / 90, 1.0]
    np.testing.assert_allclose(keep, expected, rtol=1e-6)
    np.testing.assert_array_equal(skipgrams.keep_probabilities(counts, sample=0), np.ones(4))


def test_negative_sampling_table_shares_are_within_one_slot():
    counts = np.array([0, 0, 1000, 50, 7, 1])
    table, starts = skipgrams.negative_sampling_table(counts, 0.75, table_size=10_000)
    weights = np.where(counts > 0, counts.astype(float) ** 0.75, 0.0)
    exact = weights / weights.sum() * 10_000
    slots = np.bincount(table, minlength=counts.size)
    assert np.all(np.abs(slots - exact) <= 1.0)
    assert slots[0] == slots[1] == 0  # zero counts never drawn
    np.testing.assert_array_equal(np.diff(starts), slots)


@settings(max_examples=20, deadline=None)
@given(
    counts=st.lists(st.integers(0, 50), min_size=3, max_size=12).filter(lambda c: sum(x > 0 for x in c) >= 2),
    seed=st.integers(0, 2**16),
)
def test_negatives_never_equal_their_context(counts, seed):
    counts = np.array(counts)
    table, starts = skipgrams.negative_sampling_table(counts, 0.75, table_size=4096)
    contexts = np.flatnonzero(counts)
    contexts = np.repeat(contexts, 50).astype(np.int32)
    negatives = skipgrams.sample_negatives(contexts, table, starts, 4, tf.constant([seed, 1])).numpy()
    assert negatives.shape == (contexts.size, 4)
    assert not np.any(negatives == contexts[:, None])
    assert np.all(counts[negatives] > 0)


def test_negatives_follow_the_conditional_unigram_distribution():
    counts = np.array([0, 400, 200, 100, 50])
    table, starts = skipgrams.negative_sampling_table(counts, 0.75)
    contexts = np.full(20_000, 1, np.int32)  # condition on the most frequent word
    negatives = skipgrams.sample_negatives(contexts, table, starts, 5, tf.constant([3, 4])).numpy().ravel()
    weights = np.array([0, 0, 200, 100, 50], float) ** 0.75
    expected = weights / weights.sum()
    observed = np.bincount(negatives, minlength=5) / negatives.size
    np.testing.assert_allclose(observed, expected, atol=0.01)


def test_shared_negatives_follow_the_unigram_distribution():
    counts = np.array([0, 0, 400, 200, 100, 50])
    table, _ = skipgrams.negative_sampling_table(counts, 0.75)
    negatives = skipgrams.sample_shared_negatives(4000, table, 5, tf.constant([3, 4])).numpy()
    assert negatives.shape == (4000, 5)
    weights = np.where(counts > 0, counts.astype(float) ** 0.75, 0.0)
    observed = np.bincount(negatives.ravel(), minlength=counts.size) / negatives.size
    np.testing.assert_allclose(observed, weights / weights.sum(), atol=0.01)


# ---------------------------------------------------------------------------------------------
# Pairs of one chunk
# ---------------------------------------------------------------------------------------------
def _pairs(ids, docs, window, seed, keep=None):
    keep = np.ones(max(ids) + 1, np.float32) if keep is None else keep
    targets, contexts, origins = skipgrams.skipgram_pairs(np.array(ids), np.array(docs), keep, window, tf.constant([seed, 0]))
    return targets.numpy(), contexts.numpy(), origins.numpy()


@settings(max_examples=10, deadline=None)
@given(window=st.integers(1, 4), length=st.integers(2, 30), seed=st.integers(0, 1000))
def test_dynamic_window_is_symmetric_and_contiguous_per_centre(window, length, seed):
    ids = list(range(length))  # id == position, so a pair tells its distance
    docs = [0] * (length // 2) + [1] * (length - length // 2)
    targets, contexts, origins = _pairs(ids, docs, window, seed)
    np.testing.assert_array_equal(targets, origins)
    by_centre = collections.defaultdict(set)
    for target, context in zip(targets, contexts):
        assert docs[target] == docs[context] and target != context
        by_centre[target].add(context - target)
    for centre, offsets in by_centre.items():
        reach = max(abs(o) for o in offsets)
        assert 1 <= reach <= window
        # all distances 1..reach on both sides, as far as the document goes
        expected = {d for d in range(-reach, reach + 1) if d and 0 <= centre + d < length and docs[centre + d] == docs[centre]}
        assert offsets == expected


def test_effective_window_is_uniform():
    ids = list(range(4000))
    targets, contexts, _ = _pairs(ids, [0] * 4000, window=4, seed=7)
    reach = collections.defaultdict(int)
    for target, context in zip(targets, contexts):
        reach[target] = max(reach[target], abs(context - target))
    counts = np.bincount([reach[c] for c in range(10, 3990)], minlength=5)[1:]
    np.testing.assert_allclose(counts / counts.sum(), [0.25] * 4, atol=0.03)


@pytest.mark.parametrize("ids, keep", [([4, 5, 6], 0.0), ([4], 1.0), ([-1, -1], 1.0)])
def test_chunks_without_pairs(ids, keep):
    # every word dropped, a lone word, only padding: no pairs, no error
    targets, contexts, origins = skipgrams.skipgram_pairs(
        np.array(ids), np.zeros(len(ids)), np.full(7, keep, np.float32), 3, tf.constant([1, 2])
    )
    assert targets.shape == contexts.shape == origins.shape == (0,)


def test_subsampling_drops_frequent_words_before_windowing():
    ids = np.array([4, 5] * 2000, np.int32)  # 4 is dropped half the time, 5 always kept
    keep = np.array([0, 0, 0, 0, 0.5, 1.0], np.float32)
    targets, contexts, _ = _pairs(ids.tolist(), [0] * ids.size, window=1, seed=3, keep=keep)
    share = np.mean(targets == 4) / np.mean(targets == 5)
    assert 0.4 < share < 0.6
    # with words removed, 5 meets 5 at distance 1: the window reaches over dropped words
    assert np.any((targets == 5) & (contexts == 5))


# ---------------------------------------------------------------------------------------------
# The dataset
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lee_ids():
    words = [doc.lower().split() for doc in lee_documents()[:30]]
    counter = collections.Counter(w for doc in words for w in doc)
    vocabulary = [w for w, n in counter.most_common() if n >= 2]
    index = {w: i + 4 for i, w in enumerate(vocabulary)}
    counts = np.zeros(len(vocabulary) + 4, np.int64)
    counts[4:] = [counter[w] for w in vocabulary]
    return [[index[w] for w in doc if w in index] for doc in words], counts


def test_dataset_batches_have_fixed_shapes_and_steps(lee_ids):
    documents, counts = lee_ids
    dataset, info = skipgrams.skipgram_dataset(documents, counts, window=3, negative=2, batch_size=256, chunk_size=1000, seed=1)
    batches = list(dataset)
    assert len(batches) == info["steps"] == dataset.cardinality().numpy()
    for batch in batches:
        assert batch["target"].shape == (256,) and batch["negatives"].shape == (256, 2)
        real = batch["weight"].numpy() > 0
        assert np.all(batch["negatives"].numpy()[real] != batch["context"].numpy()[real, None])
        assert np.all(counts[batch["target"].numpy()[real]] > 0)
        assert np.all((batch["progress"].numpy() >= 0) & (batch["progress"].numpy() < 1))
    pairs = sum(float(tf.reduce_sum(b["weight"])) for b in batches)
    assert abs(pairs - info["expected_pairs"]) < 0.03 * info["expected_pairs"]
    assert pairs <= info["steps"] * 256


def test_shared_negatives_dataset(lee_ids):
    documents, counts = lee_ids
    dataset, info = skipgrams.skipgram_dataset(
        documents, counts, window=3, negative=2, batch_size=256, chunk_size=1000, seed=1, negative_group_size=16
    )
    assert info["negative_group_size"] == 16
    batches = list(dataset)
    assert len(batches) == info["steps"]
    for batch in batches:
        assert batch["target"].shape == (256,) and batch["negatives"].shape == (16, 2)
        if np.any(batch["weight"].numpy() > 0):  # all-padding batches at the end carry inert zeros
            assert np.all(counts[batch["negatives"].numpy()] > 0)
    # the pairs are the same as with per-pair negatives (same seed), only the negatives differ
    own, _ = skipgrams.skipgram_dataset(documents, counts, window=3, negative=2, batch_size=256, chunk_size=1000, seed=1)
    first, first_own = batches[0], next(iter(own))
    for key in ("target", "context", "weight", "progress"):
        np.testing.assert_array_equal(first[key], first_own[key])
    # reproducible, and every batch draws its own negatives
    again = next(iter(skipgrams.skipgram_dataset(
        documents, counts, window=3, negative=2, batch_size=256, chunk_size=1000, seed=1, negative_group_size=16
    )[0]))
    np.testing.assert_array_equal(again["negatives"], first["negatives"])
    assert not np.array_equal(batches[0]["negatives"], batches[1]["negatives"])


def test_dataset_is_reproducible_and_each_epoch_draws_anew(lee_ids):
    documents, counts = lee_ids

    def first_epochs(seed):
        dataset, _ = skipgrams.skipgram_dataset(documents, counts, batch_size=512, seed=seed)
        return [next(iter(dataset))["negatives"].numpy() for _ in range(2)]

    first, second = first_epochs(5)
    again_first, again_second = first_epochs(5)
    np.testing.assert_array_equal(first, again_first)
    np.testing.assert_array_equal(second, again_second)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize(
    "documents, counts, kwargs, message",
    [
        ([[], []], [0, 0, 0, 0, 1], {}, "corpus is empty"),
        ([[4, 5]], [0, 0, 0, 0, 1, 1], {"window": 0}, "Received: window=0"),
        ([[4, 5, 6]], [0, 0, 0, 0, 1, 1, 1], {"negative": 5}, "3 distinct words with negative=5"),
        ([[4, 9]], [0, 0, 0, 0, 1, 1], {}, "Word ids must be in"),
        ([[4, 5]], [0, 0, 0, 0, 1, 1], {"sample": -1.0}, "Received: sample=-1.0"),
        ([[4, 5]], [0, 0, 0, 0, 1, 1], {"negative": 1, "batch_size": 10, "negative_group_size": 4},
         "Received: negative_group_size=4, batch_size=10"),
        ([[4, 5]], [0, 0, 0, 0, 1, 1], {"negative": 1, "negative_group_size": 0}, "Received: negative_group_size=0"),
    ],
)
def test_bad_input_is_rejected(documents, counts, kwargs, message):
    with pytest.raises(ValueError, match=message):
        skipgrams.skipgram_dataset(documents, counts, **kwargs)
