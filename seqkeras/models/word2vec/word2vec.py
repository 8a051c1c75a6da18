"""Skip-gram with negative sampling (SGNS) as a Keras model trained by word2vec's own SGD."""

import keras
import tensorflow as tf
from keras import ops

from seqkeras.data.vocabulary import NUM_RESERVED


def _sgns_shard(target_table, context_table, target, context, negatives, step_size):
    """SGNS updates of some pairs against fixed tables, negatives shared by groups of `G` pairs.

    `target_table`/`context_table` are tensors or variables (read only here); `target` and
    `context` are `(P,)`, `negatives` `(Q, N)` with `P = Q * G`: pairs `[q * G, (q + 1) * G)` share
    row `q` (`G = 1`: every pair has its own negatives). A negative equal to a pair's context word
    is masked for that pair (no loss, no update). `step_size` `(P,)` is the per-pair learning rate
    (0 on padding).

    Returns:
        `(target_update, context_rows, context_update, pair_loss)`: `(P, D)` rows for `target`,
        the `P + Q * N` context-table rows touched (`context`, then `negatives` flattened) with
        their `(P + Q * N, D)` updates, and the `(P,)` loss of every pair before the update.
    """
    num_groups, negative = tf.shape(negatives)[0], tf.shape(negatives)[1]
    group_size = tf.shape(target)[0] // tf.maximum(num_groups, 1)  # an empty shard has P = Q = 0
    dim = tf.shape(target_table)[1]
    vectors = tf.gather(target_table, target)  # (P, D)
    outputs = tf.gather(context_table, context)  # (P, D)
    noise = tf.gather(context_table, negatives)  # (Q, N, D)
    grouped = tf.reshape(vectors, [num_groups, group_size, dim])  # (Q, G, D)
    positive_logit = tf.reduce_sum(vectors * outputs, axis=1)  # (P,)
    negative_logit = tf.matmul(grouped, noise, transpose_b=True)  # (Q, G, N)
    # A shared negative that is the pair's own context word is not a negative of that pair.
    valid = tf.cast(
        tf.not_equal(negatives[:, None, :], tf.reshape(context, [num_groups, group_size, 1])), negative_logit.dtype
    )  # (Q, G, N)
    # d loss / d logit = sigma(logit) - label; word2vec adds alpha * (label - sigma).
    positive_step = (1.0 - tf.sigmoid(positive_logit)) * step_size  # (P,)
    negative_step = -tf.sigmoid(negative_logit) * valid * tf.reshape(step_size, [num_groups, group_size, 1])  # (Q, G, N)
    target_update = positive_step[:, None] * outputs + tf.reshape(tf.matmul(negative_step, noise), [-1, dim])  # (P, D)
    negative_update = tf.matmul(negative_step, grouped, transpose_a=True)  # (Q, N, D)
    context_rows = tf.concat([context, tf.reshape(negatives, [-1])], axis=0)  # (P + Q * N,)
    context_update = tf.concat(
        [positive_step[:, None] * vectors, tf.reshape(negative_update, [num_groups * negative, dim])], axis=0
    )  # (P + Q * N, D)
    negative_loss = -tf.reduce_sum(valid * tf.math.log_sigmoid(-negative_logit), axis=2)  # (Q, G)
    pair_loss = -tf.math.log_sigmoid(positive_logit) + tf.reshape(negative_loss, [-1])  # (P,)
    return target_update, context_rows, context_update, pair_loss


def _apply_updates(target_variable, context_variable, target, target_update, context_rows, context_update):
    """Adds the updates to the touched rows (repeated rows add up)."""
    target_variable.scatter_add(tf.IndexedSlices(target_update, target))
    context_variable.scatter_add(tf.IndexedSlices(context_update, context_rows))


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
    linearly from `alpha` to `min_alpha` over the `epochs * steps_per_epoch` steps of `fit`: step
    `k` uses `alpha - (alpha - min_alpha) * k / total_steps` (`linear_decay`; the same value as
    `keras.optimizers.schedules.PolynomialDecay(alpha, total_steps, min_alpha, power=1)`, the
    schedule of the distributed path, `seqkeras.models.word2vec.strategy_training`). The reported `loss` is the mean SGNS loss per real pair over the epoch
    (padding rows, `weight == 0`, are left out), each pair scored before its own update.

    The pairs of a batch are applied at once: updates that hit the same row add up, where
    word2vec.c applies them one after another. Batches of a few thousand pairs match gensim's
    quality on the Wikipedia benchmark; much larger batches with `alpha=0.025` can diverge
    (frequent negatives collect thousands of summed updates per step).

    Target rows start uniform in `[-1/vector_size, 1/vector_size)` and context rows at zero, as
    in word2vec.c and gensim.

    **Shared negatives.** `negatives` may hold one row per pair (`(B, N)`: every pair has its own
    negatives, word2vec.c's scheme) or one row per group of `G = B / Q` consecutive pairs
    (`(Q, N)`, Ji et al. 2016): the negative logits of a group are then one `(G, D) x (D, N)`
    product and the step gathers and scatters about `2 + N / G` rows per pair instead of
    `2 + N`. Each pair is still scored against `N` negatives; a negative equal to the pair's own
    context word is masked for that pair (no loss term, no update), so a word is never pushed
    away from a context it was seen with. `G` is read from the shapes, nothing to configure here
    (see `skipgram_dataset(negative_group_size=...)`).

    `workers` (gensim's name) splits every batch into that many shards whose updates are
    computed concurrently, all from the tables as they were before the step, and then added up:
    the same update as `workers=1` (up to float rounding), but on several cores. XLA runs a
    compiled step on one thread, so with `workers=1` the step uses one core; with `workers > 1`
    each shard is its own XLA computation (with `jit_compile=True`) and the training function
    around them is not XLA-compiled. Shards split the batch at group borders.

    Args:
        vocabulary_size: rows of each table (reserved ids included).
        vector_size: embedding dimension.
        alpha: initial learning rate.
        min_alpha: final learning rate (reached at the end of the last epoch).
        epochs: number of passes the learning-rate schedule spans.
        seed: seed of the target-table initialisation.
        workers: shards of each batch computed concurrently (>= 1).
        words: optional list of the `vocabulary_size - 4` words of ids 4, 5, ... (after the
            reserved ids), most frequent first; kept in the config, so a saved model is
            self-contained and `keyed_vectors()` needs nothing else.
        counts: optional training count of each of `words`.

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
        self, vocabulary_size, vector_size=100, alpha=0.025, min_alpha=0.0001, epochs=5, seed=0, workers=1,
        words=None, counts=None, **kwargs
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
        if words is not None and len(words) != vocabulary_size - NUM_RESERVED:
            raise ValueError(f"`words` must list the {vocabulary_size - NUM_RESERVED} non-reserved words. "
                             f"Received: {len(words)} words")
        if counts is not None and (words is None or len(counts) != len(words)):
            raise ValueError(f"`counts` needs `words` and one count per word. Received: {len(counts)} counts")
        self.words = None if words is None else [str(word) for word in words]
        self.counts = None if counts is None else [int(count) for count in counts]
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
        # The schedule's step within the epoch and the epoch's length, set by `fit` (plain variables,
        # not saved: `fit` sets them again at every epoch start, so a run resumes at an epoch).
        self.batches_done = tf.Variable(0.0, trainable=False, name="batches_done")
        self.steps_per_epoch = tf.Variable(1.0, trainable=False, name="steps_per_epoch")
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
        """`keras.Model.fit`, plus a callback that tells the learning-rate schedule where it is.

        With a `tf.data.Dataset` of known length, `steps_per_epoch` defaults to that length, so
        epoch `k` reads pass `k` of the dataset (without it Keras opens a spare iterator between
        epochs, and every pass of a `skipgram_dataset` draws anew): the same batches as
        `StrategyTrainer` reading `dataset.repeat()`.
        """
        callbacks = [_EpochIndex(self), *(callbacks or [])]
        kwargs.setdefault("shuffle", False)  # the skip-gram dataset shuffles itself
        if isinstance(x, tf.data.Dataset) and kwargs.get("steps_per_epoch") is None:
            length = int(x.cardinality())
            if length > 0:
                kwargs["steps_per_epoch"] = length
        return super().fit(x, y, epochs=epochs, callbacks=callbacks, **kwargs)

    @property
    def metrics(self):
        return [self.loss_tracker, self.learning_rate_tracker]

    def learning_rate(self, step=None):
        """Learning rate of global step `step` (default: the current one) of `epochs * steps_per_epoch`."""
        if step is None:
            step = self.epochs_done * self.steps_per_epoch + self.batches_done
        return linear_decay(self.alpha, self.min_alpha, step, self.epochs * self.steps_per_epoch)

    def train_step(self, data):
        target, context, negatives = data["target"], data["context"], data["negatives"]
        weight = data["weight"]  # (B,)
        learning_rate = self.learning_rate()  # () this step's rate
        self.batches_done.assign_add(1.0)
        step_size = learning_rate * weight  # (B,), 0 on padding rows

        target_variable = self.target_embedding.embeddings.value
        context_variable = self.context_embedding.embeddings.value
        if self.workers == 1:
            target_update, context_rows, context_update, pair_loss = _sgns_shard(
                target_variable, context_variable, target, context, negatives, step_size
            )
            _apply_updates(target_variable, context_variable, target, target_update, context_rows, context_update)
        else:
            shard_fn = _sgns_shard_xla if self.step_jit_compile else _sgns_shard
            apply_fn = _apply_updates_xla if self.step_jit_compile else _apply_updates
            # Every shard reads the tables as they were before this step, as with `workers=1`.
            target_table, context_table = target_variable.read_value(), context_variable.read_value()
            # Shards split the batch at group borders: `G` pairs per row of `negatives`.
            num_groups = tf.shape(negatives)[0]
            group_size = tf.shape(target)[0] // num_groups
            bounds = [num_groups * i // self.workers for i in range(self.workers + 1)]
            results = []
            for a, b in zip(bounds[:-1], bounds[1:]):
                shard_target = target[a * group_size:b * group_size]
                update = shard_fn(
                    target_table, context_table, shard_target, context[a * group_size:b * group_size],
                    negatives[a:b], step_size[a * group_size:b * group_size],
                )
                results.append((shard_target, update))
            for shard_target, (target_update, context_rows, context_update, _) in results:
                apply_fn(target_variable, context_variable, shard_target, target_update, context_rows, context_update)
            pair_loss = tf.concat([update[3] for _, update in results], axis=0)  # (B,)
        self.loss_tracker.update_state(pair_loss, sample_weight=weight)
        self.learning_rate_tracker.update_state(tf.fill(tf.shape(weight), learning_rate), sample_weight=weight)
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
                "words": self.words,
                "counts": self.counts,
            }
        )
        return config

    def keyed_vectors(self, words=None):
        """The target table as gensim's `KeyedVectors` (reserved ids left out), counts attached.

        Args:
            words: the words of ids 4, 5, ...; defaults to the model's own `words`.
        """
        from seqkeras.models.word2vec.keyed_vectors import keyed_vectors

        words = self.words if words is None else list(words)
        if words is None:
            raise ValueError("This Word2Vec has no `words`; pass the words of ids 4, 5, ... Received: words=None")
        table = keras.ops.convert_to_numpy(self.target_embedding.embeddings)[NUM_RESERVED:]
        counts = self.counts if words is self.words or words == self.words else None
        return keyed_vectors(words, table, counts=counts)


def linear_decay(alpha, min_alpha, step, total_steps):
    """word2vec's linear decay at global step `step` of `total_steps`, float32, computed as
    `keras.optimizers.schedules.PolynomialDecay(alpha, total_steps, min_alpha, power=1)(step)` is."""
    alpha = tf.constant(alpha, tf.float32)
    total = tf.cast(total_steps, tf.float32)
    done = tf.minimum(tf.cast(step, tf.float32), total) / total
    return (alpha - tf.cast(min_alpha, tf.float32)) * (1.0 - done) + tf.cast(min_alpha, tf.float32)


class _EpochIndex(keras.callbacks.Callback):
    """Tells the model's schedule where `fit` is: the epoch index (resumes included), the epoch's
    length and the step within it."""

    def __init__(self, word2vec):
        super().__init__()
        self.word2vec = word2vec

    def on_train_begin(self, logs=None):
        steps = self.params.get("steps")
        if not steps:
            raise ValueError("Word2Vec's learning-rate schedule needs a dataset of known length (e.g. "
                             f"`skipgram_dataset`). Received: steps per epoch={steps}")
        self.word2vec.steps_per_epoch.assign(float(steps))

    def on_epoch_begin(self, epoch, logs=None):
        self.word2vec.epochs_done.assign(float(epoch))
        self.word2vec.batches_done.assign(0.0)
