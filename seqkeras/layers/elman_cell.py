"""The Elman recurrent cell: one weight matrix over the input and the copied-back state."""

import keras
from keras import ops

from seqkeras.layers._validation import check_positive_int, get_activation


@keras.saving.register_keras_serializable(package="seqkeras")
class ElmanCell(keras.layers.Layer):
    """Elman cell: `h_t = activation([x_t; h_{t-1}] @ kernel + bias)`.

    The hidden state of the previous step is copied back and concatenated with the
    current input; a single weight matrix `kernel` of shape
    `(input_dim + hidden_dim, hidden_dim)` maps the concatenation to the new state. With
    `output_dim`, a linear projection `y_t = h_t @ output_kernel + output_bias` gives the
    step output; otherwise the output is `h_t`.

    The cell computes one step; run it over time with `keras.layers.RNN`, which owns the
    time loop, masking (a masked step keeps the previous state) and `go_backwards`.

    Args:
        hidden_dim: positive int, size of the hidden state.
        activation: activation of the state update (name or callable), default "tanh".
        output_dim: optional positive int; size of the linear output projection.
            None (default) outputs the hidden state itself.
        kernel_initializer: initializer of `kernel` (and `output_kernel`).
        bias_initializer: initializer of `bias` (and `output_bias`).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `[batch, input_dim]` float tensor, the input of one step.
        states: list holding the previous hidden state `[batch, hidden_dim]`.
        training: unused (no dropout); accepted for the cell protocol.

    Returns:
        `(output, [new_state])` with output `[batch, output_dim or hidden_dim]`.

    Example:

    >>> rnn = keras.layers.RNN(ElmanCell(8, output_dim=3), return_sequences=True)
    >>> rnn(np.zeros((2, 5, 4), "float32")).shape
    TensorShape([2, 5, 3])
    """

    def __init__(
        self,
        hidden_dim,
        activation="tanh",
        output_dim=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("output_dim", output_dim, allow_none=True)
        self._activation_fn = get_activation("ElmanCell", "activation", activation)
        self.hidden_dim = hidden_dim
        self.activation = activation
        self.output_dim = output_dim
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.state_size = hidden_dim
        self.output_size = output_dim if output_dim is not None else hidden_dim

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                "ElmanCell expects step inputs [batch, features], i.e. sequences "
                "[batch, time, features] under keras.layers.RNN. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "ElmanCell needs a known feature size (last axis). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        # One matrix over the concatenation [x_t; h_{t-1}].
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_dim + self.hidden_dim, self.hidden_dim),
            initializer=self.kernel_initializer,
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.hidden_dim,), initializer=self.bias_initializer
        )
        if self.output_dim is not None:
            self.output_kernel = self.add_weight(
                name="output_kernel",
                shape=(self.hidden_dim, self.output_dim),
                initializer=self.kernel_initializer,
            )
            self.output_bias = self.add_weight(
                name="output_bias",
                shape=(self.output_dim,),
                initializer=self.bias_initializer,
            )

    def call(self, inputs, states, training=None):
        previous = states[0] if isinstance(states, (list, tuple)) else states  # (B, H)
        joined = ops.concatenate([inputs, previous], axis=-1)  # (B, D + H)
        state = self._activation_fn(ops.matmul(joined, self.kernel) + self.bias)  # (B, H)
        output = state
        if self.output_dim is not None:
            output = ops.matmul(state, self.output_kernel) + self.output_bias  # (B, O)
        return output, [state]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "activation": keras.activations.serialize(self._activation_fn),
                "output_dim": self.output_dim,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
