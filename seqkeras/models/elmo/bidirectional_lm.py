"""`build_bidirectional_lm`: an ELMo-style bidirectional LSTM language model over character-built words."""

import keras

from seqkeras.models.common._validation import check_positive_int, check_rate
from seqkeras.models.elmo import _bilm_graph
from seqkeras.models.elmo.bidirectional_language_model import BidirectionalLanguageModel


def build_bidirectional_lm(
    vocabulary_size,
    char_vocabulary_size,
    char_embedding_dim=16,
    char_filters=64,
    hidden_dim=128,
    num_layers=2,
    dropout=0.1,
    train_matmul_dtype=None,
    name="bidirectional_lm",
):
    """Builds a biLM in the style of ELMo (Peters et al. 2018), small enough for a CPU.

    - Token layer (layer 0): every word is encoded from its characters alone
      (`CharacterWordEncoder`: character embedding, convolution, max over characters) and
      projected to `hidden_dim` by a `Dense` layer. It is context independent and defined for
      any word, in the output vocabulary or not. Each distinct word of a batch is encoded once
      and its vector copied to every position it holds (same outputs and gradients, less work).
    - Forward LM: `num_layers` left-to-right seqkeras `LSTM` layers; its output at step `t` has
      read steps `<= t` and predicts token `t + 1`.
    - Backward LM: the same stack (its own weights) over each row's real steps reversed
      (`ReverseValidSteps`, so right padding stays on the right), reversed back: its output at
      step `t` has read steps `>= t` and predicts token `t - 1`.
    - The directions share the token layer and the output softmax (one `Dense` of width
      `vocabulary_size`), as in ELMo.

    Masked (padding) steps do not change the LSTM states, so extra right padding leaves the
    outputs at real steps unchanged. `token_ids` are ids of the output vocabulary and serve only
    as targets; the model's loss is built in (`BidirectionalLanguageModel`): compile without a
    loss and fit on inputs alone. `ElmoEmbedder.from_bilm(model)` turns the trained model into the
    contextual layers downstream models mix with `ScalarMix`.

    Args:
        vocabulary_size: size of the output word vocabulary (reserved ids included), e.g.
            `build_word_lookup(...).vocabulary_size`; keep it to the most frequent words (`max_size`)
            so the softmax stays affordable.
        char_vocabulary_size: number of character ids (padding 0 included).
        char_embedding_dim: character embedding width.
        char_filters: convolution filters of the character encoder (its word-vector width).
        hidden_dim: width of the token layer and of every LSTM (per direction).
        num_layers: LSTM layers per direction.
        dropout: dropout rate (training only) on what each LSTM and the softmax read.
        train_matmul_dtype: None (float32) or "bfloat16": the dtype of the LSTMs' matrix products in
            training steps (`seqkeras.layers.LSTM`); inference, evaluation and `ElmoEmbedder`
            compute in float32.
        name: model name.

    Model inputs:
        token_ids: int32 `[B, T]` ids of the output vocabulary (targets only);
        char_ids: int32 `[B, T, C]`, 0 for padding characters;
        padding_mask: bool `[B, T]`, right-padded.

    Returns:
        A `BidirectionalLanguageModel` giving `{"forward_logits": [B, T, V],
        "backward_logits": [B, T, V]}`.

    Example:
    >>> model = build_bidirectional_lm(vocabulary_size=30, char_vocabulary_size=20, hidden_dim=8,
    ...                                char_filters=8, num_layers=1)
    >>> outputs = model({"token_ids": np.array([[5, 6, 7]]),
    ...                  "char_ids": np.array([[[4, 5], [6, 0], [7, 8]]]),
    ...                  "padding_mask": np.array([[True, True, True]])})
    >>> tuple(outputs["forward_logits"].shape), tuple(outputs["backward_logits"].shape)
    ((1, 3, 30), (1, 3, 30))
    >>> model.compile("adam")  # the loss is built in
    """
    vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
    char_vocabulary_size = check_positive_int("char_vocabulary_size", char_vocabulary_size)
    char_embedding_dim = check_positive_int("char_embedding_dim", char_embedding_dim)
    char_filters = check_positive_int("char_filters", char_filters)
    hidden_dim = check_positive_int("hidden_dim", hidden_dim)
    num_layers = check_positive_int("num_layers", num_layers)
    dropout = check_rate("dropout", dropout)

    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    char_ids = keras.Input(shape=(None, None), dtype="int32", name="char_ids")
    padding_mask = keras.Input(shape=(None,), dtype="bool", name="padding_mask")

    layers = _bilm_graph.make_layers(char_vocabulary_size, char_embedding_dim, char_filters, hidden_dim, num_layers,
                                     train_matmul_dtype)
    _, forward, backward = _bilm_graph.run_layers(layers, char_ids, padding_mask, num_layers, dropout,
                                                  distinct_words=True)
    if dropout:
        forward_top = keras.layers.Dropout(dropout, name="forward_output_dropout")(forward[-1])
        backward_top = keras.layers.Dropout(dropout, name="backward_output_dropout")(backward[-1])
    else:
        forward_top, backward_top = forward[-1], backward[-1]
    softmax = keras.layers.Dense(vocabulary_size, name="word_logits")  # shared by both directions
    outputs = {
        "forward_logits": softmax(forward_top),  # (B, T, V), predicts token t + 1
        "backward_logits": softmax(backward_top),  # (B, T, V), predicts token t - 1
    }
    inputs = {"token_ids": token_ids, "char_ids": char_ids, "padding_mask": padding_mask}
    return BidirectionalLanguageModel(inputs, outputs, name=name)
