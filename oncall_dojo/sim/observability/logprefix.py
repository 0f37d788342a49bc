"""Where a text or regex term of a log query can meet the prefix of a rendered line.

The log store keeps messages without their `timestamp.mmmZ LEVEL ` prefix; a search
can run over the messages alone unless a match could start in the prefix. This
module works out, from the term alone, which prefix positions a match may start
at (`PrefixFit`). For a regex it reads the pattern's own text: only its leading
single characters (literals, escapes, classes, `.`) and whether anything in it
looks back (`^`, `\\A`, a lookbehind). Whatever it cannot read for sure it takes
as "may reach the prefix", which costs speed, never a match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from oncall_dojo.sim.observability.logquery import Term
from oncall_dojo.sim.observability.logs import PREFIX_CHARS, PREFIX_LEN

__all__ = ["CharTest", "PrefixFit", "prefix_fit"]

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
    pattern = term.value
    flags = term.flags
    lead = _GLOBAL_FLAGS.match(pattern)
    if lead:
        letters = lead.group(1)
        if "x" in letters:  # verbose: spaces and comments do not match; not read here
            return PrefixFit(looks_back=True)
        flags |= (re.IGNORECASE if "i" in letters else 0) | (re.DOTALL if "s" in letters else 0)
        pattern = pattern[lead.end() :]
    anchored = pattern.startswith(("^", "\\A"))
    if anchored:
        pattern = pattern[1 if pattern[0] == "^" else 2 :]
    if _looks_back(pattern):
        return PrefixFit(looks_back=True)
    reader = _Reader(pattern, bool(flags & re.IGNORECASE), bool(flags & re.DOTALL))
    try:
        lead_tests, complete = reader.leading(0, len(pattern))
    except _Unreadable:
        lead_tests, complete = [], False
    tests = tuple(lead_tests)
    starts = tuple(s for s in _starts(tests) if s == 0 or not anchored)
    return PrefixFit(tests, complete, starts, anchored)


_GLOBAL_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")
_QUANTIFIER = re.compile(r"[*+?]|\{(\d*)(?:,(\d*))?\}")
_CATEGORIES: dict[str, CharTest] = {
    "d": str.isdigit,
    "D": lambda c: not c.isdigit(),
    "s": str.isspace,
    "S": lambda c: not c.isspace(),
    "w": lambda c: c.isalnum() or c == "_",
    "W": lambda c: not (c.isalnum() or c == "_"),
}
_CONTROL = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}


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


def _any_of(tests: list[CharTest]) -> CharTest:
    return lambda c: any(t(c) for t in tests)


def _looks_back(pattern: str) -> bool:
    """Whether a pattern (its leading anchor taken off) anywhere asserts on the text before a
    match: `^`, `\\A` or a lookbehind, outside character classes."""
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if pattern[i + 1 : i + 2] == "A":
                return True
            i += 2
        elif c == "[":
            i = _class_end(pattern, i)
        elif c == "^" or pattern.startswith(("(?<=", "(?<!"), i):
            return True
        else:
            i += 1
    return False


def _class_end(pattern: str, i: int) -> int:
    """The index after the character class that opens at `i` (`]` first, or after `^`, is a
    member)."""
    j = i + 1
    if pattern[j : j + 1] == "^":
        j += 1
    if pattern[j : j + 1] == "]":
        j += 1
    while j < len(pattern):
        if pattern[j] == "\\":
            j += 2
            continue
        if pattern[j] == "]":
            return j + 1
        j += 1
    raise _Unreadable  # pragma: no cover - the pattern compiled


class _Unreadable(Exception):
    """Something this reader does not follow: take the term as reaching the prefix."""


class _Reader:
    """Reads the leading single characters of a pattern's text (`leading`)."""

    def __init__(self, pattern: str, icase: bool, dotall: bool) -> None:
        self.p = pattern
        self.icase = icase
        self.dotall = dotall

    def leading(self, i: int, end: int) -> tuple[list[CharTest], bool]:
        """Tests for the first characters every match of `p[i:end]` must have, as far as they are
        single characters (up to the first repeat, group with a repeat, zero-width item and so
        on), and whether they are the whole of it."""
        alternatives = self._split(i, end)
        if len(alternatives) > 1:
            firsts = [self.leading(a, b)[0][:1] for a, b in alternatives]
            if all(firsts):
                return [_any_of([f[0] for f in firsts])], False
            return [], False
        out: list[CharTest] = []
        while i < end:
            c = self.p[i]
            if c == "(":
                close = self._group_end(i)
                body = self._group_body(i)
                q = _QUANTIFIER.match(self.p, close, end)
                if body is None or q:
                    return out, False
                inner, complete = self.leading(body, close - 1)
                out.extend(inner)
                if not complete:
                    return out, False
                i = close
                continue
            if c in "^$":
                return out, False
            test, nxt = self._atom(i)
            if test is None:
                return out, False
            q = _QUANTIFIER.match(self.p, nxt, end)
            if q:
                if q.group(0) == "+" or (q.group(1) and int(q.group(1)) >= 1):
                    out.append(test)
                return out, False
            out.append(test)
            i = nxt
        return out, True

    def _structure(self, i: int, end: int) -> Iterator[tuple[int, str, int]]:
        """(index, `(` `)` or `|`, nesting depth after it) for each grouping character of
        `p[i:end]`, stepping over escapes and character classes."""
        depth = 0
        while i < end:
            c = self.p[i]
            if c == "\\":
                i += 2
                continue
            if c == "[":
                i = _class_end(self.p, i)
                continue
            if c in "()|":
                depth += {"(": 1, ")": -1, "|": 0}[c]
                yield i, c, depth
            i += 1

    def _split(self, i: int, end: int) -> list[tuple[int, int]]:
        """`p[i:end]` cut at its top-level `|`."""
        parts, start = [], i
        for at, c, depth in self._structure(i, end):
            if c == "|" and depth == 0:
                parts.append((start, at))
                start = at + 1
        parts.append((start, end))
        return parts

    def _group_end(self, i: int) -> int:
        """The index after the `)` closing the group that opens at `i`."""
        for at, c, depth in self._structure(i, len(self.p)):
            if c == ")" and depth == 0:
                return at + 1
        raise _Unreadable  # pragma: no cover - the pattern compiled

    def _group_body(self, i: int) -> int | None:
        """Where the pattern of a plain group (`(...)`, `(?:...)`, `(?P<name>...)`) starts, or None
        for any other kind (lookarounds, flags, conditions, references)."""
        p = self.p
        if not p.startswith("(?", i):
            return i + 1
        if p.startswith("(?:", i):
            return i + 3
        if p.startswith("(?P<", i):
            return p.index(">", i) + 1
        return None

    def _atom(self, i: int) -> tuple[CharTest | None, int]:
        """A test for the one character the item at `i` matches (None if it is not a single
        character), and where the next item starts."""
        p = self.p
        c = p[i]
        if c == ".":
            dotall = self.dotall
            return (lambda ch: dotall or ch != "\n"), i + 1
        if c == "[":
            end = _class_end(p, i)
            return self._charset(p[i + 1 : end - 1]), end
        if c == "\\":
            return self._escape(p[i + 1 : i + 2], i)
        if c in "*+?{)|":  # a literal `{`, or what this reader does not follow
            return None, i + 1
        return self._literal(c), i + 1

    def _literal(self, ch: str) -> CharTest:
        return _same_folded(ch) if self.icase else ch.__eq__

    def _escape(self, e: str, i: int) -> tuple[CharTest | None, int]:
        if e in _CATEGORIES:
            return _CATEGORIES[e], i + 2
        if e in _CONTROL:
            return self._literal(_CONTROL[e]), i + 2
        if e == "x":
            digits = self.p[i + 2 : i + 4]
            return self._literal(chr(int(digits, 16))), i + 4
        if e and not e.isalnum():
            return self._literal(e), i + 2
        return None, i + 2  # \b \B \Z, references, \u \N and the like: not read

    def _charset(self, body: str) -> CharTest:
        """A test for a character class's body (between the brackets)."""
        negate = body.startswith("^")
        if negate:
            body = body[1:]
        singles: list[tuple[int, int]] = []
        categories: list[CharTest] = []
        unknown = False
        j = 0
        while j < len(body):
            c = body[j]
            if c == "\\":
                e = body[j + 1 : j + 2]
                j += 2
                if e in _CATEGORIES:
                    categories.append(_CATEGORIES[e])
                    continue
                if e in _CONTROL:
                    lo = ord(_CONTROL[e])
                elif e and not e.isalnum():
                    lo = ord(e)
                else:  # \x.., \b (backspace here), octal, \N{...}: not read
                    unknown = True
                    continue
            else:
                lo = ord(c)
                j += 1
            if body[j : j + 1] == "-" and j + 1 < len(body):
                hi_c = body[j + 1]
                if hi_c == "\\":
                    e = body[j + 2 : j + 3]
                    if e and not e.isalnum():
                        singles.append((lo, ord(e)))
                    else:
                        unknown = True
                    j += 3
                else:
                    singles.append((lo, ord(hi_c)))
                    j += 2
                continue
            singles.append((lo, lo))

        def member(ch: str) -> bool:
            o = ord(ch)
            return any(a <= o <= b for a, b in singles) or any(t(ch) for t in categories)

        icase = self.icase

        def test(ch: str) -> bool:
            if unknown:
                return True
            variants = {ch, ch.lower(), ch.upper()} if icase else {ch}
            found = [member(v) for v in variants]
            return not any(found) if negate else any(found)

        return test
