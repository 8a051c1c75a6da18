"""The biLM's layers and how they are wired (private: shared by the builder and the embedder).

Both `build_bidirectional_lm` and `ElmoEmbedder.from_bilm` run the same graph; the embedder runs it
with fresh copies of the trained layers and without dropout, so a frozen embedder inside a
downstream model is deterministic even while that model trains.
"""

import keras

from seqkeras import layers as seq_layers
from seqkeras.models.common.character_word_encoder import CharacterWordEncoder
from seqkeras.models.common.reverse_valid_steps import ReverseValidSteps

TOKEN_LAYERS = ("char_encoder", "token_projection")


def forward_name(index):
    return f"forward_lstm_{index}"


def backward_name(index):
    return f"backward_lstm_{index}"


def make_layers(char_vocabulary_size, char_embedding_dim, char_filters, hidden_dim, num_layers):
    """The weight-holding layers of a biLM, by name (the names the saved model keeps)."""
    layers = {
        "char_encoder": CharacterWordEncoder(
            char_vocabulary_size, char_embedding_dim, char_filters, name="char_encoder"
        ),
        "token_projection": keras.layers.Dense(hidden_dim, name="token_projection"),
    }
    for index in range(num_layers):
        for name in (forward_name(index), backward_name(index)):
            layers[name] = seq_layers.LSTM(hidden_dim, return_sequences=True, name=name)
    return layers


def run_layers(layers, char_ids, padding_mask, num_layers, dropout=0.0):
    """Wires the biLM in a functional graph.

    Returns:
        `(token, forward, backward)`: the context-independent token layer `[B, T, H]`, and for
        each of the `num_layers` LSTM layers its forward and backward outputs `[B, T, H]`, both
        aligned with the input positions (output `t` of the backward LM has read steps `>= t`).
        Dropout (training only) is applied to the token layer and between LSTM layers, on what
        the next layer reads, not to these outputs (the caller drops out what its head reads).
    """

    def dropped(x, name):
        return keras.layers.Dropout(dropout, name=name)(x) if dropout else x

    words = layers["char_encoder"](char_ids, mask=padding_mask)  # (B, T, F), carries the mask
    token = layers["token_projection"](words)  # (B, T, H)
    token_in = dropped(token, "token_dropout")
    x = token_in
    forward = []
    for index in range(num_layers):
        h = layers[forward_name(index)](x, mask=padding_mask)  # (B, T, H), reads steps <= t
        forward.append(h)
        if index + 1 < num_layers:
            x = dropped(h, f"{forward_name(index)}_dropout")

    # The backward LM is the same stack over each row's real steps reversed (right padding
    # stays right); each layer's output is reversed back so position t lines up again.
    x = ReverseValidSteps(name="backward_reverse_in")(token_in, mask=padding_mask)
    backward = []
    for index in range(num_layers):
        h = layers[backward_name(index)](x, mask=padding_mask)  # (B, T, H), reversed time
        backward.append(ReverseValidSteps(name=f"{backward_name(index)}_unreverse")(h, mask=padding_mask))
        if index + 1 < num_layers:
            x = dropped(h, f"{backward_name(index)}_dropout")
    return token, forward, backward


def count_layers(model):
    """Number of LSTM layers per direction of a biLM built by `build_bidirectional_lm`."""
    names = {layer.name for layer in model.layers}
    missing = [name for name in TOKEN_LAYERS + (forward_name(0), backward_name(0)) if name not in names]
    if missing:
        raise ValueError(
            "Expected a model from `build_bidirectional_lm` (layers `char_encoder`, `token_projection`, "
            f"`forward_lstm_0`, `backward_lstm_0`, ...). Received: model {model.name!r} without {missing}"
        )
    num_layers = 0
    while forward_name(num_layers) in names and backward_name(num_layers) in names:
        num_layers += 1
    return num_layers
