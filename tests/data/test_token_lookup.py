import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkeras.data import corpora
from seqkeras.data.token_lookup import TokenLookup
from seqkeras.data.tokenization import CharTokenizer
from seqkeras.data.vocabulary import Vocabulary


@pytest.fixture(scope="module")
def char_vocab():
    text = corpora.wiki_articles()[0].text[:3000]
    return Vocabulary.build(CharTokenizer().tokenize(tf.constant([text])).to_list(), max_size=40)


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


def test_config_round_trip_and_vocab_file(tmp_path, char_vocab):
    path = char_vocab.save(tmp_path / "v.txt")
    layer = TokenLookup(str(path), split="char", sequence_length=5)
    clone = TokenLookup.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    np.testing.assert_array_equal(clone(tf.constant(["abc"]))["token_ids"], layer(tf.constant(["abc"]))["token_ids"])


@pytest.mark.parametrize(
    "kwargs,match",
    [({"split": "bpe"}, "split='bpe'"), ({"sequence_length": 0}, "sequence_length=0"),
     ({"split": "whitespace", "byte_fallback": True}, "byte_fallback")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TokenLookup(["a"], **kwargs)
