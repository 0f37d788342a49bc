"""A log view that stays smooth with millions of lines, with filtering by a small query language.

Textual's `Log`/`RichLog`/`DataTable` keep one Python object per line and do not
filter; this widget keeps the rendered lines in one `bytearray` with a numpy array
of line start offsets and numpy columns (tick, service id, level) beside it.

* `sync()` renders each newly appended store line once into the buffer.
* A filter (see `oncall_dojo.tui.logquery`) becomes a sorted numpy array of line
  numbers: time terms narrow the line range by binary search (lines are in time
  order), service and level terms are numpy masks over the columns, text and regex
  terms run one regex over the buffer (or over the few candidate lines), and match
  offsets map back to line numbers with `np.searchsorted`.
* `render_line(y)` slices the buffer for the row's line: O(1) per visible row.

Messages: `LogExplorer.QueryApplied` (handler `on_log_explorer_query_applied`),
posted after every filter applied with `set_query`.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from itertools import chain, pairwise
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import MouseScrollUp
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from oncall_dojo.sim.logs import LEVELS, LogStore
from oncall_dojo.tui.logquery import Query, QueryError, Term, parse

__all__ = ["LogExplorer"]

IntArray = npt.NDArray[np.int64]

_TS_END = 24
"""Rendered lines start `2026-03-14T03:12:07.123Z LEVEL instance ...`: timestamp [0, 24)."""
_LEVEL = (25, 30)
_MSG = 31
_SYNC_CHUNK = 1 << 16
"""Lines rendered per batch in `sync` (bounds the temporary Python strings)."""
_PER_LINE_BELOW = 0.02
"""Search candidate lines one by one when they are fewer than this share of the scanned range."""
_CACHE_LINES = 512
_FOLD_CHUNK = 1 << 20
"""Bytes lower-cased at a time by a case-insensitive text search."""
_CONTROLS = {c: " " if c == 9 else "\ufffd" for c in (*range(32), 127)}
"""Control characters would break the layout: a tab shows as a space, others as a replacement."""
_GLOBAL_FLAGS = re.compile(r"^\(\?[aiLmsux]+\)")


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
    BLOCK_LINES: ClassVar[int] = 65_536
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
        self._highlights: list[re.Pattern[str]] = []
        self._t0 = 0.0
        self._reset(store)

    # ----------------------------------------------------------------- state

    def _reset(self, store: LogStore | None) -> None:
        self._store = store
        self._buf = bytearray()
        self._off = _Column(np.int64)
        self._off.extend([0])
        self._ticks = _Column(np.int32)
        self._svc = _Column(np.uint8)
        self._lvl = _Column(np.uint8)
        self._wide = _Column(np.int64, 64)
        """Lines whose text is not all ASCII (searched as `str`)."""
        self._index: _Column | None = None
        """Line numbers shown when filtered (sorted); `None` shows every line."""
        self._pending: list[tuple[int, int]] = []
        """Line ranges [a, b) a progressive filter has still to do, in order."""
        self._generation = getattr(self, "_generation", 0) + 1
        self._bounds: tuple[float, float] = (-np.inf, np.inf)
        self._max_width = 0
        self._strips.clear()

    @property
    def store(self) -> LogStore | None:
        return self._store

    @property
    def line_count(self) -> int:
        """Lines synced from the store so far."""
        return self._ticks.n

    @property
    def query_text(self) -> str:
        """The query in force ("" shows every line)."""
        return self._query.source

    @property
    def match_count(self) -> int:
        """Rows shown: lines matching the query (every synced line when there is none)."""
        return self._ticks.n if self._index is None else self._index.n

    def line_at(self, row: int) -> int:
        """The store line number shown at `row` (0 = first row of the filtered view)."""
        if self._index is None:
            if not 0 <= row < self._ticks.n:
                raise IndexError(row)
            return row
        return int(self._index.view[row])

    def matching_lines(self) -> IntArray:
        """Store line numbers shown, in order (a copy)."""
        if self._index is None:
            return np.arange(self._ticks.n, dtype=np.int64)
        return np.array(self._index.view, dtype=np.int64)

    def line_text(self, line: int) -> str:
        """The rendered text of store line `line`, as shown."""
        off = self._off.view
        return self._buf[off[line] : off[line + 1] - 1].decode()

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
        old_n = self._ticks.n
        new_n = len(store.msgs)
        if new_n <= old_n:
            return
        for a in range(old_n, new_n, _SYNC_CHUNK):
            self._ingest(store, a, min(new_n, a + _SYNC_CHUNK))
        if self._index is not None:
            self._refilter_tail(old_n)
        self._update_virtual_size()
        if self.follow:
            self._scroll_end()

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
        self._strips.clear()
        self._generation += 1
        self._pending = []
        if query.is_empty:
            self._index = None
            self._bounds = (-np.inf, np.inf)
        else:
            self._index = _Column(np.int64, 1024)
            self._bounds = self._time_bounds()
            n = self._ticks.n
            if n <= self.PROGRESSIVE_ABOVE:
                self._index.extend(self._evaluate(0, n))
            else:
                # the lines in view first (the newest ones in follow mode), until the screen is
                # full or the time budget is spent; the others block by block between frames
                self._pending = self._blocks(n, None if self.follow else top_line)
                budget = self._t0 + self.FIRST_FRAME_BUDGET_S
                cap = self._t0 + self.FIRST_FRAME_MAX_S
                self._filter_block()
                while self._pending and (
                    (now := time.perf_counter()) < budget
                    or (self._index.n < self.size.height and now < cap)
                ):
                    self._filter_block()
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
            self._strips.clear()
        return pos, len(found)

    def jump_to_time(self, tick: int) -> None:
        """Scroll so that the first shown line at or after `tick` is at the top (turns follow off)."""
        line = int(np.searchsorted(self._ticks.view, tick, side="left"))
        self.follow = False
        self._scroll_to_row(self._row_of_line(line))

    # ------------------------------------------------------------- ingesting

    def _ingest(self, store: LogStore, a: int, b: int) -> None:
        render = store.render
        texts = [render(i) for i in range(a, b)]
        blob = "\n".join(texts).encode("utf-8", "replace") + b"\n"
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=b - a)
        if len(blob) != int(lengths.sum()) + (b - a):  # some non-ASCII text: count bytes
            chars = lengths
            lengths = np.fromiter(
                (len(t.encode("utf-8", "replace")) for t in texts), dtype=np.int64, count=b - a
            )
            self._wide.extend(np.flatnonzero(lengths != chars) + a)
        base = len(self._buf)
        self._buf += blob
        self._off.extend(base + np.cumsum(lengths + 1))
        self._ticks.extend(np.frombuffer(store.ticks, dtype=np.int32, count=b - a, offset=4 * a))
        self._svc.extend(np.frombuffer(store.services, dtype=np.uint8, count=b - a, offset=a))
        self._lvl.extend(np.frombuffer(store.levels, dtype=np.uint8, count=b - a, offset=a))
        self._max_width = max(self._max_width, int(lengths.max()))

    # ------------------------------------------------------------- filtering

    def _time_bounds(self) -> tuple[float, float]:
        """The tick interval [lo, hi] allowed by the time terms, at the current newest line."""
        lo, hi = -np.inf, np.inf
        terms = self._query.of("since", "until", "at")
        if not terms or self._store is None:
            return lo, hi
        newest = int(self._ticks.view[-1]) if self._ticks.n else 0
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
            self._index.extend(self._evaluate(old_n, self._ticks.n))
            return
        idx = self._index.view
        first_line = int(np.searchsorted(self._ticks.view, lo, side="left")) if lo > -np.inf else 0
        pending_end = 0
        if self._pending:  # lines still to filter: none before the window
            self._pending = [(max(a, first_line), b) for a, b in self._pending if b > first_line]
            pending_end = max((b for _, b in self._pending), default=0)
        if len(idx) and first_line:  # the window slid: drop rows older than its start
            first = int(np.searchsorted(idx, first_line, side="left"))
            if first:
                self._index.drop_front(first)
                self._strips.clear()
                if not self.follow:
                    self.scroll_to(
                        y=max(0, self.scroll_y - first), animate=False, immediate=True, force=True
                    )
        # lines after the old window end (and the new lines) may now match
        start = (
            old_n
            if old_hi == np.inf
            else int(np.searchsorted(self._ticks.view, old_hi, side="right"))
        )
        start = max(min(start, old_n), pending_end)
        fresh = self._evaluate(start, self._ticks.n)
        if len(self._index) and len(fresh):
            fresh = fresh[fresh > self._index.view[-1]]
        self._index.extend(fresh)

    def _evaluate(self, a: int, b: int) -> IntArray:
        """Line numbers in [a, b) that match the query (sorted)."""
        q = self._query
        ticks = self._ticks.view
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
            mask = svc_table[self._svc.view[a:b]]
        for t in q.of("level"):
            table = np.zeros(256, dtype=bool)
            if t.exact:
                table[t.level] = True
            else:
                table[t.level : len(LEVELS)] = True
            if t.negate:
                table = ~table
            m = table[self._lvl.view[a:b]]
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
            hit = self._search(t, cand)
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

    def _search(self, t: Term, cand: IntArray) -> npt.NDArray[np.bool_]:
        """Which candidate lines contain a match of text or regex term `t`.

        Text terms mean `needle in line.lower()`, regex terms `re.search(pattern, line)`,
        over each line as `str`; a match never spans lines. The bytes scan gives exactly
        that for ASCII lines and ASCII patterns; lines with other characters (listed in
        `_wide`) and patterns with other characters are checked as `str`, line by line.
        """
        check: Callable[[str], bool]
        if t.kind == "text":
            needle = t.value
            source, flags = re.escape(needle), re.MULTILINE | re.IGNORECASE

            def check(s: str) -> bool:
                return needle in s.lower()

            if not needle.isascii():  # only lines with non-ASCII text can contain it
                hit = np.zeros(len(cand), dtype=bool)
            elif needle.lower() == needle.upper():  # no letters: case does not matter
                literal = re.escape(needle.encode())
                hit = self._scan(re.compile(literal), re.compile(literal + rb"[^\n]*"), cand)
            else:
                hit = self._scan_folded(needle.encode(), cand)
            self._recheck_wide(hit, cand, check)
            return hit
        else:
            rx = re.compile(t.value, t.flags)
            source, flags = t.value, re.MULTILINE | t.flags

            def check(s: str) -> bool:
                return rx.search(s) is not None

            if not source.isascii():
                return self._search_lines(check, cand)
        lead = _GLOBAL_FLAGS.match(source)
        head, body = (lead.group(0), source[lead.end() :]) if lead else ("", source)
        try:
            pattern = re.compile(source.encode(), flags)
            # `[^\n]*` eats the rest of the line: at most one match per line in a scan
            whole = re.compile(f"{head}(?:{body})[^\\n]*".encode(), flags)
        except re.error:  # valid over str but not over bytes: test line by line as text
            return self._search_lines(check, cand)
        hit = self._scan(pattern, whole, cand)
        self._recheck_wide(hit, cand, check)
        return hit

    def _scan(
        self, pattern: re.Pattern[bytes], whole: re.Pattern[bytes], cand: IntArray
    ) -> npt.NDArray[np.bool_]:
        off = self._off.view
        buf = self._buf
        first, last = int(cand[0]), int(cand[-1])
        if len(cand) < _PER_LINE_BELOW * (last - first + 1) or len(cand) < 64:
            search = pattern.search
            starts = off[cand].tolist()
            ends = (off[cand + 1] - 1).tolist()
            return np.fromiter(
                (search(buf, s, e) is not None for s, e in zip(starts, ends, strict=True)),
                dtype=bool,
                count=len(cand),
            )
        # one scan over the buffer between the first and last candidate
        lo, hi = int(off[first]), int(off[last + 1])
        flat = np.fromiter(
            chain.from_iterable(m.span() for m in whole.finditer(buf, lo, hi)), dtype=np.int64
        )
        if not len(flat):
            return np.zeros(len(cand), dtype=bool)
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
        return np.isin(cand, matched)

    def _scan_folded(self, needle: bytes, cand: IntArray) -> npt.NDArray[np.bool_]:
        """Which candidate (ASCII) lines contain `needle` (lower case), ignoring ASCII case.

        `re.IGNORECASE` loses the literal fast path (about 6x slower), so the buffer is
        lower-cased a chunk at a time and searched for the literal."""
        off = self._off.view
        buf = self._buf
        first, last = int(cand[0]), int(cand[-1])
        if len(cand) < _PER_LINE_BELOW * (last - first + 1) or len(cand) < 64:
            starts = off[cand].tolist()
            ends = (off[cand + 1] - 1).tolist()
            return np.fromiter(
                (needle in buf[s:e].lower() for s, e in zip(starts, ends, strict=True)),
                dtype=bool,
                count=len(cand),
            )
        whole = re.compile(re.escape(needle) + rb"[^\n]*")
        found: list[IntArray] = []
        lo, hi = int(off[first]), int(off[last + 1])
        while lo < hi:
            end = buf.find(b"\n", min(hi, lo + _FOLD_CHUNK) - 1, hi) + 1 or hi
            chunk = buf[lo:end].lower()
            starts = np.fromiter((m.start() for m in whole.finditer(chunk)), dtype=np.int64)
            found.append(starts + lo)
            lo = end
        matched = np.searchsorted(off, np.concatenate(found), side="right") - 1
        return np.isin(cand, matched)

    def _recheck_wide(
        self, hit: npt.NDArray[np.bool_], cand: IntArray, check: Callable[[str], bool]
    ) -> None:
        """Decide the candidates with non-ASCII text as `str` (in place)."""
        wide = self._wide.view
        if not len(wide):
            return
        pos = np.flatnonzero(np.isin(cand, wide))
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
            return min(line, max(0, self._ticks.n - 1))
        return int(np.searchsorted(self._index.view, line, side="left"))

    def _top_line(self) -> int | None:
        row = int(self.scroll_y)
        if row >= self._rows():
            return None
        return self.line_at(row)

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self._max_width + 1, self._rows())

    def _scroll_end(self) -> None:
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    def on_resize(self) -> None:
        self._strips.clear()
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
        self._strips.clear()

    def _style(self, name: str) -> Style:
        style = self._style_cache.get(name)
        if style is None:
            style = self._style_cache[name] = self.get_component_rich_style(
                f"log-explorer--{name}", partial=True
            )
        return style

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        rich_style = self.rich_style
        if row >= self._rows() or row < 0:
            return Strip.blank(width, rich_style)
        line = self.line_at(row)
        strip = self._strips.get(line)
        if strip is None:
            strip = self._render_strip(line)
            self._strips[line] = strip
            if len(self._strips) > _CACHE_LINES:
                self._strips.popitem(last=False)
        return strip.crop_extend(scroll_x, scroll_x + width, rich_style).apply_style(rich_style)

    def _render_strip(self, line: int) -> Strip:
        text = self.line_text(line).translate(_CONTROLS)
        level = int(self._lvl.view[line])
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
