"""Sequence -> label classification: the heads on `TextBackbone` (plain and wide & deep), pooling
choices, masks, bad input, learning EWT genres, ensembles."""

import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from hypothesis import given, settings
from hypothesis import strategies as st

from seqkeras.models.classifier import (
    BagOfWordsBaseline,
    HashedBigramEmbedding,
    HashedNgramLinear,
    build_classifier,
    build_wide_and_deep_classifier,
)
from seqkeras.models.common import (
    MeanProbabilityLogits,
    TextBackbone,
    TextTask,
    build_ensemble,
    build_word_lookup,
    text_batches,
)
from helpers import reload_keras, run_layer_test

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
    if bigram_buckets:
        model = build_wide_and_deep_classifier(20, 3, hidden_dim=4, embedding_dim=4, pooling=pooling, causal=causal,
                                               bigram_buckets=bigram_buckets, wide_buckets=11)
    else:
        model = build_classifier(20, 3, hidden_dim=4, embedding_dim=4, pooling=pooling, causal=causal)
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
    encoded = model.get_layer("backbone")(_inputs())["sequence_output"].numpy()
    real = encoded[0, :3]  # (3, 8): row 0 has three real steps
    np.testing.assert_allclose(pooled[0], np.concatenate([real.mean(0), real.max(0)]), atol=1e-5)


def _bigram_slots(ids_row, mask_row, slots):
    """NumPy: the hash slot (0..slots-1) of every real adjacent pair of one row."""
    pairs = zip(ids_row[:-1], ids_row[1:], mask_row[:-1], mask_row[1:])
    return [((int(a) % slots) * 10007 + int(b)) % slots for a, b, ma, mb in pairs if ma and mb]


def _random_padded_ids(rng, lengths, low, high, width=7):
    """Right-padded int32 ids `(len(lengths), width)` drawn from [low, high) and their mask."""
    ids = np.zeros((len(lengths), width), "int32")
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(low, high, size=length)
    return ids, ids != 0


def _bigram_reference(layer, ids, mask):
    """NumPy: the mean of the embedding rows of each row's real adjacent pairs (zeros if none)."""
    table = layer.embedding.get_weights()[0]
    slots = layer.num_buckets - 1
    out = np.zeros((ids.shape[0], layer.embedding_dim), "float32")
    for row in range(ids.shape[0]):
        buckets = [1 + slot for slot in _bigram_slots(ids[row], mask[row], slots)]
        if buckets:
            out[row] = table[buckets].mean(0)
    return out


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.integers(0, 2**16))
def test_hashed_bigrams_match_numpy_and_ignore_padding(lengths, seed):
    rng = np.random.default_rng(seed)
    ids, mask = _random_padded_ids(rng, lengths, 4, 5000)
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
        build_wide_and_deep_classifier(20, 3, bigram_buckets=0)
    layer = HashedBigramEmbedding(num_buckets=30, embedding_dim=4, vocabulary_size=20)
    assert HashedBigramEmbedding.from_config(layer.get_config()).get_config() == layer.get_config()


def test_tagger_and_classifier_heads_share_one_backbone():
    """keras-hub's split: one TextBackbone, thin heads; the classifier pools the states the tagger tags."""
    from seqkeras.models.tagger import build_tagger

    keras.utils.set_random_seed(0)
    backbone = TextBackbone(20, hidden_dim=4, embedding_dim=4)
    tagger = build_tagger(num_tags=4, backbone=backbone)
    classifier = build_classifier(num_classes=3, pooling="mean", backbone=backbone)
    assert tagger.get_layer("backbone") is classifier.get_layer("backbone") is backbone
    states = backbone(_inputs())["sequence_output"].numpy()  # (2, 5, 8)
    dense = classifier.get_layer("class_logits")
    expected = states[0, :3].mean(0) @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(classifier(_inputs()).numpy()[0], expected, atol=1e-5)
    wide = build_wide_and_deep_classifier(num_classes=3, backbone=backbone, wide_buckets=11, name="wide")
    assert wide.get_layer("backbone") is backbone


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
def genre_slice(ewt_dir, tmp_path_factory):
    import gzip

    from seqkeras.data.corpora import EWT_GENRES, ewt_genre, read_conllu

    # 900 random training sentences; only they are parsed (the whole file takes seconds)
    source = gzip.open(ewt_dir / "en_ewt-ud-train.conllu.gz", "rt", encoding="utf-8").read()
    blocks = [block for block in source.split("\n\n") if block.strip()]  # one per sentence
    rng = np.random.default_rng(0)
    chosen = tmp_path_factory.mktemp("ewt") / "chosen.conllu"
    chosen.write_text("\n\n".join(blocks[i] for i in rng.choice(len(blocks), size=900, replace=False)) + "\n\n",
                      encoding="utf-8")
    picked = read_conllu(chosen)
    assert len(picked) == 900
    genres = list(EWT_GENRES)
    words = [s.words for s in picked]
    labels = [genres.index(ewt_genre(s.sent_id)) for s in picked]
    return words[:700], labels[:700], words[700:], np.array(labels[700:])


def test_classifier_learns_ewt_genres(genre_slice):
    """Trained on 700 sentences, the wide & deep classifier fits them and beats the majority class held out.

    Elman cells keep the test quick (the LSTM path is trained in test_tagger and the benchmark).
    """
    train_words, train_labels, test_words, test_labels = genre_slice
    lookup = build_word_lookup(train_words, min_count=1, characters=False)
    keras.utils.set_random_seed(0)
    model = build_wide_and_deep_classifier(
        lookup.vocabulary_size, 5, hidden_dim=16, embedding_dim=16, pooling="max", cell="elman",
        wide_buckets=2000, wide_scale=10.0,
    )
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = text_batches(lookup, [" ".join(w) for w in train_words], train_labels, batching="sorted", batch_size=32)
    model.get_layer("wide_ngram_logits").adapt(data)
    history = model.fit(data, epochs=4, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    predicted = np.stack(TextTask(lookup, model).predict_texts([" ".join(w) for w in test_words])).argmax(-1)
    majority = np.mean(test_labels == np.bincount(train_labels).argmax())
    assert np.mean(predicted == test_labels) > majority + 0.05


def test_bag_of_words_baseline_runs_on_the_slice(genre_slice):
    train_words, train_labels, test_words, test_labels = genre_slice
    baseline = BagOfWordsBaseline(min_count=1).fit(train_words, train_labels)
    majority = np.mean(test_labels == np.bincount(train_labels).argmax())
    assert np.mean(baseline.predict(test_words) == test_labels) > majority


@pytest.mark.slow
@pytest.mark.parametrize(
    "builder, options",
    [(build_classifier, dict(pooling="last", causal=True)),
     (build_wide_and_deep_classifier, dict(pooling="mean_max", bigram_buckets=30, wide_buckets=30, wide_scale=4.0))],
)
def test_classifier_save_load_round_trip(builder, options):
    model = builder(20, 3, hidden_dim=4, embedding_dim=4, cell="elman", **options)
    reloaded = reload_keras(model)
    np.testing.assert_allclose(reloaded(_inputs()).numpy(), model(_inputs()).numpy(), atol=1e-6)


@pytest.mark.slow
def test_classifier_ensemble_with_bigrams_characters_and_wide_branch_exports_for_serving():
    """In-graph word and character n-gram hashing, mean+max pooling and probability averaging survive SavedModel export."""
    import tensorflow as tf

    from export.saved_model import export_saved_model, preprocessing_arguments

    words = [["The", "cat", "sat"], ["A", "dog", "ran", "off"], ["Hi"]]  # "Hi": no bigram at all
    texts = [" ".join(w) for w in words]
    lookup = build_word_lookup(words, min_count=1)
    members = []
    for k in range(2):
        keras.utils.set_random_seed(k)
        member = build_wide_and_deep_classifier(
            lookup.vocabulary_size, 3, hidden_dim=4, embedding_dim=4, pooling="mean_max", bigram_buckets=30,
            wide_buckets=30, wide_char_buckets=40 if k else None,  # member 1's wide branch reads characters
            char_vocabulary_size=lookup.char_vocabulary.size, char_filters=4, cell="elman", name=f"member_{k}",
        )
        wide = member.get_layer("wide_ngram_logits")
        wide.adapt(text_batches(lookup, texts, batching="sorted", shuffle=False))  # idf travels with the export
        wide.kernel.assign(np.random.default_rng(k).normal(size=wide.kernel.shape))  # non-zero
        members.append(member)
    model = build_ensemble(members)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_saved_model(model, tmp, task="classifier", labels=["a", "b", "c"],
                                  **preprocessing_arguments(lookup))
        served = tf.saved_model.load(str(path)).signatures["classify_text"](text=tf.constant(texts))
    expected = np.mean([tf.nn.softmax(np.stack(TextTask(lookup, m).predict_texts(texts))).numpy() for m in members],
                       axis=0)
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Wide & deep: the linear bag-of-n-grams branch.
# ----------------------------------------------------------------------------------------------
def test_hashed_ngram_linear_passes_the_layer_contract():
    out = run_layer_test(
        HashedNgramLinear, dict(units=3, vocabulary_size=20, num_buckets=11, scale=2.0), IDS,
        call_kwargs={"padding_mask": IDS != 0}, expected_output_shape=(2, 3), expected_num_trainable_weights=1,
        expected_num_non_trainable_weights=1,
    )
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), 0.0)  # zero-initialised: adds nothing
    run_layer_test(
        HashedNgramLinear, dict(units=3, vocabulary_size=20, num_buckets=11, char_buckets=40), IDS,
        call_kwargs={"padding_mask": IDS != 0, "char_ids": _random_char_ids(np.random.default_rng(0), [3, 5], width=5)},
        expected_output_shape=(2, 3), expected_num_trainable_weights=1,
    )


def _word_ngram_rows(ids, mask, vocabulary_size, num_buckets):
    """NumPy: per row, the weight rows of its real unigrams and hashed bigrams."""
    slots = num_buckets - 1
    return [[int(t) for t, m in zip(ids[row], mask[row]) if m]
            + [vocabulary_size + 1 + slot for slot in _bigram_slots(ids[row], mask[row], slots)]
            for row in range(ids.shape[0])]


def _tfidf_reference(kernel, idf, bags, scale=1.0):
    """NumPy: `scale` * sum over bags of `sum_g v_g W[g] / ||v||`, `v_g = (1 + ln count_g) idf[g]`.

    `bags` is a list of bags, each a list (one per row) of the rows of that row's n-grams.
    """
    out = np.zeros((len(bags[0]), kernel.shape[1]), "float64")
    for bag in bags:
        for row, rows in enumerate(bag):
            if rows:
                distinct, counts = np.unique(rows, return_counts=True)
                value = (1 + np.log(counts)) * idf[distinct]
                out[row] += value @ kernel[distinct] / np.linalg.norm(value)
    return scale * out


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.integers(0, 2**16))
def test_hashed_ngram_linear_matches_numpy_tfidf_and_ignores_padding(lengths, seed):
    rng = np.random.default_rng(seed)
    ids, mask = _random_padded_ids(rng, lengths, 1, 6)  # few distinct ids: repeated n-grams
    layer = HashedNgramLinear(units=2, vocabulary_size=50, num_buckets=13, scale=3.0)
    layer.build(ids.shape)
    kernel = rng.normal(size=(63, 2)).astype("float32")
    idf = rng.uniform(1.0, 4.0, size=63).astype("float32")
    layer.set_weights([kernel, idf])
    out = layer(ids, mask).numpy()
    expected = _tfidf_reference(kernel, idf, [_word_ngram_rows(ids, mask, 50, 13)], scale=3.0)
    np.testing.assert_allclose(out, expected, atol=1e-4)
    garbage = np.where(mask, ids, rng.integers(1, 50, size=ids.shape)).astype("int32")
    np.testing.assert_allclose(layer(garbage, mask).numpy(), out, atol=1e-6)  # padded ids never count


def test_adapt_sets_the_idf_that_makes_the_layer_a_scikit_learn_tfidf_linear_model():
    from sklearn.feature_extraction.text import TfidfVectorizer

    rng = np.random.default_rng(0)
    lengths = [5, 3, 6, 1, 4, 6]
    ids, mask = _random_padded_ids(rng, lengths, 1, 8)  # repeated words and bigrams
    chars = _random_char_ids(rng, lengths)
    layer = HashedNgramLinear(units=3, vocabulary_size=8, num_buckets=11, char_buckets=23, char_ngram_range=(2, 3))
    batches = [({"token_ids": ids[:4], "padding_mask": mask[:4], "char_ids": chars[:4]}, np.zeros(4)),
               ({"token_ids": ids[4:], "padding_mask": mask[4:], "char_ids": chars[4:]}, np.zeros(2))]
    layer.adapt(batches)  # (inputs, targets) pairs, two batches
    kernel = rng.normal(size=(8 + 11 + 23, 3)).astype("float32")
    layer.kernel.assign(kernel)
    word_rows = _word_ngram_rows(ids, mask, 8, 11)
    char_rows = _char_ngram_rows(chars, lengths, 19, (2, 3), 23)
    expected = np.zeros((len(lengths), 3))
    for bag in (word_rows, char_rows):  # scikit-learn's tf-idf over the same n-gram rows, fitted on the same rows
        vectorizer = TfidfVectorizer(analyzer=lambda rows: rows, sublinear_tf=True)
        features = vectorizer.fit_transform(bag).toarray()
        expected += features @ kernel[vectorizer.get_feature_names_out().astype(int)]
    out = layer(ids, mask, char_ids=chars).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert layer.idf.numpy()[[0, 7]].min() > 1.0  # unseen rows get the largest idf, not 1
    with pytest.raises(ValueError, match="needs at least one sentence"):
        layer.adapt([])


def test_hashed_ngram_linear_arguments_are_checked():
    with pytest.raises(ValueError, match="Received: units=0"):
        HashedNgramLinear(units=0, vocabulary_size=20, num_buckets=11)
    with pytest.raises(ValueError, match="Received: num_buckets=1"):
        HashedNgramLinear(units=3, vocabulary_size=20, num_buckets=1)
    with pytest.raises(ValueError, match="Received: scale=0"):
        HashedNgramLinear(units=3, vocabulary_size=20, num_buckets=11, scale=0)
    with pytest.raises(ValueError, match="Received: wide_buckets=-3"):
        build_wide_and_deep_classifier(20, 3, wide_buckets=-3)
    with pytest.raises(ValueError, match="Received: wide_scale=-1.0"):
        build_wide_and_deep_classifier(20, 3, wide_buckets=30, wide_scale=-1.0)
    with pytest.raises(TypeError, match="wide_buckets"):  # the generic classifier has no n-gram branch
        build_classifier(20, 3, wide_buckets=30)


def _char_ngram_buckets(word, ngram_range, num_buckets):
    """NumPy: the bucket of every character n-gram of one word (char ids), framed by boundaries."""
    symbols = [1] + [int(c) + 1 for c in word] + [1]
    buckets = []
    for n in range(ngram_range[0], ngram_range[1] + 1):
        for start in range(len(symbols) - n + 1):
            hashed = n
            for symbol in symbols[start : start + n]:
                hashed = (hashed * 1000003 + symbol) % (2**31 - 1)
            buckets.append(hashed % num_buckets)
    return buckets


def _char_ngram_rows(chars, lengths, offset, ngram_range, num_buckets):
    """NumPy: per row, the weight rows (`offset` + bucket) of every character n-gram of its real words."""
    return [[offset + b for step in range(length)
             for b in _char_ngram_buckets([c for c in chars[row, step] if c], ngram_range, num_buckets)]
            for row, length in enumerate(lengths)]


def _random_char_ids(rng, lengths, width=7, word_width=4):
    """Char ids `[B, width, word_width]` (0 = padding) for right-padded sentences of `lengths` words."""
    chars = np.zeros((len(lengths), width, word_width), "int32")
    for row, length in enumerate(lengths):
        for step in range(length):
            size = int(rng.integers(1, word_width + 1))
            chars[row, step, :size] = rng.integers(1, 9, size=size)
    return chars


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.integers(0, 2**16))
def test_character_ngrams_join_the_wide_bag_as_their_own_normalised_bag(lengths, seed):
    rng = np.random.default_rng(seed)
    ids, mask = _random_padded_ids(rng, lengths, 1, 50)
    chars = _random_char_ids(rng, lengths)
    layer = HashedNgramLinear(units=2, vocabulary_size=50, num_buckets=13, char_buckets=17, char_ngram_range=(2, 3))
    layer.build(ids.shape)
    kernel = rng.normal(size=(50 + 13 + 17, 2)).astype("float32")
    idf = rng.uniform(1.0, 4.0, size=50 + 13 + 17).astype("float32")
    layer.set_weights([kernel, idf])
    char_rows = _char_ngram_rows(chars, lengths, 63, (2, 3), 17)
    expected = _tfidf_reference(kernel, idf, [_word_ngram_rows(ids, mask, 50, 13), char_rows])
    out = layer(ids, mask, char_ids=chars).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-4)
    garbage = np.where(mask[..., None], chars, rng.integers(1, 9, size=chars.shape)).astype("int32")
    np.testing.assert_allclose(layer(ids, mask, char_ids=garbage).numpy(), out, atol=1e-6)  # padded words never count


def test_character_ngrams_shorter_than_every_word_are_absent_and_case_counts():
    from seqkeras.models.classifier.hashed_ngram_linear import hash_char_ngrams

    buckets, real = hash_char_ngrams(np.array([[[5, 6]]]), (2, 6), 1000)  # "<ab>": 3 + 2 + 1 n-grams, none longer
    assert int(np.sum(real)) == 6
    np.testing.assert_array_equal(
        np.sort(np.asarray(buckets)[np.asarray(real)]), np.sort(_char_ngram_buckets([5, 6], (2, 6), 1000))
    )
    layer = HashedNgramLinear(units=1, vocabulary_size=10, num_buckets=5, char_buckets=1000)
    ids = np.array([[4]], "int32")
    layer.build(ids.shape)
    layer.kernel.assign(np.random.default_rng(0).normal(size=(1015, 1)))
    upper, lower = (layer(ids, ids != 0, char_ids=np.array([[[c, 6, 7]]])).numpy() for c in (3, 5))
    assert not np.allclose(upper, lower)  # same word id, different characters ("Apple" vs "apple")


def test_character_ngram_arguments_are_checked():
    with pytest.raises(ValueError, match=r"Received: char_ngram_range=\(4, 2\)"):
        HashedNgramLinear(units=3, vocabulary_size=20, num_buckets=11, char_buckets=30, char_ngram_range=(4, 2))
    layer = HashedNgramLinear(units=3, vocabulary_size=20, num_buckets=11, char_buckets=30)
    with pytest.raises(ValueError, match="needs `char_ids`"):
        layer(IDS, IDS != 0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one word per token"):
        layer(IDS, IDS != 0, char_ids=np.ones((2, 4, 3), "int32"))
    with pytest.raises(TypeError, match="wide_char_buckets"):  # n-gram options belong to the wide & deep model
        build_classifier(20, 3, char_vocabulary_size=10, wide_char_buckets=64)
    with pytest.raises(ValueError, match="char_vocabulary_size=None"):
        build_wide_and_deep_classifier(20, 3, wide_buckets=30, wide_char_buckets=64)


def test_classifier_with_character_ngrams_round_trips_and_trains():
    keras.utils.set_random_seed(0)
    model = build_wide_and_deep_classifier(20, 3, hidden_dim=4, embedding_dim=4, char_vocabulary_size=10,
                                           char_filters=4, wide_buckets=11, wide_char_buckets=64)
    chars = _random_char_ids(np.random.default_rng(0), [3, 5], width=5)
    inputs = dict(_inputs(), char_ids=chars)
    # two steps on two rows: run op by op (tracing the step would cost far more than running it)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True)
    wide = model.get_layer("wide_ngram_logits")
    wide.adapt(inputs)  # one batch, as a dict
    model.fit(inputs, np.array([0, 2]), epochs=2, verbose=0)
    assert np.abs(wide.kernel.numpy()[31:]).sum() > 0  # char rows trained
    reloaded = reload_keras(model)
    np.testing.assert_array_equal(reloaded.get_layer("wide_ngram_logits").idf.numpy(), wide.idf.numpy())
    np.testing.assert_allclose(reloaded(inputs).numpy(), model(inputs).numpy(), atol=1e-6)


def test_wide_branch_adds_its_linear_logits_to_the_deep_logits():
    keras.utils.set_random_seed(0)
    model = build_wide_and_deep_classifier(20, 3, hidden_dim=4, embedding_dim=4, pooling="mean", wide_buckets=11,
                                           wide_scale=2.0)
    deep = keras.Model(model.inputs, model.get_layer("class_logits").output)
    np.testing.assert_allclose(model(_inputs()).numpy(), deep(_inputs()).numpy(), atol=1e-6)  # wide starts at 0
    wide = model.get_layer("wide_ngram_logits")
    kernel = np.random.default_rng(0).normal(size=(31, 3)).astype("float32")
    wide.kernel.assign(kernel)
    expected = deep(_inputs()).numpy() + _tfidf_reference(
        kernel, np.ones(31), [_word_ngram_rows(IDS, IDS != 0, 20, 11)], scale=2.0
    )
    np.testing.assert_allclose(model(_inputs()).numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(model(_inputs(IDS[:1, :3])).numpy(), expected[:1], atol=1e-5)  # padding-free


# ----------------------------------------------------------------------------------------------
# Ensembles: averaged probabilities.
# ----------------------------------------------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(st.integers(1, 4), st.integers(0, 2**16))
def test_mean_probability_logits_softmax_is_the_mean_probability(count, seed):
    rng = np.random.default_rng(seed)
    logits = [rng.normal(scale=5.0, size=(3, 4)).astype("float32") for _ in range(count)]
    out = keras.ops.convert_to_numpy(MeanProbabilityLogits()(logits))
    probabilities = [np.exp(x - x.max(-1, keepdims=True)) for x in logits]
    mean = np.mean([p / p.sum(-1, keepdims=True) for p in probabilities], axis=0)
    np.testing.assert_allclose(np.exp(out), mean, rtol=1e-5)  # already normalised: log of the mean


def test_mean_probability_logits_rejects_bad_input():
    with pytest.raises(ValueError, match="list of logits"):
        MeanProbabilityLogits()(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="same shape.*\\(2, 3\\), \\(2, 4\\)"):
        MeanProbabilityLogits()([np.zeros((2, 3), "float32"), np.zeros((2, 4), "float32")])


def _members(count=2, builder=build_classifier, **options):
    members = []
    for k in range(count):
        keras.utils.set_random_seed(k)
        members.append(builder(20, 3, hidden_dim=4, embedding_dim=4, cell="elman", name=f"m{k}", **options))
    return members


def test_ensemble_averages_member_probabilities_and_reloads():
    members = _members(builder=build_wide_and_deep_classifier, wide_buckets=11)
    ensemble = build_ensemble(members)
    probabilities = np.mean([keras.ops.softmax(m(_inputs())).numpy() for m in members], axis=0)
    out = ensemble(_inputs()).numpy()
    np.testing.assert_allclose(keras.ops.softmax(out).numpy(), probabilities, atol=1e-6)
    np.testing.assert_allclose(reload_keras(ensemble)(_inputs()).numpy(), out, atol=1e-6)
    with pytest.raises(ValueError, match="batch sizes"):  # the ensemble checks its inputs like a member
        ensemble({"token_ids": IDS, "padding_mask": IDS[:1] != 0})


def test_ensemble_of_different_architectures_reads_the_union_of_their_inputs():
    words_only = _members(1)[0]
    keras.utils.set_random_seed(1)
    chars = build_classifier(20, 3, hidden_dim=4, cell="elman", char_vocabulary_size=10, char_filters=4, name="chars")
    ensemble = build_ensemble([words_only, chars])
    assert sorted(t.name for t in ensemble.inputs) == ["char_ids", "padding_mask", "token_ids"]
    inputs = dict(_inputs(), char_ids=np.random.default_rng(0).integers(1, 10, size=(2, 5, 3)).astype("int32"))
    expected = np.mean([keras.ops.softmax(words_only(_inputs())).numpy(), keras.ops.softmax(chars(inputs)).numpy()], 0)
    np.testing.assert_allclose(keras.ops.softmax(ensemble(inputs)).numpy(), expected, atol=1e-6)


def test_ensemble_arguments_are_checked():
    with pytest.raises(ValueError, match="non-empty list.*Received: members=\\[\\]"):
        build_ensemble([])
    same = build_classifier(20, 3, hidden_dim=4, cell="elman")
    with pytest.raises(ValueError, match="distinct names.*\\['classifier', 'classifier'\\]"):
        build_ensemble([same, build_classifier(20, 3, hidden_dim=4, cell="elman")])
    token_ids = keras.Input(shape=(5,), dtype="float32", name="token_ids")  # float ids: a different reading
    floats = keras.Model({"token_ids": token_ids}, keras.layers.Dense(3)(token_ids), name="floats")
    with pytest.raises(ValueError, match="input `token_ids` differently.*classifier.*int32.*floats.*float32"):
        build_ensemble([same, floats])
    wider = build_classifier(20, 4, hidden_dim=4, cell="elman", name="wider")
    with pytest.raises(ValueError, match="one shape.*\\(None, 3\\).*\\(None, 4\\)"):
        build_ensemble([same, wider])
