"""Skip-gram with negative sampling (SGNS) as a Keras model trained by word2vec's own SGD."""

import keras
import tensorflow as tf
from keras import ops


def _sgns_shard(target_table, context_table, target, words, step_size):
    """SGNS updates of some pairs against fixed tables: `(target_update, context_update, pair_loss)`.

    `target_table`/`context_table` are tensors or variables (read only here); `words` is
    `(P, 1 + N)` with the true context word first, `step_size` `(P,)` the per-pair learning rate
    (0 on padding). Returns `(P, D)`, `(P * (1 + N), D)` (rows of `words` flattened) and `(P,)`.
    """
    vectors = tf.gather(target_table, target)  # (P, D)
    outputs = tf.gather(context_table, words)  # (P, 1 + N, D)
    logits = tf.einsum("bd,bkd->bk", vectors, outputs)  # (P, 1 + N)
    labels = tf.one_hot(tf.zeros_like(target), tf.shape(words)[1], dtype=logits.dtype)  # (P, 1 + N)
    # d loss / d logit = sigma(logit) - label; word2vec adds alpha * (label - sigma).
    step = (labels - tf.sigmoid(logits)) * step_size[:, None]  # (P, 1 + N)
    target_update = tf.einsum("bk,bkd->bd", step, outputs)  # (P, D)
    context_update = step[:, :, None] * vectors[:, None, :]  # (P, 1 + N, D)
    pair_loss = -tf.reduce_sum(tf.math.log_sigmoid((2.0 * labels - 1.0) * logits), axis=1)  # (P,)
    return target_update, tf.reshape(context_update, [-1, tf.shape(vectors)[1]]), pair_loss


def _apply_updates(target_variable, context_variable, target, target_update, words, context_update):
    """Adds the updates to the touched rows (repeated rows add up)."""
    target_variable.scatter_add(tf.IndexedSlices(target_update, target))
    context_variable.scatter_add(tf.IndexedSlices(context_update, tf.reshape(words, [-1])))


# Compiled pieces of the sharded step (`workers > 1`): shards are pure functions of the tables, so
# the TensorFlow executor runs them on different threads; XLA locks the variables it updates, so
# only the (cheap) scatter is serialised.
_sgns_shard_xla = tf.function(_sgns_shard, jit_compile=True, reduce_retracing=True)
_apply_updates_xla = tf.function(_apply_updates, jit_compile=True, reduce_retracing=True)


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

    `workers` (gensim's name) splits every batch into that many shards whose updates are
    computed concurrently, all from the tables as they were before the step, and then added up:
    the same update as `workers=1` (up to float rounding), but on several cores. XLA runs a
    compiled step on one thread, so with `workers=1` the step uses one core; with `workers > 1`
    each shard is its own XLA computation (with `jit_compile=True`) and the training function
    around them is not XLA-compiled.

    Args:
        vocabulary_size: rows of each table (reserved ids included).
        vector_size: embedding dimension.
        alpha: initial learning rate.
        min_alpha: final learning rate (reached at the end of the last epoch).
        epochs: number of passes the learning-rate schedule spans.
        seed: seed of the target-table initialisation.
        workers: shards of each batch computed concurrently (>= 1).

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

    def __init__(
        self, vocabulary_size, vector_size=100, alpha=0.025, min_alpha=0.0001, epochs=5, seed=0, workers=1, **kwargs
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("vocabulary_size", vocabulary_size), ("vector_size", vector_size), ("epochs", epochs), ("workers", workers)
        ):
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
        self.workers = int(workers)
        self.step_jit_compile = True
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
        """Prepares `fit`. Only `jit_compile` and `steps_per_execution` apply: SGNS uses its own SGD.

        `jit_compile` compiles the SGD step with XLA: the whole training function with
        `workers=1`, each shard's computation and the update with `workers > 1`.
        """
        if kwargs:
            raise ValueError(
                "Word2Vec trains with word2vec's sparse SGD (learning rate from `alpha`/`min_alpha`); "
                f"it takes no optimizer, loss or metrics. Received: {sorted(kwargs)}"
            )
        self.step_jit_compile = bool(jit_compile)
        outer_jit = self.step_jit_compile and self.workers == 1  # one XLA computation runs on one thread
        super().compile(optimizer=None, jit_compile=outer_jit, steps_per_execution=steps_per_execution)

    def get_compile_config(self):
        return {"jit_compile": self.step_jit_compile, "steps_per_execution": int(self.steps_per_execution)}

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

        target_variable = self.target_embedding.embeddings.value
        context_variable = self.context_embedding.embeddings.value
        words = tf.concat([context[:, None], negatives], axis=1)  # (B, 1 + N)
        if self.workers == 1:
            target_update, context_update, pair_loss = _sgns_shard(
                target_variable, context_variable, target, words, step_size
            )
            _apply_updates(target_variable, context_variable, target, target_update, words, context_update)
        else:
            shard_fn = _sgns_shard_xla if self.step_jit_compile else _sgns_shard
            apply_fn = _apply_updates_xla if self.step_jit_compile else _apply_updates
            # Every shard reads the tables as they were before this step, as with `workers=1`.
            target_table, context_table = target_variable.read_value(), context_variable.read_value()
            size = tf.shape(target)[0]
            bounds = [size * i // self.workers for i in range(self.workers + 1)]
            shards = [(target[a:b], words[a:b], step_size[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
            results = [shard_fn(target_table, context_table, *shard) for shard in shards]
            for (shard_target, shard_words, _), (target_update, context_update, _) in zip(shards, results):
                apply_fn(target_variable, context_variable, shard_target, target_update, shard_words, context_update)
            pair_loss = tf.concat([result[2] for result in results], axis=0)  # (B,)
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
                "workers": self.workers,
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
