"""The log explorer's query language: parse a filter string into a `Query`.

Pure Python (no Textual): the widget evaluates a `Query` against its columns and
text buffer; this module only checks the syntax and gives located errors.

    service:billing level:warn "charge failed" -retry /order_id=ord_\\d+/ since:15m

Every term must match (AND); several `service:` terms are alternatives (OR).
`help_text()` is the summary the app shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Literal

from oncall_dojo.sim.observability.logs import LEVELS, PREFIX_CHARS, PREFIX_LEN

__all__ = [
    "KEYS",
    "LEVEL_ALIASES",
    "PrefixFit",
    "Query",
    "QueryError",
    "Term",
    "help_text",
    "parse",
    "prefix_fit",
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
    """`level`: exactly this level (`level:=error`) rather than this level or worse."""
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
        return Term("service", negate, start, source, value.lower())
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


# ----------------------------------------------------------------------------- prefix analysis

try:  # the standard library's own regex parser (private; without it every term is "may reach")
    _sre: Any = import_module("re._parser")
    _op: Any = import_module("re._constants")
except ImportError:  # pragma: no cover
    _sre = _op = None

CharTest = Callable[[str], bool]


@dataclass(frozen=True)
class PrefixFit:
    """How a text or regex term can meet the prefix of a rendered line (its first `PREFIX_LEN`
    characters: `timestamp.mmmZ LEVEL `), judged by what the prefix can hold (`PREFIX_CHARS`).

    A line can only match by a match that starts in its prefix (at one of `starts`, where the
    term's first characters fit the prefix's own) or by one inside its message; when a term
    `looks_back`, the text before the message decides too, and only whole lines tell.
    """

    tests: tuple[CharTest, ...] = ()
    """Tests for the first characters of every match, as far as they are single characters."""
    whole: bool = False
    """The tests are the whole of every match (a literal text; a regex of single characters)."""
    starts: tuple[int, ...] = ()
    """Prefix positions where a match may start."""
    anchored: bool = False
    """Every match starts where the line does (`^` or `\\A` first)."""
    looks_back: bool = False
    """The term looks at the text before a match (a lookbehind, `^` not first): whole lines only."""

    @property
    def reaches(self) -> bool:
        """Whether the term could match where a line's timestamp and level are, or depends on
        what comes before the message (`^`, `\\A`, a lookbehind). When it cannot, searching the
        messages alone finds the same lines as searching whole lines."""
        return self.looks_back or self.anchored or bool(self.starts)


def prefix_fit(term: Term) -> PrefixFit:
    """How a text or regex term can meet the prefix of a line (see `PrefixFit`). Errs on the
    side of reaching it: only the first characters a term must match are known (a literal
    needle, or a regex's leading single characters), and anything after them may fit."""
    if term.kind == "text":
        tests = tuple(_same_folded(c) for c in term.value)
        return PrefixFit(tests, True, _starts(tests))
    if term.kind != "regex":
        return PrefixFit()
    if _sre is None:
        return PrefixFit(looks_back=True)
    try:
        parsed = _sre.parse(term.value, term.flags)
    except Exception:  # pragma: no cover - parse() has compiled it already
        return PrefixFit(looks_back=True)
    items = list(parsed.data)
    flags = parsed.state.flags
    icase, dotall = bool(flags & re.IGNORECASE), bool(flags & re.DOTALL)
    anchored = bool(items) and items[0] in (
        (_op.AT, _op.AT_BEGINNING),
        (_op.AT, _op.AT_BEGINNING_STRING),
    )
    if anchored:
        items = items[1:]
    if _looks_back(items):
        return PrefixFit(looks_back=True)
    lead, complete = _leading(items, icase, dotall)
    tests = tuple(lead)
    starts = tuple(s for s in _starts(tests) if s == 0 or not anchored)
    return PrefixFit(tests, complete, starts, anchored)


def _starts(tests: tuple[CharTest, ...]) -> tuple[int, ...]:
    """Prefix positions where characters passing `tests` one after the other can start: those
    that fit the prefix until they leave it (the message after it may hold anything)."""
    out = []
    for s in range(PREFIX_LEN):
        for i, test in enumerate(tests):
            pos = s + i
            if pos >= PREFIX_LEN:
                break
            if not any(test(c) for c in PREFIX_CHARS[pos]):
                break
        else:
            out.append(s)
            continue
        if s + i >= PREFIX_LEN:
            out.append(s)
    return tuple(out)


def _same_folded(ch: str) -> CharTest:
    low = ch.lower()
    return lambda c: c.lower() == low


def _looks_back(items: Any) -> bool:
    """Whether a parsed pattern anywhere asserts on text before the match (`^`, `\\A`, lookbehind)."""
    for op, av in items:
        if op is _op.AT and av in (
            _op.AT_BEGINNING,
            _op.AT_BEGINNING_STRING,
            _op.AT_BEGINNING_LINE,
        ):
            return True
        if op in (_op.ASSERT, _op.ASSERT_NOT) and av[0] < 0:
            return True
        for sub in _subpatterns(op, av):
            if _looks_back(sub):
                return True
    return False


def _subpatterns(op: Any, av: Any) -> list[Any]:
    if op is _op.SUBPATTERN:
        return [av[3]]
    if op in (_op.MAX_REPEAT, _op.MIN_REPEAT, getattr(_op, "POSSESSIVE_REPEAT", None)):
        return [av[2]]
    if op in (_op.ASSERT, _op.ASSERT_NOT):
        return [av[1]]
    if op is _op.BRANCH:
        return list(av[1])
    if op is getattr(_op, "ATOMIC_GROUP", None):
        return [av]
    if op is _op.GROUPREF_EXISTS:
        return [x for x in av[1:] if x is not None]
    return []


def _leading(items: Any, icase: bool, dotall: bool) -> tuple[list[CharTest], bool]:
    """Tests for the first characters every match of a parsed pattern must have, as far as they
    are single characters (up to the first repeat, alternation and so on), and whether they are
    the whole pattern."""
    out: list[CharTest] = []
    for op, av in items:
        if op is _op.AT or (op in (_op.ASSERT, _op.ASSERT_NOT) and av[0] > 0):
            return out, False  # zero width but narrowing what may match: stop (it is no char)
        if op is _op.SUBPATTERN and not av[1] and not av[2]:
            inner, complete = _leading(av[3], icase, dotall)
            out.extend(inner)
            if not complete:
                return out, False
            continue
        test = _one_char(op, av, icase, dotall)
        if test is not None:
            out.append(test)
            continue
        if op in (_op.MAX_REPEAT, _op.MIN_REPEAT, getattr(_op, "POSSESSIVE_REPEAT", None)):
            lo, _hi, sub = av
            if lo >= 1 and len(sub) == 1:
                sub_op, sub_av = sub[0]
                first = _one_char(sub_op, sub_av, icase, dotall)
                if first is not None:
                    out.append(first)
            return out, False
        if op is _op.BRANCH:
            firsts = [_leading(alt, icase, dotall)[0][:1] for alt in av[1]]
            if all(firsts):
                out.append(_any_of([f[0] for f in firsts]))
            return out, False
        return out, False
    return out, True


def _any_of(tests: list[CharTest]) -> CharTest:
    return lambda c: any(t(c) for t in tests)


def _one_char(op: Any, av: Any, icase: bool, dotall: bool) -> CharTest | None:
    """A test for the one character a parsed item matches, or None if it is not a single character."""
    if op is _op.LITERAL:
        ch = chr(av)
        return _same_folded(ch) if icase else ch.__eq__
    if op is _op.NOT_LITERAL:
        ch = chr(av)
        return (lambda c: c.lower() != ch.lower()) if icase else ch.__ne__
    if op is _op.ANY:
        return lambda c: dotall or c != "\n"
    if op is _op.IN:
        return _charset(av, icase)
    return None


def _charset(items: Any, icase: bool) -> CharTest:
    negate = bool(items) and items[0][0] is _op.NEGATE
    body = items[1:] if negate else items

    def member(c: str) -> bool | None:
        o = ord(c)
        for op, av in body:
            if op is _op.LITERAL:
                if o == av:
                    return True
            elif op is _op.RANGE:
                if av[0] <= o <= av[1]:
                    return True
            elif op is _op.CATEGORY:
                hit = _category(av, c)
                if hit is None:
                    return None
                if hit:
                    return True
            else:
                return None  # unknown: cannot tell
        return False

    def test(c: str) -> bool:
        variants = {c, c.lower(), c.upper()} if icase else {c}
        found = [member(v) for v in variants]
        if None in found:
            return True
        return not any(found) if negate else any(found)

    return test


def _category(cat: Any, c: str) -> bool | None:
    table = {
        _op.CATEGORY_DIGIT: c.isdigit(),
        _op.CATEGORY_NOT_DIGIT: not c.isdigit(),
        _op.CATEGORY_SPACE: c.isspace(),
        _op.CATEGORY_NOT_SPACE: not c.isspace(),
        _op.CATEGORY_WORD: c.isalnum() or c == "_",
        _op.CATEGORY_NOT_WORD: not (c.isalnum() or c == "_"),
    }
    return table.get(cat)
