"""Structured log lines written by the components, kept as columns for fast filtering.

A line reads like what real services print:
`2026-03-14T03:12:07.123Z ERROR billing-6f9c4-2 msg="charge failed" order_id=ord_8812 ...`

The store keeps the part after the level (instance and message) once, as UTF-8 in one
byte buffer where each message is followed by a newline, with a numpy array of the
offset where each starts; the tick, millisecond, service and level of each line are
columns beside it. The timestamp and level are rendered when a line is read (or, for
many lines at once, with numpy: `prefixes`, `rendered`, `prefix_match`). Views filter
the columns with numpy masks and search the buffer with one regular expression,
without a Python object per line; they read the arrays in place (`LogStore.arrays`),
never a copy.

Lines arrive a tick at a time: components `emit` them (or append to `pending`), and
`flush` orders the tick's lines by their millisecond and keeps the tick as a few
bytes objects (the joined text, packed columns); these move into the buffer and the
columns, in bulk, when the store is next read. Buffer and columns are numpy arrays
grown by doubling into new memory, so a view taken earlier stays valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from operator import add, itemgetter
from struct import pack
from typing import Any, NamedTuple, Self, overload

import numpy as np
import numpy.typing as npt

LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")
DEBUG, INFO, WARN, ERROR, FATAL = range(5)
_PADDED = tuple(f"{lv:<5}" for lv in LEVELS)

PREFIX_LEN = 31
"""A rendered line is `YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL ` (31 characters), then the message."""
_STAMP_LEN = 19
"""`YYYY-MM-DDTHH:MM:SS`, the part of the prefix that depends on the tick."""
_DIGITS = frozenset("0123456789")
PREFIX_CHARS: tuple[frozenset[str], ...] = (
    *(_DIGITS if c == "d" else frozenset(c) for c in "dddd-dd-ddTdd:dd:dd.dddZ "),
    *(frozenset(p[i] for p in _PADDED) for i in range(5)),
    frozenset(" "),
)
"""The characters each position of a rendered line's prefix can hold (lines in `special` aside)."""
assert len(PREFIX_CHARS) == PREFIX_LEN

_RENDER_BLOCK = 1 << 16
"""Lines rendered at a time when all lines are read."""

_MS_Z = np.frombuffer(b"".join(b"%03dZ " % m for m in range(1000)), np.uint8).reshape(1000, 5)
"""`mmmZ ` for each millisecond."""
_LEVEL_TAIL = np.frombuffer(b"".join(f"{p} ".encode() for p in _PADDED), np.uint8).reshape(-1, 6)
"""`LEVEL ` (padded to five) for each level."""

IntArray = npt.NDArray[np.int64]

OFFSETS_32_BELOW = 1 << 31
"""Offsets are kept as uint32 (4 bytes a line) while the buffer is smaller than this, then int64."""


class LogArrays(NamedTuple):
    """The store's arrays as of one moment (views of its own memory, valid until lines are added;
    never modify them)."""

    text: npt.NDArray[np.uint8]
    """Each line's message (instance and message, UTF-8) followed by a newline, one after the other."""
    offsets: npt.NDArray[Any]
    """Line `i`'s message is `text[offsets[i] : offsets[i + 1] - 1]`; one more entry than lines
    (uint32 while the buffer is under `OFFSETS_32_BELOW` bytes, then int64)."""
    ticks: npt.NDArray[np.int32]
    ms: npt.NDArray[np.uint16]
    services: npt.NDArray[np.uint8]
    levels: npt.NDArray[np.uint8]
    special: IntArray
    """Lines (sorted) whose bytes do not stand 1:1 for their text, to be searched as `str`
    (`LogStore.render`): non-ASCII text, a newline inside the message (stored as a space), a
    millisecond above 999, or a timestamp that is not `YYYY-MM-DDTHH:MM:SS`."""


class _Column:
    """A growable numpy array (amortised O(1) appends; grown into new memory, so that views
    taken earlier stay valid)."""

    __slots__ = ("_a", "n")

    def __init__(self, dtype: npt.DTypeLike, data: npt.NDArray[Any] | None = None) -> None:
        self._a: npt.NDArray[Any] = (
            np.zeros(0, dtype=dtype) if data is None else np.asarray(data, dtype=dtype)
        )
        self.n = len(self._a)

    def extend(self, values: npt.ArrayLike) -> None:
        v = np.asarray(values, dtype=self._a.dtype)
        need = self.n + len(v)
        if need > len(self._a) or not self._a.flags.writeable:
            grown = np.empty(max(need, 2 * len(self._a), 1024), dtype=self._a.dtype)
            grown[: self.n] = self._a[: self.n]
            self._a = grown
        self._a[self.n : need] = v
        self.n = need

    @property
    def view(self) -> npt.NDArray[Any]:
        v = self._a[: self.n]
        v.flags.writeable = False
        return v

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._a.dtype


class Lines(Sequence[str]):
    """The stored lines, rendered as text when read (timestamp, level, instance, message)."""

    def __init__(self, store: LogStore) -> None:
        self._s = store

    def __len__(self) -> int:
        return len(self._s)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        n = len(self)
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            if step == 1:
                return self._s.render_range(start, max(start, stop))
            return [self._s.render(j) for j in range(start, stop, step)]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self._s.render(i)

    def __iter__(self) -> Iterator[str]:
        n = len(self)
        for a in range(0, n, _RENDER_BLOCK):
            yield from self._s.render_range(a, min(n, a + _RENDER_BLOCK))


class _Dropped(list[tuple[int, int, int, str]]):
    """The lines of a muted store: whatever is added goes nowhere, so it stays empty."""

    def append(self, item: object) -> None:
        pass

    def extend(self, items: object) -> None:
        pass

    def __iadd__(self, items: Iterable[tuple[int, int, int, str]]) -> Self:  # type: ignore[override,misc]
        return self


class LogStore:
    """Lines stored as columns (tick, millisecond, service, level) beside one buffer of messages,
    the way a log store keeps them; rendered on read. The message text itself is formatted once,
    when emitted."""

    muted = False
    """Whether lines are still kept (see `mute`)."""

    def __init__(self, start: datetime) -> None:
        self._setup(start)

    def _setup(self, start: datetime) -> None:
        self.start = start
        self.lines = Lines(self)
        self.service_names: list[str] = []
        self._service_ids: dict[str, int] = {}
        self.pending: list[tuple[int, int, int, str]] = []
        """Lines of the current tick: (ms, service id, level, `instance message`)."""
        self._tail: list[tuple[int, bytes, bytes, bytes, bytes]] = []
        """Flushed ticks not yet in the columns: (tick, text, ms, service ids, levels)."""
        self._tail_n = 0
        self._tail_special: list[int] = []
        self._text = _Column(np.uint8)
        self._off = _Column(np.uint32, np.zeros(1, dtype=np.uint32))
        self._ticks = _Column(np.int32)
        self._ms = _Column(np.uint16)
        self._services = _Column(np.uint8)
        self._levels = _Column(np.uint8)
        self._special = _Column(np.int64)
        self._raw: dict[int, str] = {}
        """The text of lines whose message holds a newline (the buffer has a space there)."""
        self._ts_tick = -1
        self._ts = ""
        wall = start.replace(tzinfo=None, microsecond=0)
        self._wall0 = np.datetime64(wall, "s")
        self._iso = 1000 <= wall.year <= 9998
        """Timestamps render as `YYYY-MM-DDTHH:MM:SS` (four-digit years): the fixed-width prefix holds."""

    # ------------------------------------------------------------------ writing

    def service_id(self, name: str) -> int:
        sid = self._service_ids.get(name)
        if sid is None:
            sid = len(self.service_names)
            self.service_names.append(name)
            self._service_ids[name] = sid
        return sid

    def mute(self) -> None:
        """Keep no more lines, from this tick on. For a play nobody will read further: the rest
        of a headless play measured to its horizon after its last command (`dojo check`, `dojo
        run`, the debrief's comparison runs). The components still draw every random number
        a line would have used, so the run is the same in everything but these lines; those
        that format lines themselves skip the formatting (`muted`)."""
        self.muted = True
        self.pending = _Dropped()

    def emit(self, tick: int, ms: int, sid: int, level: int, text: str) -> None:
        """Buffer one line (`instance message`) of the current tick; `flush` writes them in time order."""
        self.pending.append((ms, sid, level, text))

    def flush(self, tick: int) -> None:
        """Write the buffered lines as lines of `tick`, ordered by their millisecond within it."""
        items = self.pending
        if not items:
            return
        self.pending = []
        items.sort(key=_ms)  # stable: lines of the same millisecond keep their emission order
        # every line is a 4-tuple; zip without strict= takes its arguments without keywords
        ms, services, levels, texts = zip(*items)  # noqa: B905
        n = len(texts)
        joined = "\n".join(texts)
        # ASCII with no newline inside a message (`in` finds a character with memchr, where
        # counting newlines would test every character); each line's length in bytes is where
        # its newline is, found when the tick is settled
        if not joined.isascii() or "\n" in "".join(texts):
            joined = self._odd_texts(texts)
        self._tail.append(
            (
                tick,
                joined.encode("utf-8", "surrogatepass"),
                pack(f"{n}H", *ms),
                bytes(services),
                bytes(levels),
            )
        )
        self._tail_n += n

    def _odd_texts(self, texts: tuple[str, ...]) -> str:
        """For a tick with non-ASCII text or a newline in a message: the texts joined by newlines
        (a newline in a message stored as a space); such lines are special."""
        first = self._ticks.n + self._tail_n
        out = []
        for i, t in enumerate(texts):
            if "\n" in t:
                self._raw[first + i] = t
                t = t.replace("\n", " ")
                self._tail_special.append(first + i)
            elif not t.isascii():
                self._tail_special.append(first + i)
            out.append(t)
        return "\n".join(out)

    def _settle(self) -> None:
        """Move the flushed ticks into the buffer and the columns, all at once."""
        tail = self._tail
        if not tail:
            return
        self._tail = []
        first = self._ticks.n
        new = self._tail_n
        self._tail_n = 0
        ticks, texts, ms_parts, service_parts, level_parts = zip(*tail, strict=True)
        counts = [len(p) for p in service_parts]
        text = np.frombuffer(b"\n".join((*texts, b"")), dtype=np.uint8)
        # each message is followed by a newline, and a message holds none (UTF-8 never has the
        # byte inside a character, and a newline in a message was stored as a space): a line ends
        # after its newline
        ends = int(self._off.view[-1]) + 1 + np.flatnonzero(text == 10)
        if self._off.dtype == np.uint32 and ends[-1] >= OFFSETS_32_BELOW:
            self._off = _Column(np.int64, self._off.view.astype(np.int64))
        self._off.extend(ends)
        self._text.extend(text)
        self._ticks.extend(np.repeat(np.array(ticks, dtype=np.int32), counts))
        ms = np.frombuffer(b"".join(ms_parts), dtype=np.uint16)
        self._ms.extend(ms)
        self._services.extend(np.frombuffer(b"".join(service_parts), dtype=np.uint8))
        self._levels.extend(np.frombuffer(b"".join(level_parts), dtype=np.uint8))
        special = [np.array(self._tail_special, dtype=np.int64)]
        self._tail_special = []
        if int(ms.max()) > 999:
            special.append(np.flatnonzero(ms > 999) + first)
        if not self._iso:
            special.append(np.arange(first, first + new, dtype=np.int64))
        found = np.unique(np.concatenate(special))
        if len(found):
            self._special.extend(found)

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return self._ticks.n + self._tail_n

    def arrays(self) -> LogArrays:
        """The buffer and the columns as they are now (read-only views, no copy; lines added
        later go to new memory, so views stay valid and only lack the newer lines)."""
        self._settle()
        return LogArrays(
            self._text.view,
            self._off.view,
            self._ticks.view,
            self._ms.view,
            self._services.view,
            self._levels.view,
            self._special.view,
        )

    @property
    def ticks(self) -> Sequence[int]:
        """The tick of each line (read-only)."""
        return self.arrays().ticks.data

    @property
    def ms(self) -> Sequence[int]:
        """The millisecond of each line within its tick."""
        return self.arrays().ms.data

    @property
    def services(self) -> Sequence[int]:
        """The service id of each line (`service_names[id]`)."""
        return self.arrays().services.data

    @property
    def levels(self) -> Sequence[int]:
        """The level of each line (an index into `LEVELS`)."""
        return self.arrays().levels.data

    @property
    def nbytes(self) -> int:
        """Bytes the stored lines take (buffer, offsets and columns, without spare capacity)."""
        arr = self.arrays()
        return sum(a.nbytes for a in arr)

    def timestamp(self, tick: int) -> str:
        """ISO-8601 second-resolution timestamp of a tick, without the zone."""
        return (self.start + timedelta(seconds=tick)).strftime("%Y-%m-%dT%H:%M:%S")

    def message(self, i: int) -> str:
        """Line `i` without its timestamp and level (`instance message`)."""
        self._settle()
        if self._raw:
            raw = self._raw.get(i)
            if raw is not None:
                return raw
        off = self._off.view
        return self._text.view[off[i] : off[i + 1] - 1].tobytes().decode("utf-8", "surrogatepass")

    def level(self, i: int) -> int:
        """The level of line `i` (an index into `LEVELS`), without building the arrays' views."""
        self._settle()
        return int(self._levels.view[i])

    def render(self, i: int) -> str:
        """Line `i` as text: `timestamp.mmmZ LEVEL instance message`."""
        msg = self.message(i)
        tick = int(self._ticks.view[i])
        if tick != self._ts_tick:
            self._ts_tick, self._ts = tick, self.timestamp(tick)
        return f"{self._ts}.{int(self._ms.view[i]):03d}Z {_PADDED[self._levels.view[i]]} {msg}"

    def render_range(self, a: int, b: int) -> list[str]:
        """Lines `a` to `b` (exclusive) as text, rendered in bulk."""
        arr = self.arrays()
        if b <= a:
            return []
        off = arr.offsets
        msgs = bytes(arr.text[off[a] : off[b]]).decode("utf-8", "surrogatepass").split("\n")
        msgs.pop()  # after the last newline
        if self._raw:
            for i in range(a, b):
                raw = self._raw.get(i)
                if raw is not None:
                    msgs[i - a] = raw
        stamps: dict[int, str] = {}
        out: list[str] = []
        append = out.append
        for tick, ms, level, msg in zip(
            arr.ticks[a:b].tolist(),
            arr.ms[a:b].tolist(),
            arr.levels[a:b].tolist(),
            msgs,
            strict=True,
        ):
            ts = stamps.get(tick)
            if ts is None:
                ts = stamps[tick] = self.timestamp(tick)
            append(f"{ts}.{ms:03d}Z {_PADDED[level]} {msg}")
        return out

    def prefixes(
        self, lines: npt.ArrayLike, start: int = 0, stop: int = PREFIX_LEN + 1
    ) -> npt.NDArray[np.uint8]:
        """The rendered prefix (`timestamp.mmmZ LEVEL `) of the given lines, each followed by a
        newline, or its columns `start` to `stop`: shape (len(lines), stop - start). Lines in
        `special` may not match their text."""
        arr = self.arrays()
        rows = np.asarray(lines, dtype=np.int64)
        out = np.empty((len(rows), PREFIX_LEN + 1), dtype=np.uint8)
        if not len(rows):
            return out[:, start:stop]
        if start < _STAMP_LEN:
            ticks = arr.ticks[rows]
            # runs of one tick (lines come in tick order; any order still gives right stamps)
            first = np.empty(len(ticks), dtype=bool)
            first[0] = True
            np.not_equal(ticks[1:], ticks[:-1], out=first[1:])
            out[:, :_STAMP_LEN] = self._stamps(ticks[first])[np.cumsum(first) - 1]
        out[:, _STAMP_LEN] = ord(".")
        if start < 25 and stop > 20:
            out[:, 20:25] = _MS_Z[np.minimum(arr.ms[rows], 999)]
        if stop > 25:
            out[:, 25:PREFIX_LEN] = _LEVEL_TAIL[arr.levels[rows]]
        out[:, PREFIX_LEN] = ord("\n")
        return out[:, start:stop]

    def prefix_match(
        self,
        lines: npt.ArrayLike,
        tables: Sequence[npt.NDArray[np.bool_]],
        starts: Sequence[int],
    ) -> list[npt.NDArray[np.bool_]]:
        """For each of `starts`: which of the given lines have, from that column of their prefix
        on, characters that pass `tables` one after the other (table[byte]: passes) until the
        prefix ends. Worked out per tick, millisecond and level, not per line. Lines in `special`
        may not match their text."""
        arr = self.arrays()
        rows = np.asarray(lines, dtype=np.int64)
        n = len(rows)
        run_of: IntArray | None = None
        stamps: npt.NDArray[np.uint8] | None = None
        out = []
        for start in starts:
            ok = np.ones(n, dtype=bool)
            end = min(PREFIX_LEN, start + len(tables))
            stamp_cols = range(start, min(end, _STAMP_LEN))
            if stamp_cols:
                if stamps is None:
                    ticks = arr.ticks[rows]
                    first = np.ones(n, dtype=bool)
                    np.not_equal(ticks[1:], ticks[:-1], out=first[1:])
                    stamps = self._stamps(ticks[first])  # one per run of a tick
                    run_of = np.cumsum(first) - 1
                runs_ok = np.ones(len(stamps), dtype=bool)
                for c in stamp_cols:
                    runs_ok &= tables[c - start][stamps[:, c]]
                assert run_of is not None
                ok &= runs_ok[run_of]
            if start <= _STAMP_LEN < end and not tables[_STAMP_LEN - start][ord(".")]:
                ok[:] = False
            ms_cols = range(max(start, 20), min(end, 25))
            if ms_cols:
                ms_ok = np.ones(len(_MS_Z), dtype=bool)
                for c in ms_cols:
                    ms_ok &= tables[c - start][_MS_Z[:, c - 20]]
                ok &= ms_ok[np.minimum(arr.ms[rows], 999)]
            level_cols = range(max(start, 25), end)
            if level_cols:
                level_ok = np.ones(len(_LEVEL_TAIL), dtype=bool)
                for c in level_cols:
                    level_ok &= tables[c - start][_LEVEL_TAIL[:, c - 25]]
                ok &= np.take(level_ok, arr.levels[rows], mode="clip")
            out.append(ok)
        return out

    def _stamps(self, ticks: npt.NDArray[np.int32]) -> npt.NDArray[np.uint8]:
        """`YYYY-MM-DDTHH:MM:SS` of each tick: shape (len(ticks), 19)."""
        if self._iso:
            iso = np.datetime_as_string(self._wall0 + ticks.astype("timedelta64[s]"), unit="s")
            stamps = iso.astype(f"S{_STAMP_LEN}")
        else:  # the lines are all special; keep the shape
            stamps = np.array([self.timestamp(int(t))[:_STAMP_LEN] for t in ticks], dtype="S19")
        return np.frombuffer(stamps.tobytes(), dtype=np.uint8).reshape(-1, _STAMP_LEN)

    def rendered(self, lines: npt.ArrayLike) -> tuple[bytes, IntArray]:
        """The given lines rendered in full, as UTF-8, each followed by a newline, with the offset
        of each in the result (one more than lines). Lines in `special` may not match their text."""
        arr = self.arrays()
        rows = np.asarray(lines, dtype=np.int64)
        off = arr.offsets
        heads = self.prefixes(rows).tobytes().split(b"\n")
        msgs: list[Any]
        if len(rows) and int(rows[-1]) - int(rows[0]) + 1 == len(rows):  # a range: cut in bulk
            msgs = bytes(arr.text[off[rows[0]] : off[rows[-1] + 1]]).split(b"\n")
        else:
            mem = arr.text.data
            ends = (off[rows + 1] - 1).tolist()
            msgs = [mem[a:b] for a, b in zip(off[rows].tolist(), ends, strict=True)]
            msgs.append(b"")
        blob = b"\n".join(map(add, heads, msgs))
        sizes = off[rows + 1] - off[rows] + PREFIX_LEN
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        return blob, offsets

    def since(self, tick: int) -> int:
        """Index of the first line at or after `tick` (lines are in tick order)."""
        return int(np.searchsorted(self.arrays().ticks, tick, side="left"))

    # ------------------------------------------------------------------ copies

    def copy(self, stop: int | None = None) -> LogStore:
        """A new store holding copies of the first `stop` lines (all by default)."""
        arr = self.arrays()
        n = len(arr.ticks) if stop is None else max(0, min(stop, len(arr.ticks)))
        other = LogStore(self.start)
        for name in self.service_names:
            other.service_id(name)
        other._load(arr, n, {i: t for i, t in self._raw.items() if i < n})
        return other

    def _load(self, arr: LogArrays, n: int, raw: dict[int, str], copy: bool = True) -> None:
        """Take the first `n` lines of `arr`: copies, or the arrays themselves (`copy=False`, for
        arrays nobody else holds)."""

        def own(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return a.copy() if copy else a

        off = arr.offsets[: n + 1]
        self._text = _Column(np.uint8, own(arr.text[: off[-1]]))
        self._off = _Column(off.dtype, own(off))
        self._ticks = _Column(np.int32, own(arr.ticks[:n]))
        self._ms = _Column(np.uint16, own(arr.ms[:n]))
        self._services = _Column(np.uint8, own(arr.services[:n]))
        self._levels = _Column(np.uint8, own(arr.levels[:n]))
        self._special = _Column(np.int64, arr.special[arr.special < n].copy())
        self._raw = raw

    def __getstate__(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "service_names": list(self.service_names),
            "pending": list(self.pending),
            "arrays": self.arrays()._asdict(),
            "raw": self._raw,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(state["start"])
        for name in state["service_names"]:
            self.service_id(name)
        self.pending = state["pending"]
        arr = LogArrays(**state["arrays"])
        self._load(arr, len(arr.ticks), state["raw"], copy=False)  # unpickled: ours alone


_ms = itemgetter(0)
"""The millisecond of a pending line."""


def parse_start(text: str) -> datetime:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
