"""Token <-> id mapping with reserved ids, in-graph lookups and a plain-text file format.

Ids 0..3 are reserved: `PAD_ID` (padding), `OOV_ID` (any token not in the vocabulary),
`BOS_ID` and `EOS_ID` (sequence start / end, added by `windows.shift_by_one`). Real tokens start
at id 4. Lookups run inside the graph through a `tf.lookup.StaticHashTable` built from the
in-memory tokens, so a vocabulary attached to a Keras layer or a `tf.Module` is exported with it.

File format (`save` / `load`): the project's one token file format (`seqkeras.data.token_file`),
one token per line, line number = id, reserved tokens first, with `\\`, newline, carriage return
and tab backslash-escaped (`\\\\`, `\\n`, `\\r`, `\\t`):

    <pad>
    <oov>
    <bos>
    <eos>
    the
    \\n

TF Serving / `tf.lookup.TextFileInitializer(WHOLE_LINE -> LINE_NUMBER)` reads this file directly
(the export graph escapes input tokens with `token_file.escape_tokens` before the lookup). Undecodable
bytes (kept as lone surrogates) are written as the raw bytes. When the vocabulary has counts (built
from data), `save` also writes `<path>.counts`: one decimal count per line for the non-reserved
tokens in id order (its first line is the count of id 4). `load` reads it when present.
"""

import collections
import pathlib
import types

import tensorflow as tf

from seqkeras.data.token_file import read_token_file, write_token_file

PAD_ID = 0
OOV_ID = 1
BOS_ID = 2
EOS_ID = 3
RESERVED_TOKENS = ("<pad>", "<oov>", "<bos>", "<eos>")
NUM_RESERVED = len(RESERVED_TOKENS)


def counts_path_for(path):
    """The counts file `Vocabulary.save` writes beside the vocabulary file `path`: `<path>.counts`."""
    path = pathlib.Path(path)
    return path.with_name(path.name + ".counts")


def _to_text(token):
    """A token from TF (bytes) or Python (str) as str; undecodable bytes become lone surrogates."""
    if isinstance(token, bytes):
        return token.decode("utf-8", errors="surrogateescape")
    if isinstance(token, str):
        return token
    raise TypeError(f"Tokens must be str or bytes. Received: {token!r} of type {type(token).__name__}")


def _to_bytes(token):
    return token.encode("utf-8", errors="surrogateescape")


class Vocabulary(tf.Module):
    """Maps string tokens to int32 ids and back, in-graph.

    Args:
        tokens: the non-reserved tokens in id order (the first gets id 4). str or bytes,
            no duplicates.
        counts: optional counts, one per token (set by `Vocabulary.build`).

    Example:

    >>> vocab = Vocabulary.build([["a", "b", "a"], ["c", "a"]])
    >>> vocab.tokens[:6]
    ['<pad>', '<oov>', '<bos>', '<eos>', 'a', 'b']
    >>> vocab.lookup(tf.constant(["a", "zzz"])).numpy()
    array([4, 1], dtype=int32)
    """

    def __init__(self, tokens, counts=None):
        super().__init__(name="vocabulary")
        tokens = [_to_text(token) for token in tokens]
        seen = set()
        duplicates = [t for t in tokens if t in seen or seen.add(t)]
        if duplicates:
            raise ValueError(f"Vocabulary tokens must be unique. Received duplicates: {duplicates[:10]!r}")
        if counts is not None:
            counts = [int(c) for c in counts]
            if len(counts) != len(tokens):
                raise ValueError(f"`counts` must have one entry per token: {len(counts)} counts for {len(tokens)} tokens.")
        self._tokens = tokens
        self._counts = counts
        # Built once: read-only `{token: count}` view (callers look it up in loops).
        self._count_map = None if counts is None else types.MappingProxyType(dict(zip(tokens, counts)))
        keys = tf.constant([_to_bytes(t) for t in tokens], dtype=tf.string, shape=[len(tokens)])
        values = tf.range(NUM_RESERVED, NUM_RESERVED + len(tokens), dtype=tf.int32)
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, values, key_dtype=tf.string, value_dtype=tf.int32),
            default_value=OOV_ID,
        )
        self._id_to_token = tf.constant(
            [_to_bytes(t) for t in RESERVED_TOKENS + tuple(tokens)], dtype=tf.string
        )

    # ---------------------------------------------------------------------------------------
    # Construction
    # ---------------------------------------------------------------------------------------
    @classmethod
    def build(cls, token_sequences, min_count=1, max_size=None):
        """Builds a vocabulary from tokenised data.

        Tokens are ordered by decreasing count, ties broken by the token's UTF-8 bytes, so the
        result does not depend on the order of the data.

        Args:
            token_sequences: an iterable of token lists (str or bytes), or a `tf.data.Dataset`
                whose elements are 1-D string tensors (or ragged batches of them).
            min_count: keep tokens seen at least this often (>= 1).
            max_size: maximum `size`, reserved ids included (>= 5), or None for no limit.

        Raises:
            ValueError: bad arguments, an empty corpus, or no token reaching `min_count`.
        """
        if int(min_count) != min_count or min_count < 1:
            raise ValueError(f"`min_count` must be an integer >= 1. Received: min_count={min_count}")
        if max_size is not None and (int(max_size) != max_size or max_size <= NUM_RESERVED):
            raise ValueError(
                f"`max_size` counts the {NUM_RESERVED} reserved ids and must be > {NUM_RESERVED}. "
                f"Received: max_size={max_size}"
            )
        counter = collections.Counter()
        if isinstance(token_sequences, tf.data.Dataset):
            _count_dataset(token_sequences, counter)
        else:
            for sequence in token_sequences:
                if isinstance(sequence, (str, bytes)):
                    raise TypeError(
                        "`token_sequences` must hold token lists, not strings; tokenize first. "
                        f"Received an element: {sequence[:40]!r}"
                    )
                counter.update(_to_text(token) for token in sequence)
        if not counter:
            raise ValueError("Cannot build a vocabulary from an empty corpus (no tokens at all).")
        items = [(token, count) for token, count in counter.items() if count >= min_count]
        if not items:
            raise ValueError(
                f"No token occurs at least min_count={min_count} times "
                f"(most frequent: {counter.most_common(1)[0]!r})."
            )
        items.sort(key=lambda item: (-item[1], _to_bytes(item[0])))
        if max_size is not None:
            items = items[: max_size - NUM_RESERVED]
        return cls([t for t, _ in items], counts=[c for _, c in items])

    @classmethod
    def load(cls, path):
        """Reads a file written by `save` (format in the module docstring), with `<path>.counts` if present.

        Raises:
            ValueError: the file does not start with the reserved tokens, or the counts file does not
                hold one integer per non-reserved token.
        """
        path = pathlib.Path(path)
        lines = read_token_file(path)
        for number, token in enumerate(lines[:NUM_RESERVED]):
            if token != RESERVED_TOKENS[number]:
                hint = " (the old JSON-lines format? re-save it with this version)" if token.startswith('"') else ""
                raise ValueError(
                    f"{path}:{number + 1}: expected reserved token {RESERVED_TOKENS[number]!r}. Received: {token!r}{hint}"
                )
        if len(lines) < NUM_RESERVED:
            raise ValueError(f"{path}: a vocabulary file starts with the {NUM_RESERVED} reserved tokens; got {len(lines)} lines.")
        tokens = lines[NUM_RESERVED:]
        counts = None
        counts_path = counts_path_for(path)
        if counts_path.is_file():
            count_lines = counts_path.read_text(encoding="utf-8").split("\n")
            if count_lines and count_lines[-1] == "":
                count_lines.pop()
            if len(count_lines) != len(tokens):
                raise ValueError(
                    f"{counts_path}: expected one count per non-reserved token ({len(tokens)}). "
                    f"Received: {len(count_lines)} lines"
                )
            try:
                counts = [int(line) for line in count_lines]
            except ValueError as error:
                raise ValueError(f"{counts_path}: every line must be an integer count. {error}") from error
        return cls(tokens, counts=counts)

    def save(self, path):
        """Writes the vocabulary (format in the module docstring) and, with counts, `<path>.counts`.

        Returns the vocabulary file's path. A stale `<path>.counts` is removed when this vocabulary
        has no counts.

        Raises:
            ValueError: an empty token, or a token spelled like a reserved one (the file's lookup
                table needs unique, non-empty keys).
        """
        path = write_token_file(path, self.tokens)
        counts_path = counts_path_for(path)
        if self._counts is not None:
            counts_path.write_text("".join(f"{count}\n" for count in self._counts), encoding="utf-8")
        elif counts_path.exists():
            counts_path.unlink()
        return path

    # ---------------------------------------------------------------------------------------
    # Properties
    # ---------------------------------------------------------------------------------------
    @property
    def size(self):
        """Number of ids, reserved ids included (the `vocabulary_size` of a model)."""
        return NUM_RESERVED + len(self._tokens)

    def __len__(self):
        return self.size

    @property
    def tokens(self):
        """All tokens in id order, reserved ones first (a new list of str)."""
        return list(RESERVED_TOKENS) + list(self._tokens)

    @property
    def counts(self):
        """Read-only `{token: count}` when built from data, else None."""
        return self._count_map

    def __repr__(self):
        return f"Vocabulary(size={self.size}, tokens={self.tokens[NUM_RESERVED:NUM_RESERVED + 5]!r}...)"

    # ---------------------------------------------------------------------------------------
    # In-graph mappings
    # ---------------------------------------------------------------------------------------
    def lookup(self, strings):
        """Ids of string tokens, int32, same shape (dense or ragged); unknown tokens -> `OOV_ID`."""
        if isinstance(strings, tf.RaggedTensor):
            return tf.ragged.map_flat_values(self._table.lookup, strings)
        return self._table.lookup(tf.convert_to_tensor(strings, dtype=tf.string))

    def lookup_tokens(self, ids):
        """Token strings of ids, same shape (dense or ragged). Ids outside [0, size) raise."""
        if isinstance(ids, tf.RaggedTensor):
            return tf.ragged.map_flat_values(self.lookup_tokens, ids)
        ids = tf.convert_to_tensor(ids)
        tf.debugging.assert_less(
            tf.cast(ids, tf.int64), tf.constant(self.size, tf.int64),
            message=f"token id out of range for a vocabulary of size {self.size}",
        )
        tf.debugging.assert_non_negative(ids, message="token ids must be >= 0")
        return tf.gather(self._id_to_token, ids)

    def detokenize(self, ids, separator=""):
        """Joins the tokens of each sequence along the last axis, dropping pad, bos and eos.

        Args:
            ids: int tensor `[..., T]` (dense or ragged).
            separator: put between tokens (`""` for characters, `" "` for words).

        Returns:
            string tensor with the last axis removed. OOV ids come out as `"<oov>"`.
        """
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.convert_to_tensor(ids)
            if ids.shape.rank == 1:
                return self.detokenize(ids[tf.newaxis], separator)[0]
            ids = tf.RaggedTensor.from_tensor(ids)
        keep = (ids != PAD_ID) & (ids != BOS_ID) & (ids != EOS_ID)
        kept = tf.ragged.boolean_mask(ids, keep)
        return tf.strings.reduce_join(self.lookup_tokens(kept), axis=-1, separator=separator)

    def one_hot(self, ids, dtype=tf.float32):
        """One-hot vectors of depth `size` for ids, `[..., size]` (dense or ragged)."""
        if isinstance(ids, tf.RaggedTensor):
            return tf.ragged.map_flat_values(tf.one_hot, ids, self.size, dtype=dtype)
        return tf.one_hot(ids, self.size, dtype=dtype)


def _count_dataset(dataset, counter):
    """Adds the token counts of a dataset of 1-D string tensors, counting per batch in-graph."""
    spec = dataset.element_spec
    if not isinstance(spec, (tf.TensorSpec, tf.RaggedTensorSpec)) or spec.dtype != tf.string:
        raise TypeError(f"Expected a dataset of string tensors. Received element_spec={spec}")

    def unique_counts(batch):
        flat = batch.flat_values if isinstance(batch, tf.RaggedTensor) else tf.reshape(batch, [-1])
        unique, _, count = tf.unique_with_counts(flat)
        return unique, count

    if spec.shape.rank == 1:  # one token sequence per element
        dataset = dataset.ragged_batch(1024)
    elif spec.shape.rank == 0:
        dataset = dataset.batch(4096)
    for unique, count in dataset.map(unique_counts, num_parallel_calls=tf.data.AUTOTUNE).as_numpy_iterator():
        for token, n in zip(unique.tolist(), count.tolist()):
            counter[_to_text(token)] += int(n)
