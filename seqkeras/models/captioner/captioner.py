"""Label -> sequence: `build_captioner`, a vector-conditioned causal decoder."""

import keras

from seqkeras.models.seq2seq.conditional_decoder import CONDITIONINGS, DECODER_CELLS, decode_sequence
from seqkeras.models.common._validation import check_choice, check_positive_int, check_rate
from seqkeras.models.common.sequence_task_model import SequenceTaskModel


def build_captioner(
    label_dim,
    vocabulary_size,
    hidden_dim=128,
    num_layers=1,
    embedding_dim=32,
    conditioning="initial_state",
    cell="lstm",
    dropout=0.0,
    name="captioner",
):
    """Builds a label -> sequence generator (e.g. an image's feature vector -> its name).

    The label vector conditions a `ConditionalDecoder`: as the decoder's initial state
    (`conditioning="initial_state"`) or repeated along time and concatenated with the previous
    token's embedding (`conditioning="concat"`). Training is teacher-forced: `token_ids` are the
    previous tokens (`[BOS, y_1, ..., y_{T-1}]`, see `seqkeras.data.windows.shift_by_one`) and
    the targets the next ones. Decode with `seqkeras.models.seq2seq.generate`.

    Args:
        label_dim: width of the label vector.
        vocabulary_size: number of output token ids (reserved ids included).
        hidden_dim: decoder RNN units.
        num_layers: decoder RNN layers.
        embedding_dim: token embedding width.
        conditioning: `"initial_state"` or `"concat"`.
        cell: `"lstm"` or `"elman"`.
        dropout: decoder dropout.
        name: model name.

    Model inputs:
        label: float32 `[B, label_dim]`; token_ids: int32 `[B, T]`; padding_mask: bool `[B, T]`.
        `label` and `token_ids` must have the same batch size.

    Returns:
        A functional `SequenceTaskModel` giving next-token logits `[B, T, vocabulary_size]`
        (carrying the padding mask).

    Example:
    >>> model = build_captioner(label_dim=4, vocabulary_size=12, hidden_dim=8)
    >>> model({"label": np.ones((2, 4), "float32"), "token_ids": np.array([[2, 5], [2, 6]]),
    ...        "padding_mask": np.ones((2, 2), bool)}).shape
    TensorShape([2, 2, 12])
    """
    label_dim = check_positive_int("label_dim", label_dim)
    check_choice("conditioning", conditioning, CONDITIONINGS)
    check_choice("cell", cell, DECODER_CELLS)
    check_rate("dropout", dropout)

    label = keras.Input(shape=(label_dim,), dtype="float32", name="label")
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input(shape=(None,), dtype="bool", name="padding_mask")
    context = keras.layers.Identity(name="context")(label)  # (B, label_dim)
    logits = decode_sequence(
        token_ids, context, padding_mask, vocabulary_size, hidden_dim=hidden_dim, num_layers=num_layers,
        embedding_dim=embedding_dim, conditioning=conditioning, cell=cell, dropout=dropout, name="decoder",
    )  # (B, T, V)
    inputs = {"label": label, "token_ids": token_ids, "padding_mask": padding_mask}
    return SequenceTaskModel(inputs, logits, name=name)
