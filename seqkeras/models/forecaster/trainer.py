"""Fits a forecaster's core with all epochs inside one compiled TensorFlow loop.

A forecaster's training set is a few hundred tiny windows: a Keras `fit` step then costs far more
in Python and callback overhead than in arithmetic. `fit_core` runs every epoch and minibatch in
one `tf.function` (shuffled minibatches, Adam with gradient clipping) and returns the per-epoch
mean loss, which the pipeline writes to TensorBoard.
"""

import contextlib
import logging
import math

import keras
import numpy as np
import tensorflow as tf

LOSSES = {"mae": keras.losses.MeanAbsoluteError, "mse": keras.losses.MeanSquaredError, "huber": keras.losses.Huber}


class _NoRetracingWarning(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning: every fit is a new network
    (folds, ensemble members), so its step must be traced anew; nothing to fix on the caller's side."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def _quiet_retracing():
    logger, quiet = logging.getLogger("tensorflow"), _NoRetracingWarning()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


@_quiet_retracing()
def fit_core(core, inputs, targets, losses, epochs, batch_size=32, learning_rate=3e-3, clipnorm=1.0,
             validation_fraction=0.0, patience=20, check_every=5, weight_decay=0.0, purge=0, check_initial=False,
             monitor=None):
    """Trains `core` on standardized windows; returns `(train_loss, val_loss)` per epoch (NumPy).

    With `validation_fraction > 0` the last windows (the latest in time) are held out, the loss on
    them is checked every `check_every` epochs, training stops after `patience` epochs without a
    better one, and the best weights are restored (early stopping inside the training part);
    `best_epoch(val_history, check_every)` is then the epoch count that reached them. The `purge`
    training windows just before the held-out ones are left out (with direct multi-step targets,
    set it to `horizon - 1`: their targets are the held-out windows' values).

    Args:
        core: the standardized model from `build_forecaster` (dict outputs).
        inputs: float32 `(N, W, F)`.
        targets: {output name: float32 array} matching `core`'s outputs.
        losses: {output name: a name from `LOSSES` or a `keras.losses.Loss`}; their sum is minimised.
        epochs, batch_size, learning_rate, clipnorm: as in `fit` with `Adam(learning_rate, clipnorm)`
            (`epochs` is the maximum with early stopping).
        validation_fraction, patience, check_every: early stopping on the latest windows.
        weight_decay: decoupled weight decay (`AdamW`); 0: plain Adam.
        purge: training windows dropped before the held-out ones (only with `validation_fraction`).
        check_initial: also score the untrained weights (epoch 0) first, so early stopping may keep
            them (`best_epoch(..., initial=True)` then returns 0): a core that starts as a fitted
            model (`direct_linear`) is only changed where the held-out windows support it.
        monitor: output names whose held-out loss early stopping reads (default: every output in `losses`).

    Shuffling draws from TensorFlow's global seed (set it with `keras.utils.set_random_seed`).

    Example:

    >>> history = fit_core(core, x, {"forecast": y}, {"forecast": "mae"}, epochs=10)
    """
    held_out = int(round(len(inputs) * validation_fraction)) if validation_fraction else 0
    count = len(inputs) - held_out
    first_held = count
    if held_out:
        count = max(1, count - int(purge))
    if count < 1:
        raise ValueError(f"No training window left after holding out {held_out}. Received: {len(inputs)} windows")
    steps = math.ceil(count / batch_size)
    loss_fns = {name: LOSSES[loss]() if isinstance(loss, str) else loss for name, loss in losses.items()}
    if weight_decay:
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm or None)
    else:
        optimizer = keras.optimizers.Adam(learning_rate, clipnorm=clipnorm or None)
    variables = core.trainable_variables
    optimizer.build(variables)
    x = tf.constant(inputs[:count], tf.float32)
    y = {name: tf.constant(targets[name][:count], tf.float32) for name in loss_fns}
    val_x = tf.constant(inputs[first_held:], tf.float32)
    val_y = {name: tf.constant(targets[name][first_held:], tf.float32) for name in loss_fns}

    monitored = list(loss_fns) if monitor is None else [name for name in loss_fns if name in monitor]
    if not monitored:
        raise ValueError(f"`monitor` names no output of `losses` {sorted(loss_fns)}. Received: monitor={monitor}")

    @tf.function
    def validation_loss():
        outputs = core(val_x, training=False)
        return tf.add_n([loss_fns[name](val_y[name], outputs[name]) for name in monitored])

    @tf.function
    def train(epochs):
        history = tf.TensorArray(tf.float32, size=epochs)
        for epoch in tf.range(epochs):
            order = tf.random.shuffle(tf.range(count))
            total = tf.constant(0.0)
            for step in tf.range(steps):
                batch = order[step * batch_size:(step + 1) * batch_size]
                with tf.GradientTape() as tape:
                    outputs = core(tf.gather(x, batch), training=True)
                    loss = tf.add_n([fn(tf.gather(y[name], batch), outputs[name]) for name, fn in loss_fns.items()])
                gradients = tape.gradient(loss, variables)
                optimizer.apply_gradients(zip(gradients, variables))
                total += loss
            history = history.write(epoch, total / steps)
        return history.stack()

    if not held_out:
        return (np.asarray(train(tf.constant(epochs))) if epochs else np.zeros(0, "float32")), np.array([])
    history, val_history = [], []
    best, best_weights, since_best = np.inf, core.get_weights(), 0
    if check_initial:
        val_history.append(float(validation_loss()))
        best = val_history[-1]
    while len(history) < epochs and since_best < patience:
        chunk = min(check_every, epochs - len(history))
        history.extend(np.asarray(train(tf.constant(chunk))).tolist())
        val_history.append(float(validation_loss()))
        if val_history[-1] < best:
            best, best_weights, since_best = val_history[-1], core.get_weights(), 0
        else:
            since_best += chunk
    core.set_weights(best_weights)
    return np.asarray(history), np.asarray(val_history)


def best_epoch(val_history, check_every=5, trained=None, initial=False):
    """The epoch count at which `fit_core`'s early stopping found its best validation loss.

    Args:
        val_history: the validation losses `fit_core` returned (one per check).
        check_every: epochs between checks (as passed to `fit_core`).
        trained: epochs actually trained (caps the last, possibly shorter, chunk).
        initial: the first loss scores the untrained weights (`fit_core(..., check_initial=True)`).

    Example:

    >>> best_epoch([0.5, 0.3, 0.4], check_every=5)
    10
    """
    epochs = (int(np.argmin(val_history)) + (0 if initial else 1)) * int(check_every)
    return epochs if trained is None else min(epochs, int(trained))
