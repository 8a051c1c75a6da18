import collections

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from seqkeras.data import corpora
from seqkeras.data.batching import (
    STRATEGIES,
    batch_sequences,
    length_quantile_boundaries,
    padding_fraction,
    to_model_inputs,
)
from seqkeras.data.packing import PackedSequence, unpack_sequences
from seqkeras.data.tokenization import WordTokenizer
from seqkeras.data.vocabulary import Vocabulary


@pytest.fixture(scope="module")
def wiki_ids():
    sentences = corpora.wiki_sentences()[:400]
    tokens = WordTokenizer("unicode_script", lowercase=True).tokenize(tf.constant(sentences))
    return Vocabulary.build(tokens.to_list(), max_size=2000).lookup(tokens)


def _rows(batch):
    if isinstance(batch, PackedSequence):
        return unpack_sequences(batch).to_list()
    if isinstance(batch, tf.RaggedTensor):
        return batch.to_list()
    return [row[row != 0].tolist() for row in batch.numpy()]


def _epoch(dataset):
    if isinstance(dataset.element_spec, PackedSequence.Spec):
        dataset = dataset.map(unpack_sequences)  # unpack in-graph, faster than eagerly per batch
    return [_rows(b) for b in dataset]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_real_sentence_once_per_epoch(wiki_ids, strategy):
    dataset, info = batch_sequences(wiki_ids, strategy, batch_size=48, token_budget=900, return_info=True)
    assert dataset.cardinality() == info.batches_per_epoch
    epochs = [_epoch(dataset) for _ in range(2)]
    expected = collections.Counter(map(tuple, wiki_ids.to_list()))
    for batches in epochs:
        assert collections.Counter(tuple(r) for b in batches for r in b) == expected
        assert len(batches) == info.batches_per_epoch
    # a new assignment each epoch, reproducible from the seed
    assert epochs[0] != epochs[1]
    again, _ = batch_sequences(wiki_ids, strategy, batch_size=48, token_budget=900, return_info=True)
    assert _epoch(again) == epochs[0]


def test_padding_ordering_on_real_text(wiki_ids):
    fractions = {}
    for strategy in ("random", "sorted", "bucketed", "token_budget"):
        batches = _epoch(batch_sequences(wiki_ids, strategy, batch_size=32, token_budget=600))
        fractions[strategy] = padding_fraction([[len(r) for r in b] for b in batches])
    assert fractions["random"] > 0.5
    for strategy in ("sorted", "bucketed", "token_budget"):
        assert fractions[strategy] < fractions["random"] / 4, fractions


def test_token_budget_sizes(wiki_ids):
    dataset, info = batch_sequences(wiki_ids, "token_budget", token_budget=500, return_info=True)
    for batch in dataset:
        lengths = batch.row_lengths().numpy()
        assert len(lengths) * lengths.max() <= 500
    sizes, widths = np.array(info.bucket_batch_sizes), np.array(info.bucket_widths)
    assert (sizes * np.maximum(widths, 1) <= 500).all()
    assert sizes[0] > sizes[-1]  # short sequences get bigger batches


def test_pad_to_bucket_boundary_gives_fixed_widths(wiki_ids):
    dataset, info = batch_sequences(wiki_ids, "token_budget", token_budget=800, boundaries=[8, 16, 32],
                                    pad_to_bucket_boundary=True, shuffle=False, return_info=True)
    assert info.bucket_widths[:3] == [7, 15, 31]
    widths = set()
    for batch in dataset:
        assert isinstance(batch, tf.Tensor)
        widths.add(batch.shape[1])
        assert batch.shape[0] * batch.shape[1] <= 800
    assert widths <= {7, 15, 31, info.bucket_widths[3]}
    with pytest.raises(ValueError, match="pad_to_bucket_boundary"):
        batch_sequences(wiki_ids, "sorted", pad_to_bucket_boundary=True)


def test_structures_stay_aligned(ewt_dir):
    sentences = corpora.read_conllu(ewt_dir / "en_ewt-ud-dev.conllu.gz")[:120]
    words = tf.ragged.constant([s.words for s in sentences])
    tags = tf.ragged.constant([s.upos for s in sentences])
    genre = tf.constant([corpora.ewt_genre(s.sent_id) for s in sentences])
    dataset = tf.data.Dataset.from_tensor_slices({"words": words, "tags": tags, "genre": genre})
    by_words = {s.words: s for s in sentences}
    for batch in batch_sequences(dataset, "bucketed", batch_size=32, num_buckets=4):
        assert batch["genre"].shape == (batch["words"].nrows(),)
        for w, t, g in zip(batch["words"].to_list(), batch["tags"].to_list(), batch["genre"].numpy()):
            original = by_words[tuple(x.decode() for x in w)]
            assert tuple(x.decode() for x in t) == original.upos
            assert g.decode() == corpora.ewt_genre(original.sent_id)


def test_sorted_without_shuffle_is_length_order():
    ids = tf.ragged.constant([[4, 5], [6], [7, 8, 9], [4]])
    assert [b.to_list() for b in batch_sequences(ids, "sorted", batch_size=2, shuffle=False)] == [
        [[6], [4]], [[4, 5], [7, 8, 9]]]


def test_empty_and_too_long_policies():
    ids = tf.ragged.constant([[4, 5], [], [6, 7, 8, 9, 10], [4], []], dtype=tf.int32)
    _, info = batch_sequences(ids, "random", batch_size=2, return_info=True)
    assert info.dropped_empty == 2 and info.num_examples == 3
    with pytest.raises(ValueError, match="2 empty example"):
        batch_sequences(ids, "random", on_empty="error")
    kept, info = batch_sequences(ids, "random", batch_size=8, on_empty="keep", return_info=True)
    assert info.num_examples == 5 and sum(len(b.to_list()) for b in kept) == 5
    with pytest.raises(ValueError, match="token_budget=4 is smaller than the longest example"):
        batch_sequences(ids, "token_budget", token_budget=4)
    dataset, info = batch_sequences(ids, "token_budget", token_budget=4, on_too_long="drop", return_info=True)
    assert info.dropped_too_long == 1 and info.dropped_empty == 2
    assert sorted(r for b in dataset for r in b.to_list()) == [[4], [4, 5]]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"strategy": "shuffled"}, "strategy='shuffled'"),
        ({"strategy": "bucketed", "boundaries": [5, 3]}, "strictly increasing"),
        ({"strategy": "bucketed", "boundaries": [0, 3]}, "positive integers"),
        ({"strategy": "token_budget"}, "token_budget=None"),
        ({"strategy": "random", "batch_size": 0}, "batch_size=0"),
        ({"strategy": "random", "on_empty": "skip"}, "on_empty='skip'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        batch_sequences(tf.ragged.constant([[4, 5], [6]]), **kwargs)


def test_empty_dataset_and_no_sequence_component():
    with pytest.raises(ValueError, match="empty dataset"):
        batch_sequences(tf.data.Dataset.from_tensor_slices(tf.ragged.constant([[1]])).take(0), "random")
    with pytest.raises(ValueError, match="No sequence component"):
        batch_sequences(tf.constant([1, 2, 3]), "random")


def test_quantile_boundaries(wiki_ids):
    lengths = wiki_ids.row_lengths().numpy()
    boundaries = length_quantile_boundaries(lengths, num_buckets=4)
    assert boundaries == sorted(set(boundaries)) and len(boundaries) == 3
    counts = np.bincount(np.searchsorted(boundaries, lengths, side="right"))
    assert counts.min() > 0.15 * len(lengths)  # roughly even buckets
    assert length_quantile_boundaries([3, 3, 3], num_buckets=8) == []
    with pytest.raises(ValueError, match="num_buckets=0"):
        length_quantile_boundaries(lengths, num_buckets=0)


def test_to_model_inputs_ragged_and_dense():
    out = to_model_inputs(tf.ragged.constant([[4, 5, 6], [7]], dtype=tf.int64))
    np.testing.assert_array_equal(out["token_ids"], [[4, 5, 6], [7, 0, 0]])
    np.testing.assert_array_equal(out["padding_mask"], [[True, True, True], [True, False, False]])
    assert out["token_ids"].dtype == tf.int32 and out["padding_mask"].dtype == tf.bool
    dense = to_model_inputs(tf.constant([[4, 0]]))
    np.testing.assert_array_equal(dense["padding_mask"], [[True, False]])


def _identified(lengths):
    rows = [[i + 4] * n for i, n in enumerate(lengths)]
    return tf.RaggedTensor.from_row_lengths(
        tf.constant([x for r in rows for x in r], dtype=tf.int32), lengths), rows


@settings(max_examples=10, deadline=None, derandomize=True)
@given(
    lengths=st.lists(st.integers(0, 12), min_size=1, max_size=30),
    strategy=st.sampled_from(STRATEGIES),
    batch_size=st.integers(1, 6),
    budget=st.integers(1, 30),
    shuffle=st.booleans(),
)
def test_exactly_once_property(lengths, strategy, batch_size, budget, shuffle):
    ragged, rows = _identified(lengths)
    expected = sorted(r for r in rows if r and (strategy not in ("token_budget", "packed") or len(r) <= budget))
    if not expected:
        with pytest.raises(ValueError):
            batch_sequences(ragged, strategy, batch_size=batch_size, token_budget=budget, on_too_long="drop")
        return
    dataset, info = batch_sequences(ragged, strategy, batch_size=batch_size, token_budget=budget,
                                    on_too_long="drop", shuffle=shuffle, num_buckets=3, return_info=True)
    delivered = [r for b in dataset for r in _rows(b)]
    assert sorted(delivered) == expected
    assert info.dropped_empty == lengths.count(0)
    assert info.num_examples + info.dropped_empty + info.dropped_too_long == len(lengths)
