"""`TokenLookup`: ids, masks, char_ids, truncation, reserved spellings, config / `.keras` / SavedModel."""

import collections
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import reload_keras, run_layer_test
from seqkeras.data import corpora
from seqkeras.data.token_file import write_token_file
from seqkeras.data.token_lookup import TokenLookup
from seqkeras.data.tokenization import CharTokenizer
from seqkeras.data.vocabulary import BOS_ID, EOS_ID, OOV_ID, PAD_ID, RESERVED_TOKENS, Vocabulary


@pytest.fixture(scope="module")
def char_vocab():
    text = corpora.wiki_articles()[0].text[:3000]
    return Vocabulary.build(CharTokenizer().tokenize(tf.constant([text])).to_list(), max_size=40)


@pytest.fixture(scope="module")
def ewt_sentences(ewt_dir):
    """60 real EWT dev sentences whose words hold no white space (so joining with spaces round-trips)."""
    sentences = corpora.read_conllu(pathlib.Path(ewt_dir) / "en_ewt-ud-dev.conllu.gz")[:80]
    return [list(s.words) for s in sentences if not any(" " in w or w == "" for w in s.words)][:60]


def numpy(outputs):
    return {key: value.numpy() for key, value in outputs.items()}


def test_char_lookup_ids_and_mask(char_vocab):
    layer = TokenLookup(char_vocab, split="char", add_bos=True, add_eos=True)
    out = layer(tf.constant(["an", "a"]))
    a, n = char_vocab.tokens.index("a"), char_vocab.tokens.index("n")
    np.testing.assert_array_equal(out["token_ids"], [[2, a, n, 3], [2, a, 3, 0]])
    np.testing.assert_array_equal(out["padding_mask"], [[True] * 4, [True, True, True, False]])


def test_word_lookup_fixed_length_truncates_keeping_eos():
    layer = TokenLookup(["the", "cat"], split="whitespace", lowercase=True, add_eos=True, sequence_length=3)
    out = layer(tf.constant([["The cat sat down"], [""]]))
    np.testing.assert_array_equal(out["token_ids"], [[4, 5, 3], [3, 0, 0]])
    assert out["token_ids"].shape == (2, 3)


def test_truncation_reports_kept_and_full_lengths():
    layer = TokenLookup(["the", "cat"], split="whitespace", add_bos=True, add_eos=True, sequence_length=4,
                       pad_to_sequence_length=False)
    out = numpy(layer(tf.constant(["the cat the cat the", "cat", "", "   "]), return_tokens=True))
    np.testing.assert_array_equal(out["token_ids"], [[BOS_ID, 4, 5, EOS_ID], [BOS_ID, 5, EOS_ID, PAD_ID],
                                                     [BOS_ID, EOS_ID, PAD_ID, PAD_ID], [BOS_ID, EOS_ID, PAD_ID, PAD_ID]])
    np.testing.assert_array_equal(out["num_tokens"], [2, 1, 0, 0])  # bos/eos not counted
    np.testing.assert_array_equal(out["truncated"], [True, False, False, False])
    assert out["tokens"].tolist() == [[b"<bos>", b"the", b"cat", b"<eos>"], [b"<bos>", b"cat", b"<eos>", b""],
                                      [b"<bos>", b"<eos>", b"", b""], [b"<bos>", b"<eos>", b"", b""]]

    # Dynamic width: the batch's longest row, never 0 wide; static width: always sequence_length.
    short = TokenLookup(["a"], split="char", sequence_length=5, pad_to_sequence_length=False)
    assert short(tf.constant(["a", "aa"]))["token_ids"].shape == (2, 2)
    empty = numpy(short(tf.constant(["", ""]), return_tokens=True))
    np.testing.assert_array_equal(empty["token_ids"], [[PAD_ID], [PAD_ID]])
    assert not empty["padding_mask"].any() and (empty["num_tokens"] == 0).all()
    fixed = TokenLookup(["a"], split="char", sequence_length=5)
    assert fixed(tf.constant(["", ""]))["token_ids"].shape == (2, 5)


def test_lowercase_is_for_the_lookup_only_and_char_ids_keep_case():
    layer = TokenLookup(["the", "cat"], split="whitespace", lowercase=True, char_vocabulary=["T", "h", "e", "t"],
                       max_word_length=2, add_bos=True)
    out = numpy(layer(tf.constant(["The CAT", "x"]), return_tokens=True))
    np.testing.assert_array_equal(out["token_ids"], [[BOS_ID, 4, 5], [BOS_ID, OOV_ID, PAD_ID]])
    assert out["tokens"][0].tolist() == [b"<bos>", b"The", b"CAT"]
    # (B, T, C): zeros at bos and padding, the first max_word_length characters in original case.
    assert out["char_ids"].shape == (2, 3, 2)
    np.testing.assert_array_equal(out["char_ids"][0], [[0, 0], [4, 5], [OOV_ID, OOV_ID]])
    np.testing.assert_array_equal(out["char_ids"][1], [[0, 0], [OOV_ID, 0], [0, 0]])


def _reference_vocabulary(token_lists, min_count):
    """Reserved tokens, then tokens seen >= min_count times by decreasing count, ties by UTF-8 bytes."""
    counts = collections.Counter(token for tokens in token_lists for token in tokens)
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t.encode("utf-8")))
    return list(RESERVED_TOKENS) + kept


def test_word_lookup_ids_and_char_ids_match_a_python_reference(ewt_sentences):
    """`build_word_lookup` on real EWT: vocabularies, ids, mask and char_ids equal a plain-Python computation."""
    from seqkeras.models.common import build_word_lookup

    train, held_out = ewt_sentences[:40], ewt_sentences[40:]
    lookup = build_word_lookup(train, min_count=2, max_word_length=6)
    words = _reference_vocabulary([[w.lower() for w in ws] for ws in train], min_count=2)
    chars = _reference_vocabulary([list(w[:6]) for ws in train for w in ws], min_count=1)
    assert lookup.vocabulary.tokens == words and lookup.char_vocabulary.tokens == chars
    word_id = {token: i for i, token in enumerate(words)}
    char_id = {token: i for i, token in enumerate(chars)}

    got = numpy(lookup(tf.constant([" ".join(ws) for ws in held_out])))
    assert set(got) == {"token_ids", "padding_mask", "char_ids"}
    width = max(len(ws) for ws in held_out)
    char_width = max(min(len(w), 6) for ws in held_out for w in ws)
    token_ids = np.zeros((len(held_out), width), "int32")
    char_ids = np.zeros((len(held_out), width, char_width), "int32")
    for row, ws in enumerate(held_out):
        for t, w in enumerate(ws):
            token_ids[row, t] = word_id.get(w.lower(), OOV_ID)  # lower-cased for the word lookup
            char_ids[row, t, : min(len(w), 6)] = [char_id.get(c, OOV_ID) for c in w[:6]]  # original case
    assert (token_ids == OOV_ID).any() and (char_ids == OOV_ID).any()  # unseen words and characters are compared
    np.testing.assert_array_equal(got["token_ids"], token_ids)
    np.testing.assert_array_equal(got["padding_mask"], np.arange(width) < np.array([[len(ws)] for ws in held_out]))
    np.testing.assert_array_equal(got["char_ids"], char_ids)


@pytest.mark.parametrize("from_file", [False, True])
def test_reserved_spellings_and_escaped_tokens(tmp_path, from_file):
    tokens = ["a", "\n", "\\", "\t", "\\n"]
    vocabulary = Vocabulary(tokens)
    source = vocabulary.save(tmp_path / "v.txt") if from_file else vocabulary
    layer = TokenLookup(source, split="char", byte_fallback=True)
    out = layer(tf.constant(["a\n\\\t", "<eos>", b"a\xff"]))["token_ids"].numpy()
    np.testing.assert_array_equal(out[0, :4], [4, 5, 6, 7])
    assert (out[1, :5] == OOV_ID).all()  # "<", "e", ... are not in the vocabulary
    np.testing.assert_array_equal(out[2, :2], [4, OOV_ID])  # a raw invalid byte is OOV, not an error
    words = TokenLookup(source, split="whitespace")
    ids = words(tf.constant(["<pad> <oov> <bos> <eos> a \\n"]))["token_ids"].numpy()
    np.testing.assert_array_equal(ids, [[OOV_ID] * 4 + [4, 8]])  # reserved spellings are ordinary unknown text


def test_ids_to_tokens():
    layer = TokenLookup(["a", "\n"], split="char")
    out = layer.ids_to_tokens(tf.constant([[0, 2, 4, 5], [3, 6, -1, 1]])).numpy()
    assert out.tolist() == [[b"<pad>", b"<bos>", b"a", b"\n"], [b"<eos>", b"", b"", b"<oov>"]]


def test_config_round_trip_and_vocab_file(tmp_path, char_vocab):
    path = char_vocab.save(tmp_path / "v.txt")
    layer = TokenLookup(str(path), split="char", sequence_length=5)
    clone = TokenLookup.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.tokens == char_vocab.tokens
    texts = tf.constant(["abc", "Anarchism is", ""])
    np.testing.assert_array_equal(clone(texts)["token_ids"], layer(texts)["token_ids"])


def test_config_and_json_round_trip_with_every_argument(char_vocab):
    kwargs = dict(vocabulary=["the", "cat"], split="unicode_script", lowercase=True, add_bos=True, add_eos=True,
                  sequence_length=6, pad_to_sequence_length=False, char_vocabulary=char_vocab.tokens[4:],
                  max_word_length=3)
    texts = np.array(["the Cat sat", "", "cat"], dtype=object)
    outputs = run_layer_test(TokenLookup, kwargs, texts, expected_output_mask=None, run_training=False,
                             expected_num_trainable_weights=0, expected_num_non_trainable_weights=0)
    np.testing.assert_array_equal(outputs["token_ids"], [[2, 4, 5, 1, 3], [2, 3, 0, 0, 0], [2, 5, 3, 0, 0]])
    assert TokenLookup(["a"], split="char", byte_fallback=True).get_config()["byte_fallback"] is True


@pytest.mark.slow
def test_keras_round_trip_with_char_ids(char_vocab):
    inputs = keras.Input(shape=(), dtype="string")
    lookup = TokenLookup(["the", "cat"], split="whitespace", lowercase=True, char_vocabulary=char_vocab,
                         max_word_length=4, sequence_length=5, name="lookup")
    features = lookup(inputs)
    assert features["token_ids"].shape == (None, 5) and features["char_ids"].shape == (None, 5, 4)
    chars = keras.layers.Embedding(char_vocab.size, 3)(features["char_ids"])  # (B, T, C, 3)
    words = keras.layers.Embedding(6, 3)(features["token_ids"])  # (B, T, 3)
    merged = keras.layers.Add()([words, keras.ops.sum(chars, axis=2)])
    pooled = keras.layers.GlobalAveragePooling1D()(merged, mask=features["padding_mask"])
    model = keras.Model(inputs, pooled)
    texts = tf.constant(["The cat sat", "", "Anarchism is a political philosophy"])
    expected = model(texts).numpy()
    np.testing.assert_allclose(model.predict_on_batch(texts), expected, atol=1e-6)  # graph == eager
    restored = reload_keras(model)
    np.testing.assert_allclose(restored(texts), expected, rtol=1e-6)
    assert restored.get_layer("lookup").get_config() == lookup.get_config()
    assert restored.get_layer("lookup").char_vocabulary.tokens == char_vocab.tokens


@pytest.mark.slow
def test_functional_save_load_and_export(tmp_path, char_vocab):
    inputs = keras.Input(shape=(), dtype="string")
    features = TokenLookup(char_vocab, split="char", name="lookup")(inputs)
    assert features["token_ids"].shape == (None, None)
    embedded = keras.layers.Embedding(char_vocab.size, 4)(features["token_ids"])
    pooled = keras.layers.GlobalAveragePooling1D()(embedded, mask=features["padding_mask"])
    model = keras.Model(inputs, pooled)
    texts = tf.constant(["anarchism", "x"])
    expected = model(texts).numpy()

    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(restored(texts), expected, rtol=1e-6)
    assert restored.get_layer("lookup").vocabulary.tokens == char_vocab.tokens

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", model.call, input_signature=[tf.TensorSpec([None], tf.string)])
    archive.write_out(str(tmp_path / "saved"))
    reloaded = tf.saved_model.load(str(tmp_path / "saved"))
    np.testing.assert_allclose(reloaded.serve(texts), expected, rtol=1e-6)


@pytest.mark.slow
def test_file_backed_tables_travel_as_saved_model_assets(tmp_path, char_vocab):
    path = char_vocab.save(tmp_path / "source" / "vocabulary.txt")
    layer = TokenLookup(path, split="char", add_bos=True, sequence_length=8, pad_to_sequence_length=False)
    module = tf.Module()
    module.lookup = layer
    module.serve = tf.function(lambda text: layer(text, return_tokens=True),
                               input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "assets" / "vocabulary.txt").read_bytes() == path.read_bytes()
    path.unlink()  # the SavedModel must not need the original file
    reloaded = tf.saved_model.load(str(tmp_path / "saved"))
    texts = tf.constant(["anarchism and more", "", "<bos>"])
    served = numpy(reloaded.serve(texts))
    direct = numpy(TokenLookup(char_vocab, split="char", add_bos=True, sequence_length=8,
                               pad_to_sequence_length=False)(texts, return_tokens=True))
    assert set(served) == set(direct)
    for key in direct:
        np.testing.assert_array_equal(served[key], direct[key], err_msg=key)


_WORDS = ["a", "bb", "ccc", "<pad>", "D"]


@settings(max_examples=40)
@given(st.lists(st.lists(st.sampled_from(_WORDS), max_size=7), min_size=1, max_size=5),
       st.integers(min_value=3, max_value=6), st.booleans(), st.booleans())
def test_rows_do_not_depend_on_the_batch(sentences, sequence_length, add_bos, add_eos):
    """Mixed lengths are right-padded; each row equals its own call, truncated to its first tokens."""
    layer = TokenLookup(["a", "bb", "ccc", "d"], split="whitespace", lowercase=True, add_bos=add_bos,
                        add_eos=add_eos, sequence_length=sequence_length, pad_to_sequence_length=False,
                        char_vocabulary=["a", "b", "c"], max_word_length=2)
    ids = {"a": 4, "bb": 5, "ccc": 6, "<pad>": OOV_ID, "D": 7}
    texts = [" ".join(words) for words in sentences]
    batch = numpy(layer(tf.constant(texts), return_tokens=True))
    cap = sequence_length - int(add_bos) - int(add_eos)
    for row, words in enumerate(sentences):
        kept = words[:cap]
        expected = [BOS_ID] * add_bos + [ids[w] for w in kept] + [EOS_ID] * add_eos
        width = batch["token_ids"].shape[1]
        assert width == max(1, max(min(len(w), cap) + add_bos + add_eos for w in sentences))
        np.testing.assert_array_equal(batch["token_ids"][row], expected + [PAD_ID] * (width - len(expected)))
        np.testing.assert_array_equal(batch["padding_mask"][row], np.arange(width) < len(expected))
        assert batch["num_tokens"][row] == len(kept) and batch["truncated"][row] == (len(words) > cap)
        alone = numpy(layer(tf.constant([texts[row]]), return_tokens=True))
        n = alone["token_ids"].shape[1]
        for key in ("token_ids", "padding_mask", "tokens"):
            np.testing.assert_array_equal(batch[key][row, :n], alone[key][0], err_msg=key)
        c = alone["char_ids"].shape[2]
        np.testing.assert_array_equal(batch["char_ids"][row, :n, :c], alone["char_ids"][0])
        assert not batch["char_ids"][row, n:].any() and not batch["char_ids"][row, :, c:].any()


@pytest.mark.parametrize(
    "kwargs,error,match",
    [({"split": "bpe"}, ValueError, "split='bpe'"),
     ({"sequence_length": 0}, ValueError, "sequence_length=0"),
     ({"sequence_length": 2, "add_bos": True, "add_eos": True}, ValueError, "sequence_length=2"),
     ({"sequence_length": 2.5}, ValueError, "sequence_length=2.5"),
     ({"split": "whitespace", "byte_fallback": True}, ValueError, "byte_fallback"),
     ({"max_word_length": 0}, ValueError, "max_word_length=0"),
     ({"vocabulary": ["a", "<bos>"]}, ValueError, "<bos>"),
     ({"vocabulary": []}, ValueError, "0 tokens"),
     ({"vocabulary": 7}, TypeError, "vocabulary=7"),
     ({"vocabulary": "no/such/vocabulary.txt"}, FileNotFoundError, "no/such/vocabulary.txt"),
     ({"char_vocabulary": ["x", "<eos>"]}, ValueError, "char_vocabulary")],
)
def test_bad_arguments(kwargs, error, match):
    kwargs = {"vocabulary": ["a"], **kwargs}
    with pytest.raises(error, match=match):
        TokenLookup(**kwargs)


def test_bad_files_and_inputs(tmp_path):
    write_token_file(tmp_path / "plain.txt", ["a", "b"])  # no reserved tokens first: not a vocabulary file
    with pytest.raises(ValueError, match="reserved token"):
        TokenLookup(tmp_path / "plain.txt")
    layer = TokenLookup(["a"], split="char")
    with pytest.raises(TypeError, match="dtype=int32"):
        layer(tf.constant([1, 2]))
    with pytest.raises(ValueError, match=r"shape=\(2, 2\)"):
        layer(tf.constant([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match=r"shape=\(\)"):
        layer(tf.constant("a"))
    for split in ("char", "whitespace"):  # invalid UTF-8: a readable error, eager and in a graph
        strict = TokenLookup(["a"], split=split)
        graph = tf.function(lambda texts: strict(texts)["token_ids"], autograph=False)
        for call in (strict, graph):
            with pytest.raises(tf.errors.InvalidArgumentError, match="invalid UTF-8 in input"):
                call(tf.constant([b"ok", b"caf\xe9"]))
        with pytest.raises(tf.errors.InvalidArgumentError, match="invalid UTF-8 in input"):
            strict(tf.constant([[b"ok"], [b"caf\xe9"]]))  # (B, 1) too
