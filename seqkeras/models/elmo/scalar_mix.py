"""`ScalarMix`: a learned, softmax-normalised weighted sum of L same-shaped layers (ELMo's mix)."""

import keras
from keras import ops

from seqkeras.layers._validation import check_bool, check_positive_float


def _describe_shapes(shapes):
    return [tuple(shape) for shape in shapes]


def _same_shape(first, second):
    """Static shapes agree where both are known (None matches anything)."""
    if len(first) != len(second):
        return False
    return all(a is None or b is None or a == b for a, b in zip(first, second))


@keras.saving.register_keras_serializable(package="seqkeras")
class ScalarMix(keras.layers.Layer):
    """Mixes L representations of the same tokens: `gamma * sum_j softmax(s)_j * h_j`.

    This is the task-specific combination of a biLM's layers from Peters et al. (2018), "Deep
    contextualized word representations": `s` (one scalar per layer, initialised to zeros, so
    the mix starts as the plain average) and `gamma` (a global scale, initialised to 1) are the
    layer's only weights and train with the downstream model. The weights are created in
    `build`, once the number of layers is known.

    The layer works per position, so it keeps the time axis and its mask: the output carries
    the first input's mask (all inputs describe the same tokens).

    Args:
        layer_norm: normalise each layer per token (zero mean and unit variance over its
            features, no learned scale or offset) before mixing, so layers of different
            scales (a character encoder's output beside LSTM states) weigh in on one footing.
        epsilon: added to the variance when `layer_norm` is on.

    Call arguments:
        inputs: a list of L >= 1 float tensors of one shape, e.g. `[B, T, D]`; or one tensor
            `[..., L, D]` with the layers stacked on the second-to-last axis (the same mix).
        mask: optional; for a list, one mask per input (the first is passed on); for a stacked
            tensor, its `[B, T]` mask.

    Returns:
        `[B, T, D]` (the shape of one layer).

    Example:
    >>> mix = ScalarMix()
    >>> layers = [np.ones((1, 2, 3), "float32"), 3 * np.ones((1, 2, 3), "float32")]
    >>> mix(layers).numpy()[0, 0].tolist()  # softmax(0, 0) = (0.5, 0.5), gamma = 1
    [2.0, 2.0, 2.0]
    """

    def __init__(self, layer_norm=False, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.layer_norm = check_bool("layer_norm", layer_norm)
        self.epsilon = check_positive_float("epsilon", epsilon)
        self.supports_masking = True

    def build(self, input_shape):
        if not input_shape:  # Keras builds with `input_shape=None` for an empty list of inputs
            raise ValueError(
                f"`ScalarMix` needs at least one layer to mix. Received: input_shape={input_shape!r} "
                "(an empty list of layers)"
            )
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            shapes = [tuple(shape) for shape in input_shape]
            if not all(_same_shape(shapes[0], shape) for shape in shapes[1:]):
                raise ValueError(
                    f"`ScalarMix` mixes layers of one shape. Received: shapes={_describe_shapes(shapes)}"
                )
            num_layers = len(shapes)
        else:
            shape = tuple(input_shape)
            if len(shape) < 3 or shape[-2] is None:
                raise ValueError(
                    "`ScalarMix` takes a list of same-shaped tensors or one tensor [..., L, D] with a "
                    f"known number of layers L. Received: shape={shape}"
                )
            num_layers = shape[-2]
        self.num_mixed = num_layers
        self.scalar_weights = self.add_weight(
            shape=(num_layers,), initializer="zeros", name="scalar_weights"
        )  # s, (L,)
        self.gamma = self.add_weight(shape=(), initializer="ones", name="gamma")

    def call(self, inputs, mask=None):
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                raise ValueError("`ScalarMix` needs at least one layer to mix. Received: inputs=[] (an empty list)")
            shapes = [tuple(x.shape) for x in inputs]
            if not all(_same_shape(shapes[0], shape) for shape in shapes[1:]):
                raise ValueError(f"`ScalarMix` mixes layers of one shape. Received: shapes={shapes}")
            stacked = ops.stack(inputs, axis=-2)  # (B, T, L, D)
        else:
            stacked = ops.convert_to_tensor(inputs)  # (B, T, L, D)
        if stacked.shape[-2] != self.num_mixed:
            raise ValueError(
                f"`ScalarMix` was built for {self.num_mixed} layers. Received: {stacked.shape[-2]} layers"
            )
        if self.layer_norm:
            mean, variance = ops.moments(stacked, axes=[-1], keepdims=True)  # (B, T, L, 1) each
            stacked = (stacked - mean) * ops.rsqrt(variance + self.epsilon)
        weights = ops.softmax(ops.cast(self.scalar_weights, stacked.dtype))  # (L,)
        mixed = ops.einsum("...ld,l->...d", stacked, weights)  # (B, T, D)
        return ops.cast(self.gamma, stacked.dtype) * mixed

    def mix_weights(self):
        """The normalised layer weights `softmax(s)` as a NumPy array `(L,)`."""
        return ops.convert_to_numpy(ops.softmax(self.scalar_weights))

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            return mask[0] if mask else None
        return mask

    def get_config(self):
        return {**super().get_config(), "layer_norm": self.layer_norm, "epsilon": self.epsilon}

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
            return tuple(input_shape[0])
        return tuple(input_shape[:-2]) + (input_shape[-1],)
