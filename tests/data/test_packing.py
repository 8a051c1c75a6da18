import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from seqkeras.data import corpora
from seqkeras.data.packing import PackedSequence, pack_padded, pack_sequences, unpack_sequences, unpack_to_padded
from seqkeras.data.tokenization import WordTokenizer
from seqkeras.data.vocabulary import Vocabulary


def test_pytorch_layout_by_hand():
    packed = pack_sequences(tf.ragged.constant([[1, 2, 3], [4], [5, 6], []]))
    assert packed.data.numpy().tolist() == [1, 5, 4, 2, 6, 3]
    assert packed.batch_sizes.numpy().tolist() == [3, 2, 1]
    assert packed.sorted_indices.numpy().tolist() == [0, 2, 1, 3]
    assert packed.unsorted_indices.numpy().tolist() == [0, 2, 1, 3]
    assert packed.lengths().numpy().tolist() == [3, 1, 2, 0]
    assert packed.batch_sizes.dtype == tf.int32


def _reference_pack(rows):
    """PyTorch's pack_sequence(enforce_sorted=False) written out with Python lists."""
    order = sorted(range(len(rows)), key=lambda r: -len(rows[r]))  # stable
    longest = max((len(r) for r in rows), default=0)
    data, batch_sizes = [], []
    for t in range(longest):
        alive = [r for r in order if len(rows[r]) > t]
        batch_sizes.append(len(alive))
        data += [rows[r][t] for r in alive]
    return data, batch_sizes, order


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.lists(st.integers(-50, 50), max_size=7), min_size=1, max_size=8))
def test_pack_matches_reference_and_round_trips(rows):
    ragged = tf.ragged.constant(rows, dtype=tf.int32, ragged_rank=1) if any(rows) else tf.RaggedTensor.from_row_lengths(
        tf.zeros([0], tf.int32), [0] * len(rows))
    packed = pack_sequences(ragged)
    data, batch_sizes, order = _reference_pack(rows)
    assert packed.data.numpy().tolist() == data
    assert packed.batch_sizes.numpy().tolist() == batch_sizes
    assert packed.sorted_indices.numpy().tolist() == order
    assert unpack_sequences(packed).to_list() == rows
    values, mask = unpack_to_padded(packed, padding_value=-99)
    assert mask.numpy().sum(axis=1).tolist() == [len(r) for r in rows]
    assert values.numpy()[~mask.numpy()].tolist() == [-99] * int((~mask.numpy()).sum())


def test_real_word_ids_round_trip_with_features():
    sentences = corpora.wiki_sentences()[:64]
    tokens = WordTokenizer().tokenize(tf.constant(sentences))
    ids = Vocabulary.build(tokens.to_list()).lookup(tokens)
    packed = pack_sequences(ids)
    assert int(tf.reduce_sum(packed.batch_sizes)) == int(tf.size(ids.flat_values))
    assert unpack_sequences(packed).to_list() == ids.to_list()
    # trailing feature axes travel along: (B, None, 3)
    features = tf.RaggedTensor.from_row_lengths(
        tf.reshape(tf.range(3 * int(tf.size(ids.flat_values)), dtype=tf.float32), [-1, 3]), ids.row_lengths())
    packed_features = pack_sequences(features)
    assert packed_features.data.shape[1:] == (3,)
    np.testing.assert_array_equal(unpack_sequences(packed_features).flat_values, features.flat_values)


def test_pack_padded_matches_pack_sequences():
    values = tf.constant([[1, 2, 0], [3, 0, 0], [4, 5, 6]])
    mask = values != 0
    a, b = pack_padded(values, mask), pack_sequences(tf.ragged.boolean_mask(values, mask))
    for field in ("data", "batch_sizes", "sorted_indices", "unsorted_indices"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    padded, padded_mask = unpack_to_padded(a)
    np.testing.assert_array_equal(padded, values)
    np.testing.assert_array_equal(padded_mask, mask)


def test_packed_sequence_in_tf_function_and_dataset():
    ragged = tf.ragged.constant([[7, 8], [9]])
    dataset = tf.data.Dataset.from_tensors(ragged).map(pack_sequences)
    assert isinstance(dataset.element_spec, PackedSequence.Spec)

    @tf.function
    def total_steps(packed):
        return tf.reduce_sum(packed.batch_sizes)

    for packed in dataset:
        assert int(total_steps(packed)) == 3
        assert unpack_sequences(packed).to_list() == [[7, 8], [9]]


def test_bad_inputs():
    with pytest.raises(TypeError, match="RaggedTensor"):
        pack_sequences(tf.constant([[1, 2]]))
    with pytest.raises(ValueError, match="ragged_rank=2"):
        pack_sequences(tf.ragged.constant([[[1], [2, 3]]]))
    with pytest.raises(TypeError, match="int32"):
        PackedSequence(tf.constant([1]), tf.constant([1], tf.int64), tf.constant([0]), tf.constant([0]))
