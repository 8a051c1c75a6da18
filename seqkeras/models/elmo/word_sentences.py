"""`word_sentences`: plain-text sentences -> word lists for biLM pretraining (punctuation kept)."""

import tensorflow as tf

from seqkeras.models.common._validation import check_positive_int


def word_sentences(texts, min_words=1, max_words=None):
    """Tokenises sentences into words with the package's `WordTokenizer("unicode_script")`.

    The same tensorflow-text tokenizer as the word2vec pipeline (`tokenize_documents`), but
    punctuation tokens are kept and case is left alone: a biLM pretrained on these sentences
    is evaluated on and used for treebank text (UD EWT), whose tokens include punctuation,
    and the task's `TokenLookup` lower-cases words itself while reading characters in their original
    case. Sentences outside `[min_words, max_words]` words are dropped (long ones are mostly
    lists and tables left over by markup stripping, and cost the most per batch).

    Args:
        texts: iterable of str, one sentence each (e.g. `seqkeras.data.corpora.wiki_sentences()`).
        min_words: drop sentences with fewer words.
        max_words: drop sentences with more words (None keeps all).

    Returns:
        list of lists of str, in input order.

    Example:
    >>> word_sentences(["Hello, world!", "Hi"], min_words=2)
    [['Hello', ',', 'world', '!']]
    """
    min_words = check_positive_int("min_words", min_words)
    max_words = check_positive_int("max_words", max_words, allow_none=True)
    texts = list(texts)
    if not texts:
        return []
    # Imported here: `build_tagger` / `build_classifier` import this package (for `ScalarMix` and
    # `ElmoEmbedder`'s registration), and they should not load tensorflow-text with it.
    from seqkeras.data.tokenization import WordTokenizer

    tokens = WordTokenizer(method="unicode_script").tokenize(tf.constant(texts, dtype=tf.string))  # (N, None)
    sentences = [[token.decode("utf-8") for token in row] for row in tokens.to_list()]
    return [
        words for words in sentences
        if len(words) >= min_words and (max_words is None or len(words) <= max_words)
    ]
