import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from seqkeras.data import corpora
from seqkeras.data.tokenization import CharTokenizer, WordTokenizer


@pytest.mark.parametrize(
    "text,expected",
    [
        ("héllo", ["h", "é", "l", "l", "o"]),
        ("", []),
        ("a b\n", ["a", " ", "b", "\n"]),
        ("日本🙂", ["日", "本", "🙂"]),
    ],
)
def test_char_tokenize_table(text, expected):
    tokens = CharTokenizer().tokenize(tf.constant([text]))
    assert [t.decode() for t in tokens[0].numpy()] == expected


def test_char_tokenize_shapes():
    tokenizer = CharTokenizer()
    assert tokenizer.tokenize("ab").shape == (2,)
    nested = tokenizer.tokenize(tf.constant([["ab", "c"], ["", "de"]]))
    assert nested.shape.as_list() == [2, 2, None]
    assert nested.to_list() == [[[b"a", b"b"], [b"c"]], [[], [b"d", b"e"]]]
    ragged = tokenizer.tokenize(tf.ragged.constant([["ab"], ["c", "d"]]))
    assert ragged.to_list() == [[[b"a", b"b"]], [[b"c"], [b"d"]]]


def test_char_round_trip_on_real_markup():
    texts = [a.text[:2000] for a in corpora.wiki_articles()[:5]]
    tokenizer = CharTokenizer()
    tokens = tokenizer.tokenize(tf.constant(texts))
    assert tokens.row_lengths().numpy().tolist() == [len(t) for t in texts]
    assert [t.decode() for t in tokenizer.detokenize(tokens).numpy()] == texts


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=4))
def test_char_round_trip_property(texts):
    tokenizer = CharTokenizer()
    tokens = tokenizer.tokenize(tf.constant(texts, dtype=tf.string))
    assert tokens.row_lengths().numpy().tolist() == [len(t) for t in texts]
    assert [t.decode() for t in tokenizer.detokenize(tokens).numpy()] == texts


def test_invalid_utf8_raises_without_fallback():
    with pytest.raises(tf.errors.InvalidArgumentError, match="invalid UTF-8"):
        CharTokenizer().tokenize(tf.constant([b"fine", b"bad\xff"]))
    # A real U+FFFD is valid text, not an error.
    assert CharTokenizer().tokenize(tf.constant(["\ufffd"])).to_list() == [["\ufffd".encode()]]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.binary(max_size=10), min_size=1, max_size=4))
def test_byte_fallback_is_lossless_for_any_bytes(blobs):
    tokenizer = CharTokenizer(byte_fallback=True)
    tokens = tokenizer.tokenize(tf.constant(blobs, dtype=tf.string))
    assert tokenizer.detokenize(tokens).numpy().tolist() == blobs


def test_byte_fallback_tokens():
    tokens = CharTokenizer(byte_fallback=True).tokenize(tf.constant([b"a\xff\xfeb"]))
    assert tokens.to_list() == [[b"a", b"\xff", b"\xfe", b"b"]]


@pytest.mark.parametrize(
    "method,lowercase,expected",
    [
        ("whitespace", False, ["Hello,", "WORLD!", "Ärger"]),
        ("whitespace", True, ["hello,", "world!", "ärger"]),
        ("unicode_script", False, ["Hello", ",", "WORLD", "!", "Ärger"]),
        ("unicode_script", True, ["hello", ",", "world", "!", "ärger"]),
    ],
)
def test_word_tokenize_table(method, lowercase, expected):
    tokens = WordTokenizer(method, lowercase=lowercase).tokenize(tf.constant(["Hello,  WORLD!\nÄrger", ""]))
    assert [t.decode() for t in tokens[0].numpy()] == expected
    assert tokens[1].shape == (0,)


def test_word_detokenize_and_nd():
    tokenizer = WordTokenizer()
    tokens = tokenizer.tokenize(tf.constant([["a b", "c"]]))
    assert tokens.shape.as_list() == [1, 2, None]
    assert tokenizer.detokenize(tokens).numpy().tolist() == [[b"a b", b"c"]]


def test_word_invalid_utf8_policies():
    with pytest.raises(tf.errors.InvalidArgumentError, match="invalid UTF-8 in input"):
        WordTokenizer().tokenize(tf.constant([b"a\xff b"]))
    replaced = WordTokenizer(errors="replace").tokenize(tf.constant([b"a\xff b"]))
    assert replaced.to_list() == [["a\ufffd".encode(), b"b"]]


def test_tokenizers_run_in_tf_data_graph():
    ds = tf.data.Dataset.from_tensor_slices(["x y", "z"]).map(WordTokenizer().tokenize)
    assert [t.tolist() for t in ds.as_numpy_iterator()] == [[b"x", b"y"], [b"z"]]


@pytest.mark.parametrize(
    "factory,match",
    [
        (lambda: WordTokenizer("bpe"), "method='bpe'"),
        (lambda: WordTokenizer(errors="ignore"), "errors='ignore'"),
        (lambda: CharTokenizer(byte_fallback="yes"), "byte_fallback='yes'"),
    ],
)
def test_bad_arguments(factory, match):
    with pytest.raises((ValueError, TypeError), match=match):
        factory()


def test_non_string_input_rejected():
    with pytest.raises(TypeError, match="string"):
        CharTokenizer().tokenize(tf.constant([1, 2]))
