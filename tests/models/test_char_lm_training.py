"""Training data layouts and LanguageModelTrainer: windows and truncated BPTT with resets."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkeras.data.vocabulary import BOS_ID, EOS_ID, PAD_ID, Vocabulary
from seqkeras.models.char_lm import datasets
from seqkeras.models.char_lm.char_language_model import CharLanguageModel
from seqkeras.models.char_lm.character_cross_entropy import CharacterCrossEntropy
from seqkeras.models.char_lm.evaluation import stream_bits_per_character
from seqkeras.models.char_lm.language_model_trainer import LanguageModelTrainer

TEXTS = ["abcab[a]", "{b}", "ccab abc ab[[a]] bb", "a", "[[b]] {{c}}"]


@pytest.fixture(scope="module")
def vocabulary():
    return Vocabulary(list("abc[]{} "))


@pytest.fixture(scope="module")
def documents(vocabulary):
    return datasets.encode_documents(TEXTS, vocabulary)


def test_documents_are_shifted_by_one(documents, vocabulary):
    inputs, targets = documents[1]
    assert inputs[0] == BOS_ID and targets[-1] == EOS_ID
    np.testing.assert_array_equal(inputs[1:], targets[:-1])
    assert vocabulary.detokenize(tf.constant(inputs)).numpy().decode() == "{b}"


def test_long_and_empty_texts_tokenize_losslessly(vocabulary):
    text = "ab[c]é " * 100
    ragged = datasets.tokenize_characters([text, "", "é"])
    assert [len(row) for row in ragged.to_list()] == [len(text), 0, 1]
    assert b"".join(ragged[0].numpy()).decode() == text


def test_windows_cover_every_position_once(documents):
    inputs, targets, mask = datasets.window_arrays(documents, window=4)
    assert inputs.shape == targets.shape == mask.shape and inputs.shape[1] == 4
    assert mask.sum() == sum(len(i) for i, _ in documents)
    assert (inputs[~mask] == PAD_ID).all() and (targets[~mask] == PAD_ID).all()
    np.testing.assert_array_equal(inputs[mask], np.concatenate([i for i, _ in documents]))
    # Batches are always full (filler windows are fully masked), so one traced shape serves all.
    batches = list(datasets.window_dataset(documents, window=4, batch_size=5, shuffle=False))
    assert all(tuple(features["token_ids"].shape) == (5, 4) for features, _ in batches)
    assert sum(int(tf.reduce_sum(tf.cast(f["padding_mask"], tf.int32))) for f, _ in batches) == mask.sum()


def test_stream_rows_continue_documents_and_reset_at_their_starts(documents):
    window, rows = 4, 2
    arrays = datasets.stream_arrays(documents, window, rows)
    num_batches = arrays["token_ids"].shape[0]
    assert arrays["token_ids"].shape == (num_batches, rows, window)
    recovered = []
    for row in range(rows):
        stream = arrays["token_ids"][:, row].reshape(-1)  # row j of batch i+1 continues batch i
        real = arrays["padding_mask"][:, row].reshape(-1)
        starts = np.flatnonzero(arrays["reset"][:, row]) * window
        for start in starts:
            if real[start]:  # not an empty padding window
                assert stream[start] == BOS_ID  # a document starts exactly where the row resets
        # Within a row, BOS only ever appears at a reset window.
        assert set(np.flatnonzero(stream == BOS_ID)) <= set(starts)
        recovered.extend(np.split(stream[real], np.flatnonzero(stream[real] == BOS_ID)[1:]))
    assert sorted(map(tuple, recovered)) == sorted(tuple(i) for i, _ in documents)


def _pass_rows(batches, window):
    """A pass's batches -> per row: its windows' inputs laid end to end, real flags, resets."""
    ids = np.stack([features["token_ids"].numpy() for features, _ in batches], 1)  # (B, L, W)
    real = np.stack([features["padding_mask"].numpy() for features, _ in batches], 1)
    reset = np.stack([features["reset"].numpy() for features, _ in batches], 1)  # (B, L)
    return ids.reshape(len(ids), -1), real.reshape(len(ids), -1), reset


def test_shuffled_stream_reads_every_document_once_per_pass_in_a_new_order(documents):
    window, rows = 2, 3
    length = datasets.shuffled_stream_length(documents, window, rows)
    windows = sum(-(-len(inputs) // window) for inputs, _ in documents)
    assert length == -(-windows // rows)
    batches = list(datasets.shuffled_stream_dataset(documents, window, rows, seed=4, repeat=True).take(3 * length))
    assert all(tuple(features["token_ids"].shape) == (rows, window) and tuple(features["reset"].shape) == (rows,)
               for features, _ in batches)
    orders = []
    for index in range(3):
        ids, real, reset = _pass_rows(batches[index * length:(index + 1) * length], window)
        assert reset[:, 0].all()  # every row starts a pass from a zero state
        # Rows laid end to end give back the pass's stream: whole documents, each once; a document
        # only ever begins at a reset window, and a reset inside a row is always a document start.
        stream = np.concatenate([row[flags] for row, flags in zip(ids, real)])
        starts = np.flatnonzero(stream == BOS_ID)
        pieces = np.split(stream, starts[1:])
        assert sorted(map(tuple, pieces)) == sorted(tuple(inputs) for inputs, _ in documents)
        for row in range(rows):
            bos = set(np.flatnonzero(ids[row] == BOS_ID))
            assert bos <= set(np.flatnonzero(reset[row]) * window)
            assert {window * i for i in np.flatnonzero(reset[row][1:]) + 1 if real[row, window * i]} <= bos
        assert (~real).sum() - sum(-len(i) % window for i, _ in documents) < rows * window  # < B empty windows
        orders.append([len(piece) for piece in pieces])
    assert len({tuple(order) for order in orders}) > 1  # passes differ in document order
    again = list(datasets.shuffled_stream_dataset(documents, window, rows, seed=4).as_numpy_iterator())
    assert len(again) == length  # repeat=False: one pass, the same as the first one
    for (features, targets), (features_again, targets_again) in zip(batches, again):
        np.testing.assert_array_equal(targets.numpy(), targets_again)
        np.testing.assert_array_equal(features["reset"].numpy(), features_again["reset"])


def test_shuffled_stream_pads_each_document_to_windows_and_masks_the_padding(documents):
    batches = list(datasets.shuffled_stream_dataset(documents, window=4, batch_size=2, seed=0))
    targets = np.concatenate([t.numpy().reshape(-1) for _, t in batches])
    mask = np.concatenate([f["padding_mask"].numpy().reshape(-1) for f, _ in batches])
    assert mask.sum() == sum(len(i) for i, _ in documents)
    assert (targets[~mask] == PAD_ID).all() and (targets[mask] != PAD_ID).all()
    assert sorted(targets[mask].tolist()) == sorted(np.concatenate([t for _, t in documents]).tolist())


def test_bad_layout_arguments(documents):
    with pytest.raises(ValueError, match="window=0"):
        datasets.window_arrays(documents, 0)
    with pytest.raises(ValueError, match="batch_size=-1"):
        datasets.stream_arrays(documents, 4, -1)
    with pytest.raises(ValueError, match="batch_size=0"):
        datasets.shuffled_stream_dataset(documents, 4, 0)
    with pytest.raises(ValueError, match=r"documents=\[\]"):
        datasets.shuffled_stream_dataset([], 4, 2)
    with pytest.raises(ValueError, match="batch_size=None"):
        LanguageModelTrainer(CharLanguageModel(vocabulary_size=12, hidden_dim=4), truncated_bptt=True)


def test_metric_is_per_real_character():
    metric = CharacterCrossEntropy()
    metric.update_state([[1, 2, 0]], tf.zeros([1, 3, 4]), sample_weight=[[1, 1, 0]])
    metric.update_state([[3]], tf.zeros([1, 1, 4]))
    assert float(metric.result()) == pytest.approx(2.0)
    nats = CharacterCrossEntropy(unit="nats")
    nats.update_state([[1]], tf.zeros([1, 1, 4]))
    assert float(nats.result()) == pytest.approx(math.log(4))


def _whole_document_bits(model, documents):
    """Reference: each document in one pass from a zero state."""
    total, count = 0.0, 0
    for inputs, targets in documents:
        logits = model({"token_ids": tf.constant([inputs]), "padding_mask": tf.ones([1, len(inputs)], tf.bool)})
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant([targets]), logits=logits)
        total += float(tf.reduce_sum(nll))
        count += len(targets)
    return total / count / math.log(2)


def test_carried_state_with_resets_equals_whole_documents(documents, vocabulary):
    keras.utils.set_random_seed(5)
    model = CharLanguageModel(vocabulary_size=vocabulary.size, embedding_dim=4, hidden_dim=6)
    streamed = stream_bits_per_character(model, documents, window=3, batch_size=2)
    np.testing.assert_allclose(streamed, _whole_document_bits(model, documents), rtol=1e-5)


def test_truncated_bptt_carries_the_final_states_row_by_row(documents, vocabulary):
    keras.utils.set_random_seed(6)
    model = CharLanguageModel(vocabulary_size=vocabulary.size, embedding_dim=4, hidden_dim=6)
    trainer = LanguageModelTrainer(model, truncated_bptt=True, batch_size=2)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    batches = list(datasets.stream_dataset(documents, window=3, batch_size=2))
    (first, _), (second, _) = batches[0], batches[1]
    assert first["reset"].numpy().all()
    # What batch 1 should start from: the final states of batch 0 (computed before the update).
    _, expected = model.run(first["token_ids"], first["padding_mask"])
    trainer.train_on_batch(first, batches[0][1])
    for variable, state in zip(trainer.train_states, expected):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), state.numpy(), atol=1e-6)
    # A row flagged `reset` starts from zeros, the others from the carried state.
    reset = second["reset"].numpy()
    starts = trainer._initial_states(second, trainer.train_states)
    for start, carried in zip(starts, trainer.train_states):
        carried = keras.ops.convert_to_numpy(carried)
        for row in range(2):
            np.testing.assert_allclose(start.numpy()[row], 0.0 if reset[row] else carried[row])


@pytest.mark.parametrize("mode", ["windows", "tbptt"])
def test_both_modes_learn(documents, vocabulary, mode):
    keras.utils.set_random_seed(7)
    model = CharLanguageModel(vocabulary_size=vocabulary.size, embedding_dim=8, hidden_dim=16)
    tbptt = mode == "tbptt"
    trainer = LanguageModelTrainer(model, truncated_bptt=tbptt, batch_size=2 if tbptt else None)
    trainer.compile(optimizer=keras.optimizers.Adam(0.03))
    if tbptt:
        data = datasets.stream_dataset(documents, window=4, batch_size=2)
    else:
        data = datasets.window_dataset(documents, window=4, batch_size=4, seed=0)
    history = trainer.fit(data, epochs=12, verbose=0, shuffle=False).history
    assert history["bpc"][-1] < 0.7 * history["bpc"][0]
    np.testing.assert_allclose(np.array(history["bpc"]) * math.log(2), history["loss"], rtol=1e-5)


@pytest.mark.slow
def test_backup_and_restore_resumes_after_an_interruption(documents, vocabulary, tmp_path):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("interrupted")

    def fit(callbacks):
        keras.utils.set_random_seed(8)
        model = CharLanguageModel(vocabulary_size=vocabulary.size, embedding_dim=4, hidden_dim=6)
        trainer = LanguageModelTrainer(model, truncated_bptt=True, batch_size=2)
        trainer.compile(optimizer=keras.optimizers.Adam(0.01))
        data = datasets.stream_dataset(documents, window=4, batch_size=2)
        backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
        return trainer, trainer.fit(data, epochs=4, verbose=0, shuffle=False, callbacks=[backup] + callbacks)

    with pytest.raises(RuntimeError, match="interrupted"):
        fit([Interrupt()])
    trainer, history = fit([])
    assert history.epoch == [2, 3]  # resumed after the two finished epochs
    steps = len(list(datasets.stream_dataset(documents, window=4, batch_size=2)))
    assert int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)) == 4 * steps
