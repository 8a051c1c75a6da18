"""Corpora larger than memory: a glob of UTF-8 text files (plain or gzip) streamed with tf.data.

Every non-blank line is one document. Files are read in sorted order, one at a time
(`TextLineDataset` through `interleave` with `cycle_length=1`), so the stream, its split, its
shards and a vocabulary counted from it are the same on every run and every worker, and memory
does not grow with the corpus: only a read buffer and the current batch are held.

    files = corpus_files("data/*.txt.gz")
    train = split_lines(line_dataset(files), "train", valid_fraction=0.01, test_fraction=0.01)
    vocabulary = Vocabulary.build(character_dataset(train), min_count=20)   # one streaming pass
    shard = shard_documents(train, num_shards=2, index=worker)              # document i -> i % 2
"""

import glob
import pathlib

import tensorflow as tf

SPLITS = ("train", "valid", "test")
_BUCKETS = 10_000


def corpus_files(pattern):
    """Sorted files matching `pattern` (a glob, `**` allowed); ValueError naming it when none."""
    files = sorted(path for path in glob.glob(str(pattern), recursive=True) if pathlib.Path(path).is_file())
    if not files:
        raise ValueError(f"No file matches the corpus pattern. Received: corpus={str(pattern)!r}")
    return files


def line_dataset(files):
    """The non-blank lines of `files`, in order; `.gz` files are decompressed on the fly.

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
    return lines.enumerate().filter(lambda i, line: i % num_shards == index).map(lambda i, line: line)


def character_dataset(lines, batch_size=1024):
    """Ragged batches of the lines' characters (invalid UTF-8 -> U+FFFD), for `Vocabulary.build`."""
    return lines.batch(batch_size).map(
        lambda batch: tf.strings.unicode_split(batch, "UTF-8", errors="replace"),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def word_dataset(lines, batch_size=1024):
    """Ragged batches of the lines' whitespace-separated words, for `Vocabulary.build` (word2vec, biLM)."""
    return lines.batch(batch_size).map(tf.strings.split, num_parallel_calls=tf.data.AUTOTUNE)


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

    def __iter__(self):
        for line in self.lines().as_numpy_iterator():
            yield line.decode("utf-8", errors="replace")
