"""In-graph text preprocessing for serving: raw strings -> model inputs.

The raw-string signatures of an export run tokenisation (tensorflow-text ops, which TF Serving links
in) and the vocabulary lookup inside the SavedModel, so a client sends plain text. This module holds
the `tf.Module` that does it; `saved_model.py` tracks it next to the Keras model. Its lookup tables
are initialised from token files (`seqkeras.data.token_file`, the format `Vocabulary.save` writes) that the SavedModel carries as assets.

Behaviour on awkward input (documented here and in `export/SERVING.md`):
- an empty string (or only whitespace, for word tokenizers) gives a row with zero tokens;
  signatures report `num_tokens == 0` for it and never fail because of it;
- a text longer than `max_length` tokens is truncated to its first `max_length` tokens (the BOS of
  a language model counts); `num_tokens` is the kept length and `truncated` says it happened;
- a batch mixing lengths is right-padded with `PAD_ID` to the longest (truncated) row.
"""

import tensorflow as tf

from seqkeras.data.token_file import escape_tokens, read_token_file
from seqkeras.data.vocabulary import BOS_ID, NUM_RESERVED, OOV_ID, PAD_ID


def _file_table(vocabulary_file):
    asset = tf.saved_model.Asset(str(vocabulary_file))
    table = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            asset,
            key_dtype=tf.string,
            key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
            value_dtype=tf.int64,
            value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
        ),
        default_value=OOV_ID,
    )
    return asset, table


def _lookup(table, tokens):
    """Ragged/dense string tokens -> int32 ids; reserved spellings ("<pad>") count as OOV."""

    def lookup_flat(flat):  # (N,) string -> (N,) int32
        ids = tf.cast(table.lookup(escape_tokens(flat)), tf.int32)
        return tf.where(ids < NUM_RESERVED, tf.constant(OOV_ID, tf.int32), ids)

    return tf.ragged.map_flat_values(lookup_flat, tokens)


def _check_vocabulary_file(path, what):
    tokens = read_token_file(path)
    if len(tokens) <= NUM_RESERVED:
        raise ValueError(
            f"The {what} must hold tokens beyond the {NUM_RESERVED} reserved ones. "
            f"Received: {len(tokens)} tokens in {path}"
        )
    return tokens


class TextPreprocessor(tf.Module):
    """Tokenizes strings and maps tokens (and optionally their characters) to ids, in the graph.

    Args:
        tokenizer: an object with `tokenize(strings) -> RaggedTensor[string]` built on TF ops
            (e.g. `seqkeras.data.tokenization.WordTokenizer` / `CharTokenizer`).
        vocabulary_file: token file (`seqkeras.data.token_file.write_token_file`, or `Vocabulary.save`) of every token in id
            order, reserved tokens included (as `Vocabulary.tokens`); unknown tokens -> `OOV_ID`.
        max_length: longest token sequence passed to the model; longer texts are truncated.
        add_bos: prepend `BOS_ID` to every row (language models trained with it).
        lowercase: lower-case tokens before the lookup (the `tokens` output keeps the text's case).
        char_vocabulary_file: optional character token file; adds `char_ids` (B, T, C) with the
            first `max_word_length` characters of each token (original case), as the tagger's
            `WordPreprocessor` builds them.
        max_word_length: characters kept per token for `char_ids`.
        name: module name.

    Example:
    ```python
    vocabulary.save("vocab.txt")  # or write_token_file("vocab.txt", vocabulary.tokens)
    pre = TextPreprocessor(WordTokenizer(), "vocab.txt", max_length=64)
    inputs, tokens, full_lengths = pre(tf.constant(["a short text", ""]))
    inputs["token_ids"].shape  # (2, 3)
    ```
    """

    def __init__(self, tokenizer, vocabulary_file, max_length, add_bos=False, lowercase=False,
                 char_vocabulary_file=None, max_word_length=16, name="text_preprocessor"):
        super().__init__(name=name)
        tokens = _check_vocabulary_file(vocabulary_file, "vocabulary")
        if isinstance(max_length, bool) or int(max_length) != max_length or int(max_length) < 1 + int(add_bos):
            raise ValueError(f"`max_length` must be an integer >= {1 + int(add_bos)}. Received: max_length={max_length}")
        if int(max_word_length) < 1:
            raise ValueError(f"`max_word_length` must be a positive integer. Received: max_word_length={max_word_length}")
        if not hasattr(tokenizer, "tokenize"):
            raise ValueError(f"`tokenizer` must have a `tokenize` method. Received: tokenizer={tokenizer!r}")
        self.tokenizer = tokenizer
        self.tokens = tokens
        self.max_length = int(max_length)
        self.add_bos = bool(add_bos)
        self.lowercase = bool(lowercase)
        self.max_word_length = int(max_word_length)
        self.vocabulary_asset, self.table = _file_table(vocabulary_file)
        self.id_to_token = tf.constant([t.encode("utf-8", "surrogateescape") for t in tokens], tf.string)
        self.has_chars = char_vocabulary_file is not None
        if self.has_chars:
            _check_vocabulary_file(char_vocabulary_file, "character vocabulary")
            self.char_vocabulary_asset, self.char_table = _file_table(char_vocabulary_file)

    @property
    def vocabulary_size(self):
        return len(self.tokens)

    def _split(self, texts):
        tokens = self.tokenizer.tokenize(texts)
        if not isinstance(tokens, tf.RaggedTensor):
            tokens = tf.RaggedTensor.from_tensor(tokens)
        return tokens  # (B, (n))

    def lookup(self, tokens):
        """Ragged string tokens -> ragged int32 ids (lower-cased first when `lowercase`)."""
        if self.lowercase:
            tokens = tf.ragged.map_flat_values(tf.strings.lower, tokens, encoding="utf-8")
        return _lookup(self.table, tokens)

    def __call__(self, texts):
        """`texts` (B,) string -> (model inputs, ragged kept tokens (B, (n)), untruncated lengths (B,)).

        Model inputs: `token_ids` int32 (B, T), `padding_mask` bool (B, T) and, with a character
        vocabulary, `char_ids` int32 (B, T, C). T >= 1 so a batch of empty strings still runs.
        """
        texts = tf.convert_to_tensor(texts, tf.string)
        full = self._split(texts)
        full_lengths = tf.cast(full.row_lengths(), tf.int32)  # (B,)
        tokens = full[:, : self.max_length - int(self.add_bos)]  # (B, (n))
        ids = self.lookup(tokens)
        if self.add_bos:
            ids = tf.concat([tf.fill([ids.nrows(), 1], tf.constant(BOS_ID, tf.int32)), ids], axis=1)
        lengths = ids.row_lengths()  # (B,)
        width = tf.maximum(tf.reduce_max(tf.concat([lengths, tf.ones([1], lengths.dtype)], 0)), 1)
        inputs = {
            "token_ids": ids.to_tensor(default_value=PAD_ID, shape=tf.stack([ids.nrows(), width])),  # (B, T)
            "padding_mask": tf.sequence_mask(lengths, maxlen=width),  # (B, T)
        }
        if self.has_chars:
            chars = tf.strings.unicode_split(tokens.flat_values, "UTF-8")[:, : self.max_word_length]  # (W, (C))
            char_ids = tokens.with_flat_values(_lookup(self.char_table, chars))  # (B, (n), (C))
            char_ids = char_ids.to_tensor(default_value=PAD_ID)  # (B, n_max, C_max)
            pad_t = width - tf.shape(char_ids, out_type=tf.int64)[1]
            pad_c = tf.maximum(1 - tf.shape(char_ids, out_type=tf.int64)[2], 0)
            inputs["char_ids"] = tf.pad(char_ids, [[0, 0], [0, pad_t], [0, pad_c]])  # (B, T, C)
        return inputs, tokens, full_lengths

    def ids_to_tokens(self, ids):
        """int ids of any shape -> token strings (out-of-range ids -> "")."""
        ids = tf.cast(ids, tf.int32)
        valid = (ids >= 0) & (ids < len(self.tokens))
        safe = tf.where(valid, ids, tf.zeros_like(ids))
        return tf.where(valid, tf.gather(self.id_to_token, safe), tf.constant("", tf.string))
