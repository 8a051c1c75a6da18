"""`NgramLanguageModel`: interpolated Witten-Bell and Kneser-Ney n-gram models, the biLM's count anchors."""

import collections
import math

from seqkeras.models.common._validation import check_choice, check_positive_int

SMOOTHINGS = ("witten_bell", "kneser_ney")
BOS = -1  # the sentence-start context symbol (never a word id, never predicted)


class NgramLanguageModel:
    """An interpolated n-gram language model over word ids, scored on the biLM's targets.

    Counts are taken over sentences of word ids, each preceded by one sentence-start symbol that
    only serves as context (the biLM's LSTM starts from a zero state, so it too knows where a
    sentence starts). Predicted are the ids of `classes` (e.g. `<oov>` and the real words of a
    biLM vocabulary); every distribution sums to one over them. Two smoothings:

    - `"witten_bell"` (interpolated, Witten & Bell 1991): with `c` the counts, `T(h)` the number
      of distinct words seen after context `h` and `h'` the context without its first word,
      `p(w | h) = (c(h w) + T(h) p(w | h')) / (c(h .) + T(h))`, from the uniform `1 / |classes|`
      below the unigram up to the longest context of at most `order - 1` words;
    - `"kneser_ney"` (interpolated, Kneser & Ney 1995 / Chen & Goodman 1998): one absolute
      discount `D_n = n1 / (n1 + 2 n2)` per order (`n1`, `n2`: how many n-grams of that order have
      count 1 and 2, in the counts that order uses). The highest order uses raw counts,
      `p(w | h) = (max(c(h w) - D, 0) + D N1+(h .) p(w | h')) / c(h .)`; lower orders use
      continuation counts `N1+(. h w)` (the number of distinct words seen before `h w`) in place
      of `c(h w)`, and the unigram interpolates with the uniform distribution.

    A context never seen in training hands its whole mass to the shorter context.

    Args:
        classes: the word ids that can be predicted (ints >= 0).
        order: n (3 for a trigram: at most two words of context).
        smoothing: `"witten_bell"` or `"kneser_ney"`.

    Example:
    >>> model = NgramLanguageModel(classes=range(5), order=2, smoothing="witten_bell")
    >>> model.fit([[1, 2, 3], [1, 2, 4]])
    >>> round(sum(model.probability(w, (1,)) for w in range(5)), 6)  # a distribution over classes
    1.0
    >>> model.probability(2, (1,)) > model.probability(3, (1,))  # 2 always follows 1
    True
    """

    def __init__(self, classes, order=3, smoothing="kneser_ney"):
        self.classes = sorted({int(c) for c in classes})
        if not self.classes or self.classes[0] < 0:
            raise ValueError(f"`classes` must be non-negative word ids, at least one. Received: classes={classes!r}")
        self.order = check_positive_int("order", order)
        self.smoothing = check_choice("smoothing", smoothing, SMOOTHINGS)
        self._class_set = frozenset(self.classes)
        self.fitted = False

    # --------------------------------------------------------------------------------------------
    # Counting
    # --------------------------------------------------------------------------------------------
    def fit(self, sequences):
        """Counts every n-gram (n <= order) of `sequences` (iterables of word ids).

        Ids outside `classes` raise a ValueError (map rare words to `<oov>` first).
        """
        # counts[n][gram]: raw counts of n-grams ending in a word (the start symbol only begins them).
        counts = [None] + [collections.Counter() for _ in range(self.order)]
        for sequence in sequences:
            words = [int(w) for w in sequence]
            unknown = [w for w in words if w not in self._class_set]
            if unknown:
                raise ValueError(f"Word ids must be among `classes`. Received: id {unknown[0]} in a sequence")
            padded = (BOS, *words)
            for end in range(1, len(padded)):
                for n in range(1, min(self.order, end + 1) + 1):
                    counts[n][padded[end - n + 1 : end + 1]] += 1
        self.counts = counts
        if self.smoothing == "kneser_ney":
            # Continuation counts N1+(. g): distinct words (or the start symbol) seen before g.
            self.used_counts = [None] * self.order + [counts[self.order]]
            for n in range(1, self.order):
                continuation = collections.Counter(gram[1:] for gram in counts[n + 1])
                self.used_counts[n] = continuation
            self.discounts = [None] + [self._discount(self.used_counts[n]) for n in range(1, self.order + 1)]
        else:
            self.used_counts = counts
        # Per context h of each order: total c(h .) and distinct followers T(h) / N1+(h .).
        self.context_totals = [None] + [collections.Counter() for _ in range(self.order)]
        self.context_types = [None] + [collections.Counter() for _ in range(self.order)]
        for n in range(1, self.order + 1):
            for gram, count in self.used_counts[n].items():
                self.context_totals[n][gram[:-1]] += count
                self.context_types[n][gram[:-1]] += 1
        self.fitted = True

    @staticmethod
    def _discount(counts):
        count_of_counts = collections.Counter(c for c in counts.values() if c <= 2)
        n1, n2 = count_of_counts[1], count_of_counts[2]
        return n1 / (n1 + 2 * n2) if n1 else 0.5  # 0.5 only when no n-gram occurs once (tiny corpora)

    # --------------------------------------------------------------------------------------------
    # Scoring
    # --------------------------------------------------------------------------------------------
    def probability(self, word, context=()):
        """p(word | context): `context` is a tuple of the preceding word ids (`BOS` may start it).

        Only the last `order - 1` context words are read.
        """
        if not self.fitted:
            raise ValueError("Call `fit` before scoring.")
        word = int(word)
        if word not in self._class_set:
            raise ValueError(f"`word` must be one of `classes`. Received: word={word}")
        context = tuple(context)[-(self.order - 1):] if self.order > 1 else ()
        probability = 1.0 / len(self.classes)
        for n in range(1, len(context) + 2):  # unigram, bigram, ... up to the longest context
            history = context[len(context) - (n - 1):]  # the last n - 1 words
            total = self.context_totals[n].get(history, 0)
            if not total:
                break  # unseen context: the shorter one keeps all the mass
            types = self.context_types[n][history]
            count = self.used_counts[n].get(history + (word,), 0)
            if self.smoothing == "witten_bell":
                probability = (count + types * probability) / (total + types)
            else:
                discount = self.discounts[n]
                probability = (max(count - discount, 0.0) + discount * types * probability) / total
        return probability

    def sentence_log_probabilities(self, sequence):
        """Natural-log probabilities of words 1.. of `sequence`, each from the words before it."""
        padded = (BOS, *(int(w) for w in sequence))
        return [
            math.log(self.probability(padded[end], padded[max(0, end - self.order + 1) : end]))
            for end in range(2, len(padded))
        ]

    def perplexity(self, sequences):
        """`(perplexity, targets)` over every word after the first of each sequence."""
        total, targets = 0.0, 0
        for sequence in sequences:
            log_probabilities = self.sentence_log_probabilities(sequence)
            total -= sum(log_probabilities)
            targets += len(log_probabilities)
        if not targets:
            raise ValueError("No targets: every sequence has fewer than two words.")
        return math.exp(total / targets), targets
