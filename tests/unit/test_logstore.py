"""The log store: lines round-trip exactly, its arrays stand for them, views never break writes."""

from __future__ import annotations

import pickle
import random
import re
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from oncall_dojo.sim.observability import logs
from oncall_dojo.sim.observability.logquery import parse
from oncall_dojo.sim.observability.logs import LEVELS, PREFIX_LEN, LogStore
from oncall_dojo.sim.observability.logsearch import search

START = datetime(2026, 3, 14, 3, 0, 0, tzinfo=UTC)
SERVICES = ["api", "billing", "billing-worker", "postgres"]
ODD = ["naïve ÉTÉ", "two\nlines", "tab\there", "", "emoji 🚀", "lone \ud800 surrogate", "a\r\nb"]

Row = tuple[int, int, int, int, str]
"""(tick, ms, service id, level, text)"""
Filled = tuple[LogStore, list[Row]]


def expected(start: datetime, tick: int, ms: int, level: int, text: str) -> str:
    """A line as the simulation has always printed it."""
    stamp = (start + timedelta(seconds=tick)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms:03d}Z {LEVELS[level]:<5} {text}"


def fill(store: LogStore, rng: random.Random, ticks: range, odd: float = 0.05) -> list[Row]:
    """Emit and flush lines the way the simulation does; returns them in the order they must be
    stored: (tick, ms, service id, level, text), by tick then millisecond, stable."""
    for name in SERVICES:  # ids in this order
        store.service_id(name)
    out: list[Row] = []
    for t in ticks:
        batch: list[Row] = []
        for _ in range(rng.randint(0, 15)):
            sid = store.service_id(rng.choice(SERVICES))
            ms = rng.randrange(1000) if rng.random() > 0.02 else rng.randrange(1000, 1200)
            level = rng.randrange(5)
            if rng.random() < odd:
                text = f"{SERVICES[sid]}-0 {rng.choice(ODD)} n={rng.randrange(99)}"
            else:
                text = (
                    f"{SERVICES[sid]}-{rng.randrange(3)} msg=ok order_id=ord_{rng.randrange(500)}"
                )
            store.emit(t, ms, sid, level, text)
            batch.append((t, ms, sid, level, text))
        store.flush(t)
        out += sorted(batch, key=lambda x: x[1])
    return out


@pytest.fixture
def filled() -> Filled:
    store = LogStore(START)
    return store, fill(store, random.Random(7), range(300))


def test_lines_render_exactly_as_emitted(filled: Filled) -> None:
    store, rows = filled
    want = [expected(START, t, ms, lv, text) for t, ms, _, lv, text in rows]
    assert len(store) == len(want) > 1000
    assert list(store.lines) == want
    assert [store.render(i) for i in range(len(store))] == want
    assert store.lines[5:40] == want[5:40]
    assert store.lines[::7] == want[::7]
    assert store.lines[-1] == want[-1]
    with pytest.raises(IndexError):
        store.lines[len(want)]
    assert [store.message(i) for i in range(len(store))] == [r[4] for r in rows]


def test_columns_hold_each_line(filled: Filled) -> None:
    store, rows = filled
    assert list(store.ticks) == [r[0] for r in rows]
    assert list(store.ms) == [r[1] for r in rows]
    assert list(store.services) == [r[2] for r in rows]
    assert list(store.levels) == [r[3] for r in rows]
    assert [store.level(i) for i in range(len(rows))] == [r[3] for r in rows]
    assert store.since(100) == next(i for i, r in enumerate(rows) if r[0] >= 100)
    assert store.since(10_000) == len(rows)


def test_the_buffer_holds_each_message_and_special_lines_are_listed(
    filled: Filled,
) -> None:
    store, rows = filled
    arr = store.arrays()
    off = arr.offsets
    assert len(off) == len(rows) + 1 and off[0] == 0 and off[-1] == len(arr.text)
    assert arr.text.tobytes().count(b"\n") == len(rows)  # one newline per line, at its end
    special = set()
    for i, (_, ms, _, _, text) in enumerate(rows):
        stored = arr.text[off[i] : off[i + 1] - 1].tobytes().decode("utf-8", "surrogatepass")
        assert arr.text[off[i + 1] - 1] == ord("\n")
        assert stored == text.replace("\n", " ")
        if not text.isascii() or "\n" in text or ms > 999:
            special.add(i)
    assert arr.special.tolist() == sorted(special)
    assert store.nbytes == sum(a.nbytes for a in arr)


def test_prefixes_and_rendered_lines_match_the_text(filled: Filled) -> None:
    store, _ = filled
    arr = store.arrays()
    special = set(arr.special.tolist())
    n = len(store)
    heads = store.prefixes(np.arange(n))
    for i in range(n):
        if i not in special:
            assert heads[i].tobytes() == store.render(i)[:PREFIX_LEN].encode() + b"\n"
    assert store.prefixes(np.arange(n), 11, 16).tobytes() == heads[:, 11:16].tobytes()
    rng = random.Random(3)
    for lines in (np.arange(100, 900), np.array(sorted(rng.sample(range(n), 300)))):
        blob, offsets = store.rendered(lines)
        assert len(offsets) == len(lines) + 1 and offsets[-1] == len(blob)
        for k, i in enumerate(lines.tolist()):
            got = blob[offsets[k] : offsets[k + 1]]
            assert got.endswith(b"\n")
            if i not in special:
                assert got[:-1].decode() == store.render(i)


def test_prefix_match_agrees_with_the_rendered_prefixes(filled: Filled) -> None:
    store, _ = filled
    n = len(store)
    lines = np.arange(n)
    heads = store.prefixes(lines)
    rng = random.Random(5)
    for _ in range(60):
        width = rng.randint(1, 8)
        tables = [np.array([rng.random() < 0.6 for _ in range(256)]) for _ in range(width)]
        # make some tables pass the characters of a real prefix, so that matches exist
        line = rng.randrange(n)
        start = rng.randrange(PREFIX_LEN)
        for k, table in enumerate(tables):
            if start + k < PREFIX_LEN:
                table[heads[line, start + k]] = True
        starts = sorted({start, rng.randrange(PREFIX_LEN)})
        for s, got in zip(starts, store.prefix_match(lines, tables, starts), strict=True):
            want = np.ones(n, dtype=bool)
            for k, table in enumerate(tables):
                if s + k < PREFIX_LEN:
                    want &= table[heads[:, s + k]]
            assert got.tolist() == want.tolist()


def test_a_view_taken_earlier_stays_valid_while_lines_arrive() -> None:
    store = LogStore(START)
    rows = fill(store, random.Random(1), range(50))
    held = store.arrays()
    copies = [a.copy() for a in held]
    for k in range(10):  # enough lines to grow every column into new memory
        rows += fill(store, random.Random(k), range(50 + 40 * k, 90 + 40 * k))
        store.arrays()
    assert all(np.array_equal(np.asarray(a), b) for a, b in zip(held, copies, strict=True))
    assert len(store.arrays().text) > 4 * len(held.text)
    assert list(store.lines) == [expected(START, *r[:2], r[3], r[4]) for r in rows]
    with pytest.raises(ValueError):
        held.text[0] = 0  # read-only


def test_pickle_and_copy_keep_the_lines(filled: Filled) -> None:
    store, _ = filled
    store.emit(300, 5, 0, 1, "api-0 not flushed yet")
    back = pickle.loads(pickle.dumps(store, protocol=pickle.HIGHEST_PROTOCOL))
    assert list(back.lines) == list(store.lines)
    assert back.service_names == store.service_names
    assert back.pending == store.pending
    assert back.arrays().special.tolist() == store.arrays().special.tolist()
    head = store.copy(500)
    assert list(head.lines) == list(store.lines)[:500]
    for s in (back, head):  # both go on taking lines
        s.flush(300)
        s.emit(301, 1, 0, 2, "api-1 later")
        s.flush(301)
        assert s.lines[-1] == expected(START, 301, 1, 2, "api-1 later")


def test_a_console_search_equals_a_brute_force_search(filled: Filled) -> None:
    """`logsearch.search` (what the console's `logs` runs) over the store's arrays: the same lines
    as testing every rendered line, with a lower tick bound."""
    store, rows = filled
    lines = list(store.lines)
    cases: list[tuple[str, float]] = [
        ("", -np.inf),
        ("service:=billing", -np.inf),
        ("service:billing-worker level:warn", -np.inf),
        ("service:bill", 100),
        ("service:nosuch", -np.inf),
        ("level:fatal until:03:03:20", 100),
        ('"ORDER_ID=ORD_4"', -np.inf),
        ("/ord_\\d{3}$/", 50),
        ('"été"', -np.inf),
        ("/^2026-03-14T03:01/", -np.inf),
    ]
    start_sod = START.hour * 3600 + START.minute * 60 + START.second
    for text, since in cases:
        q = parse(text)
        got = search(store, q, since).tolist()
        want = []
        for i, (t, _, sid, level, _) in enumerate(rows):
            name = SERVICES[sid]
            ok = t >= since
            for term in q.terms:
                if term.kind == "service":
                    ok &= name == term.value if term.exact else name.startswith(term.value)
                elif term.kind == "level":
                    ok &= level >= term.level
                elif term.kind == "until":
                    ok &= t <= term.seconds - start_sod
                elif term.kind == "text":
                    ok &= term.value in lines[i].lower()
                elif term.kind == "regex":
                    ok &= re.search(term.value, lines[i]) is not None
            if ok:
                want.append(i)
        assert got == want, text


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 12, 31, 23, 59, 30, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 3, 14, 3, 0, 0, 500_000, tzinfo=UTC),
        datetime(999, 1, 1, tzinfo=UTC),  # not a four-digit year: every line is special
    ],
)
def test_timestamps_render_as_the_clock_of_the_start(start: datetime) -> None:
    store = LogStore(start)
    rows = fill(store, random.Random(11), range(0, 120, 7), odd=0)
    assert list(store.lines) == [expected(start, *r[:2], r[3], r[4]) for r in rows]
    arr = store.arrays()
    special = set(arr.special.tolist())
    if start.year < 1000:
        assert special == set(range(len(rows)))
        return
    heads = store.prefixes(np.arange(len(rows)))
    for i in range(len(rows)):
        if i not in special:
            assert heads[i, :PREFIX_LEN].tobytes().decode() == store.render(i)[:PREFIX_LEN]


def test_offsets_widen_to_64_bits_for_a_large_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    store = LogStore(START)
    rows = fill(store, random.Random(8), range(40))
    assert store.arrays().offsets.dtype == np.uint32
    monkeypatch.setattr(logs, "OFFSETS_32_BELOW", 5000)
    rows += fill(store, random.Random(9), range(40, 120))
    off = store.arrays().offsets
    assert off.dtype == np.int64 and off[-1] > 5000
    assert list(store.lines) == [expected(START, *r[:2], r[3], r[4]) for r in rows]
    back = pickle.loads(pickle.dumps(store))
    assert back.arrays().offsets.dtype == np.int64
    assert list(back.lines) == list(store.lines)
