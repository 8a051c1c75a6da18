"""Skip-gram with negative sampling (SGNS) as a Keras model trained by word2vec's own SGD."""

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="seqkeras")
class Word2Vec(keras.Model):
    """Skip-gram word2vec with negative sampling: a target table and a context table.

    The score of a (target, context) pair is the dot product of the target word's row in
    `target_embedding` (the word vectors one keeps) and the context word's row in
    `context_embedding` (word2vec's `syn1neg`). Training maximises
    `log sigma(u . v) + sum_neg log sigma(-u . v_neg)` with word2vec's update rule: plain SGD on
    the touched rows only (sparse `scatter_add`, no optimizer state), learning rate decaying
    linearly from `alpha` to `min_alpha` over `epochs` passes, following the `progress` feature
    of each pair. The reported `loss` is the mean SGNS loss per real pair over the epoch
    (padding rows, `weight == 0`, are left out), each pair scored before its own update.

    The pairs of a batch are applied at once: updates that hit the same row add up, where
    word2vec.c applies them one after another. Batches of a few thousand pairs match gensim's
    quality on the Wikipedia benchmark; much larger batches with `alpha=0.025` can diverge
    (frequent negatives collect thousands of summed updates per step).

    Target rows start uniform in `[-1/vector_size, 1/vector_size)` and context rows at zero, as
    in word2vec.c and gensim.

    Args:
        vocabulary_size: rows of each table (reserved ids included).
        vector_size: embedding dimension.
        alpha: initial learning rate.
        min_alpha: final learning rate (reached at the end of the last epoch).
        epochs: number of passes the learning-rate schedule spans.
        seed: seed of the target-table initialisation.

    Call arguments:
        inputs: dict with `target` int `(B,)` and `context` int `(B, K)` (true context words and/or
            negatives).

    Returns:
        Logits `(B, K)`: `target_vector . context_vector` for every pair.

    Training data: batches from `seqkeras.data.skipgrams.skipgram_dataset` (`target`, `context`,
    `negatives`, `weight`, `progress`), through `fit` after `compile()`; `compile` takes no
    optimizer or loss because the update is word2vec's.

    Example:

    >>> model = Word2Vec(vocabulary_size=10, vector_size=4)
    >>> logits = model({"target": np.array([4, 5]), "context": np.array([[6, 7], [8, 9]])})
    >>> tuple(logits.shape)
    (2, 2)
    """

    def __init__(self, vocabulary_size, vector_size=100, alpha=0.025, min_alpha=0.0001, epochs=5, seed=0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("vocabulary_size", vocabulary_size), ("vector_size", vector_size), ("epochs", epochs)):
            if int(value) != value or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value}")
        if not alpha > 0:
            raise ValueError(f"`alpha` must be > 0. Received: alpha={alpha}")
        if not 0 <= min_alpha <= alpha:
            raise ValueError(f"`min_alpha` must be in [0, alpha]. Received: min_alpha={min_alpha}, alpha={alpha}")
        self.vocabulary_size = int(vocabulary_size)
        self.vector_size = int(vector_size)
        self.alpha = float(alpha)
        self.min_alpha = float(min_alpha)
        self.epochs = int(epochs)
        self.seed = seed
        scale = 1.0 / self.vector_size
        self.target_embedding = keras.layers.Embedding(
            self.vocabulary_size,
            self.vector_size,
            embeddings_initializer=keras.initializers.RandomUniform(-scale, scale, seed=seed),
            name="target_embedding",
        )
        self.context_embedding = keras.layers.Embedding(
            self.vocabulary_size, self.vector_size, embeddings_initializer="zeros", name="context_embedding"
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.learning_rate_tracker = keras.metrics.Mean(name="alpha")
        self.target_embedding.build((None,))
        self.context_embedding.build((None,))
        # Index of the current epoch for the schedule, set by `fit` at the start of each epoch.
        self.epochs_done = self.add_weight(shape=(), initializer="zeros", trainable=False, name="epochs_done")
        self.built = True  # every weight exists now; `fit` callbacks may save or restore them at once

    def call(self, inputs):
        target = self.target_embedding(inputs["target"])  # (B, D)
        context = self.context_embedding(inputs["context"])  # (B, K, D)
        return ops.einsum("bd,bkd->bk", target, context)

    def compile(self, jit_compile=True, steps_per_execution=1, **kwargs):
        """Prepares `fit`. Only `jit_compile` and `steps_per_execution` apply: SGNS uses its own SGD."""
        if kwargs:
            raise ValueError(
                "Word2Vec trains with word2vec's sparse SGD (learning rate from `alpha`/`min_alpha`); "
                f"it takes no optimizer, loss or metrics. Received: {sorted(kwargs)}"
            )
        super().compile(optimizer=None, jit_compile=jit_compile, steps_per_execution=steps_per_execution)

    def get_compile_config(self):
        return {"jit_compile": bool(self.jit_compile), "steps_per_execution": int(self.steps_per_execution)}

    def compile_from_config(self, config):
        self.compile(**config)

    def fit(self, x=None, y=None, epochs=1, callbacks=None, **kwargs):
        """`keras.Model.fit`, plus a callback that tells the learning-rate schedule the epoch index."""
        callbacks = [_EpochIndex(self.epochs_done), *(callbacks or [])]
        kwargs.setdefault("shuffle", False)  # the skip-gram dataset shuffles itself
        return super().fit(x, y, epochs=epochs, callbacks=callbacks, **kwargs)

    @property
    def metrics(self):
        return [self.loss_tracker, self.learning_rate_tracker]

    def learning_rate(self, progress):
        """Learning rate at `progress` (fraction of the current epoch) given the epochs done."""
        done = ops.minimum((self.epochs_done + progress) / self.epochs, 1.0)
        return self.alpha - (self.alpha - self.min_alpha) * done

    def train_step(self, data):
        target, context, negatives = data["target"], data["context"], data["negatives"]
        weight, progress = data["weight"], data["progress"]
        learning_rate = self.learning_rate(progress)  # (B,)
        step_size = learning_rate * weight  # (B,), 0 on padding rows

        target_table = self.target_embedding.embeddings.value
        context_table = self.context_embedding.embeddings.value
        words = tf.concat([context[:, None], negatives], axis=1)  # (B, 1 + N)
        vectors = tf.gather(target_table, target)  # (B, D)
        outputs = tf.gather(context_table, words)  # (B, 1 + N, D)
        logits = tf.einsum("bd,bkd->bk", vectors, outputs)  # (B, 1 + N)
        labels = tf.one_hot(tf.zeros_like(target), tf.shape(words)[1], dtype=logits.dtype)  # (B, 1 + N)
        # d loss / d logit = sigma(logit) - label; word2vec adds alpha * (label - sigma).
        step = (labels - tf.sigmoid(logits)) * step_size[:, None]  # (B, 1 + N)
        target_update = tf.einsum("bk,bkd->bd", step, outputs)  # (B, D)
        context_update = step[:, :, None] * vectors[:, None, :]  # (B, 1 + N, D)
        target_table.scatter_add(tf.IndexedSlices(target_update, target))
        context_table.scatter_add(
            tf.IndexedSlices(tf.reshape(context_update, [-1, self.vector_size]), tf.reshape(words, [-1]))
        )

        signs = 2.0 * labels - 1.0
        pair_loss = -tf.reduce_sum(tf.math.log_sigmoid(signs * logits), axis=1)  # (B,)
        self.loss_tracker.update_state(pair_loss, sample_weight=weight)
        self.learning_rate_tracker.update_state(learning_rate, sample_weight=weight)
        return {"loss": self.loss_tracker.result(), "alpha": self.learning_rate_tracker.result()}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "vector_size": self.vector_size,
                "alpha": self.alpha,
                "min_alpha": self.min_alpha,
                "epochs": self.epochs,
                "seed": self.seed,
            }
        )
        return config


class _EpochIndex(keras.callbacks.Callback):
    """Copies the epoch index `fit` is at (resumes included) into a model variable."""

    def __init__(self, variable):
        super().__init__()
        self.variable = variable

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(float(epoch))
