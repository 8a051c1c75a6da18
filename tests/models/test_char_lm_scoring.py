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
