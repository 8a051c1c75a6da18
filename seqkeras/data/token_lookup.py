"""`TokenLookup`: a Keras layer from raw strings to `token_ids` + `padding_mask`."""

import pathlib

import keras
import tensorflow as tf

from seqkeras.data.tokenization import CharTokenizer, WordTokenizer
from seqkeras.data.vocabulary import BOS_ID, EOS_ID, NUM_RESERVED, PAD_ID, Vocabulary

SPLITS = ("char", "whitespace", "unicode_script")


@keras.saving.register_keras_serializable(package="seqkeras")
class TokenLookup(keras.layers.Layer):
    """Tokenizes raw strings and maps tokens to ids, inside the graph.

    Put it in front of a model that takes `{"token_ids", "padding_mask"}` so that the exported
    model (SavedModel / `keras.export.ExportArchive`) accepts raw text. The vocabulary's hash
    table is a tracked resource of the layer, and the layer's config stores the vocabulary's
    tokens, so `.keras` files and SavedModels carry it without any side file.

    Output rows are right-padded with `PAD_ID` (0); `padding_mask` is True on real tokens
    (bos/eos included). With `sequence_length` set, rows are truncated (keeping `eos` last when
    `add_eos`) and padded to that static length, otherwise to the longest row of the batch.

    Args:
        vocabulary: a `Vocabulary`, a list of its non-reserved tokens (id order), or the path
            of a file written by `Vocabulary.save`.
        split: `"char"` (`CharTokenizer`), `"whitespace"` or `"unicode_script"` (`WordTokenizer`).
        lowercase: lower-case before splitting.
        byte_fallback: for `split="char"`, keep invalid UTF-8 as raw-byte tokens instead of
            raising (they map to OOV unless in the vocabulary).
        add_bos: prepend `BOS_ID` to each row.
        add_eos: append `EOS_ID` to each row.
        sequence_length: fixed output length (int > 0), or None for the batch's longest row.

    Call arguments:
        inputs: string tensor `(B,)` or `(B, 1)`.

    Returns:
        `{"token_ids": int32 (B, T), "padding_mask": bool (B, T)}`.

    Example:

    >>> layer = TokenLookup(["a", "b"], split="char", add_bos=True)
    >>> layer(tf.constant(["ab", "bxa"]))["token_ids"].numpy()
    array([[2, 4, 5, 0],
           [2, 5, 1, 4]], dtype=int32)
    """

    def __init__(
        self,
        vocabulary,
        split="char",
        lowercase=False,
        byte_fallback=False,
        add_bos=False,
        add_eos=False,
        sequence_length=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}. Received: split={split!r}")
        if sequence_length is not None and (int(sequence_length) != sequence_length or sequence_length < 1):
            raise ValueError(f"`sequence_length` must be a positive integer or None. Received: sequence_length={sequence_length}")
        if byte_fallback and split != "char":
            raise ValueError(f"`byte_fallback` only applies to split='char'. Received: split={split!r}, byte_fallback=True")
        if isinstance(vocabulary, (str, pathlib.Path)):
            vocabulary = Vocabulary.load(vocabulary)
        elif not isinstance(vocabulary, Vocabulary):
            vocabulary = Vocabulary(list(vocabulary))
        self.vocabulary = vocabulary
        self.split = split
        self.lowercase = bool(lowercase)
        self.byte_fallback = bool(byte_fallback)
        self.add_bos = bool(add_bos)
        self.add_eos = bool(add_eos)
        self.sequence_length = None if sequence_length is None else int(sequence_length)
        if split == "char":
            self._tokenizer = CharTokenizer(byte_fallback=self.byte_fallback)
        else:
            self._tokenizer = WordTokenizer(split, lowercase=self.lowercase)
        self._char_lowercase = split == "char" and self.lowercase
        # Strings pass through as they are (no float casting of inputs).
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    @property
    def vocabulary_size(self):
        return self.vocabulary.size

    def call(self, inputs):
        strings = tf.convert_to_tensor(inputs, dtype=tf.string)
        if strings.shape.rank == 2:
            strings = tf.squeeze(strings, axis=-1)  # (B, 1) -> (B,)
        if self._char_lowercase:
            strings = tf.strings.lower(strings, encoding="utf-8")
        ids = self.vocabulary.lookup(self._tokenizer.tokenize(strings))  # ragged (B, None)
        batch = ids.nrows()
        if self.add_bos:
            ids = tf.concat([tf.fill([batch, 1], BOS_ID), ids], axis=1)
        if self.sequence_length is not None:
            keep = self.sequence_length - int(self.add_eos)
            ids = ids[:, :keep]
        if self.add_eos:
            ids = tf.concat([ids, tf.fill([batch, 1], EOS_ID)], axis=1)
        width = self.sequence_length
        token_ids = ids.to_tensor(default_value=PAD_ID, shape=[None, width])  # (B, T)
        padding_mask = tf.sequence_mask(ids.row_lengths(), maxlen=tf.shape(token_ids)[1])  # (B, T)
        return {"token_ids": tf.cast(token_ids, tf.int32), "padding_mask": padding_mask}

    def compute_output_spec(self, inputs):
        batch = inputs.shape[0]
        shape = (batch, self.sequence_length)
        return {
            "token_ids": keras.KerasTensor(shape, dtype="int32"),
            "padding_mask": keras.KerasTensor(shape, dtype="bool"),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary.tokens[NUM_RESERVED:],
                "split": self.split,
                "lowercase": self.lowercase,
                "byte_fallback": self.byte_fallback,
                "add_bos": self.add_bos,
                "add_eos": self.add_eos,
                "sequence_length": self.sequence_length,
            }
        )
        return config
