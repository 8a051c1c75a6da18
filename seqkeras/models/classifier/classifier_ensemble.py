"""`build_classifier_ensemble`: one model averaging the probabilities of several classifiers."""

import keras

from seqkeras.models.classifier.mean_probability_logits import MeanProbabilityLogits
from seqkeras.models.common.sequence_task_model import SequenceTaskModel


def build_classifier_ensemble(members, name="classifier_ensemble"):
    """Wraps trained classifiers into one model that averages their class probabilities.

    Typical use: K classifiers trained from different seeds, possibly of different
    architectures, on the same preprocessor's inputs. The ensemble's output is
    `log(mean_k softmax(logits_k))` (`MeanProbabilityLogits`), so its softmax is the members'
    mean probability and it saves, loads and exports like a single classifier. Its inputs are
    the union of the members' inputs (a member without characters simply ignores `char_ids`);
    an input that several members read must have one dtype and shape. Members keep their
    weights (shared, not copied); give them distinct names (`build_classifier(...,
    name=f"member_{k}")`).

    Args:
        members: a non-empty list of Keras models with dict inputs and a `[B, num_classes]`
            logits output of one width.
        name: model name.

    Returns:
        A functional `SequenceTaskModel` with the members' inputs and logits `[B, num_classes]`.

    Example:
    >>> members = [build_classifier(20, 3, hidden_dim=4, name=f"member_{k}") for k in range(2)]
    >>> ensemble = build_classifier_ensemble(members)
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
    widths = [tuple(m.outputs[0].shape[1:]) for m in members]
    if len(set(widths)) != 1 or len(widths[0]) != 1:
        raise ValueError(f"Members must output logits [B, num_classes] of one width. Received output shapes: {widths}")
    inputs = {key: keras.Input(shape=shape, dtype=dtype, name=key) for key, (dtype, shape) in specs.items()}
    logits = [member({t.name: inputs[t.name] for t in member.inputs}) for member in members]  # K x (B, C)
    output = MeanProbabilityLogits(name="mean_probability")(logits)  # (B, C)
    return SequenceTaskModel(inputs, output, name=name)
