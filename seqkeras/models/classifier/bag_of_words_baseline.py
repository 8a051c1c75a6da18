"""`BagOfWordsBaseline`: logistic regression on word (and optionally character) n-gram counts (scikit-learn)."""

import numpy as np


class BagOfWordsBaseline:
    """The classic baseline for sequence classification: word order thrown away.

    Lower-cased word unigrams and bigrams (`min_count` documents or more), tf-idf weighted, fed
    to a multinomial logistic regression. With `char_ngram_range`, a second tf-idf block of
    every word's character n-grams (original case, the word framed by spaces as in
    scikit-learn's `analyzer="char_wb"`) is stacked beside the word block: a stronger linear
    reference that also sees case, affixes and digits.

    Args:
        ngram_range: `(min_n, max_n)` word n-grams.
        min_count: minimum document frequency of an n-gram.
        C: inverse regularisation strength of the logistic regression.
        seed: random state of the solver.
        char_ngram_range: `(min_n, max_n)` character n-grams, or None for words only.

    Example:
    >>> baseline = BagOfWordsBaseline(min_count=1).fit([["good", "film"], ["bad", "film"]], [1, 0])
    >>> baseline.predict([["good"]]).tolist()
    [1]
    """

    def __init__(self, ngram_range=(1, 2), min_count=2, C=4.0, seed=0, char_ngram_range=None):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion

        def block(analyzer):
            return TfidfVectorizer(analyzer=analyzer, min_df=min_count, sublinear_tf=True)

        blocks = [("words", block(lambda words: self._word_ngrams(words, ngram_range)))]
        if char_ngram_range is not None:
            blocks.append(("characters", block(lambda words: self._char_ngrams(words, char_ngram_range))))
        self.vectorizer = FeatureUnion(blocks)
        self.model = LogisticRegression(C=C, solver="saga", max_iter=1000, random_state=seed)

    @staticmethod
    def _word_ngrams(words, ngram_range):
        words = [w.lower() for w in words]
        low, high = ngram_range
        return [" ".join(words[i : i + n]) for n in range(low, high + 1) for i in range(len(words) - n + 1)]

    @staticmethod
    def _char_ngrams(words, ngram_range):
        low, high = ngram_range
        framed = [f" {w} " for w in words]
        return [w[i : i + n] for w in framed for n in range(low, high + 1) for i in range(len(w) - n + 1)]

    def fit(self, word_lists, labels):
        """Fits on lists of words and integer labels; returns self."""
        self.model.fit(self.vectorizer.fit_transform(word_lists), np.asarray(labels))
        return self

    def predict(self, word_lists):
        """Integer labels, one per word list."""
        return self.model.predict(self.vectorizer.transform(word_lists))
