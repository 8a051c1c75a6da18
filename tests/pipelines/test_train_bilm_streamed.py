"""`seqkeras train bilm --corpus 'DIR/*.txt*'`: a glob of plain and gzip files, streamed (issue 16)."""

import dataclasses
import gzip
import json

import numpy as np
import pytest

from pipelines import cli, train_bilm
from seqkeras.data import corpora

TINY = ["--vocabulary-size", "40", "--min-count", "2", "--max-word-length", "8", "--char-embedding-dim", "4",
        "--char-filters", "6", "--hidden-dim", "4", "--num-layers", "1", "--sampled-softmax", "9",
        "--token-budget", "200", "--num-buckets", "4", "--epochs", "1", "--steps-per-epoch", "2",
        "--valid-fraction", "0.1", "--verbose", "0"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """The first 45 documents of gensim's Lee corpus in two gzip shards and one plain file, and the same
    text as one plain file (the in-memory path)."""
    folder = tmp_path_factory.mktemp("lee")
    documents = corpora.lee_documents()[:45]
    for index in range(2):
        with gzip.open(folder / f"part-{index}.txt.gz", "wt", encoding="utf-8") as handle:
            handle.write("\n".join(documents[index * 15: index * 15 + 15]) + "\n")
    (folder / "part-2.txt").write_text("\n".join(documents[30:]) + "\n", encoding="utf-8")
    whole = tmp_path_factory.mktemp("whole") / "lee.txt"
    whole.write_text("\n".join(documents) + "\n", encoding="utf-8")
    return folder, whole


@pytest.fixture(scope="module")
def streamed(shards):
    folder, _ = shards
    config = train_bilm.TrainConfig(corpus=(str(folder / "*.txt*"),), vocabulary_size=60, min_count=2,
                                    max_word_length=6, min_words=4, max_words=40, valid_fraction=0.1,
                                    token_budget=120, num_buckets=4)
    train, valid = train_bilm.stream_splits(config, train_bilm.corpus_files(config.corpus[0]))
    return config, train, valid, train_bilm.stream_vocabularies(config, train)


def test_the_streamed_sentences_and_vocabularies_equal_the_in_memory_ones(shards, streamed):
    _, whole = shards
    config, train, valid, (vocabulary, characters, histogram) = streamed
    train_texts = [text.decode("utf-8") for text in train.as_numpy_iterator()]
    # the sentences the in-memory path reads from one file of the same text; held out by a hash instead
    in_memory = train_bilm.load_corpus(dataclasses.replace(config, corpus=(str(whole),)))[0]
    assert sorted(train_texts + valid) == sorted(in_memory["train"] + in_memory["valid"])
    assert 0 < len(valid) < 0.2 * len(train_texts)
    expected_words, expected_characters = train_bilm.build_vocabularies(config, train_texts)
    assert vocabulary.tokens == expected_words.tokens and vocabulary.counts == expected_words.counts
    assert vocabulary.size == 60 and min(vocabulary.counts.values()) >= 2
    assert characters.tokens == expected_characters.tokens and characters.counts == expected_characters.counts
    lengths = train_bilm.tokenize(config, train_texts).row_lengths().numpy()
    np.testing.assert_array_equal(histogram, np.bincount(lengths, minlength=41))


def test_streamed_batches_hold_every_sentence_once_within_the_budget(streamed):
    config, train, _, (vocabulary, characters, histogram) = streamed
    boundaries, sizes, batches_per_pass = train_bilm.histogram_buckets(config, histogram)
    assert 1 <= len(boundaries) <= 3 and all(size >= 120 // 40 for size in sizes)
    preprocessor = train_bilm.make_preprocessor(config, vocabulary, characters)
    words = batches = 0
    for batch in train_bilm.stream_batches(config, train, preprocessor, boundaries, sizes, shuffle=False):
        rows, width = batch["token_ids"].shape
        mask = batch["padding_mask"].numpy()
        assert width == mask.sum(1).max() and rows * width <= 120 and batch["char_ids"].shape[2] <= 6
        words, batches = words + int(mask.sum()), batches + 1
    assert words == int((histogram * np.arange(histogram.size)).sum())  # every word, once
    assert batches == batches_per_pass
    # bucketed: batch_size per bucket; sorted: one bucket per length; random: one bucket
    for batching, buckets in (("bucketed", len(boundaries) + 1), ("sorted", np.count_nonzero(histogram)),
                              ("random", 1)):
        bounds, sizes, count = train_bilm.histogram_buckets(dataclasses.replace(config, batching=batching), histogram)
        assert len(sizes) == buckets and set(sizes) == {config.batch_size}
        assert count >= histogram.sum() / config.batch_size


@pytest.mark.slow
def test_a_glob_of_plain_and_gzip_files_trains_end_to_end(shards, tmp_path):
    folder, _ = shards
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "bilm", "--corpus", str(folder / "*.txt*"), "--run-dir", str(run_dir), *TINY])
    assert exit_info.value.code in (0, None)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["streamed"] and metrics["train_steps"] == 2 and metrics["vocabulary_size"] == 40
    assert np.isfinite(metrics["heldout_forward_perplexity"]) and metrics["heldout_forward_perplexity"] > 1
    assert 0 <= metrics["padding_fraction"] < 1 and metrics["batching"]["batches_per_pass"] > 2
    assert metrics["corpus_sentences_per_corpus"] == {str(folder / "*.txt*"): metrics["corpus_sentences"]}
    with pytest.raises(SystemExit):  # the held-out default of evaluate re-reads the stream's held-out split
        cli.main(["evaluate", str(run_dir)])
    heldout = json.loads((run_dir / "eval-heldout.json").read_text())
    assert heldout["sentences"] == metrics["heldout"]["sentences"]
    assert heldout["forward_perplexity"] == pytest.approx(metrics["heldout_forward_perplexity"], rel=1e-4)


def _bad_corpora(folder):
    (folder / "empty").mkdir()
    (folder / "empty" / "a.txt").write_text("")
    (folder / "notgz").mkdir()
    (folder / "notgz" / "a.txt.gz").write_text("plain text, not gzip\n")
    (folder / "corrupt").mkdir()
    data = bytearray(gzip.compress(("\n".join(corpora.lee_documents()[:5]) + "\n").encode("utf-8")))
    data[20:60] = b"x" * 40  # a gzip header, then garbage
    (folder / "corrupt" / "a.txt.gz").write_bytes(bytes(data))
    (folder / "cut").mkdir()
    whole = gzip.compress(("\n".join(corpora.lee_documents()[:40]) + "\n").encode("utf-8"))
    (folder / "cut" / "a.txt.gz").write_bytes(whole[: len(whole) // 2])  # tf.data alone reads half, silently
    return {"none": str(folder / "nothing" / "*.txt"), "empty": str(folder / "empty" / "*"),
            "notgz": str(folder / "notgz" / "*.gz"), "corrupt": str(folder / "corrupt" / "*.gz"),
            "cut": str(folder / "cut" / "*.gz"), "mixed": f"lee,{folder}/*.txt"}


@pytest.mark.parametrize("kind, message", [
    ("none", "No file matches"), ("empty", "is empty"), ("notgz", "is not a gzip file"),
    ("corrupt", "a.txt.gz is not a valid gzip file (Error -3 while decompressing"), ("mixed", "the only `corpus` entry"),
    ("cut", "a.txt.gz is not a valid gzip file (Compressed file ended before the end-of-stream marker"),
])
def test_a_bad_glob_exits_2_with_one_line(tmp_path, capsys, kind, message):
    corpus = _bad_corpora(tmp_path)[kind]
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "bilm", "--corpus", corpus, "--run-dir", str(tmp_path / "run"), *TINY])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqkeras: error") and message in lines[0], lines
    assert not (tmp_path / "run").exists()  # refused before the run dir opens, or its config.json removed
