"""Corpora larger than memory: a glob of UTF-8 text files (plain or gzip) streamed with tf.data.

Every non-blank line is one document. Files are read in sorted order, one at a time
(`TextLineDataset` through `interleave` with `cycle_length=1`), so the stream, its split, its
shards and a vocabulary counted from it are the same on every run and every worker, and memory
does not grow with the corpus: only a read buffer and the current block are held. Blocks are
bounded in BYTES (`document_blocks`), not in documents: a block of N documents grows with the
documents' length, and per-character tensors cost ~32 bytes per character (one `tf.string`
each), so a 1,024-document block of 54k-character articles held 1.8 GB.

    files = corpus_files("data/*.txt.gz")
    check_files(files)                                                       # gzip intact, UTF-8 valid
    train = split_lines(line_dataset(files), "train", valid_fraction=0.01, test_fraction=0.01)
    vocabulary = Vocabulary.build(character_dataset(train), min_count=20)   # one streaming pass, 1 MiB blocks
    shard = shard_documents(train, num_shards=2, index=worker)              # document i -> i % 2
"""

import glob
import pathlib

import numpy as np
import tensorflow as tf

SPLITS = ("train", "valid", "test")
_BUCKETS = 10_000
BLOCK_BYTES = 1 << 20  # bytes of text per block (vocabulary pass, streamed training layouts)
_READ_LINES = 32  # lines read at a time into a block


def corpus_files(pattern):
    """Sorted files matching `pattern` (a glob, `**` allowed); ValueError naming it when none."""
    files = sorted(path for path in glob.glob(str(pattern), recursive=True) if pathlib.Path(path).is_file())
    if not files:
        raise ValueError(f"No file matches the corpus pattern. Received: corpus={str(pattern)!r}")
    return files


def check_files(files, chunk_bytes=1 << 20):
    """Raises ValueError naming the first of `files` that is not valid gzip (`.gz`, including a gzip
    file cut short) or not valid UTF-8 (with the byte offset and line), reading each in chunks
    (memory stays flat: one pass of decompression and decoding, no tensors).

    `tf.data.TextLineDataset` stops at the cut of a truncated gzip file WITHOUT an error (measured
    with TF 2.21: half of a 20,000-line file yielded 9,951 lines, silently), so a corpus whose
    files may be damaged must be checked before it is streamed; the pipelines do it once per run.
    """
    import codecs
    import gzip
    import zlib

    for path in map(pathlib.Path, files):
        decoder, offset, newlines = codecs.getincrementaldecoder("utf-8")(), 0, 0
        try:
            with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as handle:
                while chunk := handle.read(chunk_bytes):
                    pending = len(decoder.getstate()[0])  # bytes of a character cut by the previous chunk
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError as error:
                        start = offset - pending + error.start
                        line = newlines + chunk[: max(error.start - pending, 0)].count(b"\n") + 1
                        raise ValueError(f"{path} is not valid UTF-8 (byte {start}, line {line})") from None
                    offset, newlines = offset + len(chunk), newlines + chunk.count(b"\n")
                decoder.decode(b"", final=True)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{path} is not a valid gzip file ({error})") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not valid UTF-8 (ends inside a character)") from None


def line_dataset(files):
    """The non-blank lines of `files`, in order; `.gz` files are decompressed on the fly.

    A `.gz` file cut short is read up to the cut without an error (TensorFlow's reader): validate
    files that may be damaged with `check_files` first.

    Args:
        files: list of paths (see `corpus_files`).

    Returns:
        A `tf.data.Dataset` of scalar strings (one document each, without the newline).
    """
    files = [str(path) for path in files]
    compression = ["GZIP" if path.endswith(".gz") else "" for path in files]
    dataset = tf.data.Dataset.from_tensor_slices((files, compression)).interleave(
        lambda path, kind: tf.data.TextLineDataset(path, compression_type=kind, buffer_size=1 << 20),
        cycle_length=1,
    )
    return dataset.filter(lambda line: tf.strings.length(tf.strings.strip(line)) > 0)


def split_lines(lines, split, valid_fraction=0.1, test_fraction=0.1, seed=0):
    """The lines of one split, chosen by a keyed hash of the line's text (stable under sharding,
    file order and corpus growth; equal lines land in the same split)."""
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}. Received: split={split!r}")
    valid_stop = int(round(valid_fraction * _BUCKETS))
    test_stop = valid_stop + int(round(test_fraction * _BUCKETS))
    low, high = {"valid": (0, valid_stop), "test": (valid_stop, test_stop), "train": (test_stop, _BUCKETS)}[split]

    def keep(line):
        bucket = tf.strings.to_hash_bucket_strong(line, _BUCKETS, key=[int(seed), 0x5EC])
        return tf.logical_and(bucket >= low, bucket < high)

    return lines.filter(keep)


def shard_documents(lines, num_shards, index):
    """Document i of the stream goes to shard `i % num_shards` (deterministic, by document)."""
    if not 0 <= index < num_shards:
        raise ValueError(f"`index` must be in [0, {num_shards}). Received: index={index}")
    if num_shards == 1:
        return lines

    def mine(number, line):
        return number % num_shards == index

    def text(number, line):
        return line

    return lines.enumerate().filter(mine).map(text)  # named functions: AutoGraph reads them without warnings


def _pieces(line, max_bytes):
    """`line` (UTF-8 bytes) cut into pieces of at most `max_bytes`, never before a continuation
    byte, so no character is split (invalid bytes decode to the same U+FFFD either way)."""
    start = 0
    while len(line) - start > max_bytes:
        stop = start + max_bytes
        while stop > start + 1 and line[stop] & 0xC0 == 0x80:  # 10xxxxxx: inside a character
            stop -= 1
        yield line[start:stop]
        start = stop
    yield line[start:]


def document_blocks(lines, max_bytes=BLOCK_BYTES, cut=False):
    """Consecutive lines grouped into blocks of at most `max_bytes` bytes of text.

    Memory stays bounded by the block, whatever the number or the length of the documents: a
    block never holds more than `max_bytes` bytes, except a single line longer than that, which
    is a block of its own (`cut=False`, documents kept whole) or is cut into pieces of at most
    `max_bytes` bytes at character boundaries (`cut=True`, for counting characters).

    Args:
        lines: `tf.data.Dataset` of scalar strings (see `line_dataset`).
        max_bytes: int >= 4, bytes of text per block.
        cut: cut longer lines into pieces.

    Returns:
        A `tf.data.Dataset` of 1-D string tensors (the lines of one block, in order).

    Example:

    >>> blocks = document_blocks(line_dataset(corpus_files("data/*.txt.gz")), max_bytes=1 << 20)
    """
    if isinstance(max_bytes, bool) or int(max_bytes) != max_bytes or max_bytes < 4:
        raise ValueError(f"`max_bytes` must be an integer >= 4. Received: max_bytes={max_bytes!r}")

    def blocks():
        block, size = [], 0
        for batch in lines.batch(_READ_LINES).as_numpy_iterator():
            for line in batch:
                for piece in _pieces(line, max_bytes) if cut else (line,):
                    if block and size + len(piece) > max_bytes:
                        yield np.array(block, dtype=object)
                        block, size = [], 0
                    block.append(piece)
                    size += len(piece)
        if block:
            yield np.array(block, dtype=object)

    return tf.data.Dataset.from_generator(blocks, output_signature=tf.TensorSpec([None], tf.string))


def character_dataset(lines, max_bytes=BLOCK_BYTES):
    """Ragged batches of the lines' characters (invalid UTF-8 -> U+FFFD), for `Vocabulary.build`:
    one batch per block of at most `max_bytes` bytes (longer lines cut, see `document_blocks`)."""
    return document_blocks(lines, max_bytes, cut=True).map(
        lambda block: tf.strings.unicode_split(block, "UTF-8", errors="replace"),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def word_dataset(lines, max_bytes=BLOCK_BYTES):
    """Ragged batches of the lines' whitespace-separated words, for `Vocabulary.build` (word2vec,
    biLM): one batch per block of at most `max_bytes` bytes (a longer line is a block alone)."""
    return document_blocks(lines, max_bytes).map(tf.strings.split, num_parallel_calls=tf.data.AUTOTUNE)


def take_texts(lines, max_documents, max_characters=0, total_characters=0):
    """The first lines as Python strings (held-out sets of a streamed corpus): at most
    `max_documents`, each cut to `max_characters` (0: whole), stopping once `total_characters`
    (0: no limit) are held, so a held-out set does not grow with the corpus."""
    texts, held = [], 0
    for line in lines.take(max_documents).as_numpy_iterator():
        text = line.decode("utf-8", errors="replace")
        text = text[:max_characters] if max_characters else text
        if total_characters and held + len(text) > total_characters:
            text = text[: total_characters - held]
        if text:
            texts.append(text)
        held += len(text)
        if total_characters and held >= total_characters:
            break
    return texts


class TextStream:
    """One split of a file corpus, streamed: `lines()` is the tf.data stream, iterating gives str.

    Args:
        files: corpus files (see `corpus_files`).
        split: `"train"`, `"valid"` or `"test"` (see `split_lines`).
        valid_fraction, test_fraction, seed: the split.
        max_characters: cut every document to this many characters (0: whole).

    Example:

    >>> train = TextStream(corpus_files("data/*.txt.gz"), "train")
    >>> vocabulary = Vocabulary.build(character_dataset(train.lines()))
    """

    def __init__(self, files, split, valid_fraction=0.1, test_fraction=0.1, seed=0, max_characters=0):
        self.files = list(files)
        self.split = split
        self.valid_fraction = valid_fraction
        self.test_fraction = test_fraction
        self.seed = seed
        self.max_characters = max_characters

    def lines(self):
        lines = split_lines(line_dataset(self.files), self.split, self.valid_fraction, self.test_fraction, self.seed)
        if self.max_characters:
            lines = lines.map(lambda line: tf.strings.substr(line, 0, self.max_characters, unit="UTF8_CHAR"))
        return lines

    def characters(self):
        """Characters in the split (one in-graph pass; nothing is held)."""
        lengths = self.lines().map(lambda line: tf.strings.length(line, unit="UTF8_CHAR", name="characters"))
        return int(lengths.reduce(tf.constant(0, tf.int64), lambda total, n: total + tf.cast(n, tf.int64)))

    def __iter__(self):
        for line in self.lines().as_numpy_iterator():
            yield line.decode("utf-8", errors="replace")
