"""The log query language: every kind of term, and errors that name the problem and its column."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from oncall_dojo.sim.observability.logprefix import prefix_fit
from oncall_dojo.sim.observability.logquery import Query, QueryError, Term, help_text, parse
from oncall_dojo.sim.observability.logs import ERROR, FATAL, PREFIX_LEN, WARN, LogStore

ROOT = Path(__file__).resolve().parents[2]


def one(text: str) -> Term:
    q = parse(text)
    assert len(q.terms) == 1, q.terms
    return q.terms[0]


def test_empty_query_matches_everything() -> None:
    assert parse("").is_empty
    assert parse("   ").is_empty
    assert Query("").terms == ()


def test_bare_words_are_lowercased_substrings() -> None:
    q = parse("Charge  FAILED")
    assert [(t.kind, t.value, t.negate) for t in q.terms] == [
        ("text", "charge", False),
        ("text", "failed", False),
    ]
    assert [t.pos for t in q.terms] == [0, 8]


def test_quoted_text_keeps_spaces_and_escapes() -> None:
    t = one('"charge failed"')
    assert (t.kind, t.value) == ("text", "charge failed")
    t = one(r'"say \"hi\" \\ now"')
    assert t.value == 'say "hi" \\ now'
    # a word with a colon can be searched when quoted
    assert one('"reason:timeout"').value == "reason:timeout"


def test_exclusion_of_any_term() -> None:
    assert (one("-retry").kind, one("-retry").negate) == ("text", True)
    assert one('-"a b"').value == "a b" and one('-"a b"').negate
    t = one("-/ord_\\d+/")
    assert (t.kind, t.value, t.negate) == ("regex", r"ord_\d+", True)
    t = one("-service:api")
    assert (t.kind, t.value, t.negate) == ("service", "api", True)
    assert parse("-service:api").excluded_services == ["api"]


def test_regex_terms() -> None:
    t = one(r"/order_id=ord_\d+$/")
    assert (t.kind, t.value, t.flags) == ("regex", r"order_id=ord_\d+$", 0)
    assert one("/error/i").flags == re.IGNORECASE
    # `\/` is a literal slash; other escapes are kept for `re`
    assert one(r"/path=\/api\/orders\s/").value == r"path=/api/orders\s"
    assert re.compile(one(r"/a\/b/").value).search("x a/b y")


def test_service_terms_are_prefixes_and_repeatable() -> None:
    q = parse("service:Billing service:api")
    assert q.services == ["billing", "api"]
    assert q.excluded_services == []


@pytest.mark.parametrize(
    ("text", "level", "exact"),
    [
        ("level:warn", WARN, False),
        ("level:WARNING", WARN, False),
        ("level:=error", ERROR, True),
        ("level:err", ERROR, False),
        ("level:fatal", FATAL, False),
        ("level:=critical", FATAL, True),
        ("level:debug", 0, False),
    ],
)
def test_level_terms(text: str, level: int, exact: bool) -> None:
    t = one(text)
    assert (t.kind, t.level, t.exact) == ("level", level, exact)


@pytest.mark.parametrize(
    ("text", "kind", "seconds", "clock"),
    [
        ("since:15m", "since", 900, False),
        ("since:90s", "since", 90, False),
        ("since:1h30m", "since", 5400, False),
        ("until:5m", "until", 300, False),
        ("until:2d", "until", 2 * 86400, False),
        ("since:03:10", "since", 3 * 3600 + 600, True),
        ("until:03:20:30", "until", 3 * 3600 + 1230, True),
    ],
)
def test_time_window_terms(text: str, kind: str, seconds: int, clock: bool) -> None:
    t = one(text)
    assert (t.kind, t.seconds, t.clock) == (kind, seconds, clock)


def test_at_is_a_minute_or_a_second_of_the_log_clock() -> None:
    t = one("at:03:12")
    assert (t.kind, t.seconds, t.span) == ("at", 3 * 3600 + 12 * 60, 60)
    t = one("at:3:12:07")
    assert (t.seconds, t.span) == (3 * 3600 + 12 * 60 + 7, 1)


def test_relative_time_is_flagged() -> None:
    assert parse("since:5m").has_relative_time
    assert parse("until:1m x").has_relative_time
    assert not parse("since:03:00 at:03:05").has_relative_time


def test_all_kinds_together_keep_order_and_positions() -> None:
    src = 'service:billing level:warn "charge failed" -retry /ord_\\d+/ since:15m at:03:12'
    q = parse(src)
    assert [t.kind for t in q.terms] == ["service", "level", "text", "text", "regex", "since", "at"]
    for t in q.terms:
        assert src[t.pos : t.pos + len(t.source)] == t.source


def test_highlight_patterns_cover_positive_text_and_regex_only() -> None:
    q = parse('Charge -retry /ord_\\d+/ service:api "A B"')
    pats = q.highlight_patterns()
    assert len(pats) == 3
    assert pats[0].search("CHARGE failed") and pats[2].search("a b")


@pytest.mark.parametrize(
    ("text", "pos", "words"),
    [
        ('level:warn "charge failed', 11, "unclosed quote"),
        ("x /ord_\\d+", 2, "unclosed regex"),
        ("/ord_(\\d+/", 5, "bad regex"),
        ("abc /a[/", 6, "bad regex"),
        ("level:loud", 6, "unknown level 'loud'"),
        ("a level:=nope", 9, "unknown level 'nope'"),
        ("colour:red", 0, "unknown key 'colour:'"),
        ("x service:", 10, "'service:' needs a value"),
        ("since:soon", 6, "since: needs a duration"),
        ("until:25:00", 6, "until: needs a duration"),
        ("at:3pm", 3, "at: needs a log-clock time"),
        ("ok - x", 3, "'-' must be followed"),
        ("-since:5m", 0, "cannot be excluded"),
        ('"a"b', 3, "expected a space"),
        ('""', 0, "empty quoted text"),
        ("//", 0, "empty regex"),
    ],
)
def test_errors_name_the_problem_and_column(text: str, pos: int, words: str) -> None:
    with pytest.raises(QueryError) as ei:
        parse(text)
    assert ei.value.pos == pos
    assert words in ei.value.message
    assert str(ei.value).startswith(f"column {pos + 1}: ")


def test_help_text_mentions_every_term() -> None:
    h = help_text()
    for word in (
        "service:",
        "level:",
        "level:=",
        "/regex/",
        '"quoted',
        "-word",
        "since:",
        "until:",
        "at:",
    ):
        assert word in h


# ------------------------------------------------------------------ where a term can meet a line


@pytest.mark.parametrize(
    ("text", "reaches", "looks_back", "anchored"),
    [
        ('"out of memory"', False, False, False),
        ("api", False, False, False),
        ("error", True, False, False),
        ("03:1", True, False, False),
        ('" api"', True, False, False),
        ("/duration_ms=[0-9]{3,}/", False, False, False),
        ("/user=[a-z]+[0-9]+@/", False, False, False),
        ("/timeout/i", False, False, False),
        ("/ERROR +billing/", True, False, False),
        ("/^2026-03-14T03:0[12]/", True, False, True),
        ("/\\Aapi/", True, False, True),
        ("/(?<=INFO  )api/", True, True, False),
        ("/x|^y/", True, True, False),
        ("/a*/", True, False, False),
    ],
)
def test_reaching_the_prefix(text: str, reaches: bool, looks_back: bool, anchored: bool) -> None:
    fit = prefix_fit(one(text))
    assert fit.reaches == reaches
    assert fit.looks_back == looks_back
    assert fit.anchored == anchored


FIT_QUERIES = [
    "error",
    "info",
    "03:1",
    '" api"',
    '"z info"',
    "t03",
    "-14t",
    "14",
    "ord_1",
    ".1",
    '"warn  api"',
    "out",
    "/^2026-03-14T03:0[12]/",
    "/ERROR +billing/",
    "/\\d{3}Z/",
    "/Z (INFO|WARN)/",
    "/[A-Z]{4,5} +api/",
    "/timeout/i",
    "/ok|retry/i",
    "/ord_\\d+$/",
    "/(?i)z info/",
    "/\\bINFO\\b/",
    "/T\\d\\d:\\d\\d/",
    "/x*/",
    "/\\.\\d{3}Z\\s+ERROR/",
    "/(?=INFO)I/",
    "/\\Aapi/",
    "/[^a-z ]+ api/",
    "/(\\d\\d):1/",
    "/[.]0[^1]/",
    "/(?:ab|0[0-9])/",
    "/(?P<h>0\\d):/",
    "/[\\d.]+Z/",
    "/\\x57ARN/",
    "/[a\\-]r/",
    "/0{2}/",
    "/(?s).Z/",
    "/[^\\W]NFO/",
    "/[Z-]\\s/i",
    "/T(?=0)/",
    "/.{3}Z/",
    "/(ERROR|WARN) /",
    "/\\.[0-9]{3}/",
]


def test_prefix_fit_never_misses_a_match() -> None:
    """Over real-looking lines: a match that starts in the prefix starts where `prefix_fit` says
    it may and passes its tests there; where the tests are the whole match and pass, it is one;
    with no match starting in the prefix, the message alone decides (unless anchored)."""
    store = LogStore(datetime(2026, 3, 14, 3, 0, 0, tzinfo=UTC))
    rng = random.Random(4)
    names = ["api", "billing", "postgres"]
    for t in range(0, 1500, 7):
        for _ in range(rng.randint(1, 6)):
            name = rng.choice(names)
            words = " ".join(
                rng.choice(["ok", "retry", "timeout", "x", "ord_1", "INFO"]) for _ in range(3)
            )
            store.emit(
                t,
                rng.randrange(1000),
                store.service_id(name),
                rng.randrange(5),
                f"{name}-0 {words} ord_{rng.randrange(30)}",
            )
        store.flush(t)
    lines = list(store.lines)
    msgs = [store.message(i) for i in range(len(lines))]
    heads = store.prefixes(np.arange(len(lines)))
    for query in FIT_QUERIES:
        term = one(query)
        fit = prefix_fit(term)
        rx = (
            re.compile(re.escape(term.value), re.IGNORECASE)
            if term.kind == "text"
            else re.compile(term.value, term.flags)
        )
        n_tests = len(fit.tests)
        for i, (full, msg) in enumerate(zip(lines, msgs, strict=True)):
            begins = [s for s in range(PREFIX_LEN) if rx.match(full, s)]
            if not fit.reaches:
                assert not begins, (query, full)
            if fit.looks_back:
                continue
            assert set(begins) <= set(fit.starts), (query, full)
            if fit.anchored:
                assert set(begins) <= {0}
            for s in begins:
                for k, test in enumerate(fit.tests[: PREFIX_LEN - s]):
                    assert test(chr(heads[i, s + k])), (query, full, s, k)
            if not begins and not fit.anchored:
                assert bool(rx.search(full)) == bool(rx.search(msg)), (query, full)
            if fit.whole:
                for s in fit.starts:
                    if s + n_tests <= PREFIX_LEN and all(
                        test(full[s + k]) for k, test in enumerate(fit.tests)
                    ):
                        assert rx.match(full, s), (query, full, s)


def test_the_prefix_analysis_reads_patterns_itself() -> None:
    """It reads a pattern's text, not the standard library's private regex parser."""
    source = (ROOT / "oncall_dojo" / "sim" / "observability" / "logprefix.py").read_text()
    assert "_parser" not in source and "_constants" not in source and "sre_" not in source
