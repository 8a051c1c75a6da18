"""Sequence -> label classification: pooling choices, masks, bad input, learning EWT genres."""

import tempfile

import keras
import numpy as np
import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from seqkeras.models.classifier import BagOfWordsBaseline, HashedBigramEmbedding, build_classifier
from helpers import reload_keras

IDS = np.array([[4, 5, 6, 0, 0], [7, 8, 9, 10, 11]], dtype="int32")


def _inputs(ids=IDS):
    return {"token_ids": ids, "padding_mask": ids != 0}


@pytest.mark.parametrize(
    "pooling, causal, bigram_buckets",
    [("mean", False, None), ("max", False, None), ("sum", True, None), ("last", True, None),
     ("mean_max", False, 30)],
)
def test_pooling_shapes_and_padding_invariance(pooling, causal, bigram_buckets):
    keras.utils.set_random_seed(0)
    model = build_classifier(
        20, 3, hidden_dim=4, embedding_dim=4, pooling=pooling, causal=causal, bigram_buckets=bigram_buckets
    )
    logits = model(_inputs()).numpy()
    assert logits.shape == (2, 3)
    alone = model(_inputs(IDS[:1, :3])).numpy()
    np.testing.assert_allclose(logits[:1], alone, atol=1e-5)  # padding changes nothing


def test_last_step_of_causal_model_reads_the_last_real_token():
    keras.utils.set_random_seed(0)
    model = build_classifier(20, 3, hidden_dim=4, embedding_dim=4, pooling="last", causal=True)
    edited = IDS.copy()
    edited[0, 2] = 12  # the last real token of row 0
    assert not np.allclose(model(_inputs()).numpy()[0], model(_inputs(edited)).numpy()[0])


def test_mean_max_pooling_concatenates_mean_and_max():
    keras.utils.set_random_seed(0)
    model = build_classifier(20, 3, hidden_dim=4, embedding_dim=4, pooling="mean_max")
    pooled = keras.Model(model.inputs, model.get_layer("mean_max_pooling").output)(_inputs()).numpy()
    encoded = keras.Model(model.inputs, model.get_layer("encoder_0_concat").output)(_inputs()).numpy()
    real = encoded[0, :3]  # (3, 8): row 0 has three real steps
    np.testing.assert_allclose(pooled[0], np.concatenate([real.mean(0), real.max(0)]), atol=1e-5)


def _bigram_reference(layer, ids, mask):
    """NumPy: the mean of the embedding rows of each row's real adjacent pairs (zeros if none)."""
    table = layer.embedding.get_weights()[0]
    slots = layer.num_buckets - 1
    out = np.zeros((ids.shape[0], layer.embedding_dim), "float32")
    for row in range(ids.shape[0]):
        buckets = [1 + ((int(a) % slots) * 10007 + int(b)) % slots
                   for a, b, ma, mb in zip(ids[row, :-1], ids[row, 1:], mask[row, :-1], mask[row, 1:]) if ma and mb]
        if buckets:
            out[row] = table[buckets].mean(0)
    return out


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.integers(0, 2**16))
def test_hashed_bigrams_match_numpy_and_ignore_padding(lengths, seed):
    rng = np.random.default_rng(seed)
    ids = np.zeros((len(lengths), 7), "int32")
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(4, 5000, size=length)
    mask = ids != 0
    layer = HashedBigramEmbedding(num_buckets=13, embedding_dim=3, vocabulary_size=5000)
    out = layer(ids, mask).numpy()
    np.testing.assert_allclose(out, _bigram_reference(layer, ids, mask), atol=1e-6)
    assert np.all(out[np.array(lengths) == 1] == 0)  # a single word has no bigram
    garbage = np.where(mask, ids, rng.integers(4, 5000, size=ids.shape)).astype("int32")
    np.testing.assert_allclose(layer(garbage, mask).numpy(), out, atol=1e-6)  # padded ids never count


def test_hashed_bigrams_depend_on_word_order():
    layer = HashedBigramEmbedding(num_buckets=1000, embedding_dim=4, vocabulary_size=20)
    mask = np.ones((1, 2), bool)
    buckets = layer.bucket_ids(np.array([[4, 5], [5, 4]])).numpy()
    assert buckets[0, 0] != buckets[1, 0] and np.all((buckets >= 1) & (buckets < 1000))
    assert not np.allclose(layer(np.array([[4, 5]]), mask).numpy(), layer(np.array([[5, 4]]), mask).numpy())


def test_hashed_bigram_arguments_are_checked():
    with pytest.raises(ValueError, match="Received: num_buckets=1"):
        HashedBigramEmbedding(num_buckets=1, embedding_dim=4, vocabulary_size=20)
    with pytest.raises(ValueError, match="overflow.*Received: num_buckets=1000000"):
        HashedBigramEmbedding(num_buckets=1_000_000, embedding_dim=4, vocabulary_size=20)
    with pytest.raises(ValueError, match="Received: bigram_buckets=0"):
        build_classifier(20, 3, bigram_buckets=0)
    layer = HashedBigramEmbedding(num_buckets=30, embedding_dim=4, vocabulary_size=20)
    assert HashedBigramEmbedding.from_config(layer.get_config()).get_config() == layer.get_config()


def test_last_pooling_needs_a_causal_encoder():
    with pytest.raises(ValueError, match="Received: pooling='last', causal=False"):
        build_classifier(20, 3, pooling="last")
    with pytest.raises(ValueError, match="Received: pooling='median'"):
        build_classifier(20, 3, pooling="median")


def test_bad_inputs_name_the_value():
    model = build_classifier(20, 3, hidden_dim=4, embedding_dim=4)
    with pytest.raises(TypeError, match="padding_mask with shape=\\(2, 5\\), dtype=float32"):
        model({"token_ids": IDS, "padding_mask": (IDS != 0).astype("float32")})
    with pytest.raises(ValueError, match="token_ids.*Received: token_ids with shape=\\(5,\\)"):
        model({"token_ids": IDS[0], "padding_mask": IDS != 0})
    with pytest.raises(ValueError, match="batch sizes"):
        model({"token_ids": IDS, "padding_mask": IDS[:1] != 0})


def test_all_pad_row_is_an_error():
    model = build_classifier(20, 3, hidden_dim=4, embedding_dim=4, pooling="mean")
    ids = IDS.copy()
    ids[0] = 0
    with pytest.raises(Exception, match="(?i)pad|valid|empty"):
        model(_inputs(ids))


@pytest.fixture(scope="module")
def genre_slice(ewt_dir):
    from seqkeras.data.corpora import EWT_GENRES, ewt_genre, read_conllu

    train = read_conllu(ewt_dir / "en_ewt-ud-train.conllu.gz")
    rng = np.random.default_rng(0)
    picked = [train[i] for i in rng.choice(len(train), size=900, replace=False)]
    genres = list(EWT_GENRES)
    words = [s.words for s in picked]
    labels = [genres.index(ewt_genre(s.sent_id)) for s in picked]
    return words[:700], labels[:700], words[700:], np.array(labels[700:])


def test_classifier_learns_ewt_genres(genre_slice):
    """Trained on 700 sentences, the classifier fits them and beats the majority class held out.

    Elman cells keep the test quick (the LSTM path is trained in test_tagger and the benchmark).
    """
    from seqkeras.models.common import WordPreprocessor

    train_words, train_labels, test_words, test_labels = genre_slice
    prep = WordPreprocessor.build(train_words, min_count=1, characters=False)
    keras.utils.set_random_seed(0)
    model = build_classifier(
        prep.vocabulary.size, 5, hidden_dim=16, embedding_dim=16, pooling="max", cell="elman"
    )
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(
        prep.dataset(train_words, train_labels, batch_size=32, shuffle=True), epochs=4, verbose=0, shuffle=False
    )
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    predicted = np.stack(prep.predict(model, test_words)).argmax(-1)
    majority = np.mean(test_labels == np.bincount(train_labels).argmax())
    assert np.mean(predicted == test_labels) > majority + 0.05


def test_bag_of_words_baseline_runs_on_the_slice(genre_slice):
    train_words, train_labels, test_words, test_labels = genre_slice
    baseline = BagOfWordsBaseline(min_count=1).fit(train_words, train_labels)
    majority = np.mean(test_labels == np.bincount(train_labels).argmax())
    assert np.mean(baseline.predict(test_words) == test_labels) > majority


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [dict(pooling="last", causal=True), dict(pooling="mean_max", bigram_buckets=30)],
)
def test_classifier_save_load_round_trip(options):
    model = build_classifier(20, 3, hidden_dim=4, embedding_dim=4, cell="elman", **options)
    reloaded = reload_keras(model)
    np.testing.assert_allclose(reloaded(_inputs()).numpy(), model(_inputs()).numpy(), atol=1e-6)


@pytest.mark.slow
def test_classifier_with_bigrams_and_characters_exports_for_serving():
    """The in-graph bigram hash and mean+max pooling survive SavedModel export (text in, labels out)."""
    import tensorflow as tf

    from export.saved_model import export_saved_model, preprocessing_arguments
    from seqkeras.models.common import WordPreprocessor

    words = [["The", "cat", "sat"], ["A", "dog", "ran", "off"], ["Hi"]]  # "Hi": no bigram at all
    prep = WordPreprocessor.build(words, min_count=1)
    keras.utils.set_random_seed(0)
    model = build_classifier(
        prep.vocabulary.size, 3, hidden_dim=4, embedding_dim=4, pooling="mean_max", bigram_buckets=30,
        char_vocabulary_size=prep.char_vocabulary.size, char_filters=4, cell="elman",
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = export_saved_model(model, tmp, task="classifier", labels=["a", "b", "c"], **preprocessing_arguments(prep))
        served = tf.saved_model.load(str(path)).signatures["classify_text"](
            text=tf.constant([" ".join(w) for w in words])
        )
    expected = tf.nn.softmax(np.stack(prep.predict(model, words))).numpy()
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-5)
