"""`build_word_lookup`: the `TokenLookup` of a word-level task, built from its training sentences."""

from seqkeras.data.token_lookup import TokenLookup
from seqkeras.data.vocabulary import Vocabulary
from seqkeras.models.common._validation import check_positive_int


def build_word_lookup(word_lists, min_count=2, max_size=None, characters=True, lowercase=True, max_word_length=16,
                      char_vocabulary=None, split="whitespace"):
    """A `TokenLookup` over words (and their characters) for the tagger and the classifier.

    The layer splits raw text at white space (a sentence of words joined by spaces splits back
    into its words), lower-cases each word for the word lookup, and gives every word's first
    `max_word_length` characters, in their original case, as `char_ids`. It is the one text path:
    training batches (`text_batches`), `TextTask` predictions and the exported signatures all
    run it. Words seen fewer than `min_count` times map to the OOV id, so the OOV embedding is
    trained on real rare words.

    Args:
        word_lists: the training sentences, lists of words.
        min_count: occurrences a (lower-cased) word needs to get its own id.
        max_size: keep at most this many ids (reserved ones included), most frequent first.
        characters: add `char_ids` (from a character vocabulary of the training words).
        lowercase: lower-case words before the lookup.
        max_word_length: characters kept per word.
        char_vocabulary: use this character `Vocabulary` (e.g. a pretrained biLM's, whose
            character encoder the task reuses) instead of building one.
        split: `"whitespace"` (pre-tokenised text) or `"unicode_script"` (raw text: punctuation
            is split from words).

    Returns:
        A `seqkeras.data.TokenLookup`.

    Example:
    >>> lookup = build_word_lookup([["The", "cat"], ["the", "dog"]], min_count=2)
    >>> lookup(tf.constant(["the cat"]))["token_ids"].numpy()  # "cat" was seen once: OOV
    array([[4, 1]], dtype=int32)
    """
    min_count = check_positive_int("min_count", min_count)
    max_word_length = check_positive_int("max_word_length", max_word_length)
    word_lists = [list(words) for words in word_lists]
    keys = [[word.lower() for word in words] for words in word_lists] if lowercase else word_lists
    vocabulary = Vocabulary.build(keys, min_count=min_count, max_size=max_size)
    if characters and char_vocabulary is None:
        char_vocabulary = Vocabulary.build([list(word[:max_word_length]) for words in word_lists for word in words])
    return TokenLookup(
        vocabulary, split=split, lowercase=lowercase,
        char_vocabulary=char_vocabulary if characters else None, max_word_length=max_word_length,
    )
