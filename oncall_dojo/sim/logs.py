"""Structured log lines written by the components, kept with columns for fast filtering.

A line reads like what real services print:
`2026-03-14T03:12:07.123Z ERROR billing-6f9c4-2 msg="charge failed" order_id=ord_8812 ...`
Each line is stored once as text, with its tick, service and level in parallel
arrays so that views can filter by column without parsing text.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from struct import pack
from typing import overload

LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")
DEBUG, INFO, WARN, ERROR, FATAL = range(5)
_PADDED = tuple(f"{lv:<5}" for lv in LEVELS)


@dataclass(frozen=True)
class LogLine:
    tick: int
    service: str
    level: str
    text: str


class Lines(Sequence[str]):
    """The stored lines, rendered as text when read (timestamp, level, instance, message)."""

    def __init__(self, store: LogStore) -> None:
        self._s = store

    def __len__(self) -> int:
        return len(self._s.msgs)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self._s.render(j) for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._s.render(i)


class LogStore:
    """Lines are stored as columns (tick, millisecond, service, level, message) and rendered on read,
    the way a log store keeps them; the message text itself is formatted once, when emitted."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.msgs: list[str] = []
        """`instance message` of each line."""
        self.ms = array("H")
        self.lines = Lines(self)
        self.ticks = array("i")
        self.services = array("B")
        self.levels = array("B")
        self.service_names: list[str] = []
        self._service_ids: dict[str, int] = {}
        self._ts_tick = -1
        self._ts = ""
        self.pending: list[tuple[int, int, int, str]] = []
        """Lines of the current tick: (ms, service id, level, `instance message`)."""

    def service_id(self, name: str) -> int:
        sid = self._service_ids.get(name)
        if sid is None:
            sid = len(self.service_names)
            self.service_names.append(name)
            self._service_ids[name] = sid
        return sid

    def timestamp(self, tick: int) -> str:
        """ISO-8601 second-resolution timestamp of a tick, without the zone."""
        return (self.start + timedelta(seconds=tick)).strftime("%Y-%m-%dT%H:%M:%S")

    def emit(self, tick: int, ms: int, sid: int, level: int, text: str) -> None:
        """Buffer one line (`instance message`) of the current tick; `flush` writes them in time order."""
        self.pending.append((ms, sid, level, text))

    def flush(self, tick: int) -> None:
        """Write the buffered lines of `tick`, ordered by their millisecond within it."""
        items = self.pending
        if not items:
            return
        self.pending = []
        items.sort(key=_ms)  # stable: lines of the same millisecond keep their emission order
        ms, services, levels, msgs = zip(*items, strict=True)
        n = len(items)
        self.msgs += msgs
        # whole columns at once (`extend` would convert and check each number on its own)
        self.ms.frombytes(pack(f"{n}H", *ms))
        self.ticks.extend(array("i", (tick,)) * n)
        self.services.frombytes(bytes(services))
        self.levels.frombytes(bytes(levels))

    def __len__(self) -> int:
        return len(self.msgs)

    def render(self, i: int) -> str:
        tick = self.ticks[i]
        if tick != self._ts_tick:
            self._ts_tick, self._ts = tick, self.timestamp(tick)
        return f"{self._ts}.{self.ms[i]:03d}Z {_PADDED[self.levels[i]]} {self.msgs[i]}"

    def since(self, tick: int) -> int:
        """Index of the first line at or after `tick` (lines are in tick order)."""
        lo, hi = 0, len(self.ticks)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.ticks[mid] < tick:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def search(
        self,
        *,
        service: str | None = None,
        min_level: int = DEBUG,
        text: str | None = None,
        regex: re.Pattern[str] | None = None,
        start: int = 0,
        end: int | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> Iterator[LogLine]:
        """Lines matching all given filters, between ticks `start` and `end` (exclusive)."""
        sid = self._service_ids.get(service, -1) if service else None
        ids: set[int] | None
        if service and sid == -1:
            # a prefix (e.g. "billing" for "billing-worker") is allowed
            ids = {i for n, i in self._service_ids.items() if n.startswith(service)}
        else:
            ids = {sid} if sid is not None else None
        lo = self.since(start)
        hi = len(self.msgs) if end is None else self.since(end)
        rng = range(hi - 1, lo - 1, -1) if newest_first else range(lo, hi)
        found = 0
        needle = text.lower() if text else None
        for i in rng:
            if ids is not None and self.services[i] not in ids:
                continue
            if self.levels[i] < min_level:
                continue
            line = self.render(i)
            if needle is not None and needle not in line.lower():
                continue
            if regex is not None and not regex.search(line):
                continue
            yield LogLine(
                self.ticks[i], self.service_names[self.services[i]], LEVELS[self.levels[i]], line
            )
            found += 1
            if limit is not None and found >= limit:
                return


_ms = itemgetter(0)
"""The millisecond of a pending line."""


def parse_start(text: str) -> datetime:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
