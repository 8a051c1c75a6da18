"""Sequence -> label: `build_classifier`, a `TextBackbone` pooled to one vector and a linear head."""

import keras

from seqkeras import layers as seq_layers
from seqkeras.models.common._validation import check_choice, check_positive_int
from seqkeras.models.common.sequence_task_model import SequenceTaskModel
from seqkeras.models.tagger.tagger import _backbone

POOLINGS = ("mean", "max", "sum", "mean_max", "last")


def pool_sequence(sequence, padding_mask, pooling):
    """One vector per row from the backbone's `[B, T, D]` states, over the real steps only.

    `MaskedPooling` for `"mean"`, `"max"`, `"sum"`, both mean and max concatenated for
    `"mean_max"` (`[B, 2D]`), or `LastValidStep` for `"last"` (the state at each row's last real
    token, which summarises the row only for a causal encoder).
    """
    if pooling == "last":
        return seq_layers.LastValidStep(name="last_valid_step")(sequence, mask=padding_mask)  # (B, D)
    if pooling == "mean_max":
        mean = seq_layers.MaskedPooling("mean", name="mean_pooling")(sequence, mask=padding_mask)  # (B, D)
        top = seq_layers.MaskedPooling("max", name="max_pooling")(sequence, mask=padding_mask)  # (B, D)
        return keras.layers.Concatenate(name="mean_max_pooling")([mean, top])  # (B, 2D)
    return seq_layers.MaskedPooling(pooling, name=f"{pooling}_pooling")(sequence, mask=padding_mask)  # (B, D)


def classifier_inputs(vocabulary_size, backbone, pooling, options):
    """`(backbone, inputs, sequence)` of a classifier head, after checking `pooling` against it."""
    check_choice("pooling", pooling, POOLINGS)
    backbone = _backbone(vocabulary_size, backbone, options)
    if pooling == "last" and not backbone.causal:
        raise ValueError(
            "pooling='last' reads the last real step, which only summarises the sequence for a "
            "left-to-right encoder; pass causal=True or use mean/max/sum pooling. "
            f"Received: pooling={pooling!r}, causal={backbone.causal!r}"
        )
    inputs = {key: keras.Input(shape=tensor.shape[1:], dtype=tensor.dtype, name=key)
              for key, tensor in backbone.input.items()}
    return backbone, inputs, backbone(inputs)


def build_classifier(vocabulary_size=None, num_classes=None, *, pooling="mean", backbone=None, name="classifier",
                     **backbone_options):
    """Builds a sequence classifier: `TextBackbone` -> masked pooling -> class logits.

    The head is a pooling over the real steps (`pool_sequence`) and one `Dense(num_classes)`.
    `"last"` pooling needs a causal backbone; conversely a causal model should use `"last"` to
    classify from everything it has read. The outputs are logits (compile with
    `from_logits=True`). For the genre experiment's wide & deep model (bag of n-grams beside
    the encoder), see `build_wide_and_deep_classifier`.

    Args:
        vocabulary_size: number of token ids; builds `TextBackbone(vocabulary_size,
            **backbone_options)` (give either this or `backbone`).
        num_classes: number of classes; the logits have this width.
        pooling: `"mean"`, `"max"`, `"sum"`, `"mean_max"` or `"last"`.
        backbone: a `TextBackbone` to put the head on.
        name: model name.
        **backbone_options: `TextBackbone` arguments (`hidden_dim`, `dropout`, `char_vocabulary_size`,
            `embedding_weights`, `contextual_layers`, ...).

    Model inputs:
        the backbone's (token_ids, padding_mask, char_ids with characters); every row needs at
        least one real step.

    Returns:
        A functional `SequenceTaskModel` giving logits `[B, num_classes]`.

    Example:
    >>> model = build_classifier(vocabulary_size=20, num_classes=3, hidden_dim=8)
    >>> model({"token_ids": np.array([[4, 5, 0]]),
    ...        "padding_mask": np.array([[True, True, False]])}).shape
    TensorShape([1, 3])
    """
    num_classes = check_positive_int("num_classes", num_classes)
    _, inputs, outputs = classifier_inputs(vocabulary_size, backbone, pooling, backbone_options)
    pooled = pool_sequence(outputs["sequence_output"], inputs["padding_mask"], pooling)  # (B, D')
    logits = keras.layers.Dense(num_classes, name="class_logits")(pooled)  # (B, num_classes)
    return SequenceTaskModel(inputs, logits, name=name)
