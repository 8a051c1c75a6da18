"""A transformer encoder block: self-attention and feed-forward, each residual + layer norm."""

import keras
from keras import ops

from seqkeras.layers import _masks
from seqkeras.layers._validation import (
    check_bool,
    check_positive_int,
    check_rate,
    get_activation,
)


@keras.saving.register_keras_serializable(package="seqkeras")
class SelfAttentionBlock(keras.layers.Layer):
    """Multi-head self-attention block with a padding mask and an optional causal mask.

    Post-norm transformer block on `x` of shape `[batch, time, model_dim]`:

        x = layer_norm(x + dropout(MultiHeadAttention(x, x)))
        x = layer_norm(x + dropout(Dense(model_dim)(Dense(intermediate_dim, activation)(x))))

    Masks: a query attends only to valid (non-pad) keys, so pads at any position never
    influence valid steps; padded steps of the output are set to zero and the mask is
    passed on. With `causal=True` step `t` also attends only to steps `<= t`, so its
    output never depends on later inputs. The output feature size equals the input's.

    Args:
        num_heads: positive int, number of attention heads.
        key_dim: positive int, size of each head's queries and keys.
        causal: bool, restrict attention to earlier and current steps. Defaults to False.
        intermediate_dim: positive int, hidden size of the feed-forward network.
            Defaults to None, meaning 4 * model_dim.
        dropout: float in [0, 1), applied to attention weights and both residual
            branches (training only).
        activation: activation of the feed-forward hidden layer. Defaults to "relu".
        layer_norm_epsilon: positive float, epsilon of both layer norms.
        kernel_initializer: initializer of the attention and feed-forward kernels.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `[batch, time, model_dim]` float tensor.
        mask: optional `[batch, time]` boolean padding mask (True = valid step).
        training: bool, enables dropout.

    Example:

    >>> block = SelfAttentionBlock(num_heads=2, key_dim=4, causal=True)
    >>> block(np.zeros((2, 5, 8), "float32")).shape
    TensorShape([2, 5, 8])
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        causal=False,
        intermediate_dim=None,
        dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("num_heads", num_heads)
        check_positive_int("key_dim", key_dim)
        check_positive_int("intermediate_dim", intermediate_dim, allow_none=True)
        check_bool("causal", causal)
        if not isinstance(layer_norm_epsilon, (int, float)) or not layer_norm_epsilon > 0:
            raise ValueError(
                "`layer_norm_epsilon` must be a positive float. "
                f"Received: layer_norm_epsilon={layer_norm_epsilon!r}"
            )
        self._activation_fn = get_activation(type(self).__name__, "activation", activation)
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.causal = causal
        self.intermediate_dim = intermediate_dim
        self.dropout = check_rate("dropout", dropout)
        self.activation = activation
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        name = type(self).__name__
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"{name} expects inputs [batch, time, model_dim] with a known model_dim. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        model_dim = input_shape[-1]
        hidden_dim = self.intermediate_dim or 4 * model_dim
        self.attention = keras.layers.MultiHeadAttention(
            self.num_heads,
            self.key_dim,
            dropout=self.dropout,
            kernel_initializer=self._new_initializer(),
            name="attention",
            dtype=self.dtype_policy,
        )
        self.attention.build(input_shape, input_shape)
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="attention_norm"
        )
        self.attention_norm.build(input_shape)
        self.hidden = keras.layers.Dense(
            hidden_dim,
            activation=self._activation_fn,
            kernel_initializer=self._new_initializer(),
            name="feed_forward_hidden",
            dtype=self.dtype_policy,
        )
        self.hidden.build(input_shape)
        self.projection = keras.layers.Dense(
            model_dim,
            kernel_initializer=self._new_initializer(),
            dtype=self.dtype_policy,
            name="feed_forward_output",
        )
        self.projection.build(tuple(input_shape[:-1]) + (hidden_dim,))
        self.feed_forward_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="feed_forward_norm"
        )
        self.feed_forward_norm.build(input_shape)
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="dropout"
        )

    def _new_initializer(self):
        """A fresh copy of `kernel_initializer` for each sub-layer."""
        return keras.initializers.get(keras.initializers.serialize(self.kernel_initializer))

    def _attention_mask(self, inputs, mask):
        """Boolean `[B, T_query, T_key]` mask, or None when every pair may attend."""
        attention_mask = None
        if mask is not None:
            attention_mask = ops.expand_dims(mask, 1)  # (B, 1, T): valid keys
        if self.causal:
            steps = ops.arange(ops.shape(inputs)[1])  # (T,)
            earlier = ops.expand_dims(steps, 0) <= ops.expand_dims(steps, 1)  # (T, T)
            earlier = ops.expand_dims(earlier, 0)  # (1, T, T)
            attention_mask = earlier if attention_mask is None else attention_mask & earlier
        if attention_mask is not None:
            batch, steps = ops.shape(inputs)[0], ops.shape(inputs)[1]
            attention_mask = ops.broadcast_to(attention_mask, (batch, steps, steps))
        return attention_mask

    def call(self, inputs, mask=None, training=None):
        name = type(self).__name__
        _masks.check_sequence_inputs(name, inputs)
        mask = _masks.check_mask(name, mask, inputs)
        x = _masks.zero_padded_steps(inputs, mask)  # (B, T, D)
        attended = self.attention(
            x,
            x,
            attention_mask=self._attention_mask(x, mask),
            training=training,
        )  # (B, T, D)
        x = self.attention_norm(x + self.dropout_layer(attended, training=training))
        hidden = self.hidden(x)  # (B, T, intermediate_dim)
        update = self.projection(hidden)  # (B, T, D)
        x = self.feed_forward_norm(x + self.dropout_layer(update, training=training))
        return _masks.zero_padded_steps(x, mask)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "causal": self.causal,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self._activation_fn),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
