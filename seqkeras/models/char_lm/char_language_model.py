"""A causal character-level language model: embedding, a stack of LSTMs, a softmax head."""

import keras
import tensorflow as tf

from seqkeras.layers import LSTM


@keras.saving.register_keras_serializable(package="seqkeras")
class CharLanguageModel(keras.Model):
    """Causal LSTM language model over character ids, with explicit recurrent state.

    The functional graph maps `{"token_ids": int32 (B, T), "padding_mask": bool (B, T)}` to
    next-character logits `(B, T, vocabulary_size)`: position `t` only sees positions `<= t`.
    Masked (padding) steps leave the recurrent state unchanged, so right-padded batches give the
    same logits at real positions as the unpadded sequences.

    Besides the functional call, the model exposes its recurrent state so that callers can
    continue a sequence without re-reading it:

    - `initial_states(batch_size)`: zeros, a flat list `[h_1, c_1, ..., h_L, c_L]`, each (B, H).
    - `run(token_ids, padding_mask, states=None, training=False)`: logits and the final states
      (used by truncated BPTT training and by prompt prefill).
    - `step(token_ids, states)`: one character per row, (B,) -> logits (B, V), new states. This is
      what makes generation cost one step per new character.

    Args:
        vocabulary_size: int, number of character ids (reserved ids included).
        embedding_dim: int, size of the character embedding.
        hidden_dim: int, units of every LSTM layer.
        num_layers: int, number of stacked LSTM layers.
        dropout: float in [0, 1), dropout on the embedding and between layers (training only).
        cell_clip: None (default, unbounded) or a positive float: every LSTM cell state is kept in
            `[-cell_clip, cell_clip]`, in `run`, `step` and the functional call alike. Truncated BPTT
            with a carried state otherwise lets cell states grow without bound.
        train_matmul_dtype: None or "bfloat16": the dtype of the LSTM matrix products in training
            calls (see `seqkeras.layers.LSTM`); inference always computes in float32.
        parallel_rows: int >= 1: a training `run` splits the batch rows into this many groups and
            runs the stack on each group as an independent chain of ops (the same weights), so
            TensorFlow can run the chains at the same time (give each op part of the cores:
            `pipelines.common.split_threads`). The rows are independent, so the result is the same
            up to float rounding; the batch must divide evenly. Inference runs one chain.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Call arguments:
        inputs: dict with `token_ids` (int32 (B, T)) and `padding_mask` (bool (B, T)).
        training: bool, whether dropout is active.

    Example:

    >>> model = CharLanguageModel(vocabulary_size=12, embedding_dim=4, hidden_dim=8)
    >>> logits = model({"token_ids": tf.constant([[2, 5, 6]]),
    ...                 "padding_mask": tf.constant([[True, True, True]])})
    >>> tuple(logits.shape)
    (1, 3, 12)
    """

    def __init__(self, vocabulary_size, embedding_dim=64, hidden_dim=256, num_layers=1, dropout=0.0, cell_clip=None,
                 train_matmul_dtype=None, parallel_rows=1, **kwargs):
        for name, value in (("vocabulary_size", vocabulary_size), ("embedding_dim", embedding_dim),
                            ("hidden_dim", hidden_dim), ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        if not isinstance(parallel_rows, int) or isinstance(parallel_rows, bool) or parallel_rows < 1:
            raise ValueError(f"`parallel_rows` must be an integer >= 1. Received: parallel_rows={parallel_rows!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")

        # === Layers ===
        embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")
        embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        recurrent_layers = [
            LSTM(hidden_dim, return_sequences=True, return_state=True, cell_clip=cell_clip,
                 train_matmul_dtype=train_matmul_dtype, name=f"lstm_{index}")
            for index in range(num_layers)
        ]
        layer_dropouts = [keras.layers.Dropout(dropout, name=f"lstm_{index}_dropout") for index in range(num_layers)]
        head = keras.layers.Dense(vocabulary_size, name="logits")

        # === Functional graph ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="bool", name="padding_mask")
        x = embedding_dropout(embedding(token_ids))  # (B, T, E)
        for recurrent, layer_dropout in zip(recurrent_layers, layer_dropouts):
            x = recurrent(x, mask=padding_mask)[0]  # (B, T, H)
            x = layer_dropout(x)
        logits = head(x)  # (B, T, V)
        super().__init__(inputs={"token_ids": token_ids, "padding_mask": padding_mask}, outputs=logits, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.cell_clip = recurrent_layers[0].cell_clip  # validated by the LSTM (None or a float)
        self.train_matmul_dtype = train_matmul_dtype
        self.parallel_rows = parallel_rows
        self.embedding = embedding
        self.embedding_dropout = embedding_dropout
        self.recurrent_layers = recurrent_layers
        self.layer_dropouts = layer_dropouts
        self.head = head

    # The recurrent state as a flat list [h_1, c_1, ..., h_L, c_L], each (B, H).
    @property
    def num_states(self):
        return 2 * self.num_layers

    def initial_states(self, batch_size):
        """Zero states for `batch_size` rows."""
        return [tf.zeros([batch_size, self.hidden_dim]) for _ in range(self.num_states)]

    def run(self, token_ids, padding_mask=None, states=None, training=False):
        """Runs the stack from `states` (zeros if None); returns `(logits (B, T, V), final states)`."""
        token_ids = tf.convert_to_tensor(token_ids, dtype=tf.int32)
        if padding_mask is None:
            padding_mask = tf.ones_like(token_ids, dtype=tf.bool)
        padding_mask = tf.convert_to_tensor(padding_mask, dtype=tf.bool)
        if states is None:
            states = self.initial_states(tf.shape(token_ids)[0])
        if training and self.parallel_rows > 1:
            groups = self.parallel_rows
            tf.debugging.assert_equal(tf.shape(token_ids)[0] % groups, 0,
                                      message=f"the batch must divide into parallel_rows={groups} groups")
            parts = [tf.split(tensor, groups) for tensor in (token_ids, padding_mask, *states)]
            runs = [self._run_stack(part[0], part[1], part[2:], training) for part in zip(*parts)]
            logits = tf.concat([logits for logits, _ in runs], axis=0)
            return logits, [tf.concat(group, axis=0) for group in zip(*(final for _, final in runs))]
        return self._run_stack(token_ids, padding_mask, states, training)

    def _run_stack(self, token_ids, padding_mask, states, training):
        x = self.embedding_dropout(self.embedding(token_ids), training=training)  # (B, T, E)
        final_states = []
        for index, (recurrent, layer_dropout) in enumerate(zip(self.recurrent_layers, self.layer_dropouts)):
            layer_states = list(states[2 * index: 2 * index + 2])
            x, h, c = recurrent(x, mask=padding_mask, initial_state=layer_states, training=training)  # (B, T, H)
            x = layer_dropout(x, training=training)
            final_states.extend([h, c])
        return self.head(x), final_states  # (B, T, V)

    def step(self, token_ids, states):
        """One step: `token_ids` (B,) and states -> `(logits (B, V), new states)`.

        Runs each layer's cell once (`LSTM.cell`, the same weights as the layer), so a step is a
        few matrix products with no loop over time; dropout is off.
        """
        token_ids = tf.convert_to_tensor(token_ids, dtype=tf.int32)
        x = self.embedding(token_ids)  # (B, E)
        new_states = []
        for index, recurrent in enumerate(self.recurrent_layers):
            x, layer_states = recurrent.cell(x, list(states[2 * index: 2 * index + 2]))  # (B, H)
            new_states.extend(layer_states)
        return self.head(x), new_states  # (B, V)

    def get_config(self):
        return {
            "vocabulary_size": self.vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "cell_clip": self.cell_clip,
            "train_matmul_dtype": self.train_matmul_dtype,
            "parallel_rows": self.parallel_rows,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
