"""A log view that stays smooth with millions of lines, with filtering by a small query language.

Textual's `Log`/`RichLog`/`DataTable` keep one Python object per line and do not
filter; this widget keeps nothing per line: it reads the `LogStore`'s own arrays in
place (`LogStore.arrays`: one byte buffer of messages, a numpy array of their
offsets, numpy columns of tick, service id and level).

* `sync()` takes in the lines the store gained since the last call (their count and
  widest line; the filter in force runs over them).
* A filter (see `oncall_dojo.sim.observability.logquery`) is evaluated by `oncall_dojo.sim.observability.logsearch`
  into a sorted array of line numbers (`LineIndex`); above `PROGRESSIVE_ABOVE` lines,
  the lines in view first and the rest a block at a time between frames.
* `render_line(y)` renders the row's line from the store: O(1) per visible row, and
  rows already drawn at the same scroll offset and width are reused as they are. A
  scroll repaints the explorer's own region; its scrollbar is redrawn only when the
  thumb moves on screen.

Messages: `LogExplorer.QueryApplied` (handler `on_log_explorer_query_applied`),
posted after every filter applied with `set_query`.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import MouseScrollUp
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from oncall_dojo.sim.observability.logquery import Query, QueryError, parse
from oncall_dojo.sim.observability.logs import PREFIX_LEN, LogArrays, LogStore
from oncall_dojo.sim.observability.logsearch import LineIndex, LogSearch
from oncall_dojo.tui.widgets.log_rows import row_segments, scrollbar_thumb

__all__ = ["LogExplorer"]

_EMPTY = LogArrays(
    np.zeros(0, dtype=np.uint8),
    np.zeros(1, dtype=np.int64),
    np.zeros(0, dtype=np.int32),
    np.zeros(0, dtype=np.uint16),
    np.zeros(0, dtype=np.uint8),
    np.zeros(0, dtype=np.uint8),
    np.zeros(0, dtype=np.int64),
)

IntArray = npt.NDArray[np.int64]

_TS_END = 24
"""Rendered lines start `2026-03-14T03:12:07.123Z LEVEL instance ...`: timestamp [0, 24)."""
_LEVEL = (25, 30)
_MSG = PREFIX_LEN
_CACHE_LINES = 512
_WIDEN_BLOCK = 1 << 15
"""Lines measured at a time for the view's width."""
_CONTROLS = {c: " " if c == 9 else "\ufffd" for c in (*range(32), 127)}
"""Control characters would break the layout: a tab shows as a space, others as a replacement."""


class LogExplorer(ScrollView, can_focus=True):
    """A virtual, filterable view of a `LogStore` (Line API)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-explorer--timestamp",
        "log-explorer--instance",
        "log-explorer--debug",
        "log-explorer--info",
        "log-explorer--warn",
        "log-explorer--error",
        "log-explorer--fatal",
        "log-explorer--match",
    }

    DEFAULT_CSS = """
    LogExplorer {
        background: $surface;
        color: $foreground;
    }
    LogExplorer > .log-explorer--timestamp { color: $text-muted; }
    LogExplorer > .log-explorer--instance { color: $secondary; }
    LogExplorer > .log-explorer--debug { color: $text-muted; }
    LogExplorer > .log-explorer--info { color: $success; }
    LogExplorer > .log-explorer--warn { color: $warning; text-style: bold; }
    LogExplorer > .log-explorer--error { color: $error; text-style: bold; }
    LogExplorer > .log-explorer--fatal { color: $text; background: $error; text-style: bold; }
    LogExplorer > .log-explorer--match { background: $accent 45%; text-style: bold underline; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "line_up", "Up", show=False),
        Binding("down", "line_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "top", "Top", show=False),
        Binding("end,G,shift+g", "bottom", "Bottom", show=False),
        Binding("f", "toggle_follow", "Follow"),
    ]

    PROGRESSIVE_ABOVE: ClassVar[int] = 150_000
    """Filter more lines than this progressively: newest first, the rest between frames."""
    BLOCK_LINES: ClassVar[int] = 32_768
    """Lines filtered per step of a progressive filter (a few tens of milliseconds)."""
    FIRST_FRAME_BUDGET_S: ClassVar[float] = 0.05
    """Time a progressive filter may spend before its first frame (once a screen is full)."""
    FIRST_FRAME_MAX_S: ClassVar[float] = 0.15
    """... and while the screen is not full yet."""

    follow: reactive[bool] = reactive(True)
    """Keep the newest line in view as lines arrive (key `f`); scrolling up turns it off and
    `end`/`G` turn it on."""

    class QueryApplied(Message):
        """A filter was applied (`set_query`)."""

        def __init__(
            self, explorer: LogExplorer, query: str, matches: int, elapsed_ms: float
        ) -> None:
            super().__init__()
            self.explorer = explorer
            self.query = query
            """The query text now in force."""
            self.matches = matches
            """Lines that match it (all lines for the empty query)."""
            self.elapsed_ms = elapsed_ms
            """Time spent filtering, in milliseconds."""

        @property
        def control(self) -> LogExplorer:
            return self.explorer

    QueryChanged = QueryApplied
    """Alias; the message's handler is still `on_log_explorer_query_applied`."""

    def __init__(
        self,
        store: LogStore | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._query = Query("")
        self._style_cache: dict[str, Style] = {}
        self._strips: OrderedDict[int, Strip] = OrderedDict()
        """Rendered lines (whole width, before the view's crop), by store line number."""
        self._frame: tuple[int, int, int, Style] | None = None
        """(scroll x, scroll y, width, base style) while `render_lines` draws a frame."""
        self._highlights: list[re.Pattern[str]] = []
        self._t0 = 0.0
        self._reset(store)

    # ----------------------------------------------------------------- state

    def _reset(self, store: LogStore | None) -> None:
        self._store = store
        self._n = 0
        """Lines taken in from the store so far (it may hold more until the next `sync`)."""
        self._index: LineIndex | None = None
        """Line numbers shown when filtered (sorted); `None` shows every line."""
        self._pending: list[tuple[int, int]] = []
        """Line ranges [a, b) a progressive filter has still to do, in order."""
        self._generation = getattr(self, "_generation", 0) + 1
        self._bounds: tuple[float, float] = (-np.inf, np.inf)
        self._max_width = 0
        self._strips.clear()

    def _arrays(self) -> LogArrays:
        """The store's arrays (views: let go of them before the store gains lines)."""
        if self._store is None:
            return _EMPTY
        return self._store.arrays()

    @property
    def store(self) -> LogStore | None:
        return self._store

    @property
    def line_count(self) -> int:
        """Lines synced from the store so far."""
        return self._n

    @property
    def query_text(self) -> str:
        """The query in force ("" shows every line)."""
        return self._query.source

    @property
    def match_count(self) -> int:
        """Rows shown: lines matching the query (every synced line when there is none)."""
        return self._n if self._index is None else self._index.n

    def line_at(self, row: int) -> int:
        """The store line number shown at `row` (0 = first row of the filtered view)."""
        if self._index is None:
            if not 0 <= row < self._n:
                raise IndexError(row)
            return row
        return int(self._index.view[row])

    def matching_lines(self) -> IntArray:
        """Store line numbers shown, in order (a copy)."""
        if self._index is None:
            return np.arange(self._n, dtype=np.int64)
        return np.array(self._index.view, dtype=np.int64)

    def line_text(self, line: int) -> str:
        """The rendered text of store line `line`, as shown."""
        assert self._store is not None
        return self._store.render(line)

    # ------------------------------------------------------------ public API

    def set_store(self, store: LogStore) -> None:
        """Show another store (a new session); the current query stays in force."""
        query = self._query.source
        self._reset(store)
        self._query = Query("")
        self._index = None
        self.sync()
        self._update_virtual_size()
        self.refresh()
        if query:
            self.set_query(query)

    def sync(self) -> None:
        """Take in the lines appended to the store since the last call; cheap when there are none.

        The filter in force is applied to the new lines only (a sliding `since:`
        window drops its oldest rows). In follow mode the view scrolls to the end.
        """
        store = self._store
        if store is None:
            return
        old_n = self._n
        new_n = len(store)
        if new_n <= old_n:
            return
        self._widen(store.arrays(), old_n, new_n)
        self._n = new_n
        if self._index is not None:
            self._refilter_tail(old_n)
        self._update_virtual_size()
        if self.follow:
            self._scroll_end()

    def _widen(self, arr: LogArrays, a: int, b: int) -> None:
        """Widen the view for the widest of lines a..b (its length in bytes: at least its width in
        cells; a millisecond above 999 takes more than three digits)."""
        for lo in range(a, b, _WIDEN_BLOCK):  # a block at a time: small temporaries
            hi = min(b, lo + _WIDEN_BLOCK)
            ms = arr.ms[lo:hi]
            widths = np.diff(arr.offsets[lo : hi + 1]) - 1 + PREFIX_LEN + (ms > 999) + (ms > 9999)
            self._max_width = max(self._max_width, int(widths.max()))

    def set_query(self, text: str) -> str | None:
        """Filter by `text` (see `logquery.help_text()`); returns an error message and keeps the
        old filter if the query is bad, else posts `QueryApplied` and returns None."""
        try:
            query = parse(text)
        except QueryError as e:
            return str(e)
        try:
            highlights = query.highlight_patterns()
        except re.error as e:  # pragma: no cover - parse already compiled them
            return f"bad regex: {e}"
        self._t0 = time.perf_counter()
        top_line = self._top_line()
        self._query = query
        self._highlights = highlights
        self._forget_rows()
        self._generation += 1
        self._pending = []
        if query.is_empty:
            self._index = None
            self._bounds = (-np.inf, np.inf)
        else:
            self._index = LineIndex()
            self._bounds = self._time_bounds()
            n = self._n
            if n <= self.PROGRESSIVE_ABOVE:
                self._index.extend(self._lines(0, n))
            else:
                # the lines in view first (the newest ones in follow mode), until the screen is
                # full or the time budget is spent; the others block by block between frames
                self._pending = self._blocks(n, None if self.follow else top_line)
                budget = self._t0 + self.FIRST_FRAME_BUDGET_S
                cap = self._t0 + self.FIRST_FRAME_MAX_S
                self._filter_block()
                # a block is started only if one more like the last still ends in time
                step = time.perf_counter() - self._t0
                while self._pending:
                    now = time.perf_counter()
                    limit = cap if self._index.n < self.size.height else budget
                    if now + step > limit:
                        break
                    self._filter_block()
                    step = time.perf_counter() - now
        self._update_virtual_size()
        if self.follow:
            self._scroll_end()
        elif top_line is not None:
            self._scroll_to_row(self._row_of_line(top_line))
        self.refresh()
        if self._pending:
            self._schedule_more()
        else:
            self._applied()
        return None

    @property
    def filtering(self) -> bool:
        """True while a filter is still at work on some lines (`match_count` is still growing)."""
        return bool(self._pending)

    def _blocks(self, n: int, around: int | None) -> list[tuple[int, int]]:
        """Line ranges to filter, in order: from `around` to the end then back to the start,
        or (`around` None) from the end back to the start."""
        step = self.BLOCK_LINES
        start = n if around is None else around
        forward = [(lo, min(n, lo + step)) for lo in range(start, n, step)]
        return forward + [(max(0, hi - step), hi) for hi in range(start, 0, -step)]

    def _applied(self) -> None:
        elapsed = (time.perf_counter() - self._t0) * 1000
        self.post_message(self.QueryApplied(self, self._query.source, self.match_count, elapsed))

    def _schedule_more(self) -> None:
        generation = self._generation
        self.set_timer(0.001, lambda: self._filter_more(generation), name="log-explorer-filter")

    def _filter_more(self, generation: int) -> None:
        """Filter the next block of older lines (between frames, so input is never held up long)."""
        if generation != self._generation or not self._pending or self._index is None:
            return
        top_row = int(self.scroll_y)
        pos, added = self._filter_block()
        if added:
            self._update_virtual_size()
            if self.follow:
                self._scroll_end()
            elif pos <= top_row:  # rows were added above the view: keep showing the same lines
                self.scroll_to(y=top_row + added, animate=False, immediate=True, force=True)
            self.refresh()
        if self._pending:
            self._schedule_more()
        else:
            self._applied()

    def _filter_block(self) -> tuple[int, int]:
        """Filter the next pending block; returns the row where its matches went, and how many."""
        assert self._pending and self._index is not None
        lo, hi = self._pending.pop(0)
        found = self._lines(lo, hi)
        pos = int(np.searchsorted(self._index.view, lo, side="left"))
        if len(found):
            self._index.insert(pos, found)
            self._forget_rows()
        return pos, len(found)

    def jump_to_time(self, tick: int) -> None:
        """Scroll so that the first shown line at or after `tick` is at the top (turns follow off)."""
        line = 0 if self._store is None else min(self._store.since(tick), self._n)
        self.follow = False
        self._scroll_to_row(self._row_of_line(line))

    # ------------------------------------------------------------- filtering

    def _time_bounds(self) -> tuple[float, float]:
        """The tick interval the query's time terms allow, at the newest line synced."""
        if self._store is None:
            return -np.inf, np.inf
        return LogSearch(self._store, self._query).time_bounds(self._n)

    def _lines(self, a: int, b: int) -> IntArray:
        """Lines in [a, b) that match the query in force (sorted), within its time bounds."""
        if self._store is None:
            return np.zeros(0, dtype=np.int64)
        return LogSearch(self._store, self._query).lines(a, b, self._n, self._bounds)

    def _refilter_tail(self, old_n: int) -> None:
        """Bring the filtered rows up to date after lines `old_n`.. arrived."""
        assert self._index is not None
        old_hi = self._bounds[1]
        self._bounds = lo, _hi = self._time_bounds()
        if not self._query.has_relative_time:
            self._index.extend(self._lines(old_n, self._n))
            return
        ticks = self._arrays().ticks[: self._n]
        idx = self._index.view
        first_line = int(np.searchsorted(ticks, lo, side="left")) if lo > -np.inf else 0
        pending_end = 0
        if self._pending:  # lines still to filter: none before the window
            self._pending = [(max(a, first_line), b) for a, b in self._pending if b > first_line]
            pending_end = max((b for _, b in self._pending), default=0)
        if len(idx) and first_line:  # the window slid: drop rows older than its start
            first = int(np.searchsorted(idx, first_line, side="left"))
            if first:
                self._index.drop_front(first)
                self._forget_rows()
                if not self.follow:
                    self.scroll_to(
                        y=max(0, self.scroll_y - first), animate=False, immediate=True, force=True
                    )
        # lines after the old window end (and the new lines) may now match
        start = old_n if old_hi == np.inf else int(np.searchsorted(ticks, old_hi, side="right"))
        del ticks
        start = max(min(start, old_n), pending_end)
        fresh = self._lines(start, self._n)
        if len(self._index) and len(fresh):
            fresh = fresh[fresh > self._index.view[-1]]
        self._index.extend(fresh)

    def _rows(self) -> int:
        return self.match_count

    def _row_of_line(self, line: int) -> int:
        if self._index is None:
            return min(line, max(0, self._n - 1))
        return int(np.searchsorted(self._index.view, line, side="left"))

    def _top_line(self) -> int | None:
        row = int(self.scroll_y)
        if row >= self._rows():
            return None
        return self.line_at(row)

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self._max_width + 1, self._rows())

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        # as ScrollView's, but the scrollbar is redrawn only when its thumb moves on screen (with
        # many lines, most scrolls move it by less than an eighth of a cell: a redraw costs a few
        # milliseconds of every frame)
        if self.show_vertical_scrollbar:
            bar = self.vertical_scrollbar
            if scrollbar_thumb(bar, bar.position) == scrollbar_thumb(bar, new_value):
                bar.set_reactive(ScrollBar.position, bar.validate_position(new_value))
            else:
                bar.position = new_value
        if round(old_value) != round(new_value):
            self.refresh(self.size.region)

    def _scroll_end(self) -> None:
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    def on_resize(self) -> None:
        self._forget_rows()
        if self.follow:
            self._scroll_end()

    def _scroll_to_row(self, row: int) -> None:
        self.scroll_to(y=row, animate=False, immediate=True, force=True)

    def on_mount(self) -> None:
        self.sync()

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self._scroll_end()

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow

    def action_line_up(self) -> None:
        self.follow = False
        self.scroll_to(y=self.scroll_y - 1, animate=False, immediate=True, force=True)

    def action_line_down(self) -> None:
        self.scroll_to(y=self.scroll_y + 1, animate=False, immediate=True, force=True)

    def action_page_up(self) -> None:
        self.follow = False
        self.scroll_to(
            y=self.scroll_y - self.scrollable_content_region.height,
            animate=False,
            immediate=True,
            force=True,
        )

    def action_page_down(self) -> None:
        self.scroll_to(
            y=self.scroll_y + self.scrollable_content_region.height,
            animate=False,
            immediate=True,
            force=True,
        )

    def action_top(self) -> None:
        self.follow = False
        self.scroll_to(y=0, animate=False, immediate=True, force=True)

    def action_bottom(self) -> None:
        """To the newest line, and follow from there."""
        self.follow = True
        self._scroll_end()

    def _on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self.follow = False

    # ------------------------------------------------------------- rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache.clear()
        self._forget_rows()

    def _forget_rows(self) -> None:
        """Drop the rendered rows (the lines shown, their text or their styles changed)."""
        self._strips.clear()

    def _style(self, name: str) -> Style:
        style = self._style_cache.get(name)
        if style is None:
            style = self._style_cache[name] = self.get_component_rich_style(
                f"log-explorer--{name}", partial=True
            )
        return style

    def render_lines(self, crop: Region) -> list[Strip]:
        # what every row of this frame shares, worked out once (`rich_style` walks the DOM)
        scroll_x, scroll_y = self.scroll_offset
        self._frame = (scroll_x, scroll_y, self.scrollable_content_region.width, self.rich_style)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        frame = self._frame
        if frame is None:
            scroll_x, scroll_y = self.scroll_offset
            width = self.scrollable_content_region.width
            rich_style = self.rich_style
        else:
            scroll_x, scroll_y, width, rich_style = frame
        row = scroll_y + y
        if row >= self._rows() or row < 0:
            return Strip.blank(width, rich_style)
        line = self.line_at(row)
        strip = self._strips.get(line)
        if strip is None:
            strip = self._render_strip(line)
            self._strips[line] = strip
            if len(self._strips) > _CACHE_LINES:
                self._strips.popitem(last=False)
        # a Strip keeps its last crops and styles: a row moved by a scroll comes back from there
        return strip.crop_extend(scroll_x, scroll_x + width, rich_style).apply_style(rich_style)

    def _render_strip(self, line: int) -> Strip:
        assert self._store is not None
        text = self._store.render(line)
        level = self._store.level(line)
        return Strip(row_segments(text, level, self._highlights, self._style))
