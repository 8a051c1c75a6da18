"""`ElmoEmbedder`: a trained biLM's layers as contextual word representations."""

import keras

from seqkeras.models.elmo import _bilm_graph


@keras.saving.register_keras_serializable(package="seqkeras")
class ElmoEmbedder(keras.Model):
    """The L + 1 layer representations of a biLM, as a model of characters and a padding mask.

    `ElmoEmbedder.from_bilm(bilm)` builds a functional model (its own copy of the biLM's
    weights, so freezing or fine-tuning it leaves `bilm` alone) that runs the biLM's token
    layer and both LSTM stacks, without dropout and without the softmax, and outputs one
    `[B, T, 2 * hidden_dim]` tensor per layer, ELMo's `h_{k,j}`:

    - layer 0: the context-independent token layer, duplicated `[x; x]` to the width of the
      others;
    - layer j (1..L): `[forward_j; backward_j]`, the j-th forward LSTM output (steps `<= t`
      read) beside the j-th backward one (steps `>= t` read), aligned at position t.

    It takes no `token_ids`: the biLM reads words through their characters only, so it works
    for any vocabulary. A downstream model feeds it its own `char_ids`, made with the biLM's
    character vocabulary (see `tagger_preprocessor`), and mixes the layers with `ScalarMix`
    (`build_tagger(..., contextual_layers=embedder)`). Every output carries the padding mask;
    outputs at real steps do not depend on how far a batch is padded.

    A frozen embedder stays frozen through a `.keras` round trip, also when saved inside a
    downstream model (the layers it is made of hand their `trainable` to the sub-layers they
    build, e.g. `LSTM` to its cell).

    Model inputs:
        char_ids: int32 `[B, T, C]`; padding_mask: bool `[B, T]` (right-padded).

    Model outputs:
        A list of `L + 1` tensors `[B, T, 2 * hidden_dim]`.

    Example:
    >>> bilm = build_bidirectional_lm(vocabulary_size=30, char_vocabulary_size=20, hidden_dim=8,
    ...                               char_filters=8, num_layers=2)
    >>> embedder = ElmoEmbedder.from_bilm(bilm)
    >>> layers = embedder({"char_ids": np.array([[[4, 5], [6, 0]]]),
    ...                    "padding_mask": np.array([[True, True]])})
    >>> [tuple(layer.shape) for layer in layers], embedder.trainable
    ([(1, 2, 16), (1, 2, 16), (1, 2, 16)], False)
    """

    @classmethod
    def from_bilm(cls, bilm, trainable=False, name="elmo_embedder"):
        """Builds the embedder of a model from `build_bidirectional_lm`.

        Args:
            bilm: the biLM (trained, or loaded from a `.keras` file).
            trainable: False (default) freezes the copied weights, as ELMo does downstream.
            name: model name.

        Returns:
            An `ElmoEmbedder`.
        """
        if not isinstance(trainable, bool):
            raise ValueError(f"`trainable` must be a bool. Received: trainable={trainable!r}")
        num_layers = _bilm_graph.count_layers(bilm)
        names = list(_bilm_graph.TOKEN_LAYERS)
        for index in range(num_layers):
            names += [_bilm_graph.forward_name(index), _bilm_graph.backward_name(index)]
        # Fresh layers with the biLM's configs: the embedder owns its weights (copied below). Its LSTMs
        # compute in float32 even in a downstream model's training steps (the biLM may have trained
        # with bfloat16 products): the features a tagger trains on are the ones it is served.
        layers = {}
        for layer_name in names:
            config = bilm.get_layer(layer_name).get_config()
            if "train_matmul_dtype" in config:
                config["train_matmul_dtype"] = None
            layers[layer_name] = type(bilm.get_layer(layer_name)).from_config(config)

        char_ids = keras.Input(shape=(None, None), dtype="int32", name="char_ids")
        padding_mask = keras.Input(shape=(None,), dtype="bool", name="padding_mask")
        token, forward, backward = _bilm_graph.run_layers(layers, char_ids, padding_mask, num_layers, dropout=0.0)
        for layer_name, layer in layers.items():
            layer.set_weights(bilm.get_layer(layer_name).get_weights())

        representations = [keras.layers.Concatenate(name="elmo_layer_0")([token, token])]  # (B, T, 2H)
        for index, (forward_states, backward_states) in enumerate(zip(forward, backward)):
            representations.append(
                keras.layers.Concatenate(name=f"elmo_layer_{index + 1}")([forward_states, backward_states])
            )  # (B, T, 2H)
        inputs = {"char_ids": char_ids, "padding_mask": padding_mask}
        embedder = cls(inputs, representations, name=name)
        embedder.trainable = trainable  # set on the built model, so every layer (and sub-layer) takes it
        return embedder
