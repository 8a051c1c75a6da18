"""Character- and word-level tokenizers on top of tensorflow-text, fully in-graph.

Both follow the tensorflow-text interface: `tokenize(strings)` takes a string tensor of any
rank N (dense or ragged) and returns an (N+1)-D `tf.RaggedTensor` of string tokens;
`detokenize(tokens)` joins the last axis back into strings.

Invalid UTF-8 policy:
- `CharTokenizer(byte_fallback=False)` raises `tf.errors.InvalidArgumentError` ("invalid
  UTF-8") when an input is not valid UTF-8.
- `CharTokenizer(byte_fallback=True)` never raises: each invalid byte sequence (as delimited by
  the UTF-8 decoder, 1 to 3 bytes) becomes one raw-byte token, so detokenize(tokenize(x)) == x
  for every byte string.
- `WordTokenizer(errors="strict")` raises `tf.errors.InvalidArgumentError` ("invalid UTF-8"),
  naming the first bad row's index; `errors="replace"` replaces each invalid sequence by U+FFFD
  before splitting.

Empty strings give empty rows (zero tokens); they are not an error here. Batching decides what
to do with empty sequences (see `batching.batch_sequences`).
"""

import tensorflow as tf
import tensorflow_text as tf_text

_REPLACEMENT = "\ufffd".encode("utf-8")


def _as_string_tensor(strings):
    if isinstance(strings, tf.RaggedTensor):
        if strings.dtype != tf.string:
            raise TypeError(f"Expected string tokens. Received dtype={strings.dtype}")
        return strings
    strings = tf.convert_to_tensor(strings)
    if strings.dtype != tf.string:
        raise TypeError(f"Expected a string tensor. Received dtype={strings.dtype}")
    return strings


def _apply_to_rows(fn, strings):
    """Applies `fn` (1-D strings -> 2-D ragged tokens) to a string tensor of any rank."""
    strings = _as_string_tensor(strings)
    if isinstance(strings, tf.RaggedTensor):
        return strings.with_flat_values(fn(strings.flat_values))
    rank = strings.shape.rank
    if rank is None:
        raise ValueError("The rank of the input strings must be known.")
    if rank == 0:
        return fn(strings[tf.newaxis])[0]
    if rank == 1:
        return fn(strings)
    nested = tf.RaggedTensor.from_tensor(strings, ragged_rank=rank - 1)
    return nested.with_flat_values(fn(nested.flat_values))


class CharTokenizer:
    """Splits UTF-8 strings into Unicode characters (one token per code point).

    Built on `tensorflow_text.UnicodeCharTokenizer`: its byte offsets cut the input into
    per-character substrings, so tokens are exactly the input bytes.

    Args:
        byte_fallback: False (default) raises on invalid UTF-8; True keeps each invalid byte
            sequence as its own raw-byte token (lossless, see module docstring).

    Example:

    >>> CharTokenizer().tokenize(["héllo", ""]).to_list()
    [[b'h', b'\\xc3\\xa9', b'l', b'l', b'o'], []]
    """

    def __init__(self, byte_fallback=False):
        if not isinstance(byte_fallback, bool):
            raise TypeError(f"`byte_fallback` must be a bool. Received: byte_fallback={byte_fallback!r}")
        self.byte_fallback = byte_fallback
        self._splitter = tf_text.UnicodeCharTokenizer()

    def _tokenize_1d(self, strings):
        # strings: (N,)
        codepoints, starts, ends = self._splitter.tokenize_with_offsets(strings)  # each (N, None)
        row_ids = codepoints.value_rowids()  # (C,)
        # The characters tile every string's bytes in order, so regrouping the flat byte
        # sequence by each character's byte length gives the pieces in O(bytes) memory
        # (a `substr` over `gather(strings, row_ids)` would copy each string once per character).
        all_bytes = tf.strings.bytes_split(strings).flat_values  # (total_bytes,)
        byte_lengths = ends.flat_values - starts.flat_values  # (C,)
        pieces = tf.strings.reduce_join(
            tf.RaggedTensor.from_row_lengths(all_bytes, tf.cast(byte_lengths, tf.int64)), axis=1
        )  # (C,)
        if not self.byte_fallback:
            invalid = (codepoints.flat_values == 0xFFFD) & (pieces != _REPLACEMENT)
            tf.debugging.Assert(
                tf.logical_not(tf.reduce_any(invalid)),
                # The row index, not the row: raw invalid bytes in the message would break its decoding.
                ["CharTokenizer: invalid UTF-8 in input (use byte_fallback=True to keep raw bytes); first bad row index:",
                 tf.gather(row_ids, tf.where(invalid)[:1, 0])],
            )
        return codepoints.with_flat_values(pieces)

    def tokenize(self, strings):
        """Strings of any rank N -> (N+1)-D ragged tensor of one-character strings."""
        return _apply_to_rows(self._tokenize_1d, strings)

    def detokenize(self, tokens):
        """Concatenates the last axis: `detokenize(tokenize(x)) == x`."""
        return tf.strings.reduce_join(tokens, axis=-1)

    def get_config(self):
        return {"byte_fallback": self.byte_fallback}


class WordTokenizer:
    """Splits UTF-8 strings into words.

    Args:
        method: `"whitespace"` (`tensorflow_text.WhitespaceTokenizer`: split on Unicode white
            space, punctuation stays attached) or `"unicode_script"`
            (`tensorflow_text.UnicodeScriptTokenizer`: also split where the Unicode script
            changes, so punctuation becomes its own token).
        lowercase: lower-case (Unicode-aware) before splitting.
        errors: `"strict"` raises on invalid UTF-8, `"replace"` substitutes U+FFFD.

    Example:

    >>> WordTokenizer("unicode_script", lowercase=True).tokenize(["Hello, world!"]).to_list()
    [[b'hello', b',', b'world', b'!']]
    """

    METHODS = ("whitespace", "unicode_script")

    def __init__(self, method="whitespace", lowercase=False, errors="strict"):
        if method not in self.METHODS:
            raise ValueError(f"`method` must be one of {self.METHODS}. Received: method={method!r}")
        if not isinstance(lowercase, bool):
            raise TypeError(f"`lowercase` must be a bool. Received: lowercase={lowercase!r}")
        if errors not in ("strict", "replace"):
            raise ValueError(f"`errors` must be 'strict' or 'replace'. Received: errors={errors!r}")
        self.method = method
        self.lowercase = lowercase
        self.errors = errors
        if method == "whitespace":
            self._splitter = tf_text.WhitespaceTokenizer()
        else:
            self._splitter = tf_text.UnicodeScriptTokenizer(keep_whitespace=False)

    def _tokenize_1d(self, strings):
        # Repairs the UTF-8 (replace) or checks it (strict), then lower-cases and splits. (N,) -> (N, None)
        repaired = tf.strings.unicode_transcode(strings, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
        if self.errors == "strict":
            invalid = tf.not_equal(repaired, strings)  # (N,); valid text is left byte for byte
            check = tf.debugging.Assert(
                tf.logical_not(tf.reduce_any(invalid)),
                # The row index, not the row: raw invalid bytes in the message would break its decoding.
                ["WordTokenizer: invalid UTF-8 in input (errors='replace' substitutes U+FFFD); first bad row index:",
                 tf.where(invalid)[:1, 0]],
            )
            with tf.control_dependencies([check]):
                repaired = tf.identity(repaired)
        strings = repaired
        if self.lowercase:
            strings = tf.strings.lower(strings, encoding="utf-8")
        return self._splitter.tokenize(strings)

    def tokenize(self, strings):
        """Strings of any rank N -> (N+1)-D ragged tensor of word strings."""
        return _apply_to_rows(self._tokenize_1d, strings)

    def detokenize(self, tokens):
        """Joins the last axis with single spaces (white space inside the input is not restored)."""
        return tf.strings.reduce_join(tokens, axis=-1, separator=" ")

    def get_config(self):
        return {"method": self.method, "lowercase": self.lowercase, "errors": self.errors}
