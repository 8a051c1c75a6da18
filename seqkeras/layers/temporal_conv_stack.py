"""A residual stack of dilated 1-D convolutions over time (a temporal convolutional network)."""

import keras

from seqkeras.layers import _masks
from seqkeras.layers._validation import (
    check_bool,
    check_positive_int,
    check_rate,
    get_activation,
)


@keras.saving.register_keras_serializable(package="seqkeras")
class TemporalConvStack(keras.layers.Layer):
    """Residual blocks of dilated `Conv1D`, causal or centred, that respect padding masks.

    Block `i` computes `x + dropout(activation(conv_i(x)))` where `conv_i` is a
    `keras.layers.Conv1D(filters, kernel_size, dilation_rate=dilation_rates[i])` with
    `padding="causal"` (`causal=True`) or `padding="same"`. When the input feature size
    differs from `filters`, a bias-free `Dense` projects the input before the first
    residual sum. One set of weights serves any sequence length.

    Masks: `Conv1D` ignores masks, so padded steps are set to zero before every
    convolution and in the output. Zeros are exactly what the convolution's own padding
    inserts beyond the sequence ends, so a padded + masked batch gives, at its valid
    steps, the same outputs as each sequence run alone (for padding at either end). The
    mask is passed on unchanged.

    Causality: with `causal=True` the output at step `t` depends on inputs at steps
    `t - receptive_field + 1 ... t` only.

    Args:
        filters: positive int, channels of every block (the output feature size).
        kernel_size: positive int, taps per convolution. Defaults to 2.
        dilation_rates: non-empty sequence of positive ints, one block per rate.
            Defaults to `(1, 2, 4)`.
        causal: bool, causal (left) padding when True (default), centred otherwise.
        activation: activation after each convolution. Defaults to "relu".
        dropout: float in [0, 1), dropout after each activation (training only).
        kernel_initializer: initializer of the convolution and projection kernels.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `[batch, time, features]` float tensor.
        mask: optional `[batch, time]` boolean padding mask (True = valid step).
        training: bool, enables dropout.

    Example:

    >>> stack = TemporalConvStack(filters=8, kernel_size=3, dilation_rates=(1, 2))
    >>> stack.receptive_field
    7
    >>> stack(np.zeros((2, 10, 4), "float32")).shape
    TensorShape([2, 10, 8])
    """

    def __init__(
        self,
        filters,
        kernel_size=2,
        dilation_rates=(1, 2, 4),
        causal=True,
        activation="relu",
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("filters", filters)
        check_positive_int("kernel_size", kernel_size)
        if isinstance(dilation_rates, (str, bytes)) or not hasattr(dilation_rates, "__len__"):
            raise ValueError(
                "`dilation_rates` must be a non-empty sequence of positive integers. "
                f"Received: dilation_rates={dilation_rates!r}"
            )
        if len(dilation_rates) == 0 or any(
            isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in dilation_rates
        ):
            raise ValueError(
                "`dilation_rates` must be a non-empty sequence of positive integers. "
                f"Received: dilation_rates={dilation_rates!r}"
            )
        check_bool("causal", causal)
        self._activation_fn = get_activation(type(self).__name__, "activation", activation)
        self.filters = filters
        self.kernel_size = kernel_size
        self.dilation_rates = tuple(dilation_rates)
        self.causal = causal
        self.activation = activation
        self.dropout = check_rate("dropout", dropout)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    @property
    def receptive_field(self):
        """Number of input steps that can influence one output step."""
        return 1 + (self.kernel_size - 1) * sum(self.dilation_rates)

    def _new_initializer(self):
        """A fresh copy of `kernel_initializer` for each sub-layer."""
        return keras.initializers.get(keras.initializers.serialize(self.kernel_initializer))

    def build(self, input_shape):
        name = type(self).__name__
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"{name} expects inputs [batch, time, features] with a known feature size. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.input_projection = None
        if input_shape[-1] != self.filters:
            self.input_projection = keras.layers.Dense(
                self.filters,
                use_bias=False,
                kernel_initializer=self._new_initializer(),
                name="input_projection",
                dtype=self.dtype_policy,
            )
            self.input_projection.build(input_shape)
        block_shape = tuple(input_shape[:-1]) + (self.filters,)
        self.convolutions = []
        for index, rate in enumerate(self.dilation_rates):
            conv = keras.layers.Conv1D(
                self.filters,
                self.kernel_size,
                dilation_rate=rate,
                padding="causal" if self.causal else "same",
                activation=self._activation_fn,
                kernel_initializer=self._new_initializer(),
                name=f"conv_{index}",
                dtype=self.dtype_policy,
            )
            # The first block sees the raw input; later blocks see `filters` channels.
            conv.build(input_shape if index == 0 else block_shape)
            self.convolutions.append(conv)
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="dropout"
        )

    def call(self, inputs, mask=None, training=None):
        name = type(self).__name__
        _masks.check_sequence_inputs(name, inputs)
        mask = _masks.check_mask(name, mask, inputs)
        x = _masks.zero_padded_steps(inputs, mask)  # (B, T, D)
        for index, conv in enumerate(self.convolutions):
            update = self.dropout_layer(conv(x), training=training)  # (B, T, F)
            if index == 0 and self.input_projection is not None:
                x = self.input_projection(x)  # (B, T, F)
            x = _masks.zero_padded_steps(x + update, mask)  # (B, T, F)
        return x

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "dilation_rates": list(self.dilation_rates),
                "causal": self.causal,
                "activation": keras.activations.serialize(self._activation_fn),
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
