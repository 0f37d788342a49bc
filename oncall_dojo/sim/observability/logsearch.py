"""Evaluate a log query (`oncall_dojo.sim.observability.logquery`) over a `LogStore`, without a Python
object per line: the engine under the log explorer and the console's `logs`.

A query becomes a sorted numpy array of line numbers: time terms narrow the line
range by binary search (lines are in time order), service and level terms are numpy
masks over the columns, text and regex terms run one regex over the message buffer
(or over the few candidate lines), and match offsets map back to line numbers with
`np.searchsorted`. The buffer holds messages without their timestamp and level: a
term that could match there (`logprefix.prefix_fit`) is first tested on the lines'
prefixes (per tick, millisecond and level, with numpy); lines whose prefix can hold
the start of a match are decided on their whole line, rendered a block at a time, the
others on their message. Every term means the same as over each rendered line as
`str` (`needle in line.lower()`, `re.search(pattern, line)`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import chain
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from oncall_dojo.sim.observability.logprefix import PrefixFit, prefix_fit
from oncall_dojo.sim.observability.logquery import Query, Term
from oncall_dojo.sim.observability.logs import LEVELS, PREFIX_LEN, LogArrays, LogStore

__all__ = ["LineIndex", "LogSearch", "search"]

IntArray = npt.NDArray[np.int64]

_PER_LINE_BELOW = 0.02
"""Search candidate lines one by one when they are fewer than this share of the scanned range."""
_FOLD_CHUNK = 1 << 20
"""Bytes lower-cased at a time by a case-insensitive text search."""
_RENDER_BLOCK = 1 << 15
"""Lines rendered at a time for a term that may match the timestamp or level."""
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


class LogSearch:
    """One query over one store: `time_bounds`, then `lines` over any range of lines (the
    explorer filters a block at a time; the console all at once, with `search`)."""

    def __init__(self, store: LogStore, query: Query) -> None:
        self.store = store
        self.query = query

    def time_bounds(self, n: int) -> tuple[float, float]:
        """The tick interval [lo, hi] the time terms allow when the store has `n` lines (relative
        times count back from the newest of them)."""
        lo, hi = -np.inf, np.inf
        terms = self.query.of("since", "until", "at")
        if not terms:
            return lo, hi
        newest = int(self.store.arrays().ticks[n - 1]) if n else 0
        start = self.store.start
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

    def lines(self, a: int, b: int, n: int, bounds: tuple[float, float]) -> IntArray:
        """Line numbers in [a, b) that match the query (sorted), of the first `n` lines, within the
        tick interval `bounds` (`time_bounds`, narrowed further if need be)."""
        q = self.query
        arr = self.store.arrays()
        ticks = arr.ticks[:n]
        lo, hi = bounds
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
        inc = [t for t in q.of("service") if not t.negate]
        exc = [t for t in q.of("service") if t.negate]
        if not inc and not exc:
            return None
        names = [n.lower() for n in self.store.service_names] if self.store else []
        table = np.zeros(256, dtype=bool)

        def named(name: str, t: Term) -> bool:  # `service:=api` is exactly api
            return name == t.value if t.exact else name.startswith(t.value)

        for sid, name in enumerate(names):
            ok = not inc or any(named(name, t) for t in inc)
            if ok and any(named(name, t) for t in exc):
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
        tables = [
            np.fromiter((test(chr(b)) for b in range(256)), dtype=bool, count=256)
            for test in fit.tests[:PREFIX_LEN]
        ]
        may = np.zeros(len(cand), dtype=bool)
        sure = np.zeros(len(cand), dtype=bool)
        fits = self.store.prefix_match(cand, tables, fit.starts)
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
        out = np.zeros(len(cand), dtype=bool)
        for i in range(0, len(cand), _RENDER_BLOCK):
            block = cand[i : i + _RENDER_BLOCK]
            blob, offsets = self.store.rendered(block)
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
        text = self.store.render
        return np.fromiter((check(text(k)) for k in cand.tolist()), dtype=bool, count=len(cand))

    # ------------------------------------------------------------- scrolling


class LineIndex:
    """A growable sorted numpy array of line numbers (a filter's result; amortised O(1) append)."""

    def __init__(self, capacity: int = 1024) -> None:
        self._a = np.zeros(capacity, dtype=np.int64)
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


def search(store: LogStore, query: Query, since_tick: float = -np.inf) -> IntArray:
    """The lines of `store` that match `query` (sorted), none before tick `since_tick`."""
    engine = LogSearch(store, query)
    n = len(store)
    lo, hi = engine.time_bounds(n)
    return engine.lines(0, n, n, (max(lo, since_tick), hi))


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
