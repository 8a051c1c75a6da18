"""Sequence -> sequence: `build_tagger`, one label per token on top of a `TextBackbone`."""

import keras

from seqkeras.models.common._validation import check_positive_int
from seqkeras.models.common.sequence_task_model import SequenceTaskModel
from seqkeras.models.common.text_backbone import TextBackbone


def build_tagger(vocabulary_size=None, num_tags=None, *, backbone=None, name="tagger", **backbone_options):
    """Builds a token tagger: a `TextBackbone` and a per-token linear head.

    The head is one `Dense(num_tags)` over the backbone's `sequence_output`; the logits keep
    the padding mask, so `seqkeras.losses.MaskedSparseCategoricalCrossentropy` averages over
    real tokens only. Compile with `from_logits=True` (the model's `compile` rejects a
    cross-entropy expecting probabilities). By default the encoder is bidirectional (each tag
    sees the whole sentence); `causal=True` makes the tag at step `t` depend on tokens `<= t`.

    Args:
        vocabulary_size: number of token ids; builds `TextBackbone(vocabulary_size,
            **backbone_options)` (give either this or `backbone`).
        num_tags: number of tags; the logits have this width.
        backbone: a `TextBackbone` to put the head on (its weights are shared, not copied).
        name: model name.
        **backbone_options: `TextBackbone` arguments (`hidden_dim`, `num_layers`,
            `embedding_dim`, `causal`, `cell`, `dropout`, `embedding_weights`,
            `embedding_trainable`, `char_vocabulary_size`, `char_embedding_dim`, `char_filters`,
            `contextual_layers`).

    Model inputs:
        the backbone's: token_ids int32 `[B, T]`, padding_mask bool `[B, T]` (right-padded),
        char_ids int32 `[B, T, C]` with characters.

    Returns:
        A functional `SequenceTaskModel` giving logits `[B, T, num_tags]`.

    Example:
    >>> model = build_tagger(vocabulary_size=20, num_tags=5, hidden_dim=8)
    >>> logits = model({"token_ids": np.array([[4, 5, 0]]),
    ...                 "padding_mask": np.array([[True, True, False]])})
    >>> logits.shape
    TensorShape([1, 3, 5])
    """
    num_tags = check_positive_int("num_tags", num_tags)
    backbone = _backbone(vocabulary_size, backbone, backbone_options)
    inputs = {key: keras.Input(shape=tensor.shape[1:], dtype=tensor.dtype, name=key)
              for key, tensor in backbone.input.items()}
    sequence = backbone(inputs)["sequence_output"]  # (B, T, D)
    logits = keras.layers.Dense(num_tags, name="tag_logits")(sequence)  # (B, T, num_tags)
    return SequenceTaskModel(inputs, logits, name=name)


def _backbone(vocabulary_size, backbone, options):
    """The head's backbone: the one given, or a new `TextBackbone(vocabulary_size, **options)`."""
    if backbone is None:
        return TextBackbone(vocabulary_size, **options)
    if not isinstance(backbone, TextBackbone) or vocabulary_size is not None or options:
        raise ValueError(
            "Pass either `backbone` (a TextBackbone) or `vocabulary_size` with backbone options, not both. "
            f"Received: backbone={backbone!r}, vocabulary_size={vocabulary_size!r}, options={sorted(options)}"
        )
    return backbone
