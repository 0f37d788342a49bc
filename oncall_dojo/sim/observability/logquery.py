"""The log explorer's query language: parse a filter string into a `Query`.

Pure Python (no Textual): the widget evaluates a `Query` against its columns and
text buffer; this module only checks the syntax and gives located errors.

    service:billing level:warn "charge failed" -retry /order_id=ord_\\d+/ since:15m

Every term must match (AND); several `service:` terms are alternatives (OR).
`help_text()` is the summary the app shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from oncall_dojo.sim.observability.logs import LEVELS

__all__ = [
    "KEYS",
    "LEVEL_ALIASES",
    "Query",
    "QueryError",
    "Term",
    "help_text",
    "parse",
]

TermKind = Literal["service", "level", "text", "regex", "since", "until", "at"]

KEYS = ("service", "level", "since", "until", "at")
"""The `key:value` terms; any other `word:` is an error (quote it to search for it)."""

LEVEL_ALIASES: dict[str, int] = {name.lower(): i for i, name in enumerate(LEVELS)}
LEVEL_ALIASES.update({"warning": 2, "err": 3, "crit": 4, "critical": 4})

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):")


class QueryError(ValueError):
    """A query that cannot be parsed; `pos` is the 0-based offset of the problem."""

    def __init__(self, message: str, pos: int) -> None:
        self.message = message
        self.pos = pos
        super().__init__(f"column {pos + 1}: {message}")


@dataclass(frozen=True)
class Term:
    """One filter term as written (`pos`, `source`) and as understood."""

    kind: TermKind
    negate: bool
    pos: int
    source: str
    value: str = ""
    """`service`: the lower-cased name prefix; `text`: the lower-cased needle; `regex`: the pattern."""
    level: int = 0
    exact: bool = False
    """`level`: exactly this level (`level:=error`) rather than this level or worse; `service`:
    exactly this name (`service:=api`) rather than names that start with it."""
    seconds: int = 0
    """`since`/`until`: the duration; with `clock`, the time of day in seconds. `at`: the time of day."""
    clock: bool = False
    """`since`/`until`: `seconds` is a time of day (HH:MM) rather than a duration before the newest line."""
    span: int = 0
    """`at`: how many seconds the time covers (60 for HH:MM, 1 for HH:MM:SS)."""
    flags: int = 0
    """`regex`: `re` flags (`re.IGNORECASE` after a trailing `i`: `/error/i`)."""


@dataclass(frozen=True)
class Query:
    """A parsed query. The empty query matches every line."""

    source: str
    terms: tuple[Term, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.terms

    def of(self, *kinds: TermKind) -> list[Term]:
        return [t for t in self.terms if t.kind in kinds]

    @property
    def services(self) -> list[str]:
        """Service name prefixes that are allowed (any of them); empty means all services."""
        return [t.value for t in self.terms if t.kind == "service" and not t.negate]

    @property
    def excluded_services(self) -> list[str]:
        return [t.value for t in self.terms if t.kind == "service" and t.negate]

    @property
    def has_relative_time(self) -> bool:
        """True if a term is measured back from the newest line (so the window slides)."""
        return any(t.kind in ("since", "until") and not t.clock for t in self.terms)

    def highlight_patterns(self) -> list[re.Pattern[str]]:
        """Patterns (over `str`) of the positive text and regex terms, to highlight matches."""
        out: list[re.Pattern[str]] = []
        for t in self.terms:
            if t.negate:
                continue
            if t.kind == "text":
                out.append(re.compile(re.escape(t.value), re.IGNORECASE))
            elif t.kind == "regex":
                out.append(re.compile(t.value, t.flags))
        return out


def help_text() -> str:
    """The query syntax, for the app's help."""
    return (
        "Log query: space-separated terms; a line must match all of them.\n"
        '  word  "quoted text"   case-insensitive substring of the whole line\n'
        "  /regex/  /regex/i     Python regular expression over the whole line (i: ignore case)\n"
        '  -word  -"text"  -/re/ exclude lines that match (also -service:NAME, -level:LEVEL)\n'
        "  service:billing       service name starts with 'billing'; repeat for either/or\n"
        "  service:=api          exactly the service 'api'\n"
        "  level:warn            WARN or worse (debug, info, warn, error, fatal)\n"
        "  level:=error          exactly ERROR\n"
        "  since:15m  until:5m   relative to the newest line (s, m, h, d: e.g. 1h30m)\n"
        "  since:03:10  until:03:20  at:03:12   log-clock time of day (HH:MM or HH:MM:SS)\n"
        'Quote a word with a colon to search for it: "reason:timeout".'
    )


def parse(text: str) -> Query:
    """Parse `text` into a `Query`, or raise `QueryError` naming the problem and its column."""
    terms: list[Term] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        negate = False
        if text[i] == "-":
            negate = True
            i += 1
            if i >= n or text[i].isspace():
                raise QueryError("'-' must be followed by the term to exclude", start)
        c = text[i]
        if c == '"':
            value, i = _quoted(text, i)
            if not value:
                raise QueryError("empty quoted text", start)
            terms.append(Term("text", negate, start, text[start:i], value.lower()))
        elif c == "/":
            pattern, flags, i = _regex(text, i)
            terms.append(Term("regex", negate, start, text[start:i], pattern, flags=flags))
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            word = text[i:j]
            m = _KEY.match(word)
            if m:
                terms.append(
                    _keyed(
                        m.group(1).lower(),
                        word[m.end() :],
                        negate,
                        start,
                        i + m.end(),
                        text[start:j],
                    )
                )
            else:
                terms.append(Term("text", negate, start, text[start:j], word.lower()))
            i = j
        if i < n and not text[i].isspace():
            raise QueryError(f"expected a space after {text[start:i]!r}", i)
    return Query(text, tuple(terms))


def _quoted(text: str, i: int) -> tuple[str, int]:
    """Read `"..."` starting at the quote `i` (backslash escapes `"` and `\\`)."""
    out: list[str] = []
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\" and j + 1 < len(text) and text[j + 1] in '"\\':
            out.append(text[j + 1])
            j += 2
            continue
        if c == '"':
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise QueryError("unclosed quote", i)


def _regex(text: str, i: int) -> tuple[str, int, int]:
    """Read `/pattern/` or `/pattern/i` starting at the slash `i`; `\\/` is a literal slash."""
    out: list[str] = []
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\" and j + 1 < len(text):
            out.append(text[j : j + 2] if text[j + 1] != "/" else "/")
            j += 2
            continue
        if c == "/":
            break
        out.append(c)
        j += 1
    else:
        raise QueryError("unclosed regex (end it with '/')", i)
    pattern = "".join(out)
    j += 1
    flags = 0
    if j < len(text) and text[j] == "i" and (j + 1 == len(text) or text[j + 1].isspace()):
        flags = re.IGNORECASE
        j += 1
    if not pattern:
        raise QueryError("empty regex", i)
    try:
        re.compile(pattern, flags)
    except re.error as e:
        raise QueryError(f"bad regex: {e.msg}", i + 1 + (e.pos or 0)) from None
    return pattern, flags, j


def _keyed(key: str, value: str, negate: bool, start: int, vpos: int, source: str) -> Term:
    if key not in KEYS:
        raise QueryError(
            f"unknown key '{key}:' (keys: {', '.join(KEYS)}; quote the word to search for it)",
            start,
        )
    if not value:
        raise QueryError(f"'{key}:' needs a value", vpos)
    if key == "service":
        exact = value.startswith("=")
        name = value[1:] if exact else value
        if not name:
            raise QueryError("'service:=' needs a name", vpos + 1)
        return Term("service", negate, start, source, name.lower(), exact=exact)
    if key == "level":
        exact = value.startswith("=")
        name = value[1:] if exact else value
        level = LEVEL_ALIASES.get(name.lower())
        if level is None:
            raise QueryError(
                f"unknown level '{name}' (levels: {', '.join(lv.lower() for lv in LEVELS)})",
                vpos + exact,
            )
        return Term("level", negate, start, source, name.lower(), level=level, exact=exact)
    if negate:
        raise QueryError(
            f"'{key}:' cannot be excluded; use since:/until: for the other side", start
        )
    clock = _CLOCK.fullmatch(value)
    if key == "at":
        if not clock:
            raise QueryError(f"at: needs a log-clock time HH:MM or HH:MM:SS, not '{value}'", vpos)
        sod, span = _clock_seconds(clock)
        return Term("at", False, start, source, value, seconds=sod, span=span)
    kind: TermKind = "since" if key == "since" else "until"
    if clock:
        return Term(kind, False, start, source, value, seconds=_clock_seconds(clock)[0], clock=True)
    dur = _DURATION.fullmatch(value)
    if not dur or not any(dur.groups()):
        raise QueryError(
            f"{key}: needs a duration like 15m, 90s, 1h30m or a time HH:MM, not '{value}'", vpos
        )
    d, h, m, s = (int(g or 0) for g in dur.groups())
    return Term(kind, False, start, source, value, seconds=((d * 24 + h) * 60 + m) * 60 + s)


def _clock_seconds(m: re.Match[str]) -> tuple[int, int]:
    h, mi, s = m.group(1), m.group(2), m.group(3)
    sod = int(h) * 3600 + int(mi) * 60 + int(s or 0)
    return sod, 1 if s is not None else 60
