"""`seqkeras train word2vec --corpus GLOB`: plain/gzip files streamed (issue 16, corpora larger than memory).

Shards of gensim's Lee corpus written to tmp; the streamed vocabulary and batches equal the
in-memory ones on the same text, a glob trains end to end through the CLI, and a missing, empty or
corrupt file is a one-line error (exit 2).
"""

import gzip
import json

import numpy as np
import pytest

from seqkeras.data import corpora, text_files
from seqkeras.data.skipgrams import skipgram_dataset, streamed_skipgram_dataset
from seqkeras.data.vocabulary import NUM_RESERVED, Vocabulary
from seqkeras.models.word2vec import documents_to_ids, stream_vocabulary, tokenize_documents
from seqkeras.models.word2vec.training import stream_id_chunks

TEXTS = corpora.lee_documents()[:60]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Three shards: two gzip, one plain (a blank line in between is skipped)."""
    folder = tmp_path_factory.mktemp("lee")
    for index in range(3):
        text = "\n".join(TEXTS[index * 20:(index + 1) * 20]) + "\n\n"
        if index == 2:
            (folder / f"part{index}.txt").write_text(text, encoding="utf-8")
        else:
            with gzip.open(folder / f"part{index}.txt.gz", "wt", encoding="utf-8") as file:
                file.write(text)
    return folder


def lines_of(folder):
    return text_files.line_dataset(text_files.corpus_files(f"{folder}/*.txt*"))


def test_streamed_vocabulary_equals_the_in_memory_one(shards):
    documents = tokenize_documents(TEXTS)
    expected = Vocabulary.build(documents, min_count=3, max_size=NUM_RESERVED + 200)
    vocabulary, raw_words = stream_vocabulary(lines_of(shards), min_count=3, max_vocab_size=200, max_bytes=5000)
    assert vocabulary.tokens == expected.tokens and vocabulary.counts == expected.counts
    assert raw_words == sum(len(doc) for doc in documents)


@pytest.mark.parametrize("negative_group_size, epochs", [(1, 2), (8, 1)])
def test_streamed_batches_equal_the_in_memory_ones(shards, negative_group_size, epochs):
    documents = tokenize_documents(TEXTS)
    vocabulary = Vocabulary.build(documents, min_count=2)
    counts = np.zeros(vocabulary.size, np.int64)
    counts[NUM_RESERVED:] = [vocabulary.counts[word] for word in vocabulary.tokens[NUM_RESERVED:]]
    options = dict(window=3, negative=2, batch_size=128, chunk_size=700, seed=3, negative_group_size=negative_group_size)
    memory, memory_info = skipgram_dataset(documents_to_ids(documents, vocabulary), counts, **options)
    chunks = stream_id_chunks(lines_of(shards), vocabulary, chunk_size=700, max_bytes=3000)  # blocks cut chunks
    streamed, streamed_info = streamed_skipgram_dataset(chunks, counts, **options)
    assert streamed_info["steps"] == memory_info["steps"] and streamed_info["words"] == memory_info["words"]
    for _ in range(epochs):  # each epoch fresh draws, the same on both sides
        pairs = list(zip(memory.as_numpy_iterator(), streamed.as_numpy_iterator(), strict=True))
        assert len(pairs) == memory_info["steps"]
        for expected, batch in pairs:
            for key in expected:
                np.testing.assert_array_equal(batch[key], expected[key], err_msg=key)


def train_cli(capsys, *args):
    """`python -m pipelines.cli train word2vec ARGS` in this process: (exit code, stderr lines)."""
    from pipelines import cli

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "word2vec", *args])
    return exit_info.value.code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.slow
def test_a_glob_trains_end_to_end_through_the_cli(shards, tmp_path, capsys):
    pytest.importorskip("gensim.models")
    run_dir = tmp_path / "run"
    code, errors = train_cli(capsys, "--corpus", f"{shards}/*.txt*", "--min-count", "3", "--vector-size", "8",
                             "--epochs", "2", "--batch-size", "512", "--run-dir", str(run_dir), "--verbose", "0")
    assert code in (0, None), errors
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["words"] == sum(len(doc) for doc in tokenize_documents(TEXTS))
    assert len(metrics["history"]["loss"]) == 2 and all(np.isfinite(metrics["history"]["loss"]))
    vocabulary = Vocabulary.build(tokenize_documents(TEXTS), min_count=3)
    assert metrics["vocabulary_size"] == vocabulary.size - NUM_RESERVED
    assert (run_dir / "vectors.bin").is_file() and (run_dir / "model.keras").is_file()


def test_bad_corpora_are_one_line_errors(tmp_path, capsys):
    empty = tmp_path / "empty.txt.gz"
    with gzip.open(empty, "wt") as file:
        file.write("\n\n")
    (tmp_path / "bad.txt.gz").write_bytes(b"this is not gzip data\n" * 4)
    whole = gzip.compress(("\n".join(TEXTS) + "\n").encode("utf-8"))
    (tmp_path / "cut.txt.gz").write_bytes(whole[: len(whole) // 2])  # tf.data alone would read half, silently
    cases = {
        str(tmp_path / "none-*.txt"): "none-*.txt",
        str(empty): "empty corpus",
        str(tmp_path / "bad.txt.gz"): "bad.txt.gz is not a valid gzip file (Not a gzipped file",
        str(tmp_path / "cut.txt.gz"): "cut.txt.gz is not a valid gzip file (Compressed file ended before the end",
    }
    for number, (corpus, message) in enumerate(cases.items()):
        code, errors = train_cli(capsys, "--corpus", corpus, "--run-dir", str(tmp_path / f"run{number}"), "--verbose", "0")
        assert code == 2 and len(errors) == 1 and message in errors[0], (corpus, errors)
        # the run stopped before anything but its config.json: no run dir left for a retry to --overwrite
        assert not (tmp_path / f"run{number}").exists(), corpus
