"""A learned embedding per time step, added to the features (order information for attention)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqkeras")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned vector per position to `[batch, time, features]` inputs.

    Self-attention is blind to order; this layer gives every step of a fixed-length window its
    own trainable offset. Step `t`'s output depends on step `t`'s input only, so it keeps any
    later causal layer causal.

    Args:
        sequence_length: positive int, the number of positions (the window length).
        initializer: initializer of the `[sequence_length, features]` table.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `[batch, time, features]` float tensor with `time <= sequence_length`.

    Example:

    >>> layer = PositionEmbedding(sequence_length=6)
    >>> layer(np.zeros((2, 6, 4), "float32")).shape
    TensorShape([2, 6, 4])
    """

    def __init__(self, sequence_length, initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if isinstance(sequence_length, bool) or int(sequence_length) != sequence_length or sequence_length < 1:
            raise ValueError(f"`sequence_length` must be a positive integer. Received: sequence_length={sequence_length!r}")
        self.sequence_length = int(sequence_length)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.table = self.add_weight(
            name="table", shape=(self.sequence_length, input_shape[-1]), initializer=self.initializer
        )

    def call(self, inputs):
        steps = ops.shape(inputs)[1]
        return inputs + ops.cast(self.table[:steps], inputs.dtype)[None]  # (B, T, F)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "sequence_length": self.sequence_length,
            "initializer": keras.initializers.serialize(self.initializer),
        })
        return config
