"""Streaming file corpora: plain + gzip globs, hash splits, document shards, streaming vocabulary."""

import gzip

import numpy as np
import pytest

from seqkeras.data import text_files
from seqkeras.data.corpora import wiki_articles
from seqkeras.data.vocabulary import Vocabulary
from seqkeras.models.char_lm import datasets


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """60 real Wikipedia articles (first 300 characters, one per line) in 3 gzip files + 1 plain file."""
    folder = tmp_path_factory.mktemp("corpus")
    texts = [article.text.replace("\n", " ")[:300] for article in wiki_articles()][:60]
    for index in range(4):
        part = "\n".join(texts[index::4]) + "\n\n"  # a blank line: skipped
        if index < 3:
            with gzip.open(folder / f"part-{index}.txt.gz", "wt", encoding="utf-8") as handle:
                handle.write(part)
        else:
            (folder / "part-3.txt").write_text(part, encoding="utf-8")
    return folder, texts


def _lines(dataset):
    return [line.decode("utf-8") for line in dataset.as_numpy_iterator()]


def test_lines_of_plain_and_gzip_files_in_file_order(corpus):
    folder, texts = corpus
    files = text_files.corpus_files(str(folder / "part-*"))
    assert [f.rsplit("/", 1)[1] for f in files] == ["part-0.txt.gz", "part-1.txt.gz", "part-2.txt.gz", "part-3.txt"]
    expected = [text for index in range(4) for text in texts[index::4]]
    assert _lines(text_files.line_dataset(files)) == expected


def test_no_matching_file_names_the_pattern(tmp_path):
    with pytest.raises(ValueError, match="corpus='.*nothing-\\*.txt'"):
        text_files.corpus_files(str(tmp_path / "nothing-*.txt"))


def test_check_files_refuses_what_the_stream_would_read_silently(corpus, tmp_path):
    """TensorFlow's reader yields the lines before the cut of a truncated gzip file and no error (the
    reason `check_files` exists); `check_files` names the file, and passes intact plain/gzip files."""
    folder, texts = corpus
    files = text_files.corpus_files(str(folder / "part-*"))
    text_files.check_files(files)  # intact: no error
    data = (folder / "part-0.txt.gz").read_bytes()
    cut = tmp_path / "cut.txt.gz"
    cut.write_bytes(data[: len(data) // 2])
    read = _lines(text_files.line_dataset([str(cut)]))
    assert 0 < len(read) < len(texts[0::4])  # silently short (if TensorFlow starts raising, drop this note)
    with pytest.raises(ValueError, match=r"cut.txt.gz is not a valid gzip file \(Compressed file ended"):
        text_files.check_files([str(cut)])
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\u00e9\n".encode("utf-8") + "na\u00efve\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.txt is not valid UTF-8 \(byte 8, line 2\)"):
        text_files.check_files([str(latin)])


def test_splits_are_disjoint_cover_everything_and_do_not_depend_on_sharding(corpus):
    folder, texts = corpus
    lines = text_files.line_dataset(text_files.corpus_files(str(folder / "*")))
    splits = {split: _lines(text_files.split_lines(lines, split, 0.2, 0.2, seed=1)) for split in text_files.SPLITS}
    assert sorted(sum(splits.values(), [])) == sorted(texts)
    assert 0 < len(splits["valid"]) < 30 and 0 < len(splits["test"]) < 30
    shards = [_lines(text_files.shard_documents(lines, 3, index)) for index in range(3)]
    all_lines = _lines(lines)
    assert shards[1] == all_lines[1::3] and sorted(sum(shards, [])) == sorted(all_lines)  # document i -> shard i % 3
    reseeded = _lines(text_files.split_lines(lines, "test", 0.2, 0.2, seed=2))
    assert reseeded != splits["test"]


def test_streaming_vocabulary_equals_the_in_memory_one(corpus):
    folder, texts = corpus
    stream = text_files.TextStream(text_files.corpus_files(str(folder / "*")), "train", 0.1, 0.1, seed=0)
    train = list(stream)
    # 100-byte blocks: every 300-character line is cut into pieces (9 of the 60 hold non-ASCII characters)
    streamed = Vocabulary.build(text_files.character_dataset(stream.lines(), max_bytes=100), min_count=2)
    in_memory = Vocabulary.build([list(text) for text in train], min_count=2)
    assert streamed.tokens == in_memory.tokens and streamed.counts == in_memory.counts
    words = Vocabulary.build(text_files.word_dataset(stream.lines(), max_bytes=700), min_count=1)
    assert words.counts == Vocabulary.build([text.split() for text in train]).counts


def test_blocks_are_bounded_in_bytes_whatever_the_documents(corpus):
    folder, texts = corpus
    lines = text_files.line_dataset(text_files.corpus_files(str(folder / "*")))
    expected = [line.encode("utf-8") for line in _lines(lines)]
    blocks = [list(block) for block in text_files.document_blocks(lines, max_bytes=700).as_numpy_iterator()]
    assert sum(blocks, []) == expected  # whole documents, in order
    assert all(sum(map(len, block)) <= 700 for block in blocks) and len(blocks) > len(expected) / 3
    alone = [list(block) for block in text_files.document_blocks(lines, max_bytes=100).as_numpy_iterator()]
    assert alone == [[line] for line in expected]  # a document longer than a block is a block alone
    pieces = [piece for block in text_files.document_blocks(lines, max_bytes=100, cut=True).as_numpy_iterator()
              for piece in block]
    assert all(len(piece) <= 100 for piece in pieces) and b"".join(pieces) == b"".join(expected)
    assert all(piece.decode("utf-8") for piece in pieces)  # cut between characters, never inside one
    with pytest.raises(ValueError, match="max_bytes=0"):
        text_files.document_blocks(lines, max_bytes=0)


def test_streamed_truncated_bptt_rows_read_whole_documents_in_turn(corpus):
    folder, texts = corpus
    vocabulary = Vocabulary.build([list(text) for text in texts])
    lines = text_files.line_dataset(text_files.corpus_files(str(folder / "*")))
    batches = list(datasets.streamed_dataset(lines, vocabulary, window=16, rows=4, block_bytes=1_500).as_numpy_iterator())
    assert batches[0][0]["token_ids"].shape == (4, 16) and batches[0][0]["reset"].all()
    documents = {row: [] for row in range(4)}  # each row's documents, rebuilt from its windows
    for features, targets in batches:
        for row in range(4):
            ids = features["token_ids"][row][features["padding_mask"][row]]
            if features["reset"][row] and len(ids):
                documents[row].append([])
            if len(ids):
                assert not features["padding_mask"][row][len(ids):].any()  # padding only at a document's end
                documents[row][-1].extend(ids.tolist())
    expected = datasets.encode_documents(_lines(lines), vocabulary)
    rebuilt = sorted(document for row in documents.values() for document in row)
    assert rebuilt == sorted(inputs.tolist() for inputs, _ in expected)  # every document once, whole, in one row
    assert documents[1][0] == expected[1][0].tolist()  # rows take documents in stream order
    lengths = [sum(-(-len(d) // 16) for d in row) for row in documents.values()]
    assert max(lengths) - min(lengths) <= -(-max(len(i) for i, _ in expected) // 16)  # rows stay busy


def test_streamed_windows_hold_every_character_but_a_partial_batch_per_block(corpus):
    folder, texts = corpus
    vocabulary = Vocabulary.build([list(text) for text in texts])
    lines = text_files.line_dataset(text_files.corpus_files(str(folder / "*")))
    batches = list(datasets.streamed_dataset(lines, vocabulary, window=16, rows=4, mode="windows", block_bytes=2_000))
    features, targets = batches[0]
    assert tuple(features["token_ids"].shape) == (4, 16) and "reset" not in features
    real = sum(int(np.sum(f["padding_mask"])) for f, _ in batches)
    total = sum(len(text) + 1 for text in texts)  # [BOS] + characters per document
    blocks = len(list(text_files.document_blocks(lines, max_bytes=2_000)))
    assert total - blocks * 3 * 16 <= real <= total  # at most 3 windows (a partial batch) dropped per block


def test_held_out_texts_are_capped_in_documents_and_characters(corpus):
    folder, texts = corpus
    lines = text_files.line_dataset(text_files.corpus_files(str(folder / "part-0*")))
    assert text_files.take_texts(lines, 3, max_characters=10) == [text[:10] for text in texts[0::4][:3]]
    capped = text_files.take_texts(lines, 100, total_characters=450)
    assert sum(map(len, capped)) == 450 and capped[0] == texts[0]
