"""`tagger_preprocessor`: a downstream model's `TokenLookup`, with the characters of a pretrained biLM."""

from seqkeras.models.common.word_lookup import build_word_lookup


def tagger_preprocessor(word_lists, bilm_preprocessor, min_count=2, max_size=None, lowercase=True):
    """A `TokenLookup` with its own word vocabulary and the biLM's character vocabulary.

    A downstream model that mixes ELMo layers (`build_tagger(..., contextual_layers=...)`)
    feeds its `char_ids` to the biLM, so they must be ids of the characters the biLM was
    trained on, cut at the same word length; the word vocabulary (for the downstream model's
    own token embedding) comes from the downstream training sentences. Characters the biLM
    never saw map to its OOV id. Pass `char_vocabulary_size=lookup.char_vocabulary.size` to
    `build_tagger`.

    Args:
        word_lists: the downstream training sentences (lists of words).
        bilm_preprocessor: the `TokenLookup` the biLM was trained with (a biLM run's
            `TextTask.preprocessor`); it must give `char_ids`.
        min_count, max_size: of the word vocabulary (`Vocabulary.build`).
        lowercase: lower-case words before the word lookup.

    Returns:
        A `seqkeras.data.TokenLookup` splitting at white space.

    Example:
    >>> bilm_lookup = build_word_lookup([["The", "cat", "sat"]], min_count=1)
    >>> lookup = tagger_preprocessor([["A", "dog"]], bilm_lookup, min_count=1)
    >>> lookup.char_vocabulary.tokens == bilm_lookup.char_vocabulary.tokens, lookup.tokens[4:]
    (True, ['a', 'dog'])
    """
    if getattr(bilm_preprocessor, "char_vocabulary", None) is None:
        raise ValueError(
            "`bilm_preprocessor` must be the biLM's TokenLookup, with a character vocabulary. "
            f"Received: bilm_preprocessor={bilm_preprocessor!r}"
        )
    return build_word_lookup(
        word_lists, min_count=min_count, max_size=max_size, lowercase=lowercase,
        max_word_length=bilm_preprocessor.max_word_length, char_vocabulary=bilm_preprocessor.char_vocabulary,
    )
