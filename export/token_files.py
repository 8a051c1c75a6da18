"""Token files shipped with exports: the project's one token file format.

The format and its implementation live in `seqkeras.data.token_file` (also used by
`Vocabulary.save` / `Vocabulary.load`); this module re-exports them for `export/` callers.
"""

from seqkeras.data.token_file import (  # noqa: F401
    escape_token,
    escape_tokens,
    read_token_file,
    unescape_token,
    write_token_file,
)

__all__ = ["escape_token", "escape_tokens", "read_token_file", "unescape_token", "write_token_file"]
