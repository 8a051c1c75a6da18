"""The LSTM cell: forget, input and output gates around the cell-state "conveyor belt"."""

import keras
import numpy as np
from keras import ops

from seqkeras.layers._validation import check_positive_float, check_positive_int, get_activation


def check_cell_clip(value):
    """`None`, or a positive finite float bounding the cell state; else a one-line `ValueError`."""
    if value is None:
        return None
    if isinstance(value, np.floating):  # NumPy scalars (np.float32 is not a Python float)
        value = float(value)
    return check_positive_float("cell_clip", value)


@keras.saving.register_keras_serializable(package="seqkeras")
class LSTMCell(keras.layers.Layer):
    """One step of a long short-term memory network, with the gates written out.

    With `z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias` split into four
    blocks `[z_i, z_f, z_g, z_o]` (the Keras / cuDNN / TFLite gate order):

    - forget gate `f = sigmoid(z_f)` decides how much of the old cell state stays
      on the conveyor belt;
    - input gate `i = sigmoid(z_i)` times the candidate `g = tanh(z_g)` is what
      gets added to it: `c_t = f * c_{t-1} + i * g`;
    - output gate `o = sigmoid(z_o)` reads the belt out: `h_t = o * tanh(c_t)`.

    With `cell_clip`, the belt is bounded: `c_t = clip(f * c_{t-1} + i * g, -cell_clip,
    cell_clip)` before the read-out (ELMo's and TF1 `LSTMCell`'s `cell_clip`). Without it a
    forget gate near 1 lets `|c|` grow without bound over a long carried state, and `tanh(c)`
    saturates; the gradient through the clip is 1 inside the bound and 0 outside.

    The weights have the same shapes and layout as `keras.layers.LSTMCell`, so they
    can be copied between the two. The cell computes one step; run it with
    `keras.layers.RNN` (which owns time, masks and `go_backwards`), with
    `seqkeras.layers.PackedRNN` over packed sequences, or use `seqkeras.layers.LSTM`,
    which holds this cell and runs a faster fused loop over the same weights.

    Args:
        hidden_dim: positive int, size of `h` and `c`.
        activation: activation of the candidate and of the cell read-out
            (default "tanh").
        recurrent_activation: activation of the three gates (default "sigmoid").
        use_bias: whether the gates have a bias.
        unit_forget_bias: initialise the forget-gate bias to 1 (Jozefowicz et al.,
            2015) so the belt keeps its contents early in training.
        kernel_initializer: initializer of `kernel` `(input_dim, 4 * hidden_dim)`.
        recurrent_initializer: initializer of `recurrent_kernel`
            `(hidden_dim, 4 * hidden_dim)`.
        bias_initializer: initializer of `bias` `(4 * hidden_dim,)`.
        cell_clip: None (default, unbounded) or a positive float: every cell state is
            clipped to `[-cell_clip, cell_clip]` after its update.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `[batch, input_dim]` float tensor, the input of one step.
        states: list `[h, c]`, each `[batch, hidden_dim]`.
        training: unused (the cell has no dropout); accepted for the cell protocol.

    Returns:
        `(h_t, [h_t, c_t])`.

    Example:

    >>> rnn = keras.layers.RNN(LSTMCell(8), return_sequences=True)
    >>> rnn(np.zeros((2, 5, 4), "float32")).shape
    TensorShape([2, 5, 8])
    """

    def __init__(
        self,
        hidden_dim,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        unit_forget_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        cell_clip=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.cell_clip = check_cell_clip(cell_clip)
        self._activation_fn = get_activation("LSTMCell", "activation", activation)
        self._recurrent_activation_fn = get_activation(
            "LSTMCell", "recurrent_activation", recurrent_activation
        )
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.use_bias = bool(use_bias)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.state_size = [hidden_dim, hidden_dim]
        self.output_size = hidden_dim

    @property
    def uses_default_activations(self):
        """True for tanh / sigmoid, the only pair the fused kernels implement."""
        return (
            self._activation_fn is keras.activations.tanh
            and self._recurrent_activation_fn is keras.activations.sigmoid
        )

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "LSTMCell needs a known feature size (last axis). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        units = self.hidden_dim
        # Gate blocks along the last axis: [input | forget | candidate | output].
        self.kernel = self.add_weight(
            name="kernel", shape=(input_dim, 4 * units), initializer=self.kernel_initializer
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel",
            shape=(units, 4 * units),
            initializer=self.recurrent_initializer,
        )
        if self.use_bias:
            if self.unit_forget_bias:
                base = self.bias_initializer

                def bias_initializer(shape, dtype=None):
                    return ops.concatenate(
                        [
                            base((units,), dtype=dtype),
                            ops.ones((units,), dtype=dtype),
                            base((2 * units,), dtype=dtype),
                        ]
                    )

            else:
                bias_initializer = self.bias_initializer
            self.bias = self.add_weight(
                name="bias", shape=(4 * units,), initializer=bias_initializer
            )
        else:
            self.bias = None

    def gates(self, projected, c_prev):
        """Apply the gate nonlinearities to `projected = x W + h U + b`; returns (h, c)."""
        units = self.hidden_dim
        z_i = projected[:, :units]  # (B, H)
        z_f = projected[:, units : 2 * units]
        z_g = projected[:, 2 * units : 3 * units]
        z_o = projected[:, 3 * units :]
        forget = self._recurrent_activation_fn(z_f)  # how much of the belt to keep
        write = self._recurrent_activation_fn(z_i)  # how much of the candidate to add
        candidate = self._activation_fn(z_g)
        c = forget * c_prev + write * candidate  # the conveyor belt
        if self.cell_clip is not None:
            c = ops.clip(c, -self.cell_clip, self.cell_clip)  # a bounded belt
        read = self._recurrent_activation_fn(z_o)
        h = read * self._activation_fn(c)
        return h, c

    def call(self, inputs, states, training=None):
        h_prev, c_prev = states[0], states[1]  # (B, H) each
        projected = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
        if self.use_bias:
            projected = projected + self.bias  # (B, 4H)
        h, c = self.gates(projected, c_prev)
        return h, [h, c]

    def get_initial_state(self, batch_size=None):
        return [
            ops.zeros((batch_size, self.hidden_dim), dtype=self.compute_dtype),
            ops.zeros((batch_size, self.hidden_dim), dtype=self.compute_dtype),
        ]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "activation": keras.activations.serialize(self._activation_fn),
                "recurrent_activation": keras.activations.serialize(
                    self._recurrent_activation_fn
                ),
                "use_bias": self.use_bias,
                "unit_forget_bias": self.unit_forget_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": keras.initializers.serialize(
                    self.recurrent_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "cell_clip": self.cell_clip,
            }
        )
        return config
