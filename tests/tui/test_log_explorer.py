"""The log explorer widget (Pilot): filters equal a brute-force filter, sync, follow, keys, errors."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import numpy as np
import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from oncall_dojo.sim.observability import logs
from oncall_dojo.sim.observability.logs import LogArrays, LogStore
from oncall_dojo.tui.widgets import LogExplorer

START = datetime(2026, 3, 14, 3, 0, 0, tzinfo=UTC)
SERVICES = ["api", "billing", "billing-worker", "mailer", "postgres", "Fulfillment"]
WORDS = ["charge", "failed", "retry", "Timeout", "processed", "ok", "naïve", "ÉTÉ", "a/b", "x\ty"]
WORDS += ["INFO", "03:01", "two\nlines"]


def fill(store: LogStore, rng: random.Random, ticks: range, per_tick: int = 12) -> None:
    """Append lines the way the simulation does: emit a tick's lines, then flush them."""
    for t in ticks:
        for _ in range(rng.randint(0, per_tick)):
            svc = rng.choice(SERVICES)
            sid = store.service_id(svc)
            level = rng.choices(range(5), weights=[10, 60, 15, 10, 5])[0]
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
            store.emit(
                t,
                rng.randrange(1000) if rng.random() > 0.01 else rng.randrange(1000, 1100),
                sid,
                level,
                f'{svc.lower()}-{rng.randrange(3)} msg="{words}" order_id=ord_{rng.randrange(500)}',
            )
        store.flush(t)


def make_store(seconds: int = 400, seed: int = 3) -> LogStore:
    store = LogStore(START)
    fill(store, random.Random(seed), range(seconds))
    return store


LINE = re.compile(
    r"\d{4}-\d\d-\d\dT(\d\d):(\d\d):(\d\d)\.\d+Z (DEBUG|INFO|WARN|ERROR|FATAL) +(\S+)-\d+ "
)
RANK = {"debug": 0, "info": 1, "warn": 2, "warning": 2, "error": 3, "err": 3, "fatal": 4}
RANK |= {"crit": 4, "critical": 4}
TERM = re.compile(r'(-?)("(?:\\.|[^"\\])*"|/(?:\\.|[^/\\])*/i?(?=\s|$)|\S+)')


def seconds(value: str) -> tuple[int, bool, int]:
    """A since:/until:/at: value: (seconds, is a time of day, seconds the time of day covers)."""
    clock = value.split(":")
    if len(clock) > 1:
        h, m, sec = (int(x) for x in [*clock, "0"][:3])
        return h * 3600 + m * 60 + sec, True, 60 if len(clock) == 2 else 1
    total, number = 0, ""
    for c in value:
        if c.isdigit():
            number += c
        else:
            total += int(number) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[c]
            number = ""
    return total, False, 0


def brute(store: LogStore, text: str) -> list[int]:
    """The lines a query selects, by the help's wording, one shown line at a time: the
    reference reads only the rendered text (time, level and host are cut out of it with a
    plain regex) and tokenises the query itself, so it shares nothing with `parse` or the
    widget's columns."""
    shown = [store.render(i) for i in range(len(store))]
    cut = [LINE.match(line) for line in shown]
    assert all(cut), [line for line, m in zip(shown, cut, strict=True) if not m][:3]
    sods = [int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]) for m in cut if m]
    start_sod = START.hour * 3600 + START.minute * 60 + START.second
    ticks = [sod - start_sod for sod in sods]
    newest = max(ticks, default=0)
    keep = [True] * len(shown)
    services: list[tuple[str, bool]] = []
    for negate, word in TERM.findall(text):
        if word.startswith('"'):
            needle = re.sub(r'\\(["\\])', r"\1", word[1:-1]).lower()
            hit = [needle in line.lower() for line in shown]
        elif word.startswith("/"):
            pattern, flags = word[1:].rsplit("/", 1)
            rx = re.compile(pattern.replace("\\/", "/"), re.IGNORECASE if flags else 0)
            hit = [rx.search(line) is not None for line in shown]
        elif word.lower().startswith("service:"):
            name = word[8:].lower()
            exact = name.startswith("=")
            want = name.lstrip("=")
            owned = [m[5].lower() for m in cut if m]
            hit = [h == want if exact else h.startswith(want) for h in owned]
            if not negate:
                services.append((want, exact))
                continue
        elif word.lower().startswith("level:"):
            name = word[6:].lower()
            rank = RANK[name.lstrip("=")]
            levels = [RANK[m[4].lower()] for m in cut if m]
            hit = [lv == rank if name.startswith("=") else lv >= rank for lv in levels]
        elif word.lower().startswith(("since:", "until:", "at:")):
            key, value = word.lower().split(":", 1)
            secs, clock, span = seconds(value)
            if key == "at":
                hit = [secs <= sod < secs + span for sod in sods]
            else:
                edge = (secs - start_sod) % 86400 if clock else newest - secs
                hit = [t >= edge if key == "since" else t <= edge for t in ticks]
        else:
            hit = [word.lower() in line.lower() for line in shown]
        keep = [k and h != bool(negate) for k, h in zip(keep, hit, strict=True)]
    if services:  # several service: terms are alternatives
        owned = [m[5].lower() for m in cut if m]
        keep = [
            k and any(h == w if x else h.startswith(w) for w, x in services)
            for k, h in zip(keep, owned, strict=True)
        ]
    return [i for i, k in enumerate(keep) if k]


class ExplorerApp(App[None]):
    def __init__(self, store: LogStore) -> None:
        super().__init__()
        self.store = store
        self.applied: list[LogExplorer.QueryApplied] = []

    def compose(self) -> ComposeResult:
        yield LogExplorer(self.store, id="log")

    def on_log_explorer_query_applied(self, event: LogExplorer.QueryApplied) -> None:
        self.applied.append(event)


Scenario = Callable[[ExplorerApp, LogExplorer, Pilot[None]], Awaitable[None]]


def run(store: LogStore, scenario: Scenario, size: tuple[int, int] = (120, 30)) -> None:
    async def main() -> None:
        app = ExplorerApp(store)
        async with app.run_test(size=size) as pilot:
            explorer = app.query_one(LogExplorer)
            await pilot.pause()
            await scenario(app, explorer, pilot)

    asyncio.run(main())


CONTROLS = {c: " " if c == 9 else "\ufffd" for c in (*range(32), 127)}


def as_shown(store: LogStore, i: int) -> str:
    """A line as the explorer draws it (a tab is one space, other control characters a
    replacement character)."""
    return store.render(i).translate(CONTROLS)


def shown_text(pilot: Pilot[None], explorer: LogExplorer) -> list[str]:
    return [
        explorer.render_line(y).text.rstrip()
        for y in range(explorer.scrollable_content_region.height)
    ]


QUERIES = [
    "",
    "service:billing",
    "service:api service:mailer",
    "service:BILL -service:billing-w",
    "-service:api",
    "service:fulfillment",
    "level:warn",
    "level:=error",
    "-level:info",
    "level:error service:billing",
    "charge",
    "TIMEOUT failed",
    '"charge failed"',
    '"ord_12 "',
    "-retry",
    "-retry -ok level:warn",
    "naïve",
    "été",
    "/ord_1\\d\\b/",
    "/ord_\\d$/",
    "/^2026-03-14T03:0[12]/",
    "/ERROR +billing/",
    "/timeout/i",
    "-/ok|retry/",
    "/x\\sy/",
    "/y\\s+ord/",
    "/y ord$/",
    "/(?i)ÉtÉ/",
    "since:2m",
    "until:5m",
    "since:3m until:1m level:warn",
    "at:03:02",
    "at:03:02:07",
    "since:03:04 until:03:05:30",
    "service:billing /ord_4\\d+/ -failed since:5m",
    # terms that can match the timestamp or level (decided on whole lines where they may)
    "error",
    "info -service:api",
    '"03:01"',
    '" billing"',
    '"z warn"',
    '"1z d"',
    "/Z (INFO|WARN)/",
    "/\\d{3}Z/",
    "/(?<=WARN  )bill/",
    "/\\Abilling/",
    "/T03:0[0-2]/",
    "/[0-9]{3}Z [EF]/",
    "/^\\d{4}-\\d\\d-14T03:02:1/",
    "/(?i)info +api/",
    "/lines$/",
    "-error -info",
    "nothing-matches-this",
    # written by hand against the help text, so the parser's reading is checked too
    '"MSG=\\"Timeout"',
    '-"Order_ID=ord_1"',
    "service:=api level:=error",
    "service:bill service:MAIL -service:billing-w",
    "level:warning -/a\\/b/",
    "since:1m30s",
]


@pytest.mark.parametrize("offsets", ["uint32", "int64"])
def test_filters_equal_a_brute_force_filter(offsets: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if offsets == "int64":  # as for a buffer of more than 2 GiB
        monkeypatch.setattr(logs, "OFFSETS_32_BELOW", 0)
    store = make_store()
    assert store.arrays().offsets.dtype == offsets
    assert len(store) > 2000
    assert len(store.arrays().special) > 20  # non-ASCII, a newline, a millisecond above 999

    async def scenario(app: ExplorerApp, explorer: LogExplorer, pilot: Pilot[None]) -> None:
        assert explorer.line_count == len(store)
        counts = []
        for text in QUERIES:
            assert explorer.set_query(text) is None, text
            expected = brute(store, text)
            assert explorer.matching_lines().tolist() == expected, text
            assert explorer.match_count == len(expected)
            assert explorer.query_text == text
            counts.append(len(expected))
        await pilot.pause()
        assert [(e.query, e.matches) for e in app.applied] == list(
            zip(QUERIES, counts, strict=True)
        )
        assert counts[QUERIES.index("nothing-matches-this")] == 0

    run(store, scenario)


def test_shown_rows_are_the_matching_lines_with_matches_highlighted() -> None:
    store = make_store()

    async def scenario(app: ExplorerApp, explorer: LogExplorer, pilot: Pilot[None]) -> None:
        explorer.follow = False
        explorer.set_query("service:billing charge")
        await pilot.press("home")
        rows = shown_text(pilot, explorer)
        expected = brute(store, "service:billing charge")
        assert rows == [as_shown(store, i) for i in expected[: len(rows)]]
        strip = explorer.render_line(0)
        match = explorer.get_component_rich_style("log-explorer--match", partial=True)
        marked = [
            s.text for s in strip if s.style and match.bgcolor and s.style.bgcolor == match.bgcolor
        ]
        assert marked and all(m.lower() == "charge" for m in marked)

    run(store, scenario)


def test_sync_takes_new_lines_and_keeps_the_filter() -> None:
    store = make_store(200)
    rng = random.Random(9)

    async def scenario(app: ExplorerApp, explorer: LogExplorer, pilot: Pilot[None]) -> None:
        tick = 200
        for text in [
            "level:warn -retry",
            "/ord_4\\d\\d/",
            "since:1m service:billing",
            "until:2m charge",
        ]:
            assert explorer.set_query(text) is None
            for seconds in (40, 1, 130):
                fill(store, rng, range(tick, tick + seconds))
                tick += seconds
                explorer.sync()
                assert explorer.line_count == len(store)
                assert explorer.matching_lines().tolist() == brute(store, text), text
            explorer.sync()  # nothing new: nothing changes
            assert explorer.matching_lines().tolist() == brute(store, text)

    run(store, scenario)


def test_follow_mode_stays_at_the_end() -> None:
    store = make_store(300)
    rng = random.Random(4)

    async def scenario(app: ExplorerApp, explorer: LogExplorer, pilot: Pilot[None]) -> None:
        assert explorer.follow
        assert explorer.scroll_y == explorer.max_scroll_y > 0
        fill(store, rng, range(300, 340))
        explorer.sync()
        await pilot.pause()
        assert explorer.scroll_y == explorer.max_scroll_y
        assert shown_text(pilot, explorer)[-1] == as_shown(store, len(store) - 1)
        # scrolling up leaves follow mode; new lines do not move the view
        await pilot.press("up")
        assert not explorer.follow
        y = explorer.scroll_y
        fill(store, rng, range(340, 360))
        explorer.sync()
        await pilot.pause()
        assert explorer.scroll_y == y < explorer.max_scroll_y
        await pilot.press("f")
        assert explorer.follow and explorer.scroll_y == explorer.max_scroll_y
        # follow also holds with a filter
        explorer.set_query("level:warn")
        fill(store, rng, range(360, 400))
        explorer.sync()
        await pilot.pause()
        assert explorer.scroll_y == explorer.max_scroll_y
        last = brute(store, "level:warn")[-1]
        assert shown_text(pilot, explorer)[-1] == as_shown(store, last)
        await pilot.press("f")
        assert not explorer.follow

    run(store, scenario)


def test_keys_scroll() -> None:
    store = make_store(300)

    async def scenario(app: ExplorerApp, explorer: LogExplorer, pilot: Pilot[None]) -> None:
        explorer.focus()
        page = explorer.scrollable_content_region.height
        end = explorer.max_scroll_y
        await pilot.press("g")
        assert explorer.scroll_y == 0 and not explorer.follow
        await pilot.press("down", "down", "down")
        assert explorer.scroll_y == 3
        await pilot.press("up")
        assert explorer.scroll_y == 2
        await pilot.press("pagedown")
        assert explorer.scroll_y == 2 + page
        await pilot.press("pageup")
        assert explorer.scroll_y == 2
        await pilot.press("G")
        assert explorer.scroll_y == end and explorer.follow
        await pilot.press("home")
        assert explorer.scroll_y == 0 and not explorer.follow
        await pilot.press("end")
        assert explorer.scroll_y == end and explorer.follow
        await pilot.pause()
        assert shown_text(pilot, explorer)[0] == as_shown(store, end)

    run(store, scenario)


def test_bad_query_keeps_the_old_filter_and_says_why() -> None:
    store = make_store(200)

    async def scenario(app: ExplorerApp, explorer: LogExplorer, pilot: Pilot[None]) -> None:
        assert explorer.set_query("level:error") is None
        before = explorer.matching_lines().tolist()
        for bad, words in [
            ("level:loud", "column 7: unknown level"),
            ('"charge', "column 1: unclosed quote"),
            ("/ord_(/", "column 6: bad regex"),
            ("colour:red", "column 1: unknown key 'colour:'"),
        ]:
            err = explorer.set_query(bad)
            assert err is not None and err.startswith(words), err
            assert explorer.query_text == "level:error"
            assert explorer.matching_lines().tolist() == before
        await pilot.pause()
        assert [e.query for e in app.applied] == ["level:error"]

    run(store, scenario)


def test_jump_to_time_and_switching_store() -> None:
    store = make_store(300)

    async def scenario(app: ExplorerApp, explorer: LogExplorer, pilot: Pilot[None]) -> None:
        explorer.set_query("service:api")
        explorer.jump_to_time(120)
        assert not explorer.follow
        row = int(explorer.scroll_y)
        lines = brute(store, "service:api")
        first = next(i for i in lines if store.ticks[i] >= 120)
        assert explorer.line_at(row) == first
        other = make_store(50, seed=8)
        explorer.set_store(other)
        assert explorer.line_count == len(other)
        assert explorer.matching_lines().tolist() == brute(other, "service:api")

    run(store, scenario)


async def settle(pilot: Pilot[None], explorer: LogExplorer) -> None:
    for _ in range(500):
        if not explorer.filtering:
            return
        await pilot.pause(0.002)
    raise AssertionError("the progressive filter did not finish")


def test_progressive_filter_of_a_large_buffer() -> None:
    store = make_store(600)
    rng = random.Random(12)

    async def scenario(app: ExplorerApp, explorer: LogExplorer, pilot: Pilot[None]) -> None:
        explorer.PROGRESSIVE_ABOVE = 500  # type: ignore[misc]
        explorer.BLOCK_LINES = 300  # type: ignore[misc]
        explorer.FIRST_FRAME_BUDGET_S = explorer.FIRST_FRAME_MAX_S = 0.0  # type: ignore[misc]
        n = len(store)
        for text in ["level:warn", "charge -retry", "/ord_1\\d\\b/", "nothing-matches-this"]:
            app.applied.clear()
            explorer.set_query(text)
            assert explorer.filtering
            # the newest lines come first: the first rows shown are the tail of the result
            expected = brute(store, text)
            partial = explorer.matching_lines().tolist()
            assert partial == expected[len(expected) - len(partial) :]
            await settle(pilot, explorer)
            await pilot.pause()
            assert explorer.matching_lines().tolist() == expected
            assert [(e.query, e.matches) for e in app.applied] == [(text, len(expected))]
            assert explorer.scroll_y == explorer.max_scroll_y  # follow mode stayed at the end
        # not following: the rows added above keep the same line at the top of the view
        explorer.set_query("")
        explorer.follow = False
        explorer.scroll_to(y=n // 2, animate=False, force=True)
        await pilot.pause()
        top = explorer.line_at(int(explorer.scroll_y))
        explorer.set_query("charge")
        await settle(pilot, explorer)
        assert explorer.line_at(int(explorer.scroll_y)) >= top
        assert explorer.line_at(int(explorer.scroll_y) - 1) < top
        # lines that arrive while the older ones are still being filtered
        explorer.follow = True
        for text in ["service:billing", "since:3m level:warn"]:
            explorer.set_query(text)
            assert explorer.filtering
            fill(store, rng, range(store.ticks[-1] + 1, store.ticks[-1] + 30))
            explorer.sync()
            await settle(pilot, explorer)
            assert explorer.matching_lines().tolist() == brute(store, text), text

    run(store, scenario)


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
def test_horizontal_scroll_blank_rows_and_control_characters(size: tuple[int, int]) -> None:
    store = make_store(3)
    store.emit(
        3, 0, store.service_id("api"), 1, "api-0 " + " ".join(f"k{i}=v{i}" for i in range(60))
    )
    store.flush(3)

    async def scenario(app: ExplorerApp, explorer: LogExplorer, pilot: Pilot[None]) -> None:
        explorer.follow = False
        explorer.scroll_to(y=0, animate=False)
        await pilot.pause()
        width = explorer.scrollable_content_region.width
        rows = shown_text(pilot, explorer)
        # a tab is shown as one space so that columns stay put
        expected = [as_shown(store, i)[:width] for i in range(len(store))]
        assert rows[: len(store)] == expected[: len(rows)]
        assert all(r == "" for r in rows[len(store) :])
        assert all(len(explorer.render_line(y).text) == width for y in range(len(rows)))
        await pilot.press("right", "right")
        assert explorer.scroll_x == 2
        long = store.render(len(store) - 1)
        row = len(store) - 1
        assert explorer.render_line(row).text == long[2 : 2 + width].ljust(width)

    run(store, scenario, size)


def test_rows_follow_each_scroll_and_the_store_keeps_its_buffers() -> None:
    """Rows drawn before are reused when a scroll moves them, and always show the right lines;
    the explorer reads the store's arrays in place and keeps none of them."""
    store = make_store(300)
    rng = random.Random(21)

    async def scenario(app: ExplorerApp, explorer: LogExplorer, pilot: Pilot[None]) -> None:
        explorer.focus()
        await pilot.press("g")
        for key in ["down"] * 5 + ["pagedown", "up", "up", "pageup", "down"]:
            await pilot.press(key)
            await pilot.pause()
            top = int(explorer.scroll_y)
            rows = shown_text(pilot, explorer)
            assert rows == [as_shown(store, top + k) for k in range(len(rows))], key
        explorer.set_query("charge")
        await pilot.pause()
        held = [k for k, v in vars(explorer).items() if isinstance(v, np.ndarray | LogArrays)]
        assert held == []  # no copy of the lines, nor a view kept between calls
        fill(store, rng, range(300, 310))
        explorer.sync()
        await pilot.pause()
        assert explorer.line_count == len(store)
        assert explorer._index is not None
        assert explorer.matching_lines().tolist() == brute(store, "charge")

    run(store, scenario)


def test_the_scrollbar_keeps_the_position_while_its_thumb_stays() -> None:
    store = make_store(3000, seed=5)

    async def scenario(app: ExplorerApp, explorer: LogExplorer, pilot: Pilot[None]) -> None:
        explorer.focus()
        await pilot.press("g")
        bar = explorer.vertical_scrollbar
        for key in ["down", "down", "pagedown", "up", "end", "home"]:
            await pilot.press(key)
            await pilot.pause()
            assert bar.position == bar.validate_position(explorer.scroll_y), key

    run(store, scenario)


def test_thumb_is_what_the_scrollbar_draws() -> None:
    """Two positions with the same `scrollbar_thumb` draw the same scrollbar, and different ones differ."""
    from rich.color import Color
    from textual.scrollbar import ScrollBarRender

    from oncall_dojo.tui.widgets.log_rows import scrollbar_thumb as _thumb

    class Bar:
        def __init__(self, size: int, virtual: int, window: int) -> None:
            self.size = type("S", (), {"height": size})()
            self.window_virtual_size = virtual
            self.window_size = window

        @staticmethod
        def validate_position(position: float) -> float:
            return int(position * 8) / 8

    def drawn(size: int, virtual: int, window: int, position: float) -> str:
        segments = ScrollBarRender.render_bar(
            size=size,
            virtual_size=virtual,
            window_size=window if window < virtual else 0,
            position=int(position * 8) / 8,
            back_color=Color.parse("#000000"),
            bar_color=Color.parse("#ffffff"),
        )
        return repr(list(segments.segments))

    rng = random.Random(2)
    for _ in range(300):
        size = rng.randint(3, 60)
        virtual = rng.choice([size + 1, rng.randint(size, 5000), 1_000_000])
        window = rng.randint(1, size)
        bar = Bar(size, virtual, window)
        top = max(1, virtual - window)
        a = rng.uniform(0, top)
        b = min(top, a + rng.choice([0.5, 1, 3, 50]))
        same = _thumb(bar, a) == _thumb(bar, b)  # type: ignore[arg-type]
        assert same == (drawn(size, virtual, window, a) == drawn(size, virtual, window, b))
