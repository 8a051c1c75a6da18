"""Token files shipped with exports: one token per line, backslash-escaped.

A character vocabulary holds "\\n", "\\t" and "\\r", which a plain one-token-per-line file cannot.
Each token is written with `\\` -> `\\\\`, newline -> `\\n`, carriage return -> `\\r` and tab -> `\\t`,
so the file stays readable and every token round-trips. Line i (from 0) holds the token with id i.
The SavedModel's lookup table is initialised from this very file (an asset), and the serving graph
escapes each input token the same way before the lookup (`escape_tokens`).
"""

import pathlib

import tensorflow as tf

_ESCAPES = [("\\", "\\\\"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")]


def escape_token(token):
    """One token -> its one-line escaped form."""
    for raw, escaped in _ESCAPES:
        token = token.replace(raw, escaped)
    return token


def unescape_token(line):
    """Inverse of `escape_token`."""
    out = []
    index = 0
    reverse = {escaped[1]: raw for raw, escaped in _ESCAPES}
    while index < len(line):
        char = line[index]
        if char == "\\" and index + 1 < len(line) and line[index + 1] in reverse:
            out.append(reverse[line[index + 1]])
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


def write_token_file(path, tokens):
    """Writes `tokens` (id order) to `path`; duplicate tokens or empty tokens are an error."""
    tokens = [str(token) for token in tokens]
    seen = set()
    for index, token in enumerate(tokens):
        if token == "":
            raise ValueError(f"Tokens must be non-empty strings. Received: an empty token at id {index}")
        if token in seen:
            raise ValueError(f"Tokens must be unique. Received: {token!r} twice (second at id {index})")
        seen.add(token)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(escape_token(token) + "\n" for token in tokens), encoding="utf-8")
    return path


def read_token_file(path):
    """Tokens of a file written by `write_token_file`, in id order."""
    text = pathlib.Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    return [unescape_token(line) for line in lines]
