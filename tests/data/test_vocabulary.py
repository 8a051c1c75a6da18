import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from seqkeras.data import corpora
from seqkeras.data.tokenization import CharTokenizer, WordTokenizer
from seqkeras.data.token_file import escape_tokens
from seqkeras.data.vocabulary import BOS_ID, EOS_ID, OOV_ID, PAD_ID, Vocabulary, counts_path_for


@pytest.fixture(scope="module")
def lee_words():
    return WordTokenizer("unicode_script", lowercase=True).tokenize(tf.constant(corpora.lee_documents()[:40]))


def test_reserved_ids_and_order():
    vocab = Vocabulary.build([["b", "a", "a"], ["c", "a", "b"]])
    assert (PAD_ID, OOV_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    assert vocab.tokens == ["<pad>", "<oov>", "<bos>", "<eos>", "a", "b", "c"]
    assert vocab.size == len(vocab) == 7
    assert vocab.counts == {"a": 3, "b": 2, "c": 1}


def test_build_from_list_and_dataset_agree(lee_words):
    from_lists = Vocabulary.build(lee_words.to_list(), min_count=2)
    from_dataset = Vocabulary.build(tf.data.Dataset.from_tensor_slices(lee_words), min_count=2)
    assert from_lists.tokens == from_dataset.tokens
    assert from_lists.counts == from_dataset.counts
    assert min(from_lists.counts.values()) >= 2
    assert from_lists.tokens[4] == "the"


def test_max_size_counts_reserved(lee_words):
    vocab = Vocabulary.build(lee_words.to_list(), max_size=50)
    assert vocab.size == 50
    full = Vocabulary.build(lee_words.to_list())
    assert vocab.tokens == full.tokens[:50]


def test_lookup_ragged_and_dense(lee_words):
    vocab = Vocabulary.build(lee_words.to_list(), max_size=100)
    ids = vocab.lookup(lee_words)
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    np.testing.assert_array_equal(ids.row_lengths(), lee_words.row_lengths())
    expected = [vocab.tokens.index(t.decode()) if t.decode() in vocab.tokens[4:] else OOV_ID
                for t in lee_words[0].numpy()]
    assert ids[0].numpy().tolist() == expected
    dense = vocab.lookup(tf.constant([["the", "qqqq"], [".", "the"]]))
    assert dense.shape == (2, 2) and dense.numpy()[0, 1] == OOV_ID


def test_lookup_tokens_detokenize_one_hot():
    vocab = Vocabulary(["h", "i", " "])
    ids = tf.constant([[BOS_ID, 4, 5, 6, 4, 1, EOS_ID, PAD_ID]])
    assert vocab.lookup_tokens(ids).numpy()[0, :3].tolist() == [b"<bos>", b"h", b"i"]
    assert vocab.detokenize(ids).numpy().tolist() == [b"hi h<oov>"]
    assert vocab.detokenize(tf.ragged.constant([[4, 5], [6]]), separator="|").numpy().tolist() == [b"h|i", b" "]
    assert vocab.detokenize(tf.constant([4, 5, 0])).numpy() == b"hi"
    one_hot = vocab.one_hot(tf.constant([[4, 0]]))
    assert one_hot.shape == (1, 2, 7) and one_hot.numpy()[0, 0, 4] == 1.0 and one_hot.numpy().sum() == 2
    assert vocab.one_hot(tf.ragged.constant([[4], [5, 6]])).shape.as_list() == [2, None, 7]
    with pytest.raises(tf.errors.InvalidArgumentError, match="out of range"):
        vocab.lookup_tokens(tf.constant([7]))


def test_lookup_inside_dataset_map():
    vocab = Vocabulary(["a", "b"])
    tokenizer = CharTokenizer()
    ds = tf.data.Dataset.from_tensor_slices(["ab", "ba", "c"]).map(lambda s: vocab.lookup(tokenizer.tokenize(s)))
    assert [x.tolist() for x in ds.as_numpy_iterator()] == [[4, 5], [5, 4], [1]]


def test_char_vocabulary_file_round_trip(tmp_path):
    text = corpora.wiki_articles()[1].text[:5000] + "\t\"\\\r\x00é"
    chars = CharTokenizer().tokenize(tf.constant([text]))
    vocab = Vocabulary.build(chars.to_list())
    assert "\n" in vocab.tokens and " " in vocab.tokens and "\x00" in vocab.tokens
    path = vocab.save(tmp_path / "chars.txt")
    loaded = Vocabulary.load(path)
    assert loaded.tokens == vocab.tokens and loaded.counts == vocab.counts
    assert len(path.read_text(encoding="utf-8").splitlines()) == vocab.size


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=12, unique=True))
def test_save_load_round_trips_any_token(tmp_path_factory, tokens):
    vocab = Vocabulary(tokens)
    path = vocab.save(tmp_path_factory.mktemp("v") / "vocab.txt")
    assert Vocabulary.load(path).tokens == vocab.tokens


def test_undecodable_byte_tokens_round_trip(tmp_path):
    chars = CharTokenizer(byte_fallback=True).tokenize(tf.constant([b"a\xffb"]))
    vocab = Vocabulary.build(chars.to_list())
    loaded = Vocabulary.load(vocab.save(tmp_path / "v.txt"))
    assert loaded.lookup(chars).numpy().tolist() == vocab.lookup(chars).numpy().tolist()
    assert loaded.detokenize(loaded.lookup(chars)).numpy()[0] == b"a\xffb"


@pytest.mark.parametrize(
    "data,kwargs,error,match",
    [
        ([], {}, ValueError, "empty corpus"),
        ([[], []], {}, ValueError, "empty corpus"),
        ([["a"]], {"min_count": 2}, ValueError, "min_count=2"),
        ([["a"]], {"min_count": 0}, ValueError, "min_count=0"),
        ([["a"]], {"max_size": 4}, ValueError, "max_size=4"),
        (["abc"], {}, TypeError, "tokenize first"),
    ],
)
def test_build_bad_input(data, kwargs, error, match):
    with pytest.raises(error, match=match):
        Vocabulary.build(data, **kwargs)


def test_empty_dataset_and_bad_files(tmp_path):
    empty = tf.data.Dataset.from_tensor_slices(tf.ragged.constant([[]], dtype=tf.string))
    with pytest.raises(ValueError, match="empty corpus"):
        Vocabulary.build(empty)
    with pytest.raises(ValueError, match="unique"):
        Vocabulary(["a", "a"])
    bad = tmp_path / "bad.txt"
    bad.write_text('"<pad>"\n"<unk>"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="reserved token"):
        Vocabulary.load(bad)


def test_saved_file_is_one_escaped_token_per_line_and_feeds_a_tf_lookup_table(tmp_path):
    tokens = ["a", "\n", "\t", "\r", "\\", " ", "\\n", '"q"', "é"]
    vocab = Vocabulary(tokens)
    path = vocab.save(tmp_path / "v.txt")
    lines = path.read_bytes().decode("utf-8").split("\n")
    assert lines[:4] == ["<pad>", "<oov>", "<bos>", "<eos>"] and lines[-1] == ""
    assert lines[4:-1] == ["a", "\\n", "\\t", "\\r", "\\\\", " ", "\\\\n", '"q"', "é"]
    assert not counts_path_for(path).exists()
    table = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(str(path), tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                                      tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
        default_value=-1,
    )
    ids = table.lookup(escape_tokens(tf.constant(tokens))).numpy().tolist()
    assert ids == vocab.lookup(tf.constant(tokens)).numpy().tolist() == list(range(4, 4 + len(tokens)))


def test_counts_file_beside_the_vocabulary(tmp_path):
    vocab = Vocabulary.build([["b", "a", "a"], ["c", "a", "b"]])
    path = vocab.save(tmp_path / "v.txt")
    assert counts_path_for(path).read_text(encoding="utf-8") == "3\n2\n1\n"
    assert Vocabulary.load(path).counts == {"a": 3, "b": 2, "c": 1}
    Vocabulary(["a", "b", "c"]).save(path)  # no counts: a stale counts file is removed
    assert not counts_path_for(path).exists() and Vocabulary.load(path).counts is None
    vocab.save(path)
    counts_path_for(path).write_text("3\n2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="one count per non-reserved token"):
        Vocabulary.load(path)
