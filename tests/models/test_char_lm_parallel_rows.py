"""CharLanguageModel(parallel_rows=k): a training `run` as k independent row groups equals one chain."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkeras.models.char_lm.char_language_model import CharLanguageModel

VOCAB = 11


def pair(**kwargs):
    """A one-chain model and a two-group model with the same weights."""
    keras.utils.set_random_seed(2)
    one = CharLanguageModel(vocabulary_size=VOCAB, embedding_dim=4, hidden_dim=6, num_layers=2, **kwargs)
    two = CharLanguageModel(vocabulary_size=VOCAB, embedding_dim=4, hidden_dim=6, num_layers=2, parallel_rows=2,
                            **kwargs)
    probe = {"token_ids": tf.zeros([2, 3], tf.int32), "padding_mask": tf.ones([2, 3], tf.bool)}
    one(probe)
    two(probe)
    two.set_weights(one.get_weights())
    return one, two


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(4)
    ids = tf.constant(rng.integers(2, VOCAB, size=(4, 9)), tf.int32)
    mask = np.ones((4, 9), bool)
    mask[1, 6:] = False  # a document ends inside the window
    states = [tf.constant(rng.normal(scale=0.5, size=(4, 6)), tf.float32) for _ in range(4)]
    return ids, tf.constant(mask), states


def loss_and_gradients(model, ids, mask, states):
    with tf.GradientTape() as tape:
        logits, final = model.run(ids, mask, states, training=True)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(ids, logits, from_logits=True))
        loss += tf.add_n([tf.reduce_sum(tf.sin(state)) for state in final])
    return logits, final, tape.gradient(loss, model.trainable_variables)


def test_two_row_groups_equal_one_chain(batch):
    """Rows are independent, so only the summation order of the weight gradients differs."""
    one, two = pair()
    logits_one, final_one, grads_one = loss_and_gradients(one, *batch)
    logits_two, final_two, grads_two = tf.function(loss_and_gradients)(two, *batch)
    np.testing.assert_allclose(logits_two.numpy(), logits_one.numpy(), atol=1e-6)
    for got, want in zip([*final_two, *grads_two], [*final_one, *grads_one]):
        np.testing.assert_allclose(tf.convert_to_tensor(got).numpy(), tf.convert_to_tensor(want).numpy(), atol=1e-5)


def test_groups_keep_causality(batch):
    """Changing characters after step t leaves the training logits up to t unchanged."""
    _, two = pair()
    ids, mask, states = batch
    changed = tf.concat([ids[:, :5], tf.reverse(ids[:, 5:], axis=[1])], axis=1)
    before = two.run(ids, mask, states, training=True)[0]
    after = two.run(changed, mask, states, training=True)[0]
    np.testing.assert_allclose(after[:, :5].numpy(), before[:, :5].numpy(), atol=1e-6)
    assert not np.allclose(after[:, 5:].numpy(), before[:, 5:].numpy())


def test_inference_is_one_chain_and_the_config_round_trips(batch):
    one, two = pair()
    ids, mask, states = batch
    np.testing.assert_array_equal(two.run(ids, mask, states)[0].numpy(), one.run(ids, mask, states)[0].numpy())
    config = two.get_config()
    assert config["parallel_rows"] == 2
    assert CharLanguageModel.from_config(json.loads(json.dumps(config))).parallel_rows == 2


def test_bad_values():
    with pytest.raises(ValueError, match=r"parallel_rows.*Received: parallel_rows=0"):
        CharLanguageModel(vocabulary_size=VOCAB, parallel_rows=0)
    _, two = pair()
    with pytest.raises(tf.errors.InvalidArgumentError, match="parallel_rows=2"):
        two.run(tf.zeros([3, 4], tf.int32), training=True)
