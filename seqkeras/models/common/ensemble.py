"""`build_ensemble`: one model averaging the probabilities of several classifiers or taggers."""

import keras

from seqkeras.models.common.mean_probability_logits import MeanProbabilityLogits
from seqkeras.models.common.sequence_task_model import SequenceTaskModel


def build_ensemble(members, name="ensemble"):
    """Wraps trained classifiers or taggers into one model that averages their class probabilities.

    Typical use: K classifiers or K taggers trained from different seeds, possibly of different
    architectures, on the same preprocessor's inputs (`seqkeras train tagger --ensemble K`). The
    ensemble's output is `log(mean_k softmax(logits_k))` (`MeanProbabilityLogits`, over the last
    axis), so its softmax is the members' mean probability and it saves, loads and exports like a
    single classifier or tagger. Its inputs are the union of the members' inputs (a member
    without characters simply ignores `char_ids`); an input that several members read must have
    one dtype and shape. Members keep their weights (shared, not copied); give them distinct
    names (`build_classifier(..., name=f"member_{k}")`).

    Args:
        members: a non-empty list of Keras models with dict inputs and one logits output of one
            shape: `[B, num_classes]` (classifiers) or `[B, T, num_tags]` (taggers).
        name: model name.

    Returns:
        A functional `SequenceTaskModel` with the members' inputs and their output's shape.

    Example:
    >>> from seqkeras.models.classifier import build_classifier
    >>> members = [build_classifier(20, 3, hidden_dim=4, name=f"member_{k}") for k in range(2)]
    >>> ensemble = build_ensemble(members)
    >>> ensemble({"token_ids": np.array([[4, 5]]), "padding_mask": np.array([[True, True]])}).shape
    TensorShape([1, 3])
    """
    members = list(members) if isinstance(members, (list, tuple)) else members
    if not isinstance(members, list) or not members or not all(isinstance(m, keras.Model) for m in members):
        raise ValueError(f"`members` must be a non-empty list of Keras models. Received: members={members!r}")
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError(f"Ensemble members need distinct names. Received member names: {names}")
    specs, readers = {}, {}
    for member in members:
        for tensor in member.inputs:
            spec = (str(tensor.dtype), tuple(tensor.shape[1:]))
            if tensor.name in specs and specs[tensor.name] != spec:
                raise ValueError(
                    f"Members read input `{tensor.name}` differently. Received: {readers[tensor.name]} "
                    f"(dtype, shape)={specs[tensor.name]}, {member.name} (dtype, shape)={spec}"
                )
            specs.setdefault(tensor.name, spec)
            readers.setdefault(tensor.name, member.name)
    shapes = [tuple(m.outputs[0].shape[1:]) if len(m.outputs) == 1 else None for m in members]
    if None in shapes or len(set(shapes)) != 1 or shapes[0][-1] is None:
        raise ValueError("Members must each output one logits tensor ([B, num_classes] or [B, T, num_tags]) of "
                         f"one shape and a known class count. Received output shapes: "
                         f"{[[tuple(t.shape) for t in m.outputs] for m in members]}")
    inputs = {key: keras.Input(shape=shape, dtype=dtype, name=key) for key, (dtype, shape) in specs.items()}
    logits = [member({t.name: inputs[t.name] for t in member.inputs}) for member in members]  # K x (B, [T,] C)
    output = MeanProbabilityLogits(name="mean_probability")(logits)  # (B, [T,] C)
    return SequenceTaskModel(inputs, output, name=name)
