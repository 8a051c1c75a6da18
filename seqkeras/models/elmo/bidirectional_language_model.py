"""`BidirectionalLanguageModel`: the biLM's Keras model class, which computes its own two LM losses."""

import keras
import tensorflow as tf
from keras import ops

from seqkeras.losses import MaskedSparseCategoricalCrossentropy, sampled_softmax_loss
from seqkeras.models.elmo import _bilm_graph
from seqkeras.models.common.sequence_task_model import SequenceTaskModel

DIRECTIONS = ("forward", "backward")


@keras.saving.register_keras_serializable(package="seqkeras")
class BidirectionalLanguageModel(SequenceTaskModel):
    """A functional biLM whose training targets are its own `token_ids`, shifted.

    Built by `build_bidirectional_lm`; its outputs are `{"forward_logits", "backward_logits"}`,
    each `[B, T, V]`. Position `t` of the forward LM predicts token `t + 1`; position `t` of the
    backward LM predicts token `t - 1`. `compute_loss` builds those targets from the `token_ids`
    input (`language_model_targets`) and sums the two directions' cross-entropies, each
    averaged over the real targets of the batch only: padded positions, the forward LM's last
    real step and the backward LM's first step have no target and contribute nothing. So
    `fit` and `evaluate` take batches of inputs alone (no `y`), e.g.
    `text_batches(lookup, texts)`, and `compile` takes no loss.

    Besides `loss` (the sum), training and evaluation report `forward_loss` and
    `backward_loss`: mean negative log-likelihood in nats per real target over everything seen
    since the last reset (every target weighs the same, whatever its batch), so
    `exp(forward_loss)` from `evaluate` is the corpus perplexity of the forward LM.

    Sampled softmax (`compile(..., num_sampled=S)`): training then scores each target against
    `S` words drawn from a log-uniform (Zipf) distribution over the ids, which fits a vocabulary
    sorted by frequency (`Vocabulary.build`), instead of the whole vocabulary:
    `seqkeras.losses.sampled_softmax_loss` (`tf.nn.sampled_softmax_loss`'s estimator, accidental
    hits of the target removed) on the top LSTM states and the shared `word_logits` weights, its
    product in bfloat16 when the LSTMs train in bfloat16 (`train_matmul_dtype`). The full
    `[B, T, V]` logits are then never computed in `fit`, which is where a word-level softmax
    spends most of its time. Training's `loss`/`forward_loss`/`backward_loss` are then the
    sampled losses (lower than the full ones); `evaluate` and validation always use the full
    softmax, so `exp(val_forward_loss)` stays the perplexity. The model's outputs and saved layers are the same either way.

    Build it with `build_bidirectional_lm`; it is saved and loaded like any functional model
    (`.keras` files keep the class and recompile it, `num_sampled` included).

    Call arguments:
        inputs: dict with `token_ids` int `[B, T]`, `char_ids` int `[B, T, C]` and
            `padding_mask` bool `[B, T]` (right-padded).
        training: whether dropout is active.

    Example:
    >>> model = build_bidirectional_lm(vocabulary_size=30, char_vocabulary_size=20, hidden_dim=8,
    ...                                char_filters=8, num_layers=1)
    >>> batch = {"token_ids": np.array([[5, 6, 7]]), "char_ids": np.array([[[4, 5], [6, 0], [7, 8]]]),
    ...          "padding_mask": np.array([[True, True, True]])}
    >>> model.compile("adam")
    >>> sorted(model.evaluate(batch, verbose=0, return_dict=True))  # two targets per direction here
    ['backward_loss', 'forward_loss', 'loss']
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.direction_loss = MaskedSparseCategoricalCrossentropy(from_logits=True, name="direction_loss")
        self.forward_loss_tracker = keras.metrics.Mean(name="forward_loss")
        self.backward_loss_tracker = keras.metrics.Mean(name="backward_loss")

    def compile(self, optimizer="rmsprop", loss=None, *args, num_sampled=0, **kwargs):
        """`keras.Model.compile` without a loss; `num_sampled` > 0 trains with a sampled softmax.

        Args:
            num_sampled: words drawn per direction and step for the sampled softmax (0: the full
                softmax); must be below the vocabulary size.
        """
        if loss is not None:
            raise ValueError(
                f"`{self.name}` computes its own loss from `token_ids` (next and previous token "
                f"cross-entropy); compile it without a loss. Received: loss={loss!r}"
            )
        vocabulary_size = self.get_layer("word_logits").units
        if isinstance(num_sampled, bool) or not isinstance(num_sampled, int) or not 0 <= num_sampled < vocabulary_size:
            raise ValueError(
                f"`num_sampled` must be an int in [0, vocabulary_size={vocabulary_size}) (0: full softmax). "
                f"Received: num_sampled={num_sampled!r}"
            )
        self.num_sampled = num_sampled
        self._top_states = _Untracked(self._top_state_model() if num_sampled else None)
        super().compile(optimizer, None, *args, **kwargs)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is not None and getattr(self, "num_sampled", 0):
            config = {**config, "num_sampled": self.num_sampled}
        return config

    def _top_state_model(self):
        """A model of the same layers giving what the softmax reads: `[forward, backward]` `(B, T, H)`."""
        names = {layer.name for layer in self.layers}
        last = _bilm_graph.count_layers(self) - 1
        top = [
            f"{direction}_output_dropout" if f"{direction}_output_dropout" in names else last
            for direction, last in (
                ("forward", _bilm_graph.forward_name(last)),
                ("backward", f"{_bilm_graph.backward_name(last)}_unreverse"),
            )
        ]
        return keras.Model(self.input, [self.get_layer(name).output for name in top], name=f"{self.name}_top_states")

    def train_step(self, data):
        if not getattr(self, "num_sampled", 0):
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        self._refuse_outside_targets(y, sample_weight)
        with tf.GradientTape() as tape:
            forward, backward = self._top_states.value(x, training=True)  # (B, T, H) each
            loss = self._sampled_loss(x, {"forward": forward, "backward": backward})
            if self.losses:
                loss = loss + ops.sum(self.losses)
            self._loss_tracker.update_state(loss, sample_weight=tf.shape(x["token_ids"])[0])
            scaled = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return self.get_metrics_result()

    @property
    def train_matmul_dtype(self):
        """The LSTMs' `train_matmul_dtype` (None: float32), which the sampled softmax's product follows."""
        return self.get_layer(_bilm_graph.forward_name(0)).train_matmul_dtype

    def _sampled_loss(self, x, states):
        """Sum over directions of the mean sampled-softmax loss per real target."""
        softmax = self.get_layer("word_logits")
        weights = tf.transpose(softmax.kernel)  # (V, H)
        targets = self.language_model_targets(x["token_ids"], x["padding_mask"])
        total = 0.0
        for direction, tracker in zip(DIRECTIONS, (self.forward_loss_tracker, self.backward_loss_tracker)):
            labels, real = targets[direction]  # (B, T) each
            keep = real > 0
            inputs = tf.boolean_mask(states[direction], keep)  # (N, H)
            true = tf.boolean_mask(labels, keep)  # (N,)
            losses = sampled_softmax_loss(weights, softmax.bias, true, inputs, self.num_sampled,
                                          matmul_dtype=self.train_matmul_dtype)  # (N,), log-uniform candidates
            count = tf.reduce_sum(real)
            loss = tf.math.divide_no_nan(tf.reduce_sum(losses), count)
            tracker.update_state(loss, sample_weight=count)
            total = total + loss
        return total

    @staticmethod
    def language_model_targets(token_ids, padding_mask):
        """Targets and 0/1 weights of both directions from right-padded ids.

        Args:
            token_ids: int `[B, T]`.
            padding_mask: bool `[B, T]`, True at real tokens (right-padded).

        Returns:
            `{"forward": (targets, weights), "backward": (targets, weights)}`, each `[B, T]`:
            forward targets are token `t + 1`, backward targets token `t - 1` (0 where there
            is none); weights (float32) are 1 where position `t` and its target are both real.
        """
        ids = ops.cast(token_ids, "int32")  # (B, T)
        real = ops.cast(padding_mask, "bool")  # (B, T)
        no_id = ops.zeros_like(ids[:, :1])  # (B, 1)
        no_token = ops.zeros_like(real[:, :1])  # (B, 1), False
        next_real = ops.concatenate([real[:, 1:], no_token], axis=1)  # (B, T)
        previous_real = ops.concatenate([no_token, real[:, :-1]], axis=1)  # (B, T)
        next_ids = ops.concatenate([ids[:, 1:], no_id], axis=1)  # (B, T)
        previous_ids = ops.concatenate([no_id, ids[:, :-1]], axis=1)  # (B, T)
        forward_weights = ops.logical_and(real, next_real)
        backward_weights = ops.logical_and(real, previous_real)
        return {
            "forward": (ops.where(forward_weights, next_ids, 0), ops.cast(forward_weights, "float32")),
            "backward": (ops.where(backward_weights, previous_ids, 0), ops.cast(backward_weights, "float32")),
        }

    def _refuse_outside_targets(self, y, sample_weight):
        extra = {name: value for name, value in (("y", y), ("sample_weight", sample_weight)) if value is not None}
        if extra:
            received = ", ".join(f"{name} with shape {tuple(value.shape)}" for name, value in extra.items())
            raise ValueError(
                f"`{self.name}` takes its targets from `token_ids`: pass inputs only (no y, no "
                f"sample_weight). Received: {received}"
            )

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        self._refuse_outside_targets(y, sample_weight)
        targets = self.language_model_targets(x["token_ids"], x["padding_mask"])
        total = 0.0
        for direction, tracker in zip(DIRECTIONS, (self.forward_loss_tracker, self.backward_loss_tracker)):
            labels, weights = targets[direction]  # (B, T) each
            loss = self.direction_loss(labels, y_pred[f"{direction}_logits"], sample_weight=weights)  # mean over targets
            tracker.update_state(loss, sample_weight=ops.sum(weights))
            total = total + loss
        if self.losses:
            total = total + ops.sum(self.losses)
        return total


class _Untracked:
    """Holds a helper model out of Keras' attribute tracking (so it adds nothing to saved files)."""

    def __init__(self, value):
        self.value = value
