"""Fits a forecaster's core with all epochs inside one compiled TensorFlow loop.

A forecaster's training set is a few hundred tiny windows: a Keras `fit` step then costs far more
in Python and callback overhead than in arithmetic. `fit_core` runs every epoch and minibatch in
one `tf.function` (shuffled minibatches, Adam with gradient clipping) and returns the per-epoch
mean loss, which the pipeline writes to TensorBoard.
"""

import math

import keras
import numpy as np
import tensorflow as tf

LOSSES = {"mae": keras.losses.MeanAbsoluteError, "mse": keras.losses.MeanSquaredError, "huber": keras.losses.Huber}


def fit_core(core, inputs, targets, losses, epochs, batch_size=32, learning_rate=3e-3, clipnorm=1.0):
    """Trains `core` on standardized windows; returns the per-epoch mean training loss (NumPy).

    Args:
        core: the standardized model from `build_forecaster` (dict outputs).
        inputs: float32 `(N, W, F)`.
        targets: {output name: float32 array} matching `core`'s outputs.
        losses: {output name: a name from `LOSSES` or a `keras.losses.Loss`}; their sum is minimised.
        epochs, batch_size, learning_rate, clipnorm: as in `fit` with `Adam(learning_rate, clipnorm)`.

    Shuffling draws from TensorFlow's global seed (set it with `keras.utils.set_random_seed`).

    Example:

    >>> history = fit_core(core, x, {"forecast": y}, {"forecast": "mae"}, epochs=10)
    """
    count = len(inputs)
    steps = math.ceil(count / batch_size)
    loss_fns = {name: LOSSES[loss]() if isinstance(loss, str) else loss for name, loss in losses.items()}
    optimizer = keras.optimizers.Adam(learning_rate, clipnorm=clipnorm or None)
    variables = core.trainable_variables
    optimizer.build(variables)
    x = tf.constant(inputs, tf.float32)
    y = {name: tf.constant(targets[name], tf.float32) for name in loss_fns}

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

    return np.asarray(train(tf.constant(epochs)))
