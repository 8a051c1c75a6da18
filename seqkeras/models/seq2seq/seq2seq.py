"""Label + sequence -> sequence: `build_seq2seq`, encoder to one vector, causal decoder."""

import keras

from seqkeras import layers as seq_layers
from seqkeras.models.seq2seq.conditional_decoder import CONDITIONINGS, DECODER_CELLS, decode_sequence
from seqkeras.models.common._validation import check_choice, check_positive_int, check_rate
from seqkeras.models.common.rnn_encoder import encode_sequence
from seqkeras.models.common.sequence_task_model import SequenceTaskModel

ENCODER_POOLINGS = ("last", "mean", "max")


def build_seq2seq(
    encoder_vocabulary_size,
    decoder_vocabulary_size=None,
    hidden_dim=128,
    num_layers=1,
    embedding_dim=32,
    pooling="last",
    conditioning="initial_state",
    label_dim=None,
    cell="lstm",
    dropout=0.0,
    name="seq2seq",
):
    """Builds an encoder-decoder: read the whole input, reduce it to one vector, then answer.

    The encoder is non-causal (bidirectional RNN stack over the real encoder steps); its
    per-step outputs are reduced to one vector by `pooling`: `"last"` takes each direction's
    final state (forward at the last real step, backward at step 0), `"mean"`/`"max"` pool over
    real steps (`MaskedPooling`). An optional `label` vector is concatenated to it. That
    context conditions a causal `ConditionalDecoder` trained with teacher forcing (its
    `decoder_token_ids` are the previous answer tokens). Decode with
    `seqkeras.models.seq2seq.generate` (greedy or seeded sampling, in-graph).

    Args:
        encoder_vocabulary_size: input token ids.
        decoder_vocabulary_size: output token ids (defaults to the encoder's).
        hidden_dim: RNN units (per direction in the encoder).
        num_layers: RNN layers in the encoder and in the decoder.
        embedding_dim: embedding width of both sides.
        pooling: `"last"`, `"mean"` or `"max"`.
        conditioning: how the context enters the decoder, `"initial_state"` or `"concat"`.
        label_dim: when given, adds a float `label` input `[B, label_dim]` joined to the context.
        cell: `"lstm"` or `"elman"`, both sides.
        dropout: dropout rate in the encoder and decoder.
        name: model name.

    Model inputs:
        encoder_token_ids, decoder_token_ids: int32 `[B, T_enc]`, `[B, T_dec]`;
        encoder_padding_mask, decoder_padding_mask: bool, same shapes; label: float32
        `[B, label_dim]` when `label_dim` is set. All batch sizes must agree.

    Returns:
        A functional `SequenceTaskModel` giving next-token logits `[B, T_dec, V_dec]`.

    Example:
    >>> model = build_seq2seq(encoder_vocabulary_size=16, hidden_dim=8)
    >>> model({"encoder_token_ids": np.array([[4, 5, 6]]),
    ...        "encoder_padding_mask": np.ones((1, 3), bool),
    ...        "decoder_token_ids": np.array([[2, 7]]),
    ...        "decoder_padding_mask": np.ones((1, 2), bool)}).shape
    TensorShape([1, 2, 16])
    """
    encoder_vocabulary_size = check_positive_int("encoder_vocabulary_size", encoder_vocabulary_size)
    if decoder_vocabulary_size is None:
        decoder_vocabulary_size = encoder_vocabulary_size
    decoder_vocabulary_size = check_positive_int("decoder_vocabulary_size", decoder_vocabulary_size)
    hidden_dim = check_positive_int("hidden_dim", hidden_dim)
    num_layers = check_positive_int("num_layers", num_layers)
    embedding_dim = check_positive_int("embedding_dim", embedding_dim)
    check_choice("pooling", pooling, ENCODER_POOLINGS)
    check_choice("conditioning", conditioning, CONDITIONINGS)
    check_choice("cell", cell, DECODER_CELLS)
    label_dim = check_positive_int("label_dim", label_dim, allow_none=True)
    dropout = check_rate("dropout", dropout)

    encoder_token_ids = keras.Input(shape=(None,), dtype="int32", name="encoder_token_ids")
    encoder_padding_mask = keras.Input(shape=(None,), dtype="bool", name="encoder_padding_mask")
    decoder_token_ids = keras.Input(shape=(None,), dtype="int32", name="decoder_token_ids")
    decoder_padding_mask = keras.Input(shape=(None,), dtype="bool", name="decoder_padding_mask")
    inputs = {
        "encoder_token_ids": encoder_token_ids,
        "encoder_padding_mask": encoder_padding_mask,
        "decoder_token_ids": decoder_token_ids,
        "decoder_padding_mask": decoder_padding_mask,
    }

    x = keras.layers.Embedding(encoder_vocabulary_size, embedding_dim, name="encoder_embedding")(encoder_token_ids)
    sequence, final_states = encode_sequence(
        x, encoder_padding_mask, hidden_dim, num_layers=num_layers, causal=False, cell=cell, dropout=dropout,
        name="encoder",
    )  # (B, T, 2H), (B, 2H)
    if pooling == "last":
        summary = final_states
    else:
        summary = seq_layers.MaskedPooling(pooling, name="encoder_pooling")(sequence, mask=encoder_padding_mask)
    if label_dim is not None:
        label = keras.Input(shape=(label_dim,), dtype="float32", name="label")
        inputs["label"] = label
        context = keras.layers.Concatenate(name="context")([summary, label])  # (B, 2H + L)
    else:
        context = keras.layers.Identity(name="context")(summary)  # (B, 2H)

    logits = decode_sequence(
        decoder_token_ids, context, decoder_padding_mask, decoder_vocabulary_size, hidden_dim=hidden_dim,
        num_layers=num_layers, embedding_dim=embedding_dim, conditioning=conditioning, cell=cell, dropout=dropout,
        name="decoder",
    )  # (B, T_dec, V)
    return SequenceTaskModel(inputs, logits, name=name)
