"""`tagger_preprocessor`: a downstream model's word inputs, with the characters of a pretrained biLM."""

from seqkeras.data.vocabulary import Vocabulary
from seqkeras.models.common.word_preprocessor import WordPreprocessor


def tagger_preprocessor(word_lists, bilm_preprocessor, min_count=2, max_size=None, lowercase=True):
    """A `WordPreprocessor` with its own word vocabulary and the biLM's character vocabulary.

    A downstream model that mixes ELMo layers (`build_tagger(..., contextual_layers=...)`)
    feeds its `char_ids` to the biLM, so they must be ids of the characters the biLM was
    trained on, cut at the same word length; the word vocabulary (for the downstream model's
    own token embedding) comes from the downstream training sentences. Characters the biLM
    never saw map to its OOV id. Pass `char_vocabulary_size=preprocessor.char_vocabulary.size`
    to `build_tagger`.

    Args:
        word_lists: the downstream training sentences (lists of words).
        bilm_preprocessor: the `WordPreprocessor` the biLM was trained with (it must have a
            character vocabulary).
        min_count, max_size: of the word vocabulary (`Vocabulary.build`).
        lowercase: lower-case words before the word lookup.

    Returns:
        A `WordPreprocessor`.

    Example:
    >>> bilm_prep = WordPreprocessor.build([["The", "cat", "sat"]], min_count=1)
    >>> prep = tagger_preprocessor([["A", "dog"]], bilm_prep, min_count=1)
    >>> prep.char_vocabulary is bilm_prep.char_vocabulary, prep.vocabulary.tokens[4:]
    (True, ['a', 'dog'])
    """
    if getattr(bilm_preprocessor, "char_vocabulary", None) is None:
        raise ValueError(
            "`bilm_preprocessor` must be the biLM's WordPreprocessor, with a character vocabulary. "
            f"Received: bilm_preprocessor={bilm_preprocessor!r}"
        )
    words = [[word.lower() for word in sentence] if lowercase else list(sentence) for sentence in word_lists]
    vocabulary = Vocabulary.build(words, min_count=min_count, max_size=max_size)
    return WordPreprocessor(
        vocabulary, bilm_preprocessor.char_vocabulary, lowercase=lowercase,
        max_word_length=bilm_preprocessor.max_word_length,
    )
