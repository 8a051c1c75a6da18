import json

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from seqkeras.losses import MaskedSparseCategoricalCrossentropy


def numpy_cross_entropy(labels, logits):
    """Per-token -log softmax(logits)[label]."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return -np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]


def test_known_number_mean_over_real_tokens_not_batch_times_time():
    loss = MaskedSparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    y_true = np.array([[2, 1, 0], [3, 0, 0]])
    logits = np.zeros((2, 3, 4), "float32")  # uniform: every real token costs log(4)
    np.testing.assert_allclose(float(loss(y_true, logits)), np.log(4.0), rtol=1e-6)
    # Keras' own loss divides by B * T = 6 when the pads get weight 0.
    weights = (y_true != 0).astype("float32")
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    np.testing.assert_allclose(
        float(keras_loss(y_true, logits, sample_weight=weights)), 3 * np.log(4.0) / 6, rtol=1e-6
    )


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    lengths=st.lists(st.integers(0, 5), min_size=1, max_size=4).filter(any),
    seed=st.integers(0, 2**16),
)
def test_equals_mean_over_unpadded_tokens(lengths, seed):
    rng = np.random.default_rng(seed)
    batch, steps, classes = len(lengths), 5, 6
    mask = np.arange(steps)[None, :] < np.array(lengths)[:, None]
    labels = rng.integers(0, classes, size=(batch, steps))
    logits = rng.normal(size=(batch, steps, classes)).astype("float32")
    expected = numpy_cross_entropy(labels, logits)[mask].mean()
    loss = MaskedSparseCategoricalCrossentropy(from_logits=True)
    got = float(loss(labels, logits, sample_weight=mask))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_padded_positions_contribute_nothing():
    rng = np.random.default_rng(0)
    labels = np.array([[1, 2, 0, 0], [3, 1, 2, 0]])
    probs = rng.dirichlet(np.ones(4), size=(2, 4)).astype("float32")
    loss = MaskedSparseCategoricalCrossentropy(ignore_class=0)
    base = float(loss(labels, probs))
    # Anything at padded positions: other predictions, and out-of-range labels under
    # a mask given as sample weights.
    changed = probs.copy()
    changed[labels == 0] = rng.dirichlet(np.ones(4), size=int((labels == 0).sum()))
    assert float(loss(labels, changed)) == pytest.approx(base, rel=1e-6)
    garbage = np.where(labels == 0, 99, labels)
    plain = MaskedSparseCategoricalCrossentropy()
    masked = float(plain(garbage, changed, sample_weight=labels != 0))
    assert masked == pytest.approx(base, rel=1e-6)


def test_uses_the_mask_keras_propagates_in_fit_and_evaluate():
    keras.utils.set_random_seed(0)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(8, 4, mask_zero=True)(ids)
    logits = keras.layers.Dense(5)(x)
    model = keras.Model(ids, logits)
    model.compile(
        optimizer="sgd",
        loss=MaskedSparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    inputs = np.array([[3, 4, 5, 0, 0], [6, 7, 0, 0, 0]], "int32")
    # Labels at padded positions are garbage that would dominate an unmasked mean.
    targets = np.array([[1, 2, 3, 4, 4], [0, 1, 4, 4, 4]], "int32")
    mask = inputs != 0
    expected = numpy_cross_entropy(targets, model.predict_on_batch(inputs))[mask].mean()
    got = model.evaluate(inputs, targets, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    history = model.fit(inputs, targets, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_probabilities_and_sample_weight_per_row():
    probs = np.array([[[0.5, 0.5], [0.9, 0.1]], [[0.2, 0.8], [0.5, 0.5]]], "float32")
    labels = np.array([[0, 0], [1, 1]])
    loss = MaskedSparseCategoricalCrossentropy()
    per_token = -np.log(np.array([[0.5, 0.9], [0.8, 0.5]]))
    # Row weights [1, 0]: the mean over the two tokens of row 0.
    got = float(loss(labels, probs, sample_weight=np.array([1.0, 0.0])))
    np.testing.assert_allclose(got, per_token[0].mean(), rtol=1e-5)
    got = float(loss(labels[..., None], probs))  # (B, T, 1) labels are accepted
    np.testing.assert_allclose(got, per_token.mean(), rtol=1e-5)


def test_batch_without_real_tokens_has_zero_loss():
    loss = MaskedSparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    assert float(loss(np.zeros((2, 3), "int32"), np.zeros((2, 3, 4), "float32"))) == 0.0


def test_serialization_round_trip():
    loss = MaskedSparseCategoricalCrossentropy(from_logits=True, ignore_class=0, name="tok_ce")
    config = loss.get_config()
    assert config == {"from_logits": True, "ignore_class": 0, "name": "tok_ce", "dtype": None}
    restored = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(keras.saving.serialize_keras_object(loss)))
    )
    assert isinstance(restored, MaskedSparseCategoricalCrossentropy)
    assert restored.get_config() == config
    assert MaskedSparseCategoricalCrossentropy.from_config(config).get_config() == config


def test_bad_arguments_and_shapes():
    with pytest.raises(ValueError, match="Received: from_logits='yes'"):
        MaskedSparseCategoricalCrossentropy(from_logits="yes")
    with pytest.raises(ValueError, match="Received: ignore_class=0.5"):
        MaskedSparseCategoricalCrossentropy(ignore_class=0.5)
    loss = MaskedSparseCategoricalCrossentropy()
    received = r"Received: y_true.shape=\(2, 4\), y_pred.shape=\(2, 3, 5\)"
    with pytest.raises(ValueError, match=received):
        loss(np.zeros((2, 4), "int32"), np.full((2, 3, 5), 0.2, "float32"))
    received = r"Received: y_true.shape=\(2,\), y_pred.shape=\(2, 3, 5\)"
    with pytest.raises(ValueError, match=received):
        loss(np.zeros((2,), "int32"), np.full((2, 3, 5), 0.2, "float32"))


def test_sampled_softmax_loss_equals_tensorflows_estimator_and_its_gradients():
    """Same draws -> the same losses and gradients as `tf.nn.sampled_softmax_loss` (accidental hits
    removed); drawn ids that hit a label are in the draw on purpose; the bfloat16 product stays close."""
    import tensorflow as tf

    from seqkeras.losses import sampled_softmax_loss

    vocabulary, hidden, examples, num_sampled = 50, 8, 12, 10
    rng = np.random.default_rng(0)
    weights = tf.Variable(rng.normal(size=(vocabulary, hidden)).astype("float32"))
    biases = tf.Variable(rng.normal(size=vocabulary).astype("float32"))
    inputs = tf.constant(rng.normal(size=(examples, hidden)).astype("float32"))
    labels = tf.constant(rng.integers(0, 15, size=examples), tf.int64)
    draws = tf.random.log_uniform_candidate_sampler(labels[:, None], 1, num_sampled, True, vocabulary, seed=3)
    assert len(set(draws[0].numpy()) & set(labels.numpy())) > 0  # some accidental hits to remove

    def run(function):
        with tf.GradientTape() as tape:
            losses = function()
            total = tf.reduce_sum(losses * tf.range(1.0, examples + 1))
        return [losses] + [tf.convert_to_tensor(g) for g in tape.gradient(total, [weights, biases])]

    ours = run(lambda: sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, sampled_values=draws))
    theirs = run(lambda: tf.nn.sampled_softmax_loss(weights, biases, labels[:, None], inputs, num_sampled, vocabulary,
                                                    sampled_values=draws, remove_accidental_hits=True))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)
    half = sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, matmul_dtype="bfloat16",
                                sampled_values=draws)
    assert half.dtype == tf.float32
    np.testing.assert_allclose(half.numpy(), ours[0].numpy(), rtol=0.05, atol=0.05)
    drawn = sampled_softmax_loss(weights, biases, labels, inputs, num_sampled)  # its own draws
    assert drawn.shape == (examples,) and np.all(np.isfinite(drawn.numpy())) and np.all(drawn.numpy() > 0)


@pytest.mark.parametrize("num_sampled", [0, 50, 2.5, True])
def test_sampled_softmax_loss_refuses_a_bad_sample_size(num_sampled):
    import tensorflow as tf

    from seqkeras.losses import sampled_softmax_loss

    with pytest.raises(ValueError, match=rf"vocabulary_size=50\)\. Received: num_sampled={num_sampled!r}"):
        sampled_softmax_loss(tf.zeros((50, 4)), tf.zeros(50), tf.constant([1]), tf.zeros((1, 4)), num_sampled)
