"""A log view that stays smooth with millions of lines, with filtering by a small query language.

Textual's `Log`/`RichLog`/`DataTable` keep one Python object per line and do not
filter; this widget keeps nothing per line: it reads the `LogStore`'s own arrays in
place (`LogStore.arrays`: one byte buffer of messages, a numpy array of their
offsets, numpy columns of tick, service id and level).

* `sync()` takes in the lines the store gained since the last call (their count and
  widest line; the filter in force runs over them).
* A filter (see `oncall_dojo.tui.logquery`) becomes a sorted numpy array of line
  numbers: time terms narrow the line range by binary search (lines are in time
  order), service and level terms are numpy masks over the columns, text and regex
  terms run one regex over the message buffer (or over the few candidate lines),
  and match offsets map back to line numbers with `np.searchsorted`. The buffer
  holds messages without their timestamp and level: a term that could match there
  (`prefix_fit`) is first tested on the lines' prefixes (per tick, millisecond and
  level, with numpy); lines whose prefix can hold the start of a match are decided
  on their whole line, rendered a block at a time, the others on their message.
* `render_line(y)` renders the row's line from the store: O(1) per visible row, and
  rows already drawn at the same scroll offset and width are reused as they are. A
  scroll repaints the explorer's own region; its scrollbar is redrawn only when the
  thumb moves on screen.

Messages: `LogExplorer.QueryApplied` (handler `on_log_explorer_query_applied`),
posted after every filter applied with `set_query`.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from itertools import chain, pairwise
from typing import Any, ClassVar, NamedTuple

import numpy as np
import numpy.typing as npt
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import MouseScrollUp
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from oncall_dojo.sim.observability.logs import LEVELS, PREFIX_LEN, LogArrays, LogStore
from oncall_dojo.tui.logquery import PrefixFit, Query, QueryError, Term, parse, prefix_fit

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
_PER_LINE_BELOW = 0.02
"""Search candidate lines one by one when they are fewer than this share of the scanned range."""
_CACHE_LINES = 512
_FOLD_CHUNK = 1 << 20
"""Bytes lower-cased at a time by a case-insensitive text search."""
_RENDER_BLOCK = 1 << 15
"""Lines rendered at a time for a term that may match the timestamp or level."""
_CONTROLS = {c: " " if c == 9 else "\ufffd" for c in (*range(32), 127)}
"""Control characters would break the layout: a tab shows as a space, others as a replacement."""
_GLOBAL_FLAGS = re.compile(r"^\(\?[aiLmsux]+\)")


class _Text(NamedTuple):
    """Lines as bytes, each followed by a newline: the k-th is `buf[off[k] : off[k + 1] - 1]`."""

    buf: Any
    """bytes, or a numpy uint8 array."""
    off: npt.NDArray[Any]
    """Offsets (uint32 or int64)."""
    lines: IntArray | None
    """The store line number of each (sorted); None: the k-th is line k."""

    def local(self, cand: IntArray) -> IntArray:
        """Where store lines `cand` (all present, sorted) are in this text."""
        return cand if self.lines is None else np.searchsorted(self.lines, cand)


class _Column:
    """A growable numpy array (amortised O(1) append)."""

    def __init__(self, dtype: npt.DTypeLike, capacity: int = 1024) -> None:
        self._a = np.zeros(capacity, dtype=dtype)
        self.n = 0

    def extend(self, values: npt.ArrayLike) -> None:
        v = np.asarray(values, dtype=self._a.dtype)
        need = self.n + len(v)
        if need > len(self._a):
            grown = np.zeros(max(need, 2 * len(self._a)), dtype=self._a.dtype)
            grown[: self.n] = self._a[: self.n]
            self._a = grown
        self._a[self.n : need] = v
        self.n = need

    def insert(self, pos: int, values: npt.NDArray[np.generic]) -> None:
        k = len(values)
        grown = np.zeros(max(self.n + k, len(self._a)), dtype=self._a.dtype)
        grown[:pos] = self._a[:pos]
        grown[pos : pos + k] = values
        grown[pos + k : self.n + k] = self._a[pos : self.n]
        self._a = grown
        self.n += k

    def drop_front(self, k: int) -> None:
        if k:
            self._a[: self.n - k] = self._a[k : self.n]
            self.n -= k

    @property
    def view(self) -> npt.NDArray[Any]:
        return self._a[: self.n]

    def __len__(self) -> int:
        return self.n


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
        self._index: _Column | None = None
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
        for lo in range(a, b, _RENDER_BLOCK):  # a block at a time: small temporaries
            hi = min(b, lo + _RENDER_BLOCK)
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
            self._index = _Column(np.int64, 1024)
            self._bounds = self._time_bounds()
            n = self._n
            if n <= self.PROGRESSIVE_ABOVE:
                self._index.extend(self._evaluate(0, n))
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
        found = self._evaluate(lo, hi)
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
        """The tick interval [lo, hi] allowed by the time terms, at the current newest line."""
        lo, hi = -np.inf, np.inf
        terms = self._query.of("since", "until", "at")
        if not terms or self._store is None:
            return lo, hi
        newest = int(self._arrays().ticks[self._n - 1]) if self._n else 0
        start = self._store.start
        start_sod = start.hour * 3600 + start.minute * 60 + start.second
        for t in terms:
            if t.kind == "at":
                first = (t.seconds - start_sod) % 86400
                lo, hi = max(lo, first), min(hi, first + t.span - 1)
                continue
            tick = (t.seconds - start_sod) % 86400 if t.clock else newest - t.seconds
            if t.kind == "since":
                lo = max(lo, tick)
            else:
                hi = min(hi, tick)
        return lo, hi

    def _refilter_tail(self, old_n: int) -> None:
        """Bring the filtered rows up to date after lines `old_n`.. arrived."""
        assert self._index is not None
        old_hi = self._bounds[1]
        self._bounds = lo, _hi = self._time_bounds()
        if not self._query.has_relative_time:
            self._index.extend(self._evaluate(old_n, self._n))
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
        fresh = self._evaluate(start, self._n)
        if len(self._index) and len(fresh):
            fresh = fresh[fresh > self._index.view[-1]]
        self._index.extend(fresh)

    def _evaluate(self, a: int, b: int) -> IntArray:
        """Line numbers in [a, b) that match the query (sorted)."""
        q = self._query
        arr = self._arrays()
        ticks = arr.ticks[: self._n]
        lo, hi = self._bounds
        if lo > -np.inf:
            a = max(a, int(np.searchsorted(ticks, lo, side="left")))
        if hi < np.inf:
            b = min(b, int(np.searchsorted(ticks, hi, side="right")))
        if a >= b:
            return np.zeros(0, dtype=np.int64)
        mask: npt.NDArray[np.bool_] | None = None
        svc_table = self._service_table(q)
        if svc_table is not None:
            mask = svc_table[arr.services[a:b]]
        for t in q.of("level"):
            table = np.zeros(256, dtype=bool)
            if t.exact:
                table[t.level] = True
            else:
                table[t.level : len(LEVELS)] = True
            if t.negate:
                table = ~table
            m = table[arr.levels[a:b]]
            mask = m if mask is None else mask & m
        cand: IntArray
        if mask is None:
            cand = np.arange(a, b, dtype=np.int64)
        else:
            cand = np.flatnonzero(mask).astype(np.int64) + a
        # text terms: positive ones first (they shrink the candidates), exclusions last
        text_terms = sorted(q.of("text", "regex"), key=lambda t: t.negate)
        for t in text_terms:
            if not len(cand):
                break
            hit = self._search(arr, t, cand)
            cand = cand[~hit] if t.negate else cand[hit]
        return cand

    def _service_table(self, q: Query) -> npt.NDArray[np.bool_] | None:
        inc, exc = q.services, q.excluded_services
        if not inc and not exc:
            return None
        names = [n.lower() for n in self._store.service_names] if self._store else []
        table = np.zeros(256, dtype=bool)
        for sid, name in enumerate(names):
            ok = not inc or any(name.startswith(p) for p in inc)
            if ok and any(name.startswith(p) for p in exc):
                ok = False
            table[sid] = ok
        if not inc:  # ids not named yet cannot be excluded
            table[len(names) :] = True
        return table

    def _search(self, arr: LogArrays, t: Term, cand: IntArray) -> npt.NDArray[np.bool_]:
        """Which candidate lines contain a match of text or regex term `t`.

        Text terms mean `needle in line.lower()`, regex terms `re.search(pattern, line)`,
        over each line as `str`; a match never spans lines. The bytes scan gives exactly
        that for ASCII lines and ASCII patterns; the store's special lines (non-ASCII text
        and the like) and patterns with other characters are checked as `str`, line by line.
        The buffer holds messages without their timestamp and level: a line whose prefix
        can hold the start of a match (`prefix_fit`, tested on the rendered prefixes) is
        decided on its whole line, the others on their message.
        """
        fit = prefix_fit(t)
        if t.kind == "text":
            needle = t.value

            def check(s: str) -> bool:
                return needle in s.lower()

            if not needle.isascii() or "\n" in needle:  # only special lines can contain it
                hit = np.zeros(len(cand), dtype=bool)
            elif needle.lower() == needle.upper():  # no letters: case does not matter
                literal = re.escape(needle.encode())
                pattern, whole = re.compile(literal), re.compile(literal + rb"[^\n]*")
                hit = self._decide(arr, cand, fit, check, self._scanner(pattern, whole))
            else:
                hit = self._decide(arr, cand, fit, check, self._folded(needle.encode()))
            self._recheck_special(arr, hit, cand, check)
            return hit
        rx = re.compile(t.value, t.flags)
        source, flags = t.value, re.MULTILINE | t.flags

        def check_rx(s: str) -> bool:
            return rx.search(s) is not None

        if not source.isascii():
            return self._search_lines(check_rx, cand)
        lead = _GLOBAL_FLAGS.match(source)
        head, body = (lead.group(0), source[lead.end() :]) if lead else ("", source)
        try:
            pattern = re.compile(source.encode(), flags)
            # `[^\n]*` eats the rest of the line: at most one match per line in a scan
            whole = re.compile(f"{head}(?:{body})[^\\n]*".encode(), flags)
        except re.error:  # valid over str but not over bytes: test line by line as text
            return self._search_lines(check_rx, cand)
        hit = self._decide(arr, cand, fit, check_rx, self._scanner(pattern, whole))
        self._recheck_special(arr, hit, cand, check_rx)
        return hit

    def _decide(
        self,
        arr: LogArrays,
        cand: IntArray,
        fit: PrefixFit,
        check: Callable[[str], bool],
        scan: Callable[[_Text, IntArray], npt.NDArray[np.bool_]],
    ) -> npt.NDArray[np.bool_]:
        """Split the candidates by what their prefixes can hold: sure matches (the whole match
        fits in the prefix), lines decided on the whole line, and lines decided on the message."""
        if fit.looks_back:
            return self._over(arr, cand, True, check, scan)
        hit = np.zeros(len(cand), dtype=bool)
        by_message = np.ones(len(cand), dtype=bool)
        if fit.starts:
            may, sure = self._fit_prefixes(fit, cand)
            hit |= sure
            unsure = may & ~sure
            if unsure.any():
                hit[unsure] = self._over(arr, cand[unsure], True, check, scan)
            by_message = ~may
        if fit.anchored:  # a match starts where the line does: the prefix alone says
            return hit
        if by_message.any():
            hit[by_message] = self._over(arr, cand[by_message], False, check, scan)
        return hit

    def _fit_prefixes(
        self, fit: PrefixFit, cand: IntArray
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """For each candidate: whether a match can start in its prefix (`fit.tests` pass on its
        characters, from one of `fit.starts` until the prefix ends), and whether one surely does
        (all of a whole match's tests pass inside it)."""
        assert self._store is not None
        tables = [
            np.fromiter((test(chr(b)) for b in range(256)), dtype=bool, count=256)
            for test in fit.tests[:PREFIX_LEN]
        ]
        may = np.zeros(len(cand), dtype=bool)
        sure = np.zeros(len(cand), dtype=bool)
        fits = self._store.prefix_match(cand, tables, fit.starts)
        for start, ok in zip(fit.starts, fits, strict=True):
            may |= ok
            if fit.whole and start + len(fit.tests) <= PREFIX_LEN:
                sure |= ok
        return may, sure

    def _over(
        self,
        arr: LogArrays,
        cand: IntArray,
        whole_lines: bool,
        check: Callable[[str], bool],
        scan: Callable[[_Text, IntArray], npt.NDArray[np.bool_]],
    ) -> npt.NDArray[np.bool_]:
        """Run `scan` over the candidates' messages, or over their whole lines rendered a block at
        a time (or, for a few candidates, `check` each line as text)."""
        if not whole_lines:
            return scan(_Text(arr.text, arr.offsets, None), cand)
        if len(cand) < 64:
            return self._search_lines(check, cand)
        assert self._store is not None
        out = np.zeros(len(cand), dtype=bool)
        for i in range(0, len(cand), _RENDER_BLOCK):
            block = cand[i : i + _RENDER_BLOCK]
            blob, offsets = self._store.rendered(block)
            out[i : i + len(block)] = scan(_Text(blob, offsets, block), block)
        return out

    def _scanner(
        self, pattern: re.Pattern[bytes], whole: re.Pattern[bytes]
    ) -> Callable[[_Text, IntArray], npt.NDArray[np.bool_]]:
        def scan(text: _Text, cand: IntArray) -> npt.NDArray[np.bool_]:
            return _scan(pattern, whole, text, cand)

        return scan

    def _folded(self, needle: bytes) -> Callable[[_Text, IntArray], npt.NDArray[np.bool_]]:
        def scan(text: _Text, cand: IntArray) -> npt.NDArray[np.bool_]:
            return _scan_folded(needle, text, cand)

        return scan

    def _recheck_special(
        self,
        arr: LogArrays,
        hit: npt.NDArray[np.bool_],
        cand: IntArray,
        check: Callable[[str], bool],
    ) -> None:
        """Decide the candidates among the store's special lines as `str` (in place)."""
        special = arr.special
        if not len(special):
            return
        pos = np.flatnonzero(np.isin(cand, special))
        if len(pos):
            hit[pos] = self._search_lines(check, cand[pos])

    def _search_lines(self, check: Callable[[str], bool], cand: IntArray) -> npt.NDArray[np.bool_]:
        text = self.line_text
        return np.fromiter((check(text(k)) for k in cand.tolist()), dtype=bool, count=len(cand))

    # ------------------------------------------------------------- scrolling

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
            if _thumb(bar, bar.position) == _thumb(bar, new_value):
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
        text = self._store.render(line).translate(_CONTROLS)
        level = self._store.level(line)
        inst_end = text.find(" ", _MSG)
        if inst_end < 0:
            inst_end = len(text)
        regions: list[tuple[int, int, Style | None]] = [
            (0, _TS_END, self._style("timestamp")),
            (
                _LEVEL[0],
                _LEVEL[1],
                self._style(LEVELS[level].lower() if level < len(LEVELS) else "info"),
            ),
            (_MSG, inst_end, self._style("instance")),
        ]
        matches = list(_match_spans(self._highlights, text))
        return Strip(_segments(text, regions, matches, self._style("match")))


def _scan(
    pattern: re.Pattern[bytes], whole: re.Pattern[bytes], text: _Text, cand: IntArray
) -> npt.NDArray[np.bool_]:
    """Which candidate lines of `text` hold a match of `pattern` (`whole`: the same, then the
    rest of the line)."""
    buf, off, _ = text
    ks = text.local(cand)
    first, last = int(ks[0]), int(ks[-1])
    if len(ks) < _PER_LINE_BELOW * (last - first + 1) or len(ks) < 64:
        search = pattern.search
        starts = off[ks].tolist()
        ends = (off[ks + 1] - 1).tolist()
        return np.fromiter(
            (search(buf, s, e) is not None for s, e in zip(starts, ends, strict=True)),
            dtype=bool,
            count=len(ks),
        )
    # one scan over the buffer between the first and last candidate
    lo, hi = int(off[first]), int(off[last + 1])
    flat = np.fromiter(
        chain.from_iterable(m.span() for m in whole.finditer(buf, lo, hi)), dtype=np.int64
    )
    if not len(flat):
        return np.zeros(len(ks), dtype=bool)
    sp = flat.reshape(-1, 2)
    lines = np.searchsorted(off, sp[:, 0], side="right") - 1
    crossing = sp[:, 1] > off[lines + 1] - 1
    matched = lines[~crossing]
    if crossing.any():
        # a match that ran over a newline (e.g. `\s`): check those lines one by one
        extra: list[int] = []
        last_lines = np.searchsorted(off, sp[crossing, 1] - 1, side="right") - 1
        for k0, k1 in zip(lines[crossing].tolist(), last_lines.tolist(), strict=True):
            for k in range(k0, min(k1, last) + 1):
                if pattern.search(buf, int(off[k]), int(off[k + 1]) - 1):
                    extra.append(k)
        matched = np.concatenate([matched, np.array(extra, dtype=np.int64)])
    return np.isin(ks, matched)


def _scan_folded(needle: bytes, text: _Text, cand: IntArray) -> npt.NDArray[np.bool_]:
    """Which candidate (ASCII) lines of `text` contain `needle` (lower case), ignoring ASCII case.

    `re.IGNORECASE` loses the literal fast path (about 6x slower), so the buffer is
    lower-cased a chunk at a time and searched for the literal."""
    buf, off, _ = text
    mem = memoryview(buf)
    ks = text.local(cand)
    first, last = int(ks[0]), int(ks[-1])
    if len(ks) < _PER_LINE_BELOW * (last - first + 1) or len(ks) < 64:
        starts = off[ks].tolist()
        ends = (off[ks + 1] - 1).tolist()
        return np.fromiter(
            (needle in mem[s:e].tobytes().lower() for s, e in zip(starts, ends, strict=True)),
            dtype=bool,
            count=len(ks),
        )
    whole = re.compile(re.escape(needle) + rb"[^\n]*")
    found: list[IntArray] = []
    k, k_end = first, last + 1
    while k < k_end:
        # up to about _FOLD_CHUNK bytes, ending at a line end
        nxt = int(np.searchsorted(off, off[k] + _FOLD_CHUNK, side="left"))
        nxt = min(max(nxt, k + 1), k_end)
        lo = int(off[k])
        chunk = mem[lo : int(off[nxt])].tobytes().lower()
        starts = np.fromiter((m.start() for m in whole.finditer(chunk)), dtype=np.int64)
        found.append(starts + lo)
        k = nxt
    matched = np.searchsorted(off, np.concatenate(found), side="right") - 1
    return np.isin(ks, matched)


def _thumb(bar: ScrollBar, position: float) -> tuple[int, int] | None:
    """Where a vertical scrollbar draws its thumb at `position`, in eighths of a cell (the
    arithmetic of Textual's `ScrollBarRender.render_bar`), or None when it draws none."""
    size = bar.size.height
    virtual = math.ceil(bar.window_virtual_size)
    window = math.ceil(bar.window_size if bar.window_size < bar.window_virtual_size else 0)
    if not (window and size and virtual and size != virtual):
        return None
    thumb = max(1, window / (virtual / size))
    offset = (size - thumb) * (bar.validate_position(position) / (virtual - window))
    start = int(offset * 8)
    return start, start + math.ceil(thumb * 8)


def _match_spans(patterns: Iterable[re.Pattern[str]], text: str) -> Iterable[tuple[int, int]]:
    for p in patterns:
        for m in p.finditer(text):
            if m.end() > m.start():
                yield m.span()


def _segments(
    text: str,
    regions: list[tuple[int, int, Style | None]],
    matches: list[tuple[int, int]],
    match_style: Style,
) -> list[Segment]:
    """Cut `text` into segments: base `regions` styles, with `matches` highlighted on top."""
    n = len(text)
    cuts = {0, n}
    for a, b, _ in regions:
        cuts.update((min(a, n), min(b, n)))
    for a, b in matches:
        cuts.update((a, b))
    points = sorted(cuts)
    out: list[Segment] = []
    for a, b in pairwise(points):
        if a >= b:
            continue
        style: Style | None = None
        for ra, rb, rs in regions:
            if ra <= a < rb:
                style = rs
                break
        if any(ma <= a < mb for ma, mb in matches):
            style = match_style if style is None else style + match_style
        out.append(Segment(text[a:b], style))
    return out
