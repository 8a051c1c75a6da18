"""The one plain-text token file format: one token per line, backslash-escaped.

Used by `Vocabulary.save` / `Vocabulary.load` and by every export (`export/`), so a vocabulary file
written in training can initialise a `tf.lookup` table directly (`tf.lookup.TextFileInitializer`
with `WHOLE_LINE` keys and `LINE_NUMBER` values, e.g. in TF Serving).

Line i (from 0) holds the token with id i. A character vocabulary holds "\\n", "\\t" and "\\r",
which a plain one-token-per-line file cannot, so each token is written with `\\` -> `\\\\`,
newline -> `\\n`, carriage return -> `\\r` and tab -> `\\t`; every other character (spaces, quotes,
other control characters) is written as is. The file is UTF-8; a token holding undecodable bytes
(kept by `Vocabulary` as lone surrogates) is written as those raw bytes, which is what an in-graph
lookup of the same token sees. A graph looking tokens up in a table built from such a file escapes
them first with `escape_tokens` (the in-graph `escape_token`).
"""

import pathlib

import tensorflow as tf

_ESCAPES = [("\\", "\\\\"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")]
_UNESCAPES = {escaped[1]: raw for raw, escaped in _ESCAPES}


def escape_token(token):
    """One token -> its one-line escaped form."""
    for raw, escaped in _ESCAPES:
        token = token.replace(raw, escaped)
    return token


def unescape_token(line):
    """Inverse of `escape_token`."""
    out = []
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\" and index + 1 < len(line) and line[index + 1] in _UNESCAPES:
            out.append(_UNESCAPES[line[index + 1]])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def escape_tokens(tokens):
    """In-graph `escape_token` over a string tensor (ragged via `tf.ragged.map_flat_values`)."""
    for raw, escaped in _ESCAPES:
        tokens = tf.strings.regex_replace(tokens, _regex_literal(raw), _rewrite_literal(escaped))
    return tokens


def _regex_literal(text):
    return "".join("\\" + c if c in "\\.^$|?*+()[]{}" else c for c in text).replace("\n", "\\n").replace(
        "\r", "\\r").replace("\t", "\\t")


def _rewrite_literal(text):
    # RE2 rewrite strings treat "\" as an escape (\1, \\), so double every backslash.
    return text.replace("\\", "\\\\")


def _to_text(token):
    if isinstance(token, bytes):
        return token.decode("utf-8", errors="surrogateescape")
    return str(token)


def write_token_file(path, tokens):
    """Writes `tokens` (id order, str or bytes) to `path`; returns the path.

    Raises:
        ValueError: an empty or a duplicate token (a lookup table needs unique keys).
    """
    tokens = [_to_text(token) for token in tokens]
    seen = set()
    for index, token in enumerate(tokens):
        if token == "":
            raise ValueError(f"Tokens must be non-empty strings. Received: an empty token at id {index}")
        if token in seen:
            raise ValueError(f"Tokens must be unique. Received: {token!r} twice (second at id {index})")
        seen.add(token)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(escape_token(token) + "\n" for token in tokens)
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    return path


def read_token_file(path):
    """Tokens (str; undecodable bytes as lone surrogates) of a file written by `write_token_file`, in id order."""
    text = pathlib.Path(path).read_bytes().decode("utf-8", errors="surrogateescape")
    lines = text.split("\n")  # not splitlines(): only "\n" ends a line, as for TextFileInitializer
    if lines and lines[-1] == "":
        lines = lines[:-1]
    return [unescape_token(line) for line in lines]
