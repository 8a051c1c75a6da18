"""`SequenceTaskModel`: a functional model that checks its inputs before running."""

import keras
import tensorflow as tf


def _describe(value):
    return f"shape={tuple(value.shape)}, dtype={tf.as_dtype(value.dtype).name}"


@keras.saving.register_keras_serializable(package="seqkeras")
class SequenceTaskModel(keras.Model):
    """A functional `keras.Model` whose dict inputs are validated by name before the graph runs.

    Keras silently casts inputs to each `keras.Input`'s dtype (float token ids would be
    truncated) and reports mismatched batch sizes deep inside an op. This model raises
    first, naming the input and echoing what it received:

    - `*_ids` inputs must be integers, `*_mask` inputs booleans (integer 0/1 is accepted),
      `label` a floating or integer array;
    - every input has the rank of its `keras.Input`;
    - all inputs share the batch size; each `X_padding_mask` has the shape of `X_token_ids`
      (`padding_mask` that of `token_ids`);
    - sequences have at least one step.

    Checks use static shapes, so they run eagerly and at trace time; inside `fit` with
    unknown shapes the batch agreement is also asserted in the graph.

    Build it like any functional model: `SequenceTaskModel(inputs_dict, outputs, name=...)`.
    """

    def call(self, inputs, training=None, mask=None):
        if isinstance(inputs, dict):
            self._check_inputs(inputs)
        return super().call(inputs, training=training, mask=mask)

    def _check_inputs(self, inputs):
        specs = {spec.name: spec for spec in self.inputs}
        missing = sorted(set(specs) - set(inputs))
        if missing:
            raise ValueError(f"Missing model inputs {missing}. Received keys: {sorted(inputs)}")
        tensors = {}
        for key, spec in specs.items():
            value = inputs[key]
            if not hasattr(value, "dtype") or not hasattr(value, "shape"):
                value = tf.convert_to_tensor(value)
            dtype = tf.as_dtype(value.dtype)
            if key.endswith("_ids") and not dtype.is_integer:
                raise TypeError(f"`{key}` must hold integer ids. Received: {key} with {_describe(value)}")
            if key.endswith("_mask") and not (dtype == tf.bool or dtype.is_integer):
                raise TypeError(f"`{key}` must be a boolean mask. Received: {key} with {_describe(value)}")
            if key == "label" and not (dtype.is_floating or dtype.is_integer):
                raise TypeError(f"`label` must be numeric. Received: label with {_describe(value)}")
            if len(value.shape) != len(spec.shape):
                raise ValueError(
                    f"`{key}` must have rank {len(spec.shape)} (shape {tuple(spec.shape)}). "
                    f"Received: {key} with {_describe(value)}"
                )
            if len(spec.shape) >= 2 and key.endswith(("_ids", "_mask")) and value.shape[1] == 0:
                raise ValueError(f"`{key}` has zero time steps. Received: {key} with {_describe(value)}")
            tensors[key] = value
        batch_sizes = {key: value.shape[0] for key, value in tensors.items()}
        known = {key: size for key, size in batch_sizes.items() if size is not None}
        if len(set(known.values())) > 1:
            raise ValueError(f"All inputs must share the batch size. Received batch sizes: {known}")
        for key, value in tensors.items():
            if not key.endswith("token_ids"):
                continue
            mask_key = key[: -len("token_ids")] + "padding_mask"
            if mask_key in tensors:
                ids_shape, mask_shape = tuple(value.shape), tuple(tensors[mask_key].shape)
                if None not in ids_shape + mask_shape and ids_shape != mask_shape:
                    raise ValueError(
                        f"`{mask_key}` must have the shape of `{key}` {ids_shape}. "
                        f"Received: {mask_key} with shape={mask_shape}"
                    )
        if len(tensors) > 1 and len(known) < len(tensors) and not tf.executing_eagerly():
            keys = sorted(tensors)
            first = tf.shape(tensors[keys[0]])[0]
            for key in keys[1:]:
                tf.debugging.assert_equal(
                    first, tf.shape(tensors[key])[0],
                    message=f"All inputs must share the batch size: `{keys[0]}` and `{key}` differ",
                )
