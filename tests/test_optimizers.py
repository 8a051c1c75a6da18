import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkeras.optimizers import FusedAdam

SETTINGS = dict(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-6, global_clipnorm=1.0)


def _updates(optimizer, in_graph):
    """Five updates of two variables from fixed gradients; the variables and slots after them."""
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=(6, 4)).astype("float32")), keras.Variable(np.zeros(4, "float32"))]
    apply = optimizer.apply_gradients
    if in_graph:  # as `fit` runs it
        apply = tf.function(lambda grads: optimizer.apply_gradients(zip(grads, variables)))
    for _ in range(5):
        grads = [tf.constant(rng.normal(size=v.shape).astype("float32")) for v in variables]
        apply(grads) if in_graph else apply(zip(grads, variables))
    return [v.numpy() for v in variables] + [slot.numpy() for slot in optimizer.variables]


@pytest.mark.parametrize("in_graph", [False, True])
def test_fused_adam_updates_like_keras_adam(in_graph):
    ours = _updates(FusedAdam(**SETTINGS), in_graph)
    theirs = _updates(keras.optimizers.Adam(**SETTINGS), in_graph)
    assert len(ours) == len(theirs) == 2 + 1 + 1 + 4  # variables, iterations, learning rate, m and v slots
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_fused_adam_with_amsgrad_runs_keras_update():
    ours = _updates(FusedAdam(amsgrad=True, **SETTINGS), in_graph=True)
    theirs = _updates(keras.optimizers.Adam(amsgrad=True, **SETTINGS), in_graph=True)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def _fit(optimizer, strategy=None):
    x = np.random.default_rng(1).normal(size=(16, 3)).astype("float32")
    keras.utils.set_random_seed(0)
    with (strategy or tf.distribute.get_strategy()).scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.compile(optimizer(0.05), "mse")
    model.fit(x, x @ np.ones((3, 2), "float32"), epochs=3, batch_size=4, verbose=0, shuffle=False)
    return model


def test_fused_adam_fits_like_adam_also_under_a_strategy_and_round_trips(tmp_path):
    model = _fit(FusedAdam)
    for ours, strategy in ((model, None), (_fit(FusedAdam, tf.distribute.MirroredStrategy(["/cpu:0"])), "mirrored")):
        theirs = _fit(keras.optimizers.Adam, strategy and tf.distribute.MirroredStrategy(["/cpu:0"]))
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # float rounding over 12 steps
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(reloaded.optimizer, FusedAdam)
    assert float(reloaded.optimizer.learning_rate) == pytest.approx(0.05)
