"""The biLM's layers and how they are wired (private: shared by the builder and the embedder).

Both `build_bidirectional_lm` and `ElmoEmbedder.from_bilm` run the same graph; the embedder runs it
with fresh copies of the trained layers and without dropout, so a frozen embedder inside a
downstream model is deterministic even while that model trains (and without `distinct_words`,
which changes the work, not the outputs).
"""

import keras
import tensorflow as tf

from seqkeras import layers as seq_layers
from seqkeras.models.common.character_word_encoder import CharacterWordEncoder
from seqkeras.models.common.reverse_valid_steps import ReverseValidSteps

TOKEN_LAYERS = ("char_encoder", "token_projection")


def forward_name(index):
    return f"forward_lstm_{index}"


def backward_name(index):
    return f"backward_lstm_{index}"


def make_layers(char_vocabulary_size, char_embedding_dim, char_filters, hidden_dim, num_layers,
                train_matmul_dtype=None):
    """The weight-holding layers of a biLM, by name (the names the saved model keeps)."""
    layers = {
        "char_encoder": CharacterWordEncoder(
            char_vocabulary_size, char_embedding_dim, char_filters, name="char_encoder"
        ),
        "token_projection": keras.layers.Dense(hidden_dim, name="token_projection"),
    }
    for index in range(num_layers):
        for name in (forward_name(index), backward_name(index)):
            layers[name] = seq_layers.LSTM(hidden_dim, return_sequences=True, train_matmul_dtype=train_matmul_dtype,
                                           name=name)
    return layers


def run_layers(layers, char_ids, padding_mask, num_layers, dropout=0.0, distinct_words=False):
    """Wires the biLM in a functional graph.

    With `distinct_words`, the character encoder reads each distinct word of a batch once
    (`DistinctWords`: a batch of ~1,000 words holds about half as many distinct ones) and every
    position gathers its word's vector back (`WordVectors`): the same outputs and gradients for
    less work. The training model uses it; the embedder does not, so its graph keeps to ops that
    TFLite runs (TFLite's UNIQUE is 1-D only).

    Returns:
        `(token, forward, backward)`: the context-independent token layer `[B, T, H]`, and for
        each of the `num_layers` LSTM layers its forward and backward outputs `[B, T, H]`, both
        aligned with the input positions (output `t` of the backward LM has read steps `>= t`).
        Dropout (training only) is applied to the token layer and between LSTM layers, on what
        the next layer reads, not to these outputs (the caller drops out what its head reads).
    """

    def dropped(x, name):
        return keras.layers.Dropout(dropout, name=name)(x) if dropout else x

    if distinct_words:
        distinct, positions = DistinctWords(name="distinct_words")(char_ids)  # (1, U, C), (B, T)
        vectors = layers["char_encoder"](distinct)  # (1, U, F)
        words = WordVectors(name="word_vectors")([vectors, positions], mask=padding_mask)  # (B, T, F), carries the mask
    else:
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


@keras.saving.register_keras_serializable(package="seqkeras")
class DistinctWords(keras.layers.Layer):
    """The distinct character rows of a batch of words, and where each word's row is.

    Call arguments:
        char_ids: int `[B, T, C]`.

    Returns:
        `(distinct, positions)`: int `[1, U, C]`, the `U` distinct rows of `char_ids` (in order of
        first appearance; padded steps share one all-zero row), and int32 `[B, T]`, the index in
        `distinct` of every step's row.
    """

    def call(self, char_ids):
        char_ids = tf.convert_to_tensor(char_ids)
        shape = tf.shape(char_ids)  # [B, T, C]
        flat = tf.reshape(char_ids, [-1, shape[2]])  # (B*T, C)
        distinct, positions = tf.raw_ops.UniqueV2(x=flat, axis=tf.constant([0], tf.int64))  # (U, C), (B*T,)
        return distinct[None], tf.reshape(positions, shape[:2])  # (1, U, C), (B, T)

    def compute_output_spec(self, char_ids):
        batch, steps, chars = char_ids.shape
        return (keras.KerasTensor((1, None, chars), dtype=char_ids.dtype),
                keras.KerasTensor((batch, steps), dtype="int32"))


@keras.saving.register_keras_serializable(package="seqkeras")
class WordVectors(keras.layers.Layer):
    """Every step's vector from the vectors of the distinct words (`DistinctWords`); keeps the word mask.

    Call arguments:
        inputs: `[vectors, positions]`: float `[1, U, F]` and int `[B, T]` indices into `U`.
        mask: optional word mask `[B, T]` (passed on).

    Returns:
        `[B, T, F]`.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        vectors, positions = inputs
        return tf.gather(vectors[0], positions)  # (B, T, F)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        vectors_shape, positions_shape = input_shape
        return (positions_shape[0], positions_shape[1], vectors_shape[2])


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
