"""The log query language: every kind of term, and errors that name the problem and its column."""

from __future__ import annotations

import re

import pytest

from oncall_dojo.sim.logs import ERROR, FATAL, WARN
from oncall_dojo.tui.logquery import Query, QueryError, help_text, parse


def one(text: str):  # type: ignore[no-untyped-def]
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
