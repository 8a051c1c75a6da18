"""`mix_contextual_layers`: a pretrained biLM's layers, mixed, as extra word features of a task model."""

import keras

from seqkeras.models.common.character_word_encoder import CharacterWordEncoder
from seqkeras.models.elmo.scalar_mix import ScalarMix


def _char_vocabulary_size(model):
    """The `char_vocabulary_size` of the `CharacterWordEncoder` a contextual model reads words with."""
    pending, sizes = list(model.layers), set()
    while pending:
        layer = pending.pop()
        if isinstance(layer, CharacterWordEncoder):
            sizes.add(layer.char_vocabulary_size)
        pending.extend(getattr(layer, "layers", []))
    if len(sizes) != 1:
        raise ValueError(
            "`contextual_layers` must read words through one character vocabulary (a "
            "`CharacterWordEncoder`), like `ElmoEmbedder`. Received: model "
            f"{model.name!r} with character vocabulary sizes {sorted(sizes)}"
        )
    return sizes.pop()


def check_contextual_layers(contextual_layers, char_vocabulary_size, causal):
    """Validates a task builder's `contextual_layers` argument against its other arguments."""
    if not isinstance(contextual_layers, keras.Model):
        raise ValueError(
            "`contextual_layers` must be a Keras model of `char_ids` and `padding_mask` (e.g. "
            f"`ElmoEmbedder.from_bilm(bilm)`). Received: contextual_layers={contextual_layers!r}"
        )
    names = sorted(getattr(tensor, "name", None) for tensor in keras.tree.flatten(contextual_layers.inputs))
    if names != ["char_ids", "padding_mask"]:
        raise ValueError(
            "`contextual_layers` must take exactly the inputs `char_ids` and `padding_mask`. "
            f"Received: a model with inputs {names}"
        )
    expected = _char_vocabulary_size(contextual_layers)
    if char_vocabulary_size != expected:
        raise ValueError(
            "With `contextual_layers`, the model's `char_ids` feed the contextual model too, so "
            f"`char_vocabulary_size` must be its character vocabulary size, {expected} (build the "
            "model's TokenLookup with `seqkeras.models.elmo.tagger_preprocessor`). "
            f"Received: char_vocabulary_size={char_vocabulary_size!r}"
        )
    if causal:
        raise ValueError(
            "`contextual_layers` (e.g. a biLM's layers) read the whole sentence, so a causal model "
            f"cannot use them. Received: causal={causal!r} with contextual_layers={contextual_layers.name!r}"
        )


def mix_contextual_layers(features, contextual_layers, char_ids, padding_mask, dropout=0.0, layer_norm=False):
    """Concatenates a trainable `ScalarMix` of `contextual_layers`' outputs to `features`.

    Args:
        features: symbolic word features `[B, T, E]`.
        contextual_layers: a model of `{"char_ids", "padding_mask"}` giving same-shaped layers
            `[B, T, D]` (checked with `check_contextual_layers`).
        char_ids, padding_mask: the task model's symbolic inputs.
        dropout: rate applied to the mix.
        layer_norm: `ScalarMix(layer_norm=...)`: each layer normalised per token before mixing.

    Returns:
        Symbolic `[B, T, E + D]`.
    """
    representations = contextual_layers({"char_ids": char_ids, "padding_mask": padding_mask})  # L x (B, T, D)
    mixed = ScalarMix(layer_norm=layer_norm, name="contextual_mix")(keras.tree.flatten(representations))  # (B, T, D)
    if dropout:
        mixed = keras.layers.Dropout(dropout, name="contextual_dropout")(mixed)
    return keras.layers.Concatenate(name="word_and_contextual_features")([features, mixed])  # (B, T, E + D)
