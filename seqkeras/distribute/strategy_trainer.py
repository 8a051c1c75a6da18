"""A custom training loop that runs under any `tf.distribute` strategy and resumes exactly.

Why not `model.fit`: Keras 3's `fit` fails under `MultiWorkerMirroredStrategy` (keras-team/keras
issue 20585) and Keras 3 has no parameter-server training. This loop is TensorFlow's own recipe:
`strategy.run` of a replica step, losses averaged by the GLOBAL number of real tokens, metrics
reduced as sums; gradients, token count and metric sums travel in one all-reduce per step.
"""

import contextlib
import math
import pathlib
import time

import numpy as np
import tensorflow as tf

from seqkeras.distribute.checkpoints import ChiefCheckpointManager
from seqkeras.distribute.strategy import is_chief


class StrategyTrainer:
    """Trains `model` with `optimizer` on per-replica batches under `strategy`.

    The replica step calls `replica_loss(batch, carry, training)`, which returns the per-token
    losses of that replica's batch (zero at padding), the number of real tokens (the padding
    mask's sum) and the new carried state (a list of (per-replica batch, ...) tensors, e.g. the
    LSTM states of truncated BPTT; `[]` without). The trained loss is the global mean: the sum of
    the token losses of ALL replicas / their real tokens, not a mean of per-replica means.

    One collective per step: each replica differentiates the SUM of its own token losses and
    all-reduces, in one `ReplicaContext.all_reduce` of a list (TensorFlow packs it into a single
    collective), [its gradients..., its loss sum, real tokens, counts]. It then divides the
    summed gradient by the global real tokens (exact below 2**24 per step), clips the GLOBAL
    gradient the way the optimizer would (`clipnorm` per variable, `global_clipnorm`,
    `clipvalue`), and has the optimizer apply it with the optimizer's own all-reduce and clipping
    switched off (see `_applies_as_given`). The reduced sums are the same on every replica, so
    the host reads one replica's copy: no further reduction. (Before, a step had up to four: the
    token count, the optimizer's gradient all-reduce, an extra one of ours with clipping, and
    `strategy.reduce` of the sums.) Gradients are made dense when they are clipped (the norm of
    an `IndexedSlices` counts a repeated embedding row once per occurrence); without clipping,
    `IndexedSlices` (embedding rows) stay sparse, on one device and in the all-reduce (gathered
    beside the packed dense values: two more collectives), because Keras' Adam squares each
    slice, so densifying them would change its update of a row repeated in the batch. Model
    regularisation losses keep `tf.nn.scale_regularization_loss`'s meaning (each replica adds
    its own / num_replicas, so a weight penalty counts once): their gradients are differentiated
    separately, added to the same all-reduce, and added to the loss gradient after the division
    by the real tokens.
    Metrics are kept as global sums of losses and counts (float64 across steps), so the
    reported epoch loss is exact whatever the number of replicas.

    Exact resume: a `tf.train.Checkpoint` holds the model and optimizer variables (weights,
    Adam moments, iteration count, hence the schedule; the dropout seed-generator states are
    model variables), the global step, the epoch's running sums and the carried state gathered
    from all replicas. The data position is a function of the step: `fit` skips the first
    `step` batches of the (deterministic) dataset, on every worker. A run killed at any step and
    restarted therefore continues with the same batches, state and random numbers.

    Count metrics: `replica_loss` may return a fourth element, one count per name of
    `count_metrics` (e.g. the correctly tagged real tokens); each is summed over all replicas
    and logged as `name = count / real tokens` (and `val_name`), so an accuracy is exact too.

    Summed losses (`loss_reduction="sum"`): the differentiated loss is the SUM of the losses of
    all replicas (each replica differentiates the sum of its own; the optimizer's all-reduce adds
    them up, keeping `tf.IndexedSlices` gradients sparse, then `strategy.reduce` sums the
    metrics: two collectives), not their mean, for an update rule defined on summed per-example
    gradients (e.g. word2vec's sparse SGD, `seqkeras.models.word2vec.sgns_replica_loss`). The
    logged loss is still the sum of the losses over the count of all replicas. Gradient clipping
    is refused with it.

    Early stopping: with `monitor` (e.g. `"val_accuracy"`, `mode="max"`) the best value and its
    epoch are tracked (checkpointed); with `patience` > 0 training stops after `patience` epochs
    without improvement and the model gets the best epoch's weights back (kept in checkpointed
    copies, so a resumed run restores them too). Every worker sees the same all-reduced logs,
    so every worker takes the same decision.

    Args:
        strategy: a `tf.distribute.Strategy`; `model` and `optimizer` must have been created
            under `strategy.scope()`.
        model: a Keras model (its variables are checkpointed).
        optimizer: a Keras optimizer (TensorFlow backend).
        replica_loss: `fn(batch, carry, training) -> (loss_sum, count, new_carry[, counts])`,
            see above; called inside `strategy.run`.
        checkpoint_dir: the chief's checkpoint folder.
        carry_shapes: shapes of the carried tensors for ONE replica (e.g. `[(b, H), (b, H)]`).
        checkpoint_every: save every this many steps (0: only at epoch ends).
        log_dir: TensorBoard folder (`train/`, `validation/` under it), chief only; None: none.
        log_every: per-step scalars every this many steps.
        derived_metrics: dict name -> fn(mean loss) of extra logged metrics (e.g. bits).
        count_metrics: names of the extra counts `replica_loss` returns (see above).
        monitor: the logged metric that decides the best epoch (None: none).
        mode: `"min"` or `"max"`: which way `monitor` improves.
        patience: stop after this many epochs without a better `monitor` and restore the best
            epoch's weights (0: never stop early).
        loss_reduction: `"mean"` (default: sum of the losses / real tokens of all replicas) or
            `"sum"` (the sum of the losses of all replicas is differentiated, see above).
        autograph: convert the step's Python code with AutoGraph when it is traced (as
            `tf.function` does by default). `False` skips that conversion (~1.5 s of CPU per
            process for the char LM) and needs a `replica_loss` without Python `if`/`for`/`while`
            on tensors (TensorFlow ops such as `tf.where` and `tf.while_loop` are fine).

    Example:

    >>> with strategy.scope():
    ...     model, optimizer = build_model(), keras.optimizers.Adam()
    >>> trainer = StrategyTrainer(strategy, model, optimizer, loss_fn, checkpoint_dir="run/ckpt/steps")
    >>> history = trainer.fit(dataset_fn, epochs=2, steps_per_epoch=100)
    """

    def __init__(self, strategy, model, optimizer, replica_loss, *, checkpoint_dir, carry_shapes=(),
                 checkpoint_every=0, log_dir=None, log_every=50, derived_metrics=None, max_to_keep=2,
                 count_metrics=(), monitor=None, mode="min", patience=0, loss_reduction="mean", autograph=True):
        if mode not in ("min", "max"):
            raise ValueError(f"`mode` must be 'min' or 'max'. Received: mode={mode!r}")
        if patience and monitor is None:
            raise ValueError(f"`patience` needs a `monitor`. Received: patience={patience}, monitor=None")
        if loss_reduction not in ("mean", "sum"):
            raise ValueError(f"`loss_reduction` must be 'mean' or 'sum'. Received: loss_reduction={loss_reduction!r}")
        if loss_reduction == "sum" and (getattr(optimizer, "clipnorm", None) or getattr(optimizer, "global_clipnorm", None)):
            raise ValueError("`loss_reduction='sum'` takes an optimizer without gradient clipping. "
                             f"Received: clipnorm={optimizer.clipnorm}, global_clipnorm={optimizer.global_clipnorm}")
        if loss_reduction == "mean" and not hasattr(type(optimizer), "_all_reduce_sum_gradients"):
            raise TypeError("StrategyTrainer needs a Keras 3 optimizer of the TensorFlow backend (it applies the "
                            f"all-reduced gradients itself). Received: optimizer={type(optimizer).__name__}")
        self.loss_reduction = loss_reduction
        # Read here: while the step is traced the optimizer's own clipping is off (`_applies_as_given`).
        self._clipping = {name: getattr(optimizer, name, None) for name in ("clipnorm", "global_clipnorm", "clipvalue")}
        self._clips = any(self._clipping.values())
        self.strategy = strategy
        self.model = model
        self.optimizer = optimizer
        self.replica_loss = replica_loss
        self.carry_shapes = [tuple(shape) for shape in carry_shapes]
        self.checkpoint_every = int(checkpoint_every)
        self.log_every = int(log_every)
        self.derived_metrics = dict(derived_metrics or {})
        self.count_metrics = list(count_metrics)
        self.monitor, self.mode, self.patience = monitor, mode, int(patience)
        self.epoch_seconds = []  # training seconds (validation excluded) of each epoch of the last `fit`
        self.improved = False  # whether the last epoch improved `monitor` (read by `on_epoch_end`)
        self.is_chief = is_chief(strategy)
        self.num_replicas = strategy.num_replicas_in_sync
        self.diverged_at = None  # (epoch, batch, loss) of a non-finite loss, as common.raise_if_diverged reads it
        self.stop_training = False

        with strategy.scope():
            optimizer.build(model.trainable_variables)
        # Plain (not mirrored) variables: identical on every worker, written by the chief.
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._num_sums = 2 + len(self.count_metrics)  # loss sum, real tokens, the counts
        self.epoch_sums = tf.Variable(tf.zeros([self._num_sums], tf.float64), trainable=False, name="epoch_sums")
        worst = math.inf if mode == "min" else -math.inf
        self.best_monitor = tf.Variable(worst, dtype=tf.float64, trainable=False, name="best_monitor")
        self.best_epoch = tf.Variable(-1, dtype=tf.int64, trainable=False, name="best_epoch")
        self.stopped = tf.Variable(False, trainable=False, name="stopped")
        self.best_weights = [  # the best epoch's weights, restored at the end (patience > 0)
            tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name=f"best_{i}")
            for i, v in enumerate(model.weights)
        ] if self.patience else []
        self.carry = [
            tf.Variable(tf.zeros((self.num_replicas * shape[0],) + shape[1:]), trainable=False, name=f"carry_{i}")
            for i, shape in enumerate(self.carry_shapes)
        ]  # the GLOBAL carried state, replica r's rows at [r * b, (r + 1) * b)
        checkpoint = tf.train.Checkpoint(
            model_variables=list(model.variables), optimizer_variables=list(optimizer.variables),
            step=self.step, epoch_sums=self.epoch_sums, carry=self.carry,
            **({"best_monitor": self.best_monitor, "best_epoch": self.best_epoch, "stopped": self.stopped,
                "best_weights": self.best_weights} if monitor is not None else {}),
        )
        self.checkpoints = ChiefCheckpointManager(checkpoint, checkpoint_dir, self.is_chief, max_to_keep=max_to_keep)
        self.log_dir = pathlib.Path(log_dir) if log_dir is not None and self.is_chief else None
        self._writers = {}
        self._train_function = tf.function(self._distributed_train_step, autograph=bool(autograph))
        self._eval_function = tf.function(self._distributed_eval_step, autograph=bool(autograph))
        self._gather_function = tf.function(lambda values: [strategy.gather(v, axis=0) for v in values])

    # --- the replica step ---------------------------------------------------------------------
    def _clip(self, gradients):
        """The optimizer's clipping (as Keras computes it) applied to the GLOBAL gradient."""
        clipnorm, global_clipnorm, clipvalue = (self._clipping[name] for name in ("clipnorm", "global_clipnorm",
                                                                                  "clipvalue"))
        if clipnorm and clipnorm > 0:
            return [None if g is None else tf.clip_by_norm(g, clipnorm) for g in gradients]
        if global_clipnorm and global_clipnorm > 0:
            return tf.clip_by_global_norm(gradients, global_clipnorm)[0]
        if clipvalue and clipvalue > 0:
            return [None if g is None else tf.clip_by_value(g, -clipvalue, clipvalue) for g in gradients]
        return gradients

    def _replica_train_step(self, batch, carry):
        if self.loss_reduction == "sum":
            return self._replica_summed_loss_step(batch, carry)
        context = tf.distribute.get_replica_context()
        variables = self.model.trainable_variables
        with tf.GradientTape(persistent=bool(self.model.losses)) as tape:  # persistent only when needed
            losses, count, new_carry, counts = self._call_loss(batch, carry, True)
            losses = tf.reshape(tf.cast(losses, tf.float32), [-1])
            loss_sum = tf.reduce_sum(losses)
            # Counted once over all replicas (each adds its own / num_replicas), as in `model.fit`.
            regularization = tf.nn.scale_regularization_loss(tf.add_n(self.model.losses)) if self.model.losses else None
        gradients = tape.gradient(loss_sum, variables)
        penalties = tape.gradient(regularization, variables) if regularization is not None else [None] * len(variables)
        del tape
        if self._clips:  # the norm of an IndexedSlices counts a repeated row once per occurrence
            gradients = [None if g is None else tf.convert_to_tensor(g) for g in gradients]
        penalties = [None if p is None else tf.convert_to_tensor(p) for p in penalties]
        sums = tf.stack([loss_sum, tf.cast(count, tf.float32)] + [tf.cast(c, tf.float32) for c in counts])
        if self.num_replicas > 1:
            # ONE collective per step for the dense values: every replica's gradients of its summed
            # loss, its regularisation gradients, and its loss sum, real tokens and counts
            # (TensorFlow packs a list into one all-reduce; float32 throughout so that it is one
            # pack). `IndexedSlices` (embedding rows, without clipping) stay sparse and are
            # all-gathered beside it, as the optimizer would: Keras' Adam squares each slice, so a
            # row repeated in the batch gets sum(g_i**2), not (sum g_i)**2, in its second moment;
            # making them dense would change that update (one device must train what many train).
            present = [g for g in gradients + penalties if g is not None]
            reduced = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                         [_to_dtype(g, tf.float32) for g in present] + [tf.stop_gradient(sums)])
            reduced, sums = iter([_to_dtype(r, g.dtype) for r, g in zip(reduced, present)]), reduced[-1]
            gradients = [None if g is None else next(reduced) for g in gradients]
            penalties = [None if p is None else next(reduced) for p in penalties]
        # Exact below 2**24 real tokens per step.
        global_count = tf.maximum(tf.round(sums[1]), 1.0)
        gradients = [_combine(g, p, global_count) for g, p in zip(gradients, penalties)]
        gradients = self._clip(gradients)
        self.optimizer.apply_gradients(zip(gradients, variables))  # no all-reduce, no clip: see _applies_as_given
        return tf.cast(sums, tf.float64), [tf.stop_gradient(c) for c in new_carry]

    def _replica_summed_loss_step(self, batch, carry):
        """`loss_reduction="sum"`: each replica's summed loss; the optimizer's all-reduce adds them up."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            losses, count, new_carry, counts = self._call_loss(batch, carry, True)
            losses = tf.reshape(tf.cast(losses, tf.float32), [-1])
            loss = tf.reduce_sum(losses)
            if self.model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.model.losses))
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._sums(losses, count, counts), [tf.stop_gradient(c) for c in new_carry]

    def _replica_eval_step(self, batch, carry):
        losses, count, new_carry, counts = self._call_loss(batch, carry, False)
        return self._sums(tf.cast(losses, tf.float32), count, counts), new_carry

    def _call_loss(self, batch, carry, training):
        outputs = self.replica_loss(batch, carry, training)
        counts = list(outputs[3]) if len(outputs) > 3 else []
        if len(counts) != len(self.count_metrics):
            raise ValueError(f"`replica_loss` returned {len(counts)} counts for count_metrics={self.count_metrics}")
        return outputs[0], outputs[1], outputs[2], counts

    @staticmethod
    def _sums(losses, count, counts):
        """(loss sum, real tokens, *counts) of one replica, float64 (exact sums of counts)."""
        return tf.stack([tf.cast(tf.reduce_sum(losses), tf.float64), tf.cast(count, tf.float64)]
                        + [tf.cast(c, tf.float64) for c in counts])

    def _reduce(self, per_replica):
        sums, carry = per_replica
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, sums, axis=None), carry

    def _distributed_train_step(self, iterator, carry):
        if self.loss_reduction == "sum":
            return self._reduce(self.strategy.run(self._replica_train_step, args=(next(iterator), carry)))
        with _applies_as_given(self.optimizer):  # runs while tracing (every trace)
            sums, carry = self.strategy.run(self._replica_train_step, args=(next(iterator), carry))
        # Already the global sums, the same on every replica: no further reduction.
        return self.strategy.experimental_local_results(sums)[0], carry

    def _distributed_eval_step(self, iterator, carry):
        return self._reduce(self.strategy.run(self._replica_eval_step, args=(next(iterator), carry)))

    # --- carried state ------------------------------------------------------------------------
    def _distribute_carry(self, global_values=None, rows=None):
        """Per-replica carried state: zeros (`rows` per replica: the carry shapes' own by default),
        or replica r's rows of the global values."""
        def replica_values(context):
            replica = context.replica_id_in_sync_group
            values = []
            for index, shape in enumerate(self.carry_shapes):
                if global_values is None:
                    values.append(tf.zeros(shape if rows is None else (rows,) + shape[1:]))
                else:
                    values.append(global_values[index][replica * shape[0]:(replica + 1) * shape[0]])
            return values

        if not self.carry_shapes:
            return []
        return self.strategy.experimental_distribute_values_from_function(replica_values)

    def _store_carry(self, carry):
        if self.carry_shapes:
            for variable, value in zip(self.carry, self._gather_function(carry)):
                variable.assign(value)

    # --- data -----------------------------------------------------------------------------------
    def _distribute(self, dataset_fn, skip_steps=0, forever=False):
        def worker_dataset(context):
            dataset = dataset_fn(context)
            local_replicas = context.num_replicas_in_sync // context.num_input_pipelines
            dataset = dataset.skip(skip_steps * local_replicas) if skip_steps else dataset
            if forever:
                # Known to be infinite (it fails if it ends), so no worker needs to ask the others
                # whether they still have data: without it, a multi-worker iterator adds an
                # all-reduce of "has a value" to every step (partial-batch handling).
                dataset = dataset.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
            return dataset

        return self.strategy.distribute_datasets_from_function(worker_dataset)

    # --- the loop -------------------------------------------------------------------------------
    def restore(self):
        """Restores the newest checkpoint (on every worker); returns the restored step (0: none)."""
        self.checkpoints.restore()
        return int(self.step.numpy())

    def save(self, carry):
        self._store_carry(carry)
        self.checkpoints.save(int(self.step.numpy()))

    def evaluate(self, dataset_fn, steps, carry_rows=None):
        """Mean loss over `steps` per-replica batches of `dataset_fn` (carried state from zeros)."""
        return self.evaluate_sums(dataset_fn, steps, carry_rows)["loss"]

    def evaluate_sums(self, dataset_fn, steps, carry_rows=None):
        """`{"loss": mean loss, name: count / real tokens for each count metric}` over `steps`
        per-replica batches of `dataset_fn`, the carried state starting from zeros.

        `carry_rows`: rows per replica of these batches where they differ from the training
        batches' (`carry_shapes`), e.g. one row per held-out document when there are fewer
        documents than training rows: empty rows would cost as much as full ones."""
        iterator = iter(self._distribute(dataset_fn))
        carry = self._distribute_carry(rows=carry_rows)
        totals = np.zeros([self._num_sums])
        for _ in range(steps):
            sums, carry = self._eval_function(iterator, carry)
            totals += sums.numpy()
        return self._means(totals)

    def _means(self, totals):
        tokens = max(float(totals[1]), 1.0)
        means = {"loss": float(totals[0]) / tokens}
        means.update({name: float(value) / tokens for name, value in zip(self.count_metrics, totals[2:])})
        return means

    def fit(self, dataset_fn, *, epochs, steps_per_epoch, valid_dataset_fn=None, valid_steps=0,
            valid_carry_rows=None, on_epoch_end=None, verbose=0):
        """Trains up to `epochs * steps_per_epoch` steps, from the last checkpoint if any.

        Args:
            dataset_fn: `fn(tf.distribute.InputContext) -> tf.data.Dataset` of per-replica batches,
                repeating forever, in the same order on every run (it is skipped to the step).
            epochs: int.
            steps_per_epoch: int, steps between epoch ends (validation, logs, checkpoint).
            valid_dataset_fn: like `dataset_fn`, at least `valid_steps` batches; None: no validation.
            valid_steps: validation batches per epoch.
            valid_carry_rows: rows per replica of the validation batches (`evaluate_sums`'s
                `carry_rows`); None: those of the training batches.
            on_epoch_end: `fn(epoch, logs)` called on the chief after each epoch (before its checkpoint).
            verbose: 0 silent; otherwise one line per epoch (chief) with the seconds since `fit` began.

        Returns:
            dict: metric name -> list of per-epoch values for the epochs finished in this call,
            and `"epoch"`: their indices (so a resumed run's history continues the stored one).
        """
        start = self.restore()
        total_steps = epochs * steps_per_epoch
        history = {"epoch": []}
        self.epoch_seconds = []
        self.stop_training = bool(self.stopped.numpy())
        if start >= total_steps or self.stop_training:
            self._restore_best()
            return history
        iterator = iter(self._distribute(dataset_fn, skip_steps=start, forever=True))
        carry = self._distribute_carry([v.value() for v in self.carry] if start and self.carry_shapes else None)
        step = start
        started = epoch_started = time.perf_counter()
        while step < total_steps and not self.stop_training:
            sums, carry = self._train_function(iterator, carry)
            sums = sums.numpy()
            loss_sum, count = float(sums[0]), float(sums[1])
            if not math.isfinite(loss_sum):
                self.diverged_at = (step // steps_per_epoch, step % steps_per_epoch, loss_sum / max(count, 1.0))
                break  # no checkpoint of non-finite weights
            step += 1
            self.step.assign(step)
            self.epoch_sums.assign_add(sums)
            if self.log_dir is not None and self.log_every and step % self.log_every == 0:
                self._scalars("train", {"batch_loss": loss_sum / max(count, 1.0)}, step)
            end_of_epoch = step % steps_per_epoch == 0
            if end_of_epoch:
                self.epoch_seconds.append(time.perf_counter() - epoch_started)
                epoch = step // steps_per_epoch - 1
                logs = self._epoch_logs(valid_dataset_fn, valid_steps, valid_carry_rows)
                self.epoch_sums.assign(tf.zeros([self._num_sums], tf.float64))
                self._early_stopping(epoch, logs)
                history["epoch"].append(epoch)
                for key, value in logs.items():
                    history.setdefault(key, []).append(value)
                if self.is_chief:
                    self._log_epoch(epoch, logs)
                    if on_epoch_end is not None:
                        on_epoch_end(epoch, logs)
                    if verbose:
                        print(f"epoch {epoch + 1}/{epochs} (step {step}, {time.perf_counter() - started:.2f} s): "
                              + ", ".join(f"{key} {value:.4f}" for key, value in logs.items()), flush=True)
            if end_of_epoch or (self.checkpoint_every and step % self.checkpoint_every == 0) or step == total_steps:
                self.save(carry)
            if end_of_epoch:
                epoch_started = time.perf_counter()
        if not self.diverged_at:
            self._restore_best()
        for writer in self._writers.values():
            writer.flush()
        return history

    def _epoch_logs(self, valid_dataset_fn, valid_steps, valid_carry_rows=None):
        logs = self._means(self.epoch_sums.numpy())
        logs.update({name: fn(logs["loss"]) for name, fn in self.derived_metrics.items()})
        logs["learning_rate"] = float(np.asarray(self.optimizer.learning_rate))
        if valid_dataset_fn is not None and valid_steps:
            valid = self.evaluate_sums(valid_dataset_fn, valid_steps, valid_carry_rows)
            logs.update({f"val_{name}": value for name, value in valid.items()})
            logs.update({f"val_{name}": fn(valid["loss"]) for name, fn in self.derived_metrics.items()})
        return logs

    # --- early stopping -------------------------------------------------------------------------
    def _early_stopping(self, epoch, logs):
        """Tracks the best `monitor` epoch (same logs, same decision on every worker)."""
        self.improved = False
        if self.monitor is None:
            return
        if self.monitor not in logs:
            raise ValueError(f"`monitor` {self.monitor!r} is not among the logged metrics {sorted(logs)}")
        value, best = logs[self.monitor], float(self.best_monitor.numpy())
        self.improved = value < best if self.mode == "min" else value > best
        if self.improved:
            self.best_monitor.assign(value)
            self.best_epoch.assign(epoch)
            for copy, variable in zip(self.best_weights, self.model.weights):
                copy.assign(tf.convert_to_tensor(variable))
        elif self.patience and epoch - int(self.best_epoch.numpy()) >= self.patience:
            self.stopped.assign(True)
            self.stop_training = True

    def _restore_best(self):
        """The best epoch's weights back into the model (patience > 0 and a best epoch seen)."""
        if self.best_weights and int(self.best_epoch.numpy()) >= 0:
            for variable, copy in zip(self.model.weights, self.best_weights):
                variable.assign(tf.convert_to_tensor(copy))

    def _scalars(self, kind, values, step):
        if kind not in self._writers:
            self._writers[kind] = tf.summary.create_file_writer(str(self.log_dir / kind))
        with self._writers[kind].as_default():
            for name, value in values.items():
                tf.summary.scalar(name, value, step=step)

    def _log_epoch(self, epoch, logs):
        if self.log_dir is None:
            return
        self._scalars("train", {f"epoch_{k}": v for k, v in logs.items() if not k.startswith("val_")}, epoch)
        valid = {f"epoch_{k[4:]}": v for k, v in logs.items() if k.startswith("val_")}
        if valid:
            self._scalars("validation", valid, epoch)


def _to_dtype(value, dtype):
    return value if value.dtype == dtype else tf.cast(value, dtype)


def _combine(gradient, penalty, global_count):
    """The global gradient of one variable: summed loss gradient / real tokens + regularisation gradient."""
    if gradient is None:
        return penalty
    if isinstance(gradient, tf.IndexedSlices):  # one replica, no clipping: stays sparse
        gradient = tf.IndexedSlices(gradient.values / tf.cast(global_count, gradient.dtype), gradient.indices,
                                    gradient.dense_shape)
    else:
        gradient = gradient / tf.cast(global_count, gradient.dtype)
    return gradient if penalty is None else tf.convert_to_tensor(gradient) + penalty


@contextlib.contextmanager
def _applies_as_given(optimizer):
    """While the train step is traced, `optimizer` applies the gradients it gets as they are.

    They are already global (all-reduced, divided by the real tokens, clipped), so the Keras
    TensorFlow optimizer's own gradient all-reduce (`_all_reduce_sum_gradients`, a second
    collective) and its clipping are switched off on this instance; its update (weight decay,
    the per-variable update under `merge_call`, constraints, iteration count) runs unchanged.
    Applying from a cross-replica `merge_call` would skip that all-reduce as well, but Keras then
    calls `maybe_merge_call` again for the weight decay and the update, which under Mirrored and
    MultiWorkerMirrored strategies needs a replica context (`'NoneType' object has no attribute
    'merge_call'`), hence this.
    """
    clipping = {name: getattr(optimizer, name, None) for name in ("clipnorm", "global_clipnorm", "clipvalue")}
    vars(optimizer)["_all_reduce_sum_gradients"] = list  # an instance attribute hides the method
    for name in clipping:
        setattr(optimizer, name, None)
    try:
        yield
    finally:
        vars(optimizer).pop("_all_reduce_sum_gradients", None)
        for name, value in clipping.items():
            setattr(optimizer, name, value)
