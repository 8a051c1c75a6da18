"""`MostFrequentTag`: the per-word majority-tag baseline for taggers."""

import collections


class MostFrequentTag:
    """Tags each word with the tag it most often had in training.

    Unknown words get the most frequent tag overall. Ties are broken by the tag's name so the
    baseline is deterministic.

    Args:
        lowercase: count and look up lower-cased words.

    Example:
    >>> baseline = MostFrequentTag().fit([["a", "dog"]], [["DET", "NOUN"]])
    >>> baseline.predict([["a", "cat"]])
    [['DET', 'DET']]
    """

    def __init__(self, lowercase=False):
        self.lowercase = bool(lowercase)
        self.word_tags = {}
        self.default_tag = None

    def _key(self, word):
        return word.lower() if self.lowercase else word

    def fit(self, word_lists, tag_lists):
        """Counts (word, tag) pairs; returns self."""
        if len(word_lists) != len(tag_lists):
            raise ValueError(
                f"Need one tag list per sentence. Received: {len(word_lists)} sentences, {len(tag_lists)} tag lists"
            )
        per_word = collections.defaultdict(collections.Counter)
        overall = collections.Counter()
        for words, tags in zip(word_lists, tag_lists):
            if len(words) != len(tags):
                raise ValueError(f"Each word needs one tag. Received: {len(words)} words, {len(tags)} tags")
            for word, tag in zip(words, tags):
                per_word[self._key(word)][tag] += 1
                overall[tag] += 1
        if not overall:
            raise ValueError("Cannot fit on an empty corpus.")

        def best(counter):
            return min(counter.items(), key=lambda item: (-item[1], item[0]))[0]

        self.word_tags = {word: best(counts) for word, counts in per_word.items()}
        self.default_tag = best(overall)
        return self

    def predict(self, word_lists):
        """One tag list per sentence."""
        if self.default_tag is None:
            raise ValueError("Call fit() before predict().")
        return [[self.word_tags.get(self._key(w), self.default_tag) for w in words] for words in word_lists]
