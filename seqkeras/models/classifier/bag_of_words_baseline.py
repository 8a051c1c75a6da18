"""`BagOfWordsBaseline`: logistic regression on word counts (scikit-learn)."""

import numpy as np


class BagOfWordsBaseline:
    """The classic baseline for sequence classification: word order thrown away.

    Lower-cased word unigrams and bigrams (`min_count` documents or more), tf-idf weighted, fed
    to a multinomial logistic regression.

    Args:
        ngram_range: `(min_n, max_n)` word n-grams.
        min_count: minimum document frequency of an n-gram.
        C: inverse regularisation strength of the logistic regression.
        seed: random state of the solver.

    Example:
    >>> baseline = BagOfWordsBaseline(min_count=1).fit([["good", "film"], ["bad", "film"]], [1, 0])
    >>> baseline.predict([["good"]]).tolist()
    [1]
    """

    def __init__(self, ngram_range=(1, 2), min_count=2, C=4.0, seed=0):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vectorizer = TfidfVectorizer(
            analyzer=lambda words: self._ngrams(words, ngram_range), min_df=min_count, sublinear_tf=True
        )
        self.model = LogisticRegression(C=C, solver="saga", max_iter=1000, random_state=seed)

    @staticmethod
    def _ngrams(words, ngram_range):
        words = [w.lower() for w in words]
        low, high = ngram_range
        return [" ".join(words[i : i + n]) for n in range(low, high + 1) for i in range(len(words) - n + 1)]

    def fit(self, word_lists, labels):
        """Fits on lists of words and integer labels; returns self."""
        self.model.fit(self.vectorizer.fit_transform(word_lists), np.asarray(labels))
        return self

    def predict(self, word_lists):
        """Integer labels, one per word list."""
        return self.model.predict(self.vectorizer.transform(word_lists))
