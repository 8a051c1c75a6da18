"""Keras `fit` for a language model: independent windows, or truncated BPTT with a carried state."""

import keras
import tensorflow as tf

from seqkeras.models.char_lm.character_cross_entropy import CharacterCrossEntropy, masked_negative_log_likelihood


@keras.saving.register_keras_serializable(package="seqkeras")
class LanguageModelTrainer(keras.Model):
    """Trains a `CharLanguageModel` on shifted-by-one targets with masked cross-entropy.

    The loss is the mean negative log-likelihood (nats) over real characters of the batch; the
    logged `loss` and `bpc` are the same quantity accumulated over the epoch (nats and bits).

    Two modes:

    - `truncated_bptt=False`: every batch `({"token_ids", "padding_mask"}, targets)` starts from a
      zero state (windows, see `datasets.window_dataset`).
    - `truncated_bptt=True`: batches come from `datasets.stream_dataset` and carry a `reset`
      (B,) flag. The final LSTM states of a batch are stored in non-trainable variables and are the
      initial states of the next batch, row by row, except rows with `reset=True` (a document
      starts there), which start from zeros. The stored states are constants for the gradient
      tape, so back-propagation stops at the batch boundary: gradients are truncated after
      `window` steps and no graph is kept from earlier batches. Training and evaluation keep
      separate states.

    Args:
        language_model: a `CharLanguageModel` (needs `run` and `initial_states`).
        truncated_bptt: bool, carry the state across batches.
        batch_size: int, rows of every batch; required with `truncated_bptt`.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        inputs: dict with `token_ids` and `padding_mask` (B, T).
        training: bool.

    Example:

    >>> trainer = LanguageModelTrainer(model, truncated_bptt=True, batch_size=16)
    >>> trainer.compile(optimizer="adam")
    >>> trainer.fit(stream_dataset(documents, window=64, batch_size=16), epochs=1)
    """

    def __init__(self, language_model, truncated_bptt=False, batch_size=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(truncated_bptt, bool):
            raise TypeError(f"`truncated_bptt` must be a bool. Received: truncated_bptt={truncated_bptt!r}")
        if truncated_bptt and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(
                "Truncated BPTT carries one state per row and needs a positive integer `batch_size`. "
                f"Received: batch_size={batch_size!r}"
            )
        self.language_model = language_model
        self.truncated_bptt = truncated_bptt
        self.batch_size = batch_size
        self.loss_metric = CharacterCrossEntropy(unit="nats", name="loss")
        self.bpc_metric = CharacterCrossEntropy(unit="bits", name="bpc")
        self.train_states = []
        self.eval_states = []
        if truncated_bptt:
            shape = (batch_size, language_model.hidden_dim)
            for kind, states in (("train", self.train_states), ("eval", self.eval_states)):
                for index in range(language_model.num_states):
                    states.append(self.add_weight(
                        shape=shape, initializer="zeros", trainable=False, name=f"{kind}_state_{index}"
                    ))
        self.built = True  # the wrapped functional model is built; nothing else depends on inputs

    @property
    def metrics(self):
        return [self.loss_metric, self.bpc_metric]

    def call(self, inputs, training=False):
        return self.language_model(
            {"token_ids": inputs["token_ids"], "padding_mask": inputs["padding_mask"]}, training=training
        )

    def _initial_states(self, inputs, carried):
        """Carried states with the rows that start a document zeroed; None without BPTT."""
        if not self.truncated_bptt:
            return None
        reset = tf.convert_to_tensor(inputs["reset"], tf.bool)[:, tf.newaxis]  # (B, 1)
        tf.debugging.assert_equal(
            tf.shape(reset)[0], self.batch_size,
            message=f"truncated BPTT batches must have exactly batch_size={self.batch_size} rows",
        )
        return [tf.where(reset, tf.zeros_like(state), tf.stop_gradient(state)) for state in carried]

    def _forward(self, inputs, carried, training):
        states = self._initial_states(inputs, carried)
        logits, final_states = self.language_model.run(
            inputs["token_ids"], inputs["padding_mask"], states, training=training
        )  # (B, T, V)
        return logits, final_states

    def _update(self, targets, logits, mask):
        self.loss_metric.update_state(targets, logits, mask)
        self.bpc_metric.update_state(targets, logits, mask)
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, data):
        inputs, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        mask = inputs["padding_mask"]
        variables = self.language_model.trainable_variables
        with tf.GradientTape() as tape:
            logits, final_states = self._forward(inputs, self.train_states, training=True)
            nll = masked_negative_log_likelihood(targets, logits, mask)  # (B, T)
            loss = tf.math.divide_no_nan(tf.reduce_sum(nll), tf.reduce_sum(tf.cast(mask, nll.dtype)))
            if self.language_model.losses:
                loss = loss + tf.add_n(self.language_model.losses)
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        for variable, state in zip(self.train_states, final_states):
            variable.assign(tf.stop_gradient(state))
        return self._update(targets, logits, mask)

    def test_step(self, data):
        inputs, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        logits, final_states = self._forward(inputs, self.eval_states, training=False)
        for variable, state in zip(self.eval_states, final_states):
            variable.assign(state)
        return self._update(targets, logits, inputs["padding_mask"])

    def predict_step(self, data):
        inputs, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self(inputs, training=False)

    def get_config(self):
        return {
            "language_model": keras.saving.serialize_keras_object(self.language_model),
            "truncated_bptt": self.truncated_bptt,
            "batch_size": self.batch_size,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["language_model"] = keras.saving.deserialize_keras_object(config["language_model"])
        return cls(**config)


def language_model_replica_loss(language_model, truncated_bptt=False):
    """The per-replica loss of a character LM for `seqkeras.distribute.StrategyTrainer`.

    Returns `fn(batch, carry, training) -> (nll (b, T), real characters, new carry)`: the
    per-position negative log-likelihood in nats (zero at padding), the number of real
    characters, and, with `truncated_bptt`, the final LSTM states (the carried state of the next
    batch; rows whose `reset` flag is set start from zeros, and the carried state is a constant
    for the gradient, so back-propagation stops at the batch boundary), else `[]`.

    Args:
        language_model: a `CharLanguageModel`.
        truncated_bptt: bool, batches come from `datasets.stream_dataset` (with `reset`).

    Example:

    >>> loss_fn = language_model_replica_loss(model, truncated_bptt=True)
    >>> trainer = StrategyTrainer(strategy, model, optimizer, loss_fn, checkpoint_dir="ckpt",
    ...                           carry_shapes=[(8, model.hidden_dim)] * model.num_states)
    """

    def replica_loss(batch, carry, training):
        inputs, targets = batch
        mask = inputs["padding_mask"]
        states = None
        if truncated_bptt:
            reset = tf.cast(inputs["reset"], tf.bool)[:, tf.newaxis]  # (b, 1)
            states = [tf.where(reset, tf.zeros_like(state), tf.stop_gradient(state)) for state in carry]
        logits, final_states = language_model.run(inputs["token_ids"], mask, states, training=training)  # (b, T, V)
        nll = masked_negative_log_likelihood(targets, logits, mask)  # (b, T)
        count = tf.reduce_sum(tf.cast(mask, tf.float32))
        return nll, count, list(final_states) if truncated_bptt else []

    return replica_loss
