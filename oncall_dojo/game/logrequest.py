"""The console's `logs` line: the log explorer's query language, plus what the console adds.

`logs service:billing level:warn "charge failed" -retry /order_id=ord_\\d+/ since:15m`
means what the same filter means in the explorer (`sim.observability.logquery`); the
console shows the newest `limit=N` matching lines (20 by default) of the last 15
minutes unless the query sets a time (`since:`, `until:`, `at:`). As before the
query language, a first word that names a service picks it (`logs billing`, exactly
that service when one has that name), and `level=warn`, `grep=TEXT`, `re=REGEX` and
`since=15m` are read as the terms they always meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oncall_dojo.game.grammar import parse_duration, whole
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.observability.logquery import Query, QueryError, Term, parse
from oncall_dojo.sim.observability.logs import LEVELS

__all__ = ["CONSOLE_HELP", "LOG_USAGE", "LogRequest", "log_request"]

LOG_USAGE = "logs [SERVICE] [QUERY] [limit=20]"
DEFAULT_WINDOW_S = 15 * 60
DEFAULT_LIMIT = 20
_OPTION = re.compile(r"(level|grep|re|since|limit)=")
CONSOLE_HELP = (
    "In the console: the newest limit=N matching lines (20), of the last 15 minutes unless\n"
    "the query sets a time. A first word that names a service picks it (logs billing ...);\n"
    "level=warn, grep=TEXT, re=REGEX and since=15m still work."
)


@dataclass(frozen=True)
class LogRequest:
    query: Query
    since_s: int | None
    """Only lines of the last `since_s` seconds (None: the query's own time terms decide)."""
    limit: int
    """The newest this many matching lines."""
    service: str | None
    """The service asked for, as written (the first positive `service:` or the leading name)."""


def log_request(text: str, services: list[str]) -> LogRequest:
    """Read the rest of a `logs` line (`services`: the names that have logged); refuses with the
    problem (and its column, counted in `text`) when it cannot."""
    blanked = list(text)
    extra: list[Term] = []
    opts: dict[str, tuple[int, str, str]] = {}
    i, n, first = 0, len(text), True
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        m = _OPTION.match(text, i)
        if m:
            value, i = _shell_word(text, m.end())
            opts[m.group(1)] = (start, text[start:i], value)
        else:
            i = _term_end(text, i)
            word = text[start:i]
            plain = not re.search(r"[\":=/]", word) and not word.startswith("-")
            if first and plain and any(name.startswith(word) for name in services):
                extra.append(
                    Term("service", False, start, word, word.lower(), exact=word in services)
                )
            else:
                first = False
                continue
        blanked[start:i] = " " * (i - start)
        first = False
    extra += _old_options(opts)
    try:
        parsed = parse("".join(blanked))
    except QueryError as exc:
        raise Refusal(f"log query, {exc}; `help logs` shows the syntax") from None
    query = Query(text, tuple(sorted((*extra, *parsed.terms), key=lambda t: t.pos)))
    if "since" in opts:
        since_s: int | None = parse_duration(opts["since"][2])
    elif query.of("since", "until", "at"):
        since_s = None
    else:
        since_s = DEFAULT_WINDOW_S
    limit = whole(opts["limit"][2], "limit", 1, 500) if "limit" in opts else DEFAULT_LIMIT
    named = [t.value if ":" in t.source else t.source for t in query.of("service") if not t.negate]
    return LogRequest(query, since_s, limit, named[0] if named else None)


def _old_options(opts: dict[str, tuple[int, str, str]]) -> list[Term]:
    """`level=`, `grep=` and `re=` as the terms they mean."""
    out: list[Term] = []
    if "level" in opts:
        pos, source, value = opts["level"]
        name = value.upper()
        if name == "WARNING":
            name = "WARN"
        if name not in LEVELS:
            raise Refusal(f"level must be one of {', '.join(x.lower() for x in LEVELS)}")
        out.append(Term("level", False, pos, source, name.lower(), level=LEVELS.index(name)))
    if opts.get("grep", (0, "", ""))[2]:
        pos, source, value = opts["grep"]
        out.append(Term("text", False, pos, source, value.lower()))
    if "re" in opts:
        pos, source, value = opts["re"]
        try:
            re.compile(value)
        except re.error as exc:
            raise Refusal(f"bad regex {value!r}: {exc}") from None
        out.append(Term("regex", False, pos, source, value))
    return out


def _shell_word(text: str, i: int) -> tuple[str, int]:
    """An option's value as a shell reads it (quotes, backslashes), and where it ends."""
    out: list[str] = []
    n = len(text)
    while i < n and not text[i].isspace():
        c = text[i]
        if c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise Refusal("cannot parse the command: No closing quotation")
            out.append(text[i + 1 : j])
            i = j + 1
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\$`':
                    i += 1
                out.append(text[i])
                i += 1
            if i >= n:
                raise Refusal("cannot parse the command: No closing quotation")
            i += 1
        elif c == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out), i


def _term_end(text: str, i: int) -> int:
    """Where the query term starting at `i` ends: a quoted text or a regex may hold spaces."""
    n = len(text)
    j = i + 1 if text[i] == "-" and i + 1 < n else i
    if text[j] in '"/':
        close = text[j]
        k = j + 1
        while k < n and text[k] != close:
            k += 2 if text[k] == "\\" else 1
        k += 1
        while k < n and not text[k].isspace():
            k += 1
        return min(k, n)
    while j < n and not text[j].isspace():
        j += 1
    return j
