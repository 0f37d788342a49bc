"""Text from outside (a player's name, a console line) made safe to keep and to show.

`clean` is for input: bytes that were not UTF-8 (lone surrogates) become U+FFFD and
control characters are dropped. `shown` is for output of text that may predate that (an
old record, an imported file): control characters are written as visible escapes, so a
name can never move the cursor, change colours or start a new line on a terminal.
"""

from __future__ import annotations

import re

__all__ = ["clean", "shown"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean(text: str, keep_tabs: bool = False) -> str:
    """`text` with lone surrogates as U+FFFD and control characters removed."""
    text = _SURROGATE.sub("\ufffd", text)
    if keep_tabs:
        return _CONTROL.sub(lambda m: m.group() if m.group() == "\t" else "", text)
    return _CONTROL.sub("", text)


def shown(text: str, keep_lines: bool = False) -> str:
    """`text` with every control character (and lone surrogate) as a visible escape; with
    `keep_lines`, newlines and tabs stay as they are."""
    if _CONTROL.search(text) is None and _SURROGATE.search(text) is None:
        return text
    text = _SURROGATE.sub("\ufffd", text)
    return _CONTROL.sub(lambda m: _escape(m.group(), keep_lines), text)


def _escape(ch: str, keep_lines: bool) -> str:
    if keep_lines and ch in "\n\t":
        return ch
    n = ord(ch)
    return f"\\x{n:02x}" if n < 256 else f"\\u{n:04x}"
