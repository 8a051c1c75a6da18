"""`NgramLanguageModel`: Witten-Bell and Kneser-Ney trigrams against hand-computed values on real sentences."""

import math
import pathlib

import pytest

from seqkeras.data import corpora
from seqkeras.models.elmo import NgramLanguageModel
from seqkeras.models.elmo.ngram_language_model import BOS

EWT = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "ud-english-ewt"


@pytest.fixture(scope="module")
def ewt_train():
    path = EWT / "en_ewt-ud-train.conllu.gz"
    if not path.exists():
        pytest.skip(f"UD English EWT not found at {path}")
    return [[word.lower() for word in sentence.words] for sentence in corpora.read_conllu(path)]


@pytest.fixture(scope="module")
def two_sentences(ewt_train):
    """EWT train sentences 4 and 6 as ids; class 0 is `<oov>` (20 words + 1 = 21 classes)."""
    sentences = [ewt_train[3], ewt_train[5]]
    assert " ".join(sentences[0]) == "two of them were being run by 2 officials of the ministry of the interior !"
    assert " ".join(sentences[1]) == "the third was being run by the head of an investment firm ."
    words = sorted({word for sentence in sentences for word in sentence})
    index = {word: i + 1 for i, word in enumerate(words)}
    return [[index[w] for w in sentence] for sentence in sentences], index


def test_witten_bell_trigram_by_hand(two_sentences):
    sequences, index = two_sentences
    model = NgramLanguageModel(range(21), order=3, smoothing="witten_bell")
    model.fit(sequences)
    # 29 tokens, 20 word types; "by" twice, always after "run", always after "being run".
    unigram = (2 + 20 * (1 / 21)) / (29 + 20)
    bigram = (2 + 1 * unigram) / (2 + 1)
    trigram = (2 + 1 * bigram) / (2 + 1)
    assert model.probability(index["by"], (index["being"], index["run"])) == pytest.approx(trigram, rel=1e-12)
    assert model.probability(index["by"], (index["run"],)) == pytest.approx(bigram, rel=1e-12)
    # "the" follows "of" 2 of 4 times, 3 distinct followers (them, the, an); "firm" never follows "of";
    # the context "of of" was never seen, so its mass goes to "of".
    the_unigram = (4 + 20 / 21) / 49
    assert model.probability(index["the"], (index["of"], index["of"])) == pytest.approx((2 + 3 * the_unigram) / (4 + 3))
    firm_unigram = (1 + 20 / 21) / 49
    assert model.probability(index["firm"], (index["of"],)) == pytest.approx(3 * firm_unigram / 7)
    assert model.probability(0, ()) == pytest.approx((20 / 21) / 49)  # <oov>: never seen, uniform share


def test_kneser_ney_trigram_by_hand(two_sentences):
    sequences, index = two_sentences
    model = NgramLanguageModel(range(21), order=3, smoothing="kneser_ney")
    model.fit(sequences)
    # Trigrams (27, from the sentence start on): "being run by" twice, the other 25 once.
    assert model.discounts[3] == pytest.approx(25 / 27)
    # Bigram continuation counts: "of the" (after officials, ministry) and "being run" (after were, was)
    # have 2 distinct left words, the other 22 bigram types 1.
    assert model.discounts[2] == pytest.approx(22 / 26)
    # Unigram continuation counts (distinct left words, the sentence start included): of 4 (two,
    # officials, ministry, head), the 3 (of, start, by), being 2, the other 17 words 1: total 26.
    assert model.discounts[1] == pytest.approx(17 / 19)
    d1, d2, d3 = 17 / 19, 22 / 26, 25 / 27
    unigram = (max(1 - d1, 0) + d1 * 20 * (1 / 21)) / 26  # N1+(. by) = 1
    bigram = (max(1 - d2, 0) + d2 * 1 * unigram) / 1  # N1+(. run by) = 1, N1+(. run .) = 1, one follower
    trigram = (max(2 - d3, 0) + d3 * 1 * bigram) / 2  # c(being run by) = 2, c(being run .) = 2
    assert model.probability(index["by"], (index["being"], index["run"])) == pytest.approx(trigram, rel=1e-12)
    # Sentence start: "third" after (start, "the"): trigram count 1; "the" followed by third, ministry,
    # interior, head (continuation counts 1 each).
    third_unigram = (max(1 - d1, 0) + d1 * 20 / 21) / 26
    third_bigram = (max(1 - d2, 0) + d2 * 4 * third_unigram) / 4
    expected = (max(1 - d3, 0) + d3 * 1 * third_bigram) / 1
    assert model.probability(index["third"], (BOS, index["the"])) == pytest.approx(expected, rel=1e-12)
    # An unseen word in a seen context gets only the backed-off mass; <oov> only the uniform share.
    assert model.probability(0, ()) == pytest.approx(d1 * 20 / 21 / 26)


@pytest.mark.parametrize("smoothing", ["witten_bell", "kneser_ney"])
def test_distributions_sum_to_one_and_perplexity_counts_targets(ewt_train, smoothing):
    index = {}
    sequences = [[index.setdefault(w, len(index) + 1) for w in s] for s in ewt_train[:300]]
    model = NgramLanguageModel(range(len(index) + 1), order=3, smoothing=smoothing)
    model.fit(sequences)
    for context in [(), (index["the"],), (BOS, index["the"]), (index["of"], index["the"]), (999999, index["."])]:
        assert sum(model.probability(w, context) for w in model.classes) == pytest.approx(1.0, abs=1e-9)
    held_out = [[index.get(w, 0) for w in s] for s in ewt_train[300:340]]
    perplexity, targets = model.perplexity(held_out)
    assert targets == sum(len(s) - 1 for s in held_out)
    by_hand = math.exp(-sum(sum(model.sentence_log_probabilities(s)) for s in held_out) / targets)
    assert perplexity == pytest.approx(by_hand)
    unigram = NgramLanguageModel(model.classes, order=1, smoothing=smoothing)
    unigram.fit(sequences)
    assert perplexity < unigram.perplexity(held_out)[0]  # context helps on held-out text


def test_bad_arguments():
    with pytest.raises(ValueError, match="smoothing"):
        NgramLanguageModel(range(3), smoothing="add_one")
    with pytest.raises(ValueError, match="order=0"):
        NgramLanguageModel(range(3), order=0)
    model = NgramLanguageModel(range(3))
    with pytest.raises(ValueError, match="fit"):
        model.probability(1)
    with pytest.raises(ValueError, match="id 7"):
        model.fit([[1, 7]])
