"""Text from outside (a player's name, a console line) made safe to keep and to show.

`clean` is for input: bytes that were not UTF-8 (lone surrogates) become U+FFFD and
control characters are dropped. `shown` is for output of text that may predate that (an
old record, an imported file) or that a player typed (a console line, an SQL value):
control characters are written as visible escapes, so such text can never move the
cursor, change colours or start a new line on a terminal. `json_safe` does the same
for JSON text. `count` words a number of things ("1 message", "2 messages"): every
count the game shows goes through it, so none reads "1 messages".
"""

from __future__ import annotations

import re

__all__ = ["clean", "count", "json_safe", "plural", "shown"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""The controls `json.dumps` leaves raw (it escapes U+0000-U+001F itself; the layout's own
newlines must stay)."""


def whole(text: str) -> str:
    """`text` with lone surrogates (bytes that were not UTF-8, as read by `surrogateescape`)
    as U+FFFD, and nothing else changed."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


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


def json_safe(dumped: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) with the characters `shown`
    escapes, and lone surrogates, written as `\\uXXXX`: the same JSON once parsed, and
    nothing in it a terminal acts on. (`json.dumps` escapes only U+0000-U+001F.)"""
    return _SURROGATE.sub(_u, _JSON_RAW.sub(_u, dumped))


def _u(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def plural(word: str) -> str:
    """The regular English plural of a noun: message -> messages, query -> queries,
    process -> processes (a word that is not regular is given whole to `count`)."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if len(word) > 1 and word[-1] == "y" and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def count(n: float, word: str, many: str | None = None, *, sep: bool = True) -> str:
    """`n` and the noun, singular for exactly one: `count(1, "message")` is "1 message",
    `count(2048, "row")` is "2,048 rows" (without `sep`, "2048 rows"); `many` gives an
    irregular plural (`count(2, "person", "people")`)."""
    if isinstance(n, float) and not n.is_integer():
        number = f"{n:,g}" if sep else f"{n:g}"
    else:
        number = f"{int(n):,}" if sep else f"{int(n)}"
    return f"{number} {word if n == 1 else (many or plural(word))}"
