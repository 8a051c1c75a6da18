"""CoNLL-U reading and writing for the tagging and classification pipelines (any tag column).

`read_conllu_sentences(path, column)` gives one `ConlluSentence(sent_id, words, tags, tokens)`
per sentence: the syntactic words (multi-word token lines `1-2` and empty nodes `8.1` skipped)
and the chosen column (`"upos"` or `"xpos"`). `write_conllu` fills that column back in, either
into the sentences read from a file (every other field kept) or into new sentences built from
words. Whitespace inside a word form (allowed by CoNLL-U in a few treebanks) becomes `_`, so a
sentence joined with spaces splits back into exactly its words.
"""

import collections
import gzip
import pathlib
import re

COLUMNS = ("upos", "xpos")
_WHITESPACE = re.compile(r"\s+")

ConlluSentence = collections.namedtuple("ConlluSentence", ["sent_id", "words", "tags", "tokens"])
ConlluSentence.__doc__ = ("A CoNLL-U sentence: its id, word forms, tags of the chosen column (None where the "
                          "file has `_`) and the `conllu.TokenList` it came from (None when built from words).")


def read_conllu_sentences(path, column="upos"):
    """Reads a `.conllu` or `.conllu.gz` file.

    Args:
        path: the file.
        column: the tag column, `"upos"` or `"xpos"`.

    Returns:
        A list of `ConlluSentence`; sentences without a `sent_id` comment get
        `"<file name>-<index>"`, sentences without any word are left out.

    Raises:
        ValueError: unknown column, not UTF-8, not gzip (for `.gz`), or a malformed line (the
            message names the file and the line).
        FileNotFoundError: no such file.
    """
    import conllu

    if column not in COLUMNS:
        raise ValueError(f"`column` must be one of {COLUMNS}. Received: column={column!r}")
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CoNLL-U file not found: {path}")
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        text = data.decode("utf-8")
    except (OSError, EOFError) as error:
        raise ValueError(f"{path} is not a valid gzip file ({error})") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not valid UTF-8 (byte {error.start})") from None
    for number, line in enumerate(text.splitlines(), start=1):  # the parser fills missing fields with None
        if line.strip() and not line.startswith("#") and line.count("\t") != 9:
            raise ValueError(f"{path} is not valid CoNLL-U (line {number} has {line.count(chr(9)) + 1} tab-separated "
                             f"fields, 10 expected: {line[:60]!r})")
    sentences = []
    try:
        token_lists = conllu.parse(text)
    except Exception as error:  # conllu raises ParseException and plain ValueErrors alike
        raise ValueError(f"{path} is not valid CoNLL-U ({str(error).splitlines()[0]})") from None
    for index, token_list in enumerate(token_lists):
        words, tags = [], []
        for token in token_list:
            if not isinstance(token["id"], int):  # (1, "-", 2) multi-word or (8, ".", 1) empty node
                continue
            form = token["form"]
            if not isinstance(form, str) or not form.strip():
                raise ValueError(f"{path}: sentence {index + 1} has a word without a form (token {token['id']})")
            words.append(_WHITESPACE.sub("_", form.strip()))
            tags.append(token[column])
        if words:
            sent_id = token_list.metadata.get("sent_id", f"{path.name}-{index}")
            sentences.append(ConlluSentence(sent_id, tuple(words), tuple(tags), token_list))
    return sentences


def sentence_from_words(words, sent_id=None):
    """A `ConlluSentence` without tags for a list of words (what `write_conllu` fills)."""
    words = tuple(_WHITESPACE.sub("_", word.strip()) for word in words)
    return ConlluSentence(sent_id, words, (None,) * len(words), None)


def write_conllu(sentences, tags, column="upos"):
    """CoNLL-U text of `sentences` with `column` set to `tags` (one list per sentence).

    Sentences read from a file keep every other field and comment; sentences built from words
    get ids, forms, the column and `_` elsewhere (and a `# text` comment).
    """
    if column not in COLUMNS:
        raise ValueError(f"`column` must be one of {COLUMNS}. Received: column={column!r}")
    blocks = []
    for sentence, sentence_tags in zip(sentences, tags, strict=True):
        if len(sentence_tags) != len(sentence.words):
            raise ValueError(f"Need one tag per word. Received: {len(sentence.words)} words, {len(sentence_tags)} tags")
        if sentence.tokens is not None:
            token_list = sentence.tokens.copy() if hasattr(sentence.tokens, "copy") else sentence.tokens
            words = iter(sentence_tags)
            for token in token_list:
                if isinstance(token["id"], int):
                    token[column] = next(words)
            blocks.append(token_list.serialize())
            continue
        lines = [f"# sent_id = {sentence.sent_id}"] if sentence.sent_id else []
        lines.append(f"# text = {' '.join(sentence.words)}")
        for index, (word, tag) in enumerate(zip(sentence.words, sentence_tags), start=1):
            fields = [str(index), word] + ["_"] * 8
            fields[3 if column == "upos" else 4] = tag
            lines.append("\t".join(fields))
        blocks.append("\n".join(lines) + "\n\n")
    return "".join(blocks)
