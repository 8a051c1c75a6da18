"""`TextBackbone`: the word-level encoder the tagger and the classifier share."""

import keras

from seqkeras.models.common._validation import (
    check_choice,
    check_embedding_weights,
    check_positive_int,
    check_rate,
)
from seqkeras.models.common.character_word_encoder import CharacterWordEncoder
from seqkeras.models.common.rnn_encoder import CELLS, encode_sequence
from seqkeras.models.common.word_dropout import WordDropout


@keras.saving.register_keras_serializable(package="seqkeras")
class TextBackbone(keras.Model):
    """Word embedding (+ character encoder, + contextual biLM mix) -> recurrent encoder.

    keras-hub's backbone: a functional model with flat keyword arguments, dict inputs and no
    head, loss or optimizer. The task heads (`build_tagger`, `build_classifier`,
    `build_wide_and_deep_classifier`) read its outputs:

    - `sequence_output` `[B, T, D]`: the encoder's per-token states (D = `hidden_dim`, or
      `2 * hidden_dim` when bidirectional), carrying the padding mask;
    - `token_embeddings` `[B, T, E]`: the word embeddings alone (before dropout).

    Layers, in order: a `token_embedding` (optionally initialised from `embedding_weights`, e.g.
    word2vec vectors, and frozen with `embedding_trainable=False`); with `char_vocabulary_size`
    a `CharacterWordEncoder` over `char_ids` concatenated with it; with `contextual_layers` (a
    pretrained biLM's layers, `seqkeras.models.elmo.ElmoEmbedder.from_bilm`) a trainable
    `ScalarMix` of them concatenated too (ELMo); dropout; `num_layers` recurrent layers,
    bidirectional unless `causal`. Padded steps never change the real steps' outputs.

    Args:
        vocabulary_size: number of token ids (reserved ids included).
        hidden_dim: recurrent units per direction.
        num_layers: stacked recurrent layers.
        embedding_dim: token embedding width; None takes the width of `embedding_weights`
            (64 without them).
        causal: left-to-right only instead of bidirectional.
        cell: `"lstm"` (seqkeras `LSTM`) or `"elman"` (`ElmanCell`).
        dropout: dropout on the word features and between/after the recurrent layers.
        word_dropout: probability of reading a real word as `<oov>` in training (`WordDropout`),
            so the unseen-word embedding learns from words with known contexts.
        embedding_weights: optional float array `[vocabulary_size, embedding_dim]`, the initial
            token embedding (not part of the config: the trained weights are saved instead).
        embedding_trainable: False freezes the token embedding.
        char_vocabulary_size: adds the `char_ids` input `[B, T, C]` and a character encoder.
        char_embedding_dim: character embedding width.
        char_filters: width of the character word vector.
        contextual_layers: optional Keras model of `{"char_ids", "padding_mask"}` giving L
            same-shaped layers `[B, T, D']` read through the same characters (so
            `char_vocabulary_size` must be its character vocabulary size); saved inside.
        contextual_dropout: dropout on the mixed contextual layers; None uses `dropout`.
        contextual_layer_norm: normalise each contextual layer per token before the mix
            (`ScalarMix(layer_norm=True)`).
        name: model name.

    Model inputs:
        token_ids: int32 `[B, T]`; padding_mask: bool `[B, T]` (right-padded);
        char_ids: int32 `[B, T, C]` with `char_vocabulary_size`.

    Example:
    >>> backbone = TextBackbone(vocabulary_size=20, hidden_dim=8, embedding_dim=4)
    >>> out = backbone({"token_ids": np.array([[4, 5, 0]]), "padding_mask": np.array([[True, True, False]])})
    >>> tuple(out["sequence_output"].shape), tuple(out["token_embeddings"].shape)
    ((1, 3, 16), (1, 3, 4))
    """

    def __init__(
        self,
        vocabulary_size,
        hidden_dim=128,
        num_layers=1,
        embedding_dim=None,
        causal=False,
        cell="lstm",
        dropout=0.0,
        word_dropout=0.0,
        embedding_weights=None,
        embedding_trainable=True,
        char_vocabulary_size=None,
        char_embedding_dim=16,
        char_filters=32,
        contextual_layers=None,
        contextual_dropout=None,
        contextual_layer_norm=False,
        name="backbone",
        **kwargs,
    ):
        unknown = sorted(set(kwargs) - {"trainable", "dtype"})
        if unknown:
            raise TypeError(f"TextBackbone got unexpected arguments {unknown}. Received: {kwargs}")
        vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        num_layers = check_positive_int("num_layers", num_layers)
        check_choice("cell", cell, CELLS)
        dropout = check_rate("dropout", dropout)
        word_dropout = check_rate("word_dropout", word_dropout)
        char_vocabulary_size = check_positive_int("char_vocabulary_size", char_vocabulary_size, allow_none=True)
        if contextual_dropout is not None:
            contextual_dropout = check_rate("contextual_dropout", contextual_dropout)
        weights, embedding_dim = check_embedding_weights(embedding_weights, vocabulary_size, embedding_dim)
        if contextual_layers is not None:
            # Imported here: the elmo package imports this one (its biLM reuses the character encoder).
            from seqkeras.models.elmo.contextual_features import check_contextual_layers, mix_contextual_layers

            check_contextual_layers(contextual_layers, char_vocabulary_size, causal)

        # === Inputs ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="bool", name="padding_mask")
        inputs = {"token_ids": token_ids, "padding_mask": padding_mask}

        # === Word features ===
        embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, trainable=bool(embedding_trainable), name="token_embedding"
        )
        word_ids = WordDropout(word_dropout, name="word_dropout")(token_ids) if word_dropout else token_ids
        words = embedding(word_ids)  # (B, T, E)
        features = words
        if char_vocabulary_size is not None:
            char_ids = keras.Input(shape=(None, None), dtype="int32", name="char_ids")
            inputs["char_ids"] = char_ids
            chars = CharacterWordEncoder(
                char_vocabulary_size, char_embedding_dim, char_filters, name="char_encoder"
            )(char_ids)  # (B, T, F)
            features = keras.layers.Concatenate(name="word_features")([words, chars])  # (B, T, E + F)
        if dropout:
            features = keras.layers.Dropout(dropout, name="embedding_dropout")(features)
        if contextual_layers is not None:
            features = mix_contextual_layers(
                features, contextual_layers, char_ids, padding_mask,
                dropout if contextual_dropout is None else contextual_dropout, layer_norm=contextual_layer_norm,
            )  # (B, T, +D')

        # === Encoder ===
        sequence, _ = encode_sequence(
            features, padding_mask, hidden_dim, num_layers=num_layers, causal=causal, cell=cell, dropout=dropout,
            name="encoder",
        )  # (B, T, H or 2H)
        outputs = {"sequence_output": sequence, "token_embeddings": words}
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        if weights is not None:
            embedding.set_weights([weights])

        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.embedding_dim = embedding_dim
        self.causal = bool(causal)
        self.cell = cell
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.embedding_trainable = bool(embedding_trainable)
        self.char_vocabulary_size = char_vocabulary_size
        self.char_embedding_dim = char_embedding_dim
        self.char_filters = char_filters
        self.contextual_layers = contextual_layers
        self.contextual_dropout = contextual_dropout
        self.contextual_layer_norm = bool(contextual_layer_norm)

    @property
    def output_dim(self):
        """Width of `sequence_output`."""
        return self.hidden_dim * (1 if self.causal else 2)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary_size": self.vocabulary_size,
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "embedding_dim": self.embedding_dim,
            "causal": self.causal,
            "cell": self.cell,
            "dropout": self.dropout,
            "word_dropout": self.word_dropout,
            "embedding_trainable": self.embedding_trainable,
            "char_vocabulary_size": self.char_vocabulary_size,
            "char_embedding_dim": self.char_embedding_dim,
            "char_filters": self.char_filters,
            "contextual_layers": None if self.contextual_layers is None
            else keras.saving.serialize_keras_object(self.contextual_layers),
            "contextual_dropout": self.contextual_dropout,
            "contextual_layer_norm": self.contextual_layer_norm,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("contextual_layers") is not None:
            config["contextual_layers"] = keras.saving.deserialize_keras_object(config["contextual_layers"])
        return cls(**config)
