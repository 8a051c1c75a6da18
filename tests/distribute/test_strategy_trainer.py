"""StrategyTrainer under the default strategy: global-token loss, exact resume, corrupt checkpoints."""

import math
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines import common, train_charlm
from seqkeras.data.vocabulary import Vocabulary
from seqkeras.distribute import CorruptCheckpointError, StrategyTrainer, make_strategy
from seqkeras.models.char_lm import datasets
from seqkeras.models.char_lm.char_language_model import CharLanguageModel
from seqkeras.models.char_lm.character_cross_entropy import masked_negative_log_likelihood
from seqkeras.models.char_lm.language_model_trainer import language_model_replica_loss

TEXTS = ["abcab[a]", "{b}", "ccab abc ab[[a]] bb", "a", "[[b]] {{c}}", "abc [[a]] {b} ccc", "b{a}c"]
VOCABULARY = Vocabulary(list("abc[]{} "))
DOCUMENTS = datasets.encode_documents(TEXTS, VOCABULARY)
BATCH, WINDOW, HIDDEN = 4, 5, 6


def _trainer(tmp_path, tbptt, clipnorm=1.0, checkpoint_every=1, dropout=0.1, autograph=True):
    strategy = make_strategy("none")
    keras.utils.set_random_seed(3)
    with strategy.scope():
        model = CharLanguageModel(vocabulary_size=VOCABULARY.size, embedding_dim=4, hidden_dim=HIDDEN, dropout=dropout)
        optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.02, 12), clipnorm=clipnorm)
    trainer = StrategyTrainer(
        strategy, model, optimizer, language_model_replica_loss(model, tbptt),
        checkpoint_dir=tmp_path / "ckpt", checkpoint_every=checkpoint_every,
        carry_shapes=[(BATCH, HIDDEN)] * (model.num_states if tbptt else 0),
        derived_metrics={"bpc": lambda nats: nats / math.log(2.0)}, autograph=autograph,
    )
    if tbptt:
        data = datasets.stream_dataset(DOCUMENTS, WINDOW, BATCH, repeat=True)
    else:
        data = datasets.window_dataset(DOCUMENTS, WINDOW, BATCH, seed=4, repeat=True)
    return trainer, lambda context: datasets.replica_dataset(data, context, BATCH)


def test_loss_is_the_mean_over_real_characters_of_the_global_batch(tmp_path):
    trainer, dataset_fn = _trainer(tmp_path, tbptt=False, clipnorm=None, dropout=0.0)
    inputs, targets = next(iter(datasets.window_dataset(DOCUMENTS, WINDOW, BATCH, seed=4, repeat=True)))
    logits = trainer.model(inputs)
    mask = inputs["padding_mask"]
    expected = float(tf.reduce_sum(masked_negative_log_likelihood(targets, logits, mask)) /
                     tf.reduce_sum(tf.cast(mask, tf.float32)))
    history = trainer.fit(dataset_fn, epochs=1, steps_per_epoch=1)  # the logged loss is from before the update
    assert history["loss"] == [pytest.approx(expected, rel=1e-6)]
    assert history["bpc"] == [pytest.approx(expected / math.log(2), rel=1e-6)]


def test_autograph_off_trains_the_same_steps(tmp_path):
    # The pipelines build their trainers with autograph=False (no AutoGraph conversion when the
    # step is traced); the traced graph computes the same ops, so the weights are the same.
    weights = []
    for autograph in (True, False):
        trainer, dataset_fn = _trainer(tmp_path / str(autograph), tbptt=True, autograph=autograph)
        history = trainer.fit(dataset_fn, epochs=1, steps_per_epoch=3)
        weights.append((history["loss"], [v.numpy() for v in trainer.model.weights]))
    assert weights[0][0] == weights[1][0]
    for a, b in zip(weights[0][1], weights[1][1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("tbptt", [True, False])
def test_resume_from_a_mid_run_checkpoint_gives_the_same_weights(tmp_path, tbptt):
    # Checkpoints at epoch ends and at the last step only (`fit` saves there whatever `checkpoint_every`).
    whole, dataset_fn = _trainer(tmp_path / "whole", tbptt, checkpoint_every=0)
    history = whole.fit(dataset_fn, epochs=3, steps_per_epoch=3)
    first, dataset_fn = _trainer(tmp_path / "parts", tbptt, checkpoint_every=0)
    first.fit(dataset_fn, epochs=1, steps_per_epoch=4)  # stops after step 4, mid-epoch 2: data, carry, RNG move on
    second, dataset_fn = _trainer(tmp_path / "parts", tbptt, checkpoint_every=0)  # as a fresh process builds it
    resumed = second.fit(dataset_fn, epochs=3, steps_per_epoch=3)
    assert resumed["epoch"] == [1, 2] and resumed["loss"][1:] == history["loss"][2:]
    for want, got in zip(whole.model.weights, second.model.weights):
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=want.path)
    assert int(second.optimizer.iterations.numpy()) == 9


def test_a_truncated_checkpoint_is_a_one_line_error_naming_the_file(tmp_path):
    trainer, dataset_fn = _trainer(tmp_path, tbptt=True)
    trainer.fit(dataset_fn, epochs=1, steps_per_epoch=2)
    data_file = sorted((tmp_path / "ckpt").glob("ckpt-2.data-*"))[0]
    data_file.write_bytes(data_file.read_bytes()[:50])
    again, _ = _trainer(tmp_path, tbptt=True)
    with pytest.raises(CorruptCheckpointError) as error:
        again.restore()
    message = str(error.value)
    assert "\n" not in message and str(data_file) in message and f"delete {tmp_path / 'ckpt'}" in message


@pytest.mark.slow
def test_the_pipeline_reports_a_corrupt_checkpoint_as_a_user_error(tmp_path):
    config = train_charlm.TrainConfig(
        max_article_characters=300, min_character_count=2, embedding_dim=4, hidden_dim=8, window=16, batch_size=4,
        epochs=1, steps_per_epoch=3, checkpoint_every=1, sample_length=5, valid_article_characters=50, verbose=0,
        run_dir=str(tmp_path / "run"),
    )
    train_charlm.main(config, test=False)  # the checkpoints are the point: no test scoring, sample or plot
    (tmp_path / "run" / common.MODEL_FILE).unlink()  # as if killed before the end
    index = sorted(pathlib.Path(config.run_dir, "ckpt", "steps").glob("ckpt-3.index"))[0]
    index.write_bytes(b"\0" * 10)
    with pytest.raises(common.UserError, match=r"checkpoint .*ckpt-3.* is corrupt .*delete .*ckpt/steps"):
        train_charlm.main(config, resume=True)


def test_global_batches_of_any_size_split_into_padded_replica_rows():
    """5 rows over 2 replicas: b = 3, replica 0 rows 0-2, replica 1 rows 3-4 + one all-zero row (mask 0)."""
    from seqkeras.distribute import split_global_batches

    ids = np.arange(1, 11, dtype="int32").reshape(5, 2)
    batch = ({"token_ids": ids, "padding_mask": ids > 0}, ids * 10, np.ones([5, 2], "float32"))
    data = tf.data.Dataset.from_tensors(batch)
    one = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2)
    parts = list(split_global_batches(data, one))
    assert len(parts) == 2
    np.testing.assert_array_equal(parts[0][0]["token_ids"], ids[:3])
    np.testing.assert_array_equal(parts[1][0]["token_ids"], [[7, 8], [9, 10], [0, 0]])
    np.testing.assert_array_equal(parts[1][0]["padding_mask"][2], [False, False])
    np.testing.assert_array_equal(parts[1][2], [[1, 1], [1, 1], [0, 0]])  # the padding row weighs nothing
    # Two workers, one replica each: worker 1 gets exactly replica 1's rows.
    second = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    (only,) = list(split_global_batches(data, second))
    np.testing.assert_array_equal(only[1], parts[1][1])
    # One replica: the global batches unchanged.
    single = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=1)
    np.testing.assert_array_equal(next(iter(split_global_batches(data, single)))[1], ids * 10)


def test_validation_with_one_row_per_document_equals_the_training_rows(tmp_path):
    # 3 documents: with BATCH=4 rows one row stays empty. Evaluating them on 3 rows
    # (`carry_rows`) gives the same sums: the empty row holds no real character.
    trainer, _ = _trainer(tmp_path, tbptt=True)
    held_out = DOCUMENTS[:3]
    steps = int(datasets.stream_dataset(held_out, WINDOW, BATCH).cardinality())
    wide = trainer.evaluate_sums(
        lambda context: datasets.replica_dataset(datasets.stream_dataset(held_out, WINDOW, BATCH), context, BATCH), steps)
    narrow_data = datasets.stream_dataset(held_out, WINDOW, 3)
    assert int(narrow_data.cardinality()) == steps
    narrow = trainer.evaluate_sums(lambda context: datasets.replica_dataset(narrow_data, context, 3), steps, carry_rows=3)
    assert narrow["loss"] == pytest.approx(wide["loss"], rel=1e-6)
