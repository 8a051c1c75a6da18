"""`ConditionalDecoder`: a causal RNN decoder conditioned on one vector, with in-graph decoding."""

import keras
import tensorflow as tf

from seqkeras import layers as seq_layers
from seqkeras.models.common._validation import check_choice, check_positive_int, check_rate

CONDITIONINGS = ("initial_state", "concat")
DECODER_CELLS = ("lstm", "elman")
STRATEGIES = ("greedy", "sample")


def _check_batch_agreement(token_ids, context):
    token_batch, context_batch = token_ids.shape[0], context.shape[0]
    if token_batch is not None and context_batch is not None:
        if token_batch != context_batch:
            raise ValueError(
                "The conditioning vector and the token sequence must have the same batch size. "
                f"Received: context batch size={context_batch}, token_ids batch size={token_batch}"
            )
    elif not tf.executing_eagerly():
        tf.debugging.assert_equal(
            tf.shape(context)[0], tf.shape(token_ids)[0],
            message="The conditioning vector and the token sequence must have the same batch size",
        )


@keras.saving.register_keras_serializable(package="seqkeras")
class ConditionalDecoder(keras.layers.Layer):
    """A left-to-right RNN language model conditioned on a vector `context`.

    Two ways to condition, chosen by `conditioning`:

    - `"initial_state"`: `tanh(Dense(context))` becomes every state of every layer at step 0
      (for an LSTM both `h` and `c`); the inputs are the previous tokens alone.
    - `"concat"`: `tanh(Dense(context))` is repeated along time and concatenated with the
      embedding of the previous token at every step; states start at zero.

    Training uses teacher forcing: `call` reads the previous tokens (`[BOS, y_1, ..., y_{T-1}]`)
    and returns next-token logits for every step; it is causal, so logits at step `t` depend on
    tokens `<= t` only. The padding mask passes through to the logits, so masked losses skip
    padded steps. `generate` runs the same weights one step at a time inside a
    `tf.while_loop`, carrying the RNN states, by greedy or seeded sampled search.

    Args:
        vocabulary_size: number of token ids (the logits' width).
        hidden_dim: RNN units.
        num_layers: stacked RNN layers.
        embedding_dim: token embedding width.
        conditioning: `"initial_state"` or `"concat"`.
        cell: `"lstm"` (seqkeras `LSTM`) or `"elman"` (`ElmanCell` under `keras.layers.RNN`).
        dropout: dropout on the embeddings and the top RNN outputs (training only).

    Call arguments:
        token_ids: int `[B, T]` previous tokens.
        context: float `[B, C]` conditioning vector; batch size must match `token_ids`.
        mask: optional bool `[B, T]` right-padded mask.
        training: enables dropout.

    Example:
    >>> decoder = ConditionalDecoder(vocabulary_size=12, hidden_dim=8)
    >>> decoder(np.array([[2, 5, 6]]), np.ones((1, 4), "float32")).shape
    TensorShape([1, 3, 12])
    >>> decoder.generate(np.ones((1, 4), "float32"), max_length=5).shape
    TensorShape([1, 5])
    """

    def __init__(
        self,
        vocabulary_size,
        hidden_dim=128,
        num_layers=1,
        embedding_dim=32,
        conditioning="initial_state",
        cell="lstm",
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.conditioning = check_choice("conditioning", conditioning, CONDITIONINGS)
        self.cell = check_choice("cell", cell, DECODER_CELLS)
        self.dropout = check_rate("dropout", dropout)
        self.supports_masking = True
        self._generate_function = None

    def build(self, token_ids_shape, context_shape):
        if len(token_ids_shape) != 2:
            raise ValueError(f"`token_ids` must have rank 2 [batch, time]. Received: shape={token_ids_shape}")
        if len(context_shape) != 2 or context_shape[-1] is None:
            raise ValueError(
                f"`context` must have rank 2 [batch, features] with known features. Received: shape={context_shape}"
            )
        self.embedding = keras.layers.Embedding(self.vocabulary_size, self.embedding_dim, name="embedding")
        self.embedding.build((None, None))
        step_dim = self.embedding_dim
        self.context_projection = None
        if self.conditioning == "concat":
            self.context_projection = keras.layers.Dense(self.hidden_dim, activation="tanh", name="context_projection")
            self.context_projection.build(context_shape)
            step_dim += self.hidden_dim
        self.recurrent_layers, self.state_projections = [], []
        for index in range(self.num_layers):
            input_dim = step_dim if index == 0 else self.hidden_dim
            if self.cell == "lstm":
                layer = seq_layers.LSTM(self.hidden_dim, return_sequences=True, name=f"rnn_{index}")
            else:
                layer = keras.layers.RNN(
                    seq_layers.ElmanCell(self.hidden_dim), return_sequences=True, name=f"rnn_{index}"
                )
            layer.build((None, None, input_dim))
            self.recurrent_layers.append(layer)
            projections = []
            if self.conditioning == "initial_state":
                for leaf, size in enumerate(keras.tree.flatten(layer.cell.state_size)):
                    projection = keras.layers.Dense(size, activation="tanh", name=f"initial_state_{index}_{leaf}")
                    projection.build(context_shape)
                    projections.append(projection)
            self.state_projections.append(projections)
        self.dropout_layer = keras.layers.Dropout(self.dropout)
        self.output_projection = keras.layers.Dense(self.vocabulary_size, name="logits")
        self.output_projection.build((None, None, self.hidden_dim))

    # ------------------------------------------------------------------------------------
    # Teacher forcing
    # ------------------------------------------------------------------------------------
    def _initial_states(self, context):
        """Per layer, the list of initial states, or None (zeros) under `concat`."""
        if self.conditioning != "initial_state":
            return [None] * self.num_layers
        return [[projection(context) for projection in projections] for projections in self.state_projections]

    def call(self, token_ids, context, mask=None, training=None):
        _check_batch_agreement(token_ids, context)
        x = self.embedding(token_ids)  # (B, T, E)
        if self.context_projection is not None:
            steps = keras.ops.shape(token_ids)[1]
            conditioned = self.context_projection(context)[:, None, :]  # (B, 1, H)
            x = keras.ops.concatenate([x, keras.ops.repeat(conditioned, steps, axis=1)], axis=-1)  # (B, T, E + H)
        x = self.dropout_layer(x, training=training)
        for layer, states in zip(self.recurrent_layers, self._initial_states(context)):
            x = layer(x, mask=mask, initial_state=states, training=training)  # (B, T, H)
        x = self.dropout_layer(x, training=training)
        return self.output_projection(x)  # (B, T, V)

    def compute_mask(self, token_ids, context=None, mask=None):
        return mask

    def compute_output_shape(self, token_ids_shape, context_shape):
        return (token_ids_shape[0], token_ids_shape[1], self.vocabulary_size)

    # ------------------------------------------------------------------------------------
    # Decoding
    # ------------------------------------------------------------------------------------
    def _step(self, token, states, conditioned):
        """One decoding step: previous token `[B]` -> logits `[B, V]`, new states."""
        x = self.embedding(token)  # (B, E)
        if conditioned is not None:
            x = tf.concat([x, conditioned], axis=-1)  # (B, E + H)
        new_states = []
        for layer, layer_states in zip(self.recurrent_layers, states):
            x, layer_states = layer.cell(x, list(layer_states), training=False)  # (B, H)
            new_states.append(list(keras.tree.flatten(layer_states)))
        return self.output_projection(x), new_states  # (B, V)

    def _generate(self, context, max_length, bos_id, eos_id, pad_id, greedy, temperature, seed):
        batch_size = tf.shape(context)[0]
        conditioned = None if self.context_projection is None else self.context_projection(context)
        states = []
        for layer, initial in zip(self.recurrent_layers, self._initial_states(context)):
            if initial is None:
                sizes = keras.tree.flatten(layer.cell.state_size)
                initial = [tf.zeros([batch_size, size], dtype=context.dtype) for size in sizes]
            states.append(list(initial))

        def body(step, token, finished, states, generated):
            logits, states = self._step(token, states, conditioned)  # (B, V)
            next_token = tf.cond(
                greedy,
                lambda: tf.argmax(logits, axis=-1, output_type=tf.int32),
                lambda: tf.random.stateless_categorical(
                    logits / temperature, 1, seed=tf.stack([seed, step]), dtype=tf.int32
                )[:, 0],
            )  # (B,)
            next_token = tf.where(finished, tf.fill([batch_size], pad_id), next_token)  # (B,)
            generated = generated.write(step, next_token)
            finished = tf.logical_or(finished, tf.equal(next_token, eos_id))
            return step + 1, next_token, finished, states, generated

        _, _, _, _, generated = tf.while_loop(
            lambda step, token, finished, states, generated: step < max_length,
            body,
            (
                tf.constant(0, tf.int32),
                tf.fill([batch_size], bos_id),
                tf.zeros([batch_size], tf.bool),
                states,
                tf.TensorArray(tf.int32, size=max_length, element_shape=[None]),
            ),
        )
        return tf.transpose(generated.stack())  # (B, max_length)

    def generate(
        self, context, max_length, strategy="greedy", temperature=1.0, seed=0, bos_id=2, eos_id=3, pad_id=0
    ):
        """Decodes one sequence per context vector, in a compiled `tf.while_loop`.

        Args:
            context: float `[B, C]`.
            max_length: steps to decode.
            strategy: `"greedy"` (argmax each step) or `"sample"` (from
                `softmax(logits / temperature)`, stateless and seeded: the same seed gives the
                same sequences).
            temperature: positive float, sampling temperature.
            seed: int seed of the sampled search.
            bos_id, eos_id, pad_id: start id fed first, end id that stops a row, id written
                after a row's end.

        Returns:
            int32 `[B, max_length]`: generated ids, `eos_id` included, `pad_id` after it.
        """
        check_positive_int("max_length", max_length)
        check_choice("strategy", strategy, STRATEGIES)
        if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not 0 < temperature < float("inf"):
            raise ValueError(f"`temperature` must be a finite number > 0. Received: temperature={temperature!r}")
        context = tf.convert_to_tensor(context, dtype=self.compute_dtype)
        if context.shape.rank != 2:
            raise ValueError(f"`context` must have rank 2 [batch, features]. Received: shape={tuple(context.shape)}")
        if not self.built:
            self.build((None, None), tuple(context.shape))
        if self._generate_function is None:
            # One trace for every batch size (an unknown batch axis, so a batch of one keeps the
            # loop's shapes stable) and both strategies (`greedy` is a tensor).
            scalar = tf.TensorSpec([], tf.int32)
            self._generate_function = tf.function(
                self._generate,
                input_signature=[
                    tf.TensorSpec([None, context.shape[-1]], context.dtype), scalar, scalar, scalar, scalar,
                    tf.TensorSpec([], tf.bool), tf.TensorSpec([], context.dtype), scalar,
                ],
            )
        return self._generate_function(
            context,
            tf.constant(max_length, tf.int32),
            tf.constant(bos_id, tf.int32),
            tf.constant(eos_id, tf.int32),
            tf.constant(pad_id, tf.int32),
            tf.constant(strategy == "greedy"),
            tf.constant(temperature, context.dtype),
            tf.constant(seed, tf.int32),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            hidden_dim=self.hidden_dim,
            num_layers=self.num_layers,
            embedding_dim=self.embedding_dim,
            conditioning=self.conditioning,
            cell=self.cell,
            dropout=self.dropout,
        )
        return config


def decode_sequence(token_ids, context, padding_mask, vocabulary_size, **decoder_options):
    """Adds a `ConditionalDecoder` to a functional graph and returns its logits.

    The decoder half shared by `build_seq2seq` and `build_captioner`: teacher-forced
    `token_ids` `[B, T]` conditioned on `context` `[B, C]`, giving next-token logits
    `[B, T, vocabulary_size]` that carry `padding_mask`. `decoder_options` (`hidden_dim`,
    `num_layers`, `embedding_dim`, `conditioning`, `cell`, `dropout`, `name`) go to
    `ConditionalDecoder`, which validates them.
    """
    decoder = ConditionalDecoder(vocabulary_size, **decoder_options)
    return decoder(token_ids, context, mask=padding_mask)  # (B, T, V)
