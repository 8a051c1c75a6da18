"""`TokenLookup`: the one in-graph text layer, raw strings -> model inputs, for training and serving.

It tokenizes (tensorflow-text ops, which TF Serving links in), looks tokens up in hash tables and
pads, all inside the graph, so a model with this layer in front (or an export calling it) takes
plain text. `export/saved_model.py` builds its raw-string signatures on it.

Where the vocabulary lives:
- the layer's config lists the tokens, so a `.keras` file carries them;
- a layer built from a list or a `Vocabulary` initialises its tables from constants (the
  SavedModel stores them in the table initialiser);
- a layer built from a token file path (`Vocabulary.save`, `seqkeras.data.token_file`)
  initialises its tables from that file as a `tf.saved_model.Asset`: a SavedModel copies the
  file into `assets/` and reads it there. The exporter uses this form (see `export/SERVING.md`).
Both forms map every token the same way: the token is escaped as in the token file format
(`token_file.escape_tokens`), looked up among all tokens (reserved ones included), and an id
below `NUM_RESERVED` (a text spelled "<pad>", "<bos>", ...) becomes `OOV_ID`.

Behaviour on awkward input (the serving contract, also in `export/SERVING.md`):
- an empty string (or only white space, for word splits) gives a row with zero tokens; with
  `return_tokens=True` its `num_tokens` is 0; nothing fails because of it;
- a text longer than `sequence_length` tokens (bos and eos included) keeps its first tokens;
  `num_tokens` is the kept count and `truncated` says it happened;
- a batch mixing lengths is right-padded with `PAD_ID` to the longest row (at least 1 wide, so a
  batch of empty strings still runs a model), or to `sequence_length` with
  `pad_to_sequence_length=True`;
- non-string input, or a rank other than `(B,)` / `(B, 1)`, raises a `TypeError` / `ValueError`
  naming what was received; invalid UTF-8 raises `InvalidArgumentError` unless `byte_fallback`.
"""

import pathlib

import keras
import tensorflow as tf

from seqkeras.data.token_file import escape_token, escape_tokens
from seqkeras.data.tokenization import CharTokenizer, WordTokenizer
from seqkeras.data.vocabulary import BOS_ID, EOS_ID, NUM_RESERVED, OOV_ID, PAD_ID, RESERVED_TOKENS, Vocabulary

SPLITS = ("char", "whitespace", "unicode_script")


def _as_bytes(token):
    return token.encode("utf-8", errors="surrogateescape")


def _vocabulary_source(vocabulary, argument):
    """`(tokens with the reserved ones first, token file path or None)` of a vocabulary argument."""
    if isinstance(vocabulary, (str, pathlib.Path)):
        path = pathlib.Path(vocabulary)
        if not path.is_file():
            raise FileNotFoundError(f"`{argument}` file not found. Received: {argument}={str(vocabulary)!r}")
        tokens = Vocabulary.load(path).tokens
    else:
        path = None
        if not isinstance(vocabulary, Vocabulary):
            if isinstance(vocabulary, bytes) or not hasattr(vocabulary, "__iter__"):
                raise TypeError(
                    f"`{argument}` must be a Vocabulary, a list of tokens or a token file path. "
                    f"Received: {argument}={vocabulary!r}"
                )
            vocabulary = list(vocabulary)
            vocabulary = Vocabulary(vocabulary) if vocabulary else None
        tokens = vocabulary.tokens if vocabulary is not None else RESERVED_TOKENS
    if len(tokens) <= NUM_RESERVED:
        raise ValueError(f"`{argument}` must hold tokens beyond the reserved ones. Received: {argument} with 0 tokens")
    reserved = sorted(set(tokens[NUM_RESERVED:]) & set(RESERVED_TOKENS))
    if reserved:
        raise ValueError(
            f"`{argument}` must not hold tokens spelled like the reserved ones {RESERVED_TOKENS} (texts spelling "
            f"them map to OOV). Received: {reserved}"
        )
    return tuple(tokens), path


def _token_table(tokens, path):
    """Hash table escaped token -> id over all `tokens` (reserved first), from `path` when given."""
    if path is not None:
        asset = tf.saved_model.Asset(str(path))
        initializer = tf.lookup.TextFileInitializer(
            asset,
            key_dtype=tf.string,
            key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
            value_dtype=tf.int64,
            value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
        )
    else:
        asset = None
        keys = tf.constant([_as_bytes(escape_token(token)) for token in tokens], tf.string)
        values = tf.range(len(tokens), dtype=tf.int64)
        initializer = tf.lookup.KeyValueTensorInitializer(keys, values)
    return asset, tf.lookup.StaticHashTable(initializer, default_value=OOV_ID)


def _lookup(table, tokens, lowercase=False):
    """Ragged string tokens -> ragged int32 ids; reserved spellings ("<pad>") count as OOV."""

    def lookup_flat(flat):  # (N,) string -> (N,) int32
        if lowercase:
            flat = tf.strings.lower(flat, encoding="utf-8")
        ids = tf.cast(table.lookup(escape_tokens(flat)), tf.int32)
        return tf.where(ids < NUM_RESERVED, tf.constant(OOV_ID, tf.int32), ids)

    return tf.ragged.map_flat_values(lookup_flat, tokens)


def _add_special(rows, value, add_bos, add_eos):
    """Ragged (B, (n)) rows with `value[0]` prepended and/or `value[1]` appended to each row."""
    batch = rows.nrows()
    if add_bos:
        rows = tf.concat([tf.fill([batch, 1], value[0]), rows], axis=1)
    if add_eos:
        rows = tf.concat([rows, tf.fill([batch, 1], value[1])], axis=1)
    return rows


@keras.saving.register_keras_serializable(package="seqkeras")
class TokenLookup(keras.layers.Layer):
    """Tokenizes raw strings and maps tokens (and their characters) to ids, inside the graph.

    Put it in front of a model that takes `{"token_ids", "padding_mask"[, "char_ids"]}` so the
    model (or its SavedModel) accepts raw text; the exporter's raw-string signatures call it with
    `return_tokens=True`. No weights; the hash tables are tracked resources of the layer, and its
    config lists the vocabularies, so `.keras` files and SavedModels carry them (module docstring).

    Rows are right-padded with `PAD_ID` (0); `padding_mask` is True on real tokens (bos/eos
    included). With `sequence_length`, a row keeps at most that many ids, bos and eos included
    (eos stays last), and `pad_to_sequence_length` picks a static width; otherwise rows are padded
    to the batch's longest row (at least 1). `lowercase` lower-cases each token for the lookup
    only: `tokens` and `char_ids` keep the text's case.

    Args:
        vocabulary: a `Vocabulary`, a list of its non-reserved tokens (id order), or the path of
            a token file written by `Vocabulary.save` (then the table reads the file, an asset).
        split: `"char"` (`CharTokenizer`), `"whitespace"` or `"unicode_script"` (`WordTokenizer`).
        lowercase: lower-case tokens before the vocabulary lookup.
        byte_fallback: for `split="char"`, keep invalid UTF-8 as raw-byte tokens instead of
            raising (they map to OOV unless in the vocabulary).
        add_bos: prepend `BOS_ID` to each row.
        add_eos: append `EOS_ID` to each row.
        sequence_length: longest row, bos/eos included (int >= 1 + add_bos + add_eos), or None
            for no limit. Longer texts are truncated.
        pad_to_sequence_length: with `sequence_length`, pad every row to exactly that length
            (static shape) when True, or only to the batch's longest row when False.
        char_vocabulary: optional character vocabulary (same forms as `vocabulary`); adds
            `char_ids` int32 (B, T, C): the first `max_word_length` characters of each token
            (0 at bos/eos and padding).
        max_word_length: characters kept per token for `char_ids` (C is the batch's longest
            kept word, at least 1, or `max_word_length` with a static width).

    Call arguments:
        inputs: string tensor `(B,)` or `(B, 1)`.
        return_tokens: also return `tokens` string (B, T) (the kept tokens as in the text,
            "<bos>"/"<eos>" at those positions, "" at padding), `num_tokens` int32 (B,) (kept
            text tokens, bos/eos not counted) and `truncated` bool (B,).

    Returns:
        `{"token_ids": int32 (B, T), "padding_mask": bool (B, T)}`, plus `char_ids` with a
        character vocabulary and the `return_tokens` outputs when asked.

    Example:

    >>> layer = TokenLookup(["a", "b"], split="char", add_bos=True)
    >>> layer(tf.constant(["ab", "bxa"]))["token_ids"].numpy()
    array([[2, 4, 5, 0],
           [2, 5, 1, 4]], dtype=int32)
    >>> out = TokenLookup(["the", "cat"], split="whitespace", lowercase=True, sequence_length=2,
    ...                   pad_to_sequence_length=False)(tf.constant(["The cat sat", ""]), return_tokens=True)
    >>> out["token_ids"].numpy(), out["num_tokens"].numpy(), out["truncated"].numpy()
    (array([[4, 5],
           [0, 0]], dtype=int32), array([2, 0], dtype=int32), array([ True, False]))
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
        pad_to_sequence_length=True,
        char_vocabulary=None,
        max_word_length=16,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}. Received: split={split!r}")
        if byte_fallback and split != "char":
            raise ValueError(f"`byte_fallback` only applies to split='char'. Received: split={split!r}, byte_fallback=True")
        num_special = int(bool(add_bos)) + int(bool(add_eos))
        if sequence_length is not None and (
            isinstance(sequence_length, bool) or int(sequence_length) != sequence_length
            or sequence_length < 1 + num_special
        ):
            raise ValueError(
                f"`sequence_length` must be None or an integer >= {1 + num_special} (one text token "
                f"plus bos/eos). Received: sequence_length={sequence_length}"
            )
        if isinstance(max_word_length, bool) or int(max_word_length) != max_word_length or max_word_length < 1:
            raise ValueError(f"`max_word_length` must be a positive integer. Received: max_word_length={max_word_length}")
        self.split = split
        self.lowercase = bool(lowercase)
        self.byte_fallback = bool(byte_fallback)
        self.add_bos = bool(add_bos)
        self.add_eos = bool(add_eos)
        self.sequence_length = None if sequence_length is None else int(sequence_length)
        self.pad_to_sequence_length = bool(pad_to_sequence_length)
        self.max_word_length = int(max_word_length)
        if split == "char":
            self.tokenizer = CharTokenizer(byte_fallback=self.byte_fallback)
        else:
            self.tokenizer = WordTokenizer(split)
        self._tokens, path = _vocabulary_source(vocabulary, "vocabulary")
        self._asset, self._table = _token_table(self._tokens, path)
        self._char_tokens = None
        if char_vocabulary is not None:
            self._char_tokens, char_path = _vocabulary_source(char_vocabulary, "char_vocabulary")
            self._char_asset, self._char_table = _token_table(self._char_tokens, char_path)
        self._id_to_token = tf.constant([_as_bytes(token) for token in self._tokens], tf.string)
        # Strings pass through as they are (no float casting of inputs).
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    # ------------------------------------------------------------------------------------------
    # Vocabularies
    # ------------------------------------------------------------------------------------------
    @property
    def tokens(self):
        """Every token in id order, reserved ones first (a new list of str)."""
        return list(self._tokens)

    @property
    def vocabulary_size(self):
        return len(self._tokens)

    @property
    def vocabulary(self):
        """A `Vocabulary` of the layer's tokens (a new object, for Python-side use)."""
        return Vocabulary(self._tokens[NUM_RESERVED:])

    @property
    def char_vocabulary(self):
        """A `Vocabulary` of the character tokens, or None without `char_ids`."""
        return None if self._char_tokens is None else Vocabulary(self._char_tokens[NUM_RESERVED:])

    @property
    def has_chars(self):
        return self._char_tokens is not None

    # ------------------------------------------------------------------------------------------
    # In-graph mappings
    # ------------------------------------------------------------------------------------------
    def _strings(self, inputs):
        strings = inputs if tf.is_tensor(inputs) else tf.convert_to_tensor(inputs)
        if strings.dtype != tf.string:
            raise TypeError(f"`TokenLookup` takes string tensors. Received: dtype={strings.dtype.name}")
        rank = strings.shape.rank
        if rank == 2 and strings.shape[1] == 1:
            strings = tf.squeeze(strings, axis=-1)  # (B, 1) -> (B,)
        elif rank != 1:
            raise ValueError(f"`TokenLookup` takes strings of shape (B,) or (B, 1). Received: shape={strings.shape}")
        return strings

    @property
    def _static_width(self):
        return self.sequence_length is not None and self.pad_to_sequence_length

    def _width(self, lengths):
        """Padded row length: `sequence_length` when static, else the longest row (at least 1)."""
        if self._static_width:
            return tf.constant(self.sequence_length, tf.int64)
        return tf.reduce_max(tf.concat([lengths, tf.ones([1], tf.int64)], 0))

    def call(self, inputs, return_tokens=False):
        strings = self._strings(inputs)  # (B,)
        pieces = self.tokenizer.tokenize(strings)  # (B, (n)) string
        full_lengths = pieces.row_lengths()  # (B,)
        if self.sequence_length is not None:
            pieces = pieces[:, : self.sequence_length - int(self.add_bos) - int(self.add_eos)]
        specials = (BOS_ID, EOS_ID)
        ids = _add_special(_lookup(self._table, pieces, self.lowercase), specials, self.add_bos, self.add_eos)
        lengths = ids.row_lengths()  # (B,)
        batch = ids.nrows()
        width = self._width(lengths)
        shape = [None, self.sequence_length] if self._static_width else tf.stack([batch, width])
        outputs = {
            "token_ids": ids.to_tensor(default_value=PAD_ID, shape=shape),  # (B, T)
            "padding_mask": tf.sequence_mask(lengths, maxlen=width),  # (B, T)
        }
        if self.has_chars:
            outputs["char_ids"] = self._char_ids(pieces, width)  # (B, T, C)
        if return_tokens:
            spellings = (RESERVED_TOKENS[BOS_ID], RESERVED_TOKENS[EOS_ID])
            tokens = _add_special(pieces, spellings, self.add_bos, self.add_eos)
            outputs["tokens"] = tokens.to_tensor(default_value="", shape=shape)  # (B, T)
            num_tokens = pieces.row_lengths()
            outputs["num_tokens"] = tf.cast(num_tokens, tf.int32)  # (B,)
            outputs["truncated"] = full_lengths > num_tokens  # (B,)
        return outputs

    def _char_ids(self, pieces, width):
        """Character ids of the kept tokens, placed at their token positions: (B, T, C)."""
        chars = tf.strings.unicode_split(pieces.flat_values, "UTF-8")[:, : self.max_word_length]  # (W, (C))
        char_ids = pieces.with_flat_values(_lookup(self._char_table, chars))  # (B, (n), (C))
        char_ids = char_ids.to_tensor(default_value=PAD_ID)  # (B, n_max, C_max)
        shape = tf.shape(char_ids, out_type=tf.int64)
        if self._static_width:
            chars_width = tf.constant(self.max_word_length, tf.int64)
        else:
            chars_width = tf.maximum(shape[2], 1)
        bos = int(self.add_bos)
        padding = [[0, 0], [bos, width - bos - shape[1]], [0, chars_width - shape[2]]]
        char_ids = tf.pad(char_ids, padding)  # (B, T, C)
        if self._static_width:
            char_ids = tf.ensure_shape(char_ids, [None, self.sequence_length, self.max_word_length])
        return char_ids

    def ids_to_tokens(self, ids):
        """int ids of any shape -> token strings (reserved spellings for 0..3; out of range -> "")."""
        ids = tf.cast(ids, tf.int32)
        valid = (ids >= 0) & (ids < self.vocabulary_size)
        safe = tf.where(valid, ids, tf.zeros_like(ids))
        return tf.where(valid, tf.gather(self._id_to_token, safe), tf.constant("", tf.string))

    def compute_output_spec(self, inputs, return_tokens=False):
        batch = inputs.shape[0]
        static = self._static_width
        width = self.sequence_length if static else None
        spec = {
            "token_ids": keras.KerasTensor((batch, width), dtype="int32"),
            "padding_mask": keras.KerasTensor((batch, width), dtype="bool"),
        }
        if self.has_chars:
            spec["char_ids"] = keras.KerasTensor((batch, width, self.max_word_length if static else None), dtype="int32")
        if return_tokens:
            spec["tokens"] = keras.KerasTensor((batch, width), dtype="string")
            spec["num_tokens"] = keras.KerasTensor((batch,), dtype="int32")
            spec["truncated"] = keras.KerasTensor((batch,), dtype="bool")
        return spec

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": list(self._tokens[NUM_RESERVED:]),
                "split": self.split,
                "lowercase": self.lowercase,
                "byte_fallback": self.byte_fallback,
                "add_bos": self.add_bos,
                "add_eos": self.add_eos,
                "sequence_length": self.sequence_length,
                "pad_to_sequence_length": self.pad_to_sequence_length,
                "char_vocabulary": None if self._char_tokens is None else list(self._char_tokens[NUM_RESERVED:]),
                "max_word_length": self.max_word_length,
            }
        )
        return config
