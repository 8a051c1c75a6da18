"""`SequenceTaskModel`: a functional model that checks its inputs (and its loss) before running."""

import inspect

import keras
import tensorflow as tf

import seqkeras.losses  # noqa: F401 (registers the losses a compiled task model is saved with)


def _describe(value):
    return f"shape={tuple(value.shape)}, dtype={tf.as_dtype(value.dtype).name}"


def _expects_probabilities(loss):
    """True for a loss that would read the model's logits as probabilities (`from_logits=False`).

    Covers `Loss` objects with a `from_logits` attribute (Keras' cross-entropies,
    `seqkeras.losses.MaskedSparseCategoricalCrossentropy`) and loss functions or names whose
    `from_logits` argument defaults to False (`"sparse_categorical_crossentropy"`).
    """
    if isinstance(loss, keras.losses.Loss):
        return getattr(loss, "from_logits", None) is False
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError:
            return False  # unknown names are Keras' to reject
    if not callable(loss):
        return False
    try:
        parameter = inspect.signature(loss).parameters.get("from_logits")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.default is False


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

    Its outputs are logits (every builder in `seqkeras.models` ends in a linear layer), so
    `compile` rejects a loss that expects probabilities: Keras' cross-entropies with
    `from_logits=False` clip their input to `[epsilon, 1 - epsilon]` before the log, which
    silently gives every negative logit, and every logit above 1, a zero gradient. Training
    then stalls or drifts to a dead state (all logits >= 1: uniform predictions, loss
    `log(num_classes)`), worst when large input features (e.g. frozen pretrained embeddings)
    push logits out of `(0, 1)`. Pass `from_logits=True`.

    Build it like any functional model: `SequenceTaskModel(inputs_dict, outputs, name=...)`.
    """

    def compile(self, optimizer="rmsprop", loss=None, *args, **kwargs):
        losses = [] if loss is None else keras.tree.flatten(loss)
        for item in losses:
            if _expects_probabilities(item):
                name = getattr(item, "name", None) or getattr(item, "__name__", None) or type(item).__name__
                raise ValueError(
                    f"`{self.name}` outputs logits, but the loss `{name}` expects probabilities "
                    "(from_logits=False): Keras would clip the logits to [epsilon, 1 - epsilon], so "
                    "negative logits and logits above 1 get no gradient and training stalls. "
                    f"Construct the loss with from_logits=True. Received: loss={item!r}"
                )
        super().compile(optimizer, loss, *args, **kwargs)

    def compile_from_config(self, config):
        # Keras skips recompiling a loaded model whose class overrides `compile`; do it here,
        # through the check above (a file saved with a probability loss needs compile=False).
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if hasattr(self, "optimizer") and self.built:
            self.optimizer.build(self.trainable_variables)  # the optimizer's slots, for load_weights

    def get_layer(self, name=None, index=None):
        """`keras.Model.get_layer`, also finding a layer by name inside nested models (the backbone)."""
        if name is None or any(layer.name == name for layer in self.layers):
            return super().get_layer(name, index)
        pending = [layer for layer in self.layers if isinstance(layer, keras.Model)]
        while pending:
            model = pending.pop(0)
            for layer in model.layers:
                if layer.name == name:
                    return layer
                if isinstance(layer, keras.Model):
                    pending.append(layer)
        return super().get_layer(name, index)  # raises Keras' own error

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
