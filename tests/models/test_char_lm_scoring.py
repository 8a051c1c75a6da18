"""CharScorer: the chain rule, mask-correct batching, and a trained model's preferences."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkeras.data.corpora import split_documents, wiki_articles
from seqkeras.data.vocabulary import BOS_ID, Vocabulary
from seqkeras.models.char_lm import datasets
from seqkeras.models.char_lm.char_language_model import CharLanguageModel
from seqkeras.models.char_lm.char_scorer import CharScorer
from seqkeras.models.char_lm.language_model_trainer import LanguageModelTrainer


@pytest.fixture(scope="module")
def small():
    keras.utils.set_random_seed(4)
    vocabulary = Vocabulary(list("abc[]{} é"))
    model = CharLanguageModel(vocabulary_size=vocabulary.size, embedding_dim=4, hidden_dim=6, num_layers=2)
    return model, vocabulary, CharScorer(model, vocabulary)


def test_chain_rule_matches_step_by_step(small):
    model, vocabulary, scorer = small
    text = "ab[[c]] é{"
    ids = vocabulary.lookup(tf.constant(list(text))).numpy()
    total, states = 0.0, model.initial_states(1)
    previous = BOS_ID
    for target in ids:
        logits, states = model.step(tf.constant([previous]), states)
        total += float(tf.nn.log_softmax(logits)[0, target])
        previous = target
    result = scorer.score([text])
    np.testing.assert_allclose(result["log_prob_nats"][0], total, rtol=1e-5)
    np.testing.assert_allclose(result["log_prob_bits"][0], total / math.log(2), rtol=1e-5)
    assert result["num_characters"][0] == len(text)
    np.testing.assert_allclose(result["bits_per_character"][0], -total / math.log(2) / len(text), rtol=1e-5)


def test_scores_do_not_depend_on_batching_or_padding(small):
    _, _, scorer = small
    texts = ["a", "abc[]{}abc", "", "é é", "{{b}}"]
    together = scorer.score(texts, batch_size=5)
    alone = [scorer.score([text]) for text in texts]
    for index, single in enumerate(alone):
        np.testing.assert_allclose(together["log_prob_nats"][index], single["log_prob_nats"][0], atol=1e-4)
    small_batches = scorer.score(texts, batch_size=2)
    np.testing.assert_allclose(small_batches["log_prob_nats"], together["log_prob_nats"], atol=1e-4)
    assert together["log_prob_nats"][2] == 0.0 and together["num_characters"][2] == 0
    assert np.isnan(together["bits_per_character"][2])


def test_probabilities_of_all_one_character_texts_sum_to_one(small):
    model, vocabulary, scorer = small
    # p(c | BOS) over the real characters plus the reserved ids that can follow BOS.
    characters = vocabulary.tokens[4:]
    mass = np.exp(scorer.score(characters)["log_prob_nats"]).sum()
    logits, _ = model.step(tf.constant([BOS_ID]), model.initial_states(1))
    reserved = np.exp(tf.nn.log_softmax(logits)[0, :4].numpy()).sum()
    np.testing.assert_allclose(mass + reserved, 1.0, rtol=1e-5)


def test_bad_arguments(small):
    _, _, scorer = small
    with pytest.raises(ValueError, match="batch_size=0"):
        scorer.score(["a"], batch_size=0)
    with pytest.raises(TypeError):
        scorer.score([b"bytes"])


def test_trained_model_prefers_real_text_over_shuffled_characters():
    keras.utils.set_random_seed(0)
    train, _, test = split_documents([article.text for article in wiki_articles()], seed=0)
    train = [text[:4000] for text in train[:30]]
    vocabulary = Vocabulary.build(datasets.tokenize_characters(train).to_list(), min_count=3)
    documents = datasets.encode_documents(train, vocabulary)
    model = CharLanguageModel(vocabulary_size=vocabulary.size, embedding_dim=16, hidden_dim=48)
    trainer = LanguageModelTrainer(model, truncated_bptt=True, batch_size=16)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    trainer.fit(datasets.stream_dataset(documents, window=48, batch_size=16, repeat=True),
                steps_per_epoch=60, epochs=1, verbose=0, shuffle=False)
    rng = np.random.default_rng(0)
    real = [text[1000:1300] for text in test[:6]]
    shuffled = ["".join(rng.permutation(list(text))) for text in real]
    scores = CharScorer(model, vocabulary).score(real + shuffled)["log_prob_bits"]
    assert (scores[:6] > scores[6:]).all(), scores


def test_out_of_vocabulary_characters_are_counted_with_their_share_of_the_bits(small):
    model, vocabulary, scorer = small
    texts = ["abc", "aЖbЖ", ""]
    result = scorer.score(texts)
    np.testing.assert_array_equal(result["num_oov"], [0, 2, 0])
    assert result["oov_bit_share"][0] == 0.0 and result["oov_bit_share"][2] == 0.0
    # NumPy reference: log p of the two <oov> positions over the whole text's log p
    ids = vocabulary.lookup(tf.constant(list("aЖbЖ"))).numpy()
    inputs = np.concatenate([[BOS_ID], ids[:-1]])[None]
    logits = model({"token_ids": tf.constant(inputs, tf.int32), "padding_mask": tf.ones_like(inputs, bool)})
    log_probs = tf.nn.log_softmax(logits)[0].numpy()[np.arange(4), ids]
    np.testing.assert_allclose(result["oov_bit_share"][1], log_probs[[1, 3]].sum() / log_probs.sum(), rtol=1e-5)


@pytest.mark.slow
def test_self_contained_file_round_trip(small, tmp_path):
    """model.keras of `train charlm`: a TextTask whose TokenLookup carries the vocabulary."""
    from seqkeras.models.char_lm.storage import char_lm_task, load_char_lm, save_char_lm
    from seqkeras.models.common.text_task import TextTask

    model, vocabulary, scorer = small
    task = char_lm_task(model, vocabulary)
    direct = task(tf.constant(["ab[c"])).numpy()  # (1, 5, V): BOS + 4 characters
    ids = vocabulary.lookup(tf.constant(list("ab[c"))).numpy()
    expected = model({"token_ids": tf.constant([[BOS_ID, *ids]], tf.int32), "padding_mask": tf.ones([1, 5], bool)})
    np.testing.assert_allclose(direct, expected.numpy(), rtol=1e-6)
    path = save_char_lm(model, vocabulary, tmp_path / "model.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]  # no vocabulary.txt
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, TextTask) and loaded.task == "charlm"
    np.testing.assert_allclose(loaded(tf.constant(["ab[c"])).numpy(), direct, rtol=1e-6)
    network, loaded_vocabulary = load_char_lm(path)
    assert loaded_vocabulary.tokens == vocabulary.tokens
    np.testing.assert_allclose(CharScorer(network, loaded_vocabulary).score(["ab[c"])["log_prob_nats"],
                               scorer.score(["ab[c"])["log_prob_nats"], rtol=1e-5)
    # an older pair (bare model + vocabulary.txt beside it) still loads
    old = tmp_path / "old"
    old.mkdir()
    model.save(old / "model.keras")
    with pytest.raises(FileNotFoundError, match="vocabulary.txt"):
        load_char_lm(old / "model.keras")
    vocabulary.save(str(old / "vocabulary.txt"))
    assert load_char_lm(old / "model.keras")[1].tokens == vocabulary.tokens
