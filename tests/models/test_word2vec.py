import numpy as np
import pytest
import tensorflow as tf

import keras
from seqkeras.data.corpora import gensim_test_data, lee_documents
from seqkeras.models.word2vec import (
    DEFINITIONAL_PAIRS,
    Word2Vec,
    bias_probe,
    bias_projection,
    embedding_matrix,
    format_bias_table,
    gender_direction,
    keyed_vectors,
    load_keyed_vectors,
    save_projector,
    to_embedding,
    tokenize_documents,
    train_word2vec,
)


# ---------------------------------------------------------------------------------------------
# The Keras model and its SGD step
# ---------------------------------------------------------------------------------------------
def test_config_round_trip_and_call_shape():
    model = Word2Vec(vocabulary_size=12, vector_size=4, alpha=0.05, min_alpha=0.001, epochs=3, seed=7, workers=2)
    config = model.get_config()
    expected = dict(vocabulary_size=12, vector_size=4, alpha=0.05, min_alpha=0.001, epochs=3, seed=7, workers=2)
    for key, value in expected.items():
        assert config[key] == value
    clone = Word2Vec.from_config(config)
    assert clone.get_config() == config
    logits = model({"target": np.array([4, 5]), "context": np.array([[6, 7, 8], [9, 10, 11]])})
    assert tuple(logits.shape) == (2, 3)
    np.testing.assert_allclose(logits, 0.0)  # context rows start at zero, as in word2vec


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vocabulary_size": 0}, "Received: vocabulary_size=0"),
        ({"vocabulary_size": 5, "vector_size": -1}, "Received: vector_size=-1"),
        ({"vocabulary_size": 5, "alpha": 0.0}, "Received: alpha=0.0"),
        ({"vocabulary_size": 5, "min_alpha": 0.5}, "Received: min_alpha=0.5"),
        ({"vocabulary_size": 5, "workers": 0}, "Received: workers=0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Word2Vec(**kwargs)


def test_compile_refuses_an_optimizer():
    with pytest.raises(ValueError, match="optimizer"):
        Word2Vec(vocabulary_size=5).compile(optimizer="adam")


def _numpy_sgns_step(target_table, context_table, batch, learning_rate):
    """word2vec's update for a batch, pair by pair from the tables before the step (updates add up).

    `negatives` has one row per group of `G = B / len(negatives)` consecutive pairs; a negative
    equal to the pair's context word is skipped for that pair.
    """
    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    old_target, old_context = target_table.astype(np.float64), context_table.astype(np.float64)
    new_target, new_context = old_target.copy(), old_context.copy()
    group_size = len(batch["target"]) // len(batch["negatives"])
    losses = []
    for p, (target, context) in enumerate(zip(batch["target"], batch["context"])):
        rate = learning_rate * batch["weight"][p]
        words = [(context, 1.0)] + [(n, 0.0) for n in batch["negatives"][p // group_size] if n != context]
        loss = 0.0
        for word, label in words:
            logit = old_target[target] @ old_context[word]
            step = rate * (label - sigmoid(logit))
            new_target[target] += step * old_context[word]
            new_context[word] += step * old_target[target]
            loss -= np.log(sigmoid(logit if label else -logit))
        losses.append(loss)
    loss = np.sum(np.array(losses) * batch["weight"]) / np.sum(batch["weight"])
    return new_target, new_context, loss


def _fit_one_batch(batch, workers, jit_compile, seed=0):
    """One SGD step from random tables: `(start_target, start_context, model, history)`."""
    rng = np.random.default_rng(seed)
    model = Word2Vec(vocabulary_size=9, vector_size=3, alpha=0.5, min_alpha=0.1, epochs=2, workers=workers)
    start_target = rng.normal(size=(9, 3)).astype("float32")
    start_context = rng.normal(size=(9, 3)).astype("float32")
    model.target_embedding.embeddings.assign(start_target)
    model.context_embedding.embeddings.assign(start_context)
    model.compile(jit_compile=jit_compile)
    assert model.get_compile_config()["jit_compile"] == jit_compile
    # The second of 2 epochs of 1 step: global step 1 of 2 -> lr = 0.5 - 0.4 * 1 / 2 = 0.3.
    history = model.fit(tf.data.Dataset.from_tensors(batch), initial_epoch=1, epochs=2, verbose=0)
    return start_target, start_context, model, history


def _assert_step_matches_reference(batch, workers, jit_compile):
    start_target, start_context, model, history = _fit_one_batch(batch, workers, jit_compile)
    # step 1 of 2 (see _fit_one_batch) -> lr = 0.3
    expected_target, expected_context, expected_loss = _numpy_sgns_step(start_target, start_context, batch, 0.3)
    np.testing.assert_allclose(model.target_embedding.embeddings.numpy(), expected_target, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.context_embedding.embeddings.numpy(), expected_context, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.history["loss"][0], expected_loss, rtol=1e-5)
    np.testing.assert_allclose(history.history["alpha"][0], 0.3, rtol=1e-6)


@pytest.mark.parametrize("workers, jit_compile", [(1, False), (1, True), (2, False), (3, True)])
def test_train_step_matches_numpy_reference(workers, jit_compile):
    batch = {  # target 4 repeats, 8 is both context and negative elsewhere, last row is padding
        "target": np.array([4, 4, 5, 0], np.int32),
        "context": np.array([5, 8, 6, 0], np.int32),
        "negatives": np.array([[6, 8], [7, 5], [8, 8], [0, 0]], np.int32),
        "weight": np.array([1, 1, 1, 0], np.float32),
        "progress": np.array([0.5, 0.5, 0.5, 0.0], np.float32),
    }
    _assert_step_matches_reference(batch, workers, jit_compile)


# Groups of 3 pairs share a row of negatives. Group 0: pair 1's context (7) is among the shared
# negatives, twice (masked for pair 1 only). Group 1: a padding pair (row 4) and a pair whose
# context (6) is every negative (it gets the positive update only).
SHARED_BATCH = {
    "target": np.array([4, 5, 4, 6, 0, 8], np.int32),
    "context": np.array([5, 7, 6, 6, 3, 7], np.int32),
    "negatives": np.array([[7, 8, 7], [6, 6, 6]], np.int32),
    "weight": np.array([1, 1, 1, 1, 0, 1], np.float32),
    "progress": np.full(6, 0.5, np.float32),
}


@pytest.mark.parametrize("workers, jit_compile", [(1, False), (1, True), (2, True), (2, False), (3, True)])
def test_shared_negatives_step_matches_numpy_reference(workers, jit_compile):
    _assert_step_matches_reference(SHARED_BATCH, workers, jit_compile)


def test_a_shared_negative_equal_to_the_context_is_masked():
    start_target, start_context, model, _ = _fit_one_batch(SHARED_BATCH, workers=1, jit_compile=False)
    # Pair 3 (6 -> 6, negatives all 6) is the only pair with target 6: its update is the positive
    # one alone, lr * (1 - sigma(u . v)) * v.
    u, v = start_target[6].astype(np.float64), start_context[6].astype(np.float64)
    expected = u + 0.3 * (1.0 - 1.0 / (1.0 + np.exp(-u @ v))) * v
    np.testing.assert_allclose(model.target_embedding.embeddings.numpy()[6], expected, rtol=1e-5)
    # Unmasked, the three negatives would pull the other way.
    unmasked = expected - 3 * 0.3 / (1.0 + np.exp(-u @ v)) * v
    assert not np.allclose(model.target_embedding.embeddings.numpy()[6], unmasked, rtol=1e-3)


def test_padding_rows_are_inert():
    def run(padding_target, padding_context):
        batch = {key: value.copy() for key, value in SHARED_BATCH.items()}
        batch["target"][4], batch["context"][4] = padding_target, padding_context
        _, _, model, history = _fit_one_batch(batch, workers=1, jit_compile=True)
        return model.target_embedding.embeddings.numpy(), model.context_embedding.embeddings.numpy(), history

    first_target, first_context, first_history = run(0, 3)
    second_target, second_context, second_history = run(5, 6)  # 6 is also a shared negative there
    np.testing.assert_array_equal(first_target, second_target)
    np.testing.assert_array_equal(first_context, second_context)
    assert first_history.history["loss"] == second_history.history["loss"]
    # an all-padding batch changes nothing
    empty = dict(SHARED_BATCH, weight=np.zeros(6, np.float32))
    start_target, start_context, model, _ = _fit_one_batch(empty, workers=2, jit_compile=True)
    np.testing.assert_array_equal(model.target_embedding.embeddings.numpy(), start_target)
    np.testing.assert_array_equal(model.context_embedding.embeddings.numpy(), start_context)


def test_learning_rate_decays_linearly_over_the_steps_of_all_epochs():
    from seqkeras.models.word2vec import word2vec_learning_rate

    model = Word2Vec(vocabulary_size=5, alpha=0.025, min_alpha=0.0001, epochs=4)
    model.steps_per_epoch.assign(10.0)
    np.testing.assert_allclose(model.learning_rate(), 0.025)
    model.epochs_done.assign(3.0)
    model.batches_done.assign(5.0)
    np.testing.assert_allclose(model.learning_rate(), 0.025 - 0.0249 * 35 / 40, rtol=1e-6)
    np.testing.assert_allclose(model.learning_rate(40), 0.0001, rtol=1e-5)
    # The distributed path's Keras schedule gives the same float32 values, step by step.
    schedule = word2vec_learning_rate(0.025, 0.0001, 40)
    for step in (0, 1, 17, 35, 39, 40, 41):
        assert float(schedule(step)) == float(model.learning_rate(step)), step


# ---------------------------------------------------------------------------------------------
# End to end on real text
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lee_words():
    return tokenize_documents(lee_documents()[:120])


@pytest.fixture(scope="module")
def trained(lee_words):
    return train_word2vec(lee_words, vector_size=16, window=3, min_count=3, epochs=3, batch_size=1024, seed=1)


def test_training_reduces_the_loss_and_keeps_frequency_order(trained):
    losses = trained.history.history["loss"]
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    alphas = trained.history.history["alpha"]
    assert alphas[0] > alphas[1] > alphas[2]
    vectors = trained.vectors
    assert type(vectors).__module__.startswith("gensim.")  # gensim's own KeyedVectors
    assert vectors.vectors.shape == (trained.vocabulary.size - 4, 16)
    assert vectors.index_to_key == trained.vocabulary.tokens[4:]
    counts = [vectors.get_vecattr(word, "count") for word in vectors.index_to_key]
    assert counts == sorted(counts, reverse=True) and counts[0] == trained.vocabulary.counts[vectors.index_to_key[0]]
    assert np.all(np.isfinite(vectors.vectors))
    # the model keeps its words: the same vectors come back from the model alone
    again = trained.model.keyed_vectors()
    assert again.index_to_key == vectors.index_to_key
    np.testing.assert_array_equal(again.vectors, vectors.vectors)


def test_training_is_deterministic(lee_words, trained):
    again = train_word2vec(lee_words, vector_size=16, window=3, min_count=3, epochs=3, batch_size=1024, seed=1)
    np.testing.assert_allclose(again.vectors.vectors, trained.vectors.vectors, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "documents, kwargs, error, message",
    [
        ([], {}, ValueError, "corpus is empty"),
        ([[], []], {}, ValueError, "corpus is empty"),
        ([["a", "b"]], {"window": 0}, ValueError, "Received: window=0"),
        ([["a", "b", "c", "a", "b"]], {"min_count": 1, "negative": 5}, ValueError, "3 distinct words with negative=5"),
        ([["a", "b"]], {"min_count": 3}, ValueError, "min_count=3"),
    ],
)
def test_bad_corpora(documents, kwargs, error, message):
    with pytest.raises(error, match=message):
        train_word2vec(documents, **kwargs)


# ---------------------------------------------------------------------------------------------
# Using the vectors
# ---------------------------------------------------------------------------------------------
@pytest.fixture()
def toy_vectors():
    # Axis 0: royalty, axis 1: gender (+ male), axis 2: noise.
    words = ["man", "woman", "king", "queen", "nurse", "engineer", "he", "she", "apple"]
    vectors = np.array(
        [
            [0.0, 1.0, 0.1], [0.0, -1.0, 0.1], [1.0, 1.0, 0.0], [1.0, -1.0, 0.0], [0.2, -0.7, 0.5],
            [0.2, 0.6, 0.5], [0.0, 1.0, -0.1], [0.0, -1.0, -0.1], [-1.0, 0.0, 1.0],
        ],
        np.float32,
    )
    return keyed_vectors(words, vectors)


def test_keyed_vectors_are_gensims_with_counts(toy_vectors):
    gensim_models = pytest.importorskip("gensim.models")
    assert isinstance(toy_vectors, gensim_models.KeyedVectors)
    assert toy_vectors.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == "queen"
    counted = keyed_vectors(["a", "b"], np.eye(2), counts=[9, 4])
    assert [counted.get_vecattr(word, "count") for word in ("a", "b")] == [9, 4]
    with pytest.raises(ValueError, match="unique"):
        keyed_vectors(["a", "a"], np.eye(2))
    with pytest.raises(ValueError, match=r"Received: \(3, 2\)"):
        keyed_vectors(["a", "b"], np.ones((3, 2)))


def test_real_benchmark_files_are_read_by_gensim(trained):
    pearson, spearman, oov = trained.vectors.evaluate_word_pairs(str(gensim_test_data("wordsim353.tsv")))
    assert -1 <= spearman[0] <= 1 and 0 < oov < 100
    accuracy, sections = trained.vectors.evaluate_word_analogies(str(gensim_test_data("questions-words.txt")))
    assert 0 <= accuracy <= 1 and sections[-1]["section"] == "Total accuracy"


@pytest.mark.slow
@pytest.mark.parametrize("binary", [False, True])
def test_load_keyed_vectors_from_word2vec_files_and_model(tmp_path, trained, binary):
    path = tmp_path / ("vectors.bin" if binary else "vectors.txt")
    trained.vectors.save_word2vec_format(str(path), binary=binary)
    loaded = load_keyed_vectors(path)
    assert loaded.index_to_key == trained.vectors.index_to_key
    np.testing.assert_allclose(loaded.vectors, trained.vectors.vectors, rtol=1e-6)
    trained.model.save(tmp_path / "model.keras")
    from_model = load_keyed_vectors(tmp_path / "model.keras")
    assert from_model.index_to_key == trained.vectors.index_to_key
    np.testing.assert_array_equal(from_model.vectors, trained.vectors.vectors)
    with pytest.raises(FileNotFoundError, match="nothing"):
        load_keyed_vectors(tmp_path / "nothing")


@pytest.mark.slow
def test_projector_files(tmp_path, toy_vectors):
    log_dir = save_projector(toy_vectors, tmp_path / "tb" / "projector")
    rows = (log_dir / "vectors.tsv").read_text().splitlines()
    assert len(rows) == len(toy_vectors) and len(rows[0].split("\t")) == 3
    assert (log_dir / "metadata.tsv").read_text().splitlines() == toy_vectors.index_to_key
    # an event file makes the folder a TensorBoard run, whose projector config the plugin reads
    assert list(log_dir.glob("events.out.tfevents.*"))
    config = (log_dir / "projector_config.pbtxt").read_text()
    assert "embedding/.ATTRIBUTES/VARIABLE_VALUE" in config and "metadata.tsv" in config
    restored = tf.train.load_variable(str(tf.train.latest_checkpoint(str(log_dir))), "embedding/.ATTRIBUTES/VARIABLE_VALUE")
    np.testing.assert_array_equal(restored, toy_vectors.vectors)


def test_embedding_for_a_downstream_vocabulary(toy_vectors):
    tokens = ["<pad>", "<oov>", "King", "queen", "unseen"]
    matrix, found = embedding_matrix(toy_vectors, tokens, center=False, seed=3)
    np.testing.assert_array_equal(found, [False, False, True, True, False])
    np.testing.assert_array_equal(matrix[0], 0.0)
    np.testing.assert_array_equal(matrix[2], toy_vectors["king"])  # lower-case fallback
    assert np.all(np.isfinite(matrix[[1, 4]])) and not np.allclose(matrix[1], matrix[4])
    centred, _ = embedding_matrix(toy_vectors, tokens, seed=3)
    mean = toy_vectors.vectors.mean(axis=0)
    np.testing.assert_allclose(centred[3], toy_vectors["queen"] - mean, rtol=1e-6)
    np.testing.assert_array_equal(centred[0], 0.0)
    frozen = to_embedding(toy_vectors, tokens, trainable=False, center=False)
    assert not frozen.trainable and not frozen.trainable_weights
    np.testing.assert_array_equal(frozen(np.array([3])).numpy()[0], toy_vectors["queen"])
    trainable = to_embedding(toy_vectors, tokens, trainable=True)
    assert len(trainable.trainable_weights) == 1

    inputs = keras.Input((None,), dtype="int32")
    model = keras.Model(inputs, keras.layers.Dense(2)(trainable(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.array([[2, 3]]), np.ones((1, 2, 2)), verbose=0)
    assert not np.allclose(trainable.embeddings.numpy()[2], toy_vectors["king"])


def test_bias_probe_table(toy_vectors):
    rows, missing = bias_projection(toy_vectors, words=["engineer", "nurse", "pilot"])
    assert [w for w, _ in rows] == ["engineer", "nurse"] and missing == ["pilot"]
    assert rows[0][1] > 0 > rows[1][1]
    # the direction is unit(he) - unit(she): here the gender axis, up to the noise axis
    unit, index = toy_vectors.get_normed_vectors(), toy_vectors.key_to_index
    direction = unit[index["he"]] - unit[index["she"]]
    expected = unit[index["engineer"]] @ direction / np.linalg.norm(direction)
    np.testing.assert_allclose(rows[0][1], expected, rtol=1e-5)
    table = format_bias_table(rows)
    assert "engineer" in table and "he" in table.splitlines()[1]
    with pytest.raises(KeyError, match="zebra"):
        bias_projection(toy_vectors, pair=("he", "zebra"))


def _gendered_vectors(noise, seed=0):
    """Five (male, female) pairs around a shared gender axis (axis 0) plus per-pair noise."""
    rng = np.random.default_rng(seed)
    words, rows = [], []
    for i, (male, female) in enumerate(DEFINITIONAL_PAIRS[:5]):
        base = np.zeros(6)
        base[1 + i % 5] = 2.0  # each pair has its own topic axis
        jitter = noise * rng.normal(size=6)
        words += [male, female]
        rows += [base + [1, 0, 0, 0, 0, 0] + jitter, base - [1, 0, 0, 0, 0, 0] + jitter]
    words += ["engineer", "nurse", "table"]
    rows += [[0.5, 1, 0, 0, 0, 1], [-0.5, 1, 0, 0, 0, 1], [0.0, 0, 1, 0, 0, 1]]
    return keyed_vectors(words, np.array(rows, np.float32))


def test_gender_direction_is_the_first_principal_component_of_the_pairs():
    vectors = _gendered_vectors(noise=0.0)
    direction, info = gender_direction(vectors)
    assert info["pairs"] == [list(pair) for pair in DEFINITIONAL_PAIRS[:5]]
    assert len(info["missing_pairs"]) == len(DEFINITIONAL_PAIRS) - 5
    # every pair differs along axis 0 only (after normalisation, mostly): PC 1 is axis 0
    assert abs(direction[0]) > 0.99 and direction[0] > 0  # oriented towards the male words
    np.testing.assert_allclose(np.linalg.norm(direction), 1.0, rtol=1e-6)
    assert info["explained_variance_ratio"][0] > 0.99
    # NumPy reference: top right-singular vector of the stacked +-(a - b) / 2 of unit vectors
    unit, index = vectors.get_normed_vectors(), vectors.key_to_index
    halves = np.stack([(unit[index[a]] - unit[index[b]]) / 2 for a, b in info["pairs"]])
    reference = np.linalg.svd(np.concatenate([halves, -halves]))[2][0]
    np.testing.assert_allclose(abs(direction @ reference), 1.0, rtol=1e-5)
    with pytest.raises(KeyError, match="No definitional pair"):
        gender_direction(vectors, pairs=[("zebra", "table")])


def test_bias_probe_rows_and_bootstrap():
    exact = bias_probe(_gendered_vectors(noise=0.0), words=["nurse", "engineer", "table", "pilot"], bootstrap=50)
    assert [row["word"] for row in exact["rows"]] == ["engineer", "table", "nurse"] and exact["missing"] == ["pilot"]
    engineer, table, nurse = exact["rows"]
    assert engineer["projection"] > 0 > nurse["projection"]
    np.testing.assert_allclose(table["projection"], 0.0, atol=1e-6)
    # pairs that agree exactly: every bootstrap direction is the same, the interval is a point
    np.testing.assert_allclose([engineer["low"], engineer["high"]], engineer["projection"], atol=1e-5)
    assert engineer["std"] < 1e-5
    noisy_vectors = _gendered_vectors(noise=0.4)
    noisy = bias_probe(noisy_vectors, words=["nurse", "engineer"], bootstrap=50, seed=3)
    assert all(row["low"] <= row["high"] and row["std"] > 1e-4 for row in noisy["rows"])
    assert noisy == bias_probe(noisy_vectors, words=["nurse", "engineer"], bootstrap=50, seed=3)
    assert "low" not in bias_probe(noisy_vectors, words=["nurse"], bootstrap=0)["rows"][0]
    table_text = format_bias_table(noisy["rows"], pair=("male", "female"))
    assert "90% interval" in table_text.splitlines()[0] and "engineer" in table_text
    with pytest.raises(ValueError, match="Received: bootstrap=-1"):
        bias_probe(noisy_vectors, bootstrap=-1)


@pytest.mark.slow
def test_keras_save_and_load(tmp_path, trained):
    path = tmp_path / "word2vec.keras"
    trained.model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, Word2Vec) and loaded.words == trained.model.words and loaded.counts == trained.model.counts
    np.testing.assert_array_equal(loaded.target_embedding.embeddings.numpy(), trained.model.target_embedding.embeddings.numpy())
    inputs = {"target": np.array([4, 5]), "context": np.array([[6, 7], [8, 9]])}
    np.testing.assert_allclose(loaded(inputs), trained.model(inputs), rtol=1e-6)
