"""The recurrent sequence encoder shared by the task models (functional building block)."""

import keras

from seqkeras import layers as seq_layers
from seqkeras.models.common.reverse_valid_steps import ReverseValidSteps

CELLS = ("lstm", "elman")


def make_rnn(cell, hidden_dim, name):
    """A sequence-returning RNN layer: the seqkeras `LSTM`, or `ElmanCell` under `keras.layers.RNN`."""
    if cell == "lstm":
        return seq_layers.LSTM(hidden_dim, return_sequences=True, name=name)
    return keras.layers.RNN(seq_layers.ElmanCell(hidden_dim), return_sequences=True, name=name)


def encode_sequence(
    embedded, padding_mask, hidden_dim, num_layers=1, causal=False, cell="lstm", dropout=0.0, name="encoder"
):
    """Runs `num_layers` recurrent layers over `embedded` in a functional graph.

    Non-causal layers are bidirectional: a second RNN reads each row's real steps in reverse
    (`ReverseValidSteps`, so right padding stays on the right) and the two directions are
    concatenated. Causal layers read left to right only, so output `t` depends on steps `<= t`.

    Args:
        embedded: symbolic `[B, T, E]` tensor.
        padding_mask: symbolic boolean `[B, T]`, `True` at real steps (right-padded).
        hidden_dim: units per direction.
        num_layers: stacked layers.
        causal: forward only when True, bidirectional otherwise.
        cell: `"lstm"` or `"elman"`.
        dropout: dropout rate between layers and on the outputs.
        name: prefix of the layer names.

    Returns:
        `(sequence, summary)`: `sequence` is `[B, T, D]` (D = hidden_dim, or 2 * hidden_dim when
        bidirectional) and `summary` `[B, D]` the final state of each direction of the top layer
        (the last valid forward output; for the backward direction its output at step 0).
    """
    x = embedded
    summary = None
    for index in range(num_layers):
        prefix = f"{name}_{index}"
        forward = make_rnn(cell, hidden_dim, f"{prefix}_forward")(x, mask=padding_mask)  # (B, T, H)
        forward_last = seq_layers.LastValidStep(name=f"{prefix}_forward_last")(forward, mask=padding_mask)
        if causal:
            x, summary = forward, forward_last
        else:
            reverse = ReverseValidSteps(name=f"{prefix}_reverse_in")
            unreverse = ReverseValidSteps(name=f"{prefix}_reverse_out")
            backward = make_rnn(cell, hidden_dim, f"{prefix}_backward")(
                reverse(x, mask=padding_mask), mask=padding_mask
            )  # (B, T, H), reversed time
            backward_last = seq_layers.LastValidStep(name=f"{prefix}_backward_last")(backward, mask=padding_mask)
            backward = unreverse(backward, mask=padding_mask)
            x = keras.layers.Concatenate(name=f"{prefix}_concat")([forward, backward])  # (B, T, 2H)
            summary = keras.layers.Concatenate(name=f"{prefix}_summary")([forward_last, backward_last])
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{prefix}_dropout")(x)
    return x, summary
