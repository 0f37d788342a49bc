"""What stops a player's statement that would cost too much: a deadline, growth and work caps.

The step budget counts VM instructions, so it cannot stop one heavy built-in call (a
`printf('%.*c', 2000000000, 'x')` loops for seconds inside a single instruction), and nothing
counts what a write adds to the files. Three guards cover that:

- `Watch`: a timer thread that calls `Connection.interrupt()` when a statement runs past its
  deadline, or when the database files (main, -wal, -journal) have grown by more
  than the transaction's allowance. SQLite checks the interrupt between instructions, so a
  single long call still runs to its end; hence
- `Guarded` replaces the few built-in functions whose one call can run long on values within
  the size limit: `printf` / `format` with a huge width or precision, and the searches
  (`instr`, `replace`, `trim`, `ltrim`, `rtrim`, `like`, `glob`) whose work grows with the
  product of their arguments' lengths. Within bounds they call SQLite's own function, so results are the same.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Guarded", "Watch"]

_WIDTH = re.compile(r"%[-+ #!0,]*(\*|\d+)?(?:\.(\*|\d*))?")
_WORK_CAP = 50_000_000
"""Largest product of argument lengths a search function may take on in one call."""
_SEARCHES = {
    "instr": (2,),
    "replace": (3,),
    "trim": (2,),
    "ltrim": (2,),
    "rtrim": (2,),
    "like": (2, 3),
    "glob": (2,),
}
"""Guarded searches and their arities. `x LIKE p` and `x GLOB p` call like(p, x) and glob(p, x):
a pattern `%aaa...b` tries its whole length at every character of the value (80,000 by 8,000
characters took 2 s in one call, so the largest values allowed would take about 40 s)."""


class Watch:
    """Interrupts the statement running on `conn` past `deadline_s` or past `max_growth` bytes.

    Use as a context manager around one statement, in the thread that runs it; `reason` then
    says what stopped it ("deadline" or "growth"), or None.

    The deadline counts the CPU time of that thread where the platform gives a thread's CPU
    clock (Linux, macOS, the BSDs), and wall time elsewhere. A busy machine stretches wall
    time, not the work a statement does, so a statement that finishes on a quiet machine also
    finishes on a loaded one, and a game replays the same wherever it runs.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        deadline_s: float | None,
        files: Sequence[str] = (),
        baseline: int = 0,
        max_growth: int | None = None,
    ) -> None:
        self.conn = conn
        self.deadline_s = deadline_s
        self.files = tuple(files)
        self.baseline = baseline
        self.max_growth = max_growth if files else None
        self.reason: str | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._clock: int | None = None
        self._started = 0.0

    def __enter__(self) -> Watch:
        if self.deadline_s is not None:
            self._clock = cpu_clock()
            if self._clock is not None:
                self._started = time.clock_gettime(self._clock)
        if self.deadline_s is not None or self.max_growth is not None:
            self._thread = threading.Thread(target=self._run, name="sql-watch", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        # The simulation never reads the clock: the deadline is counted in waits, each of
        # which lasts at least `period`, so it is never reached early.
        period = 0.02 if self.deadline_s is None else min(0.02, self.deadline_s / 20)
        waits = None if self.deadline_s is None else max(1, round(self.deadline_s / period))
        n = 0
        while not self._done.wait(period):
            n += 1
            reason = None
            if self._past_deadline(n, waits):
                reason = "deadline"
            elif (
                self.max_growth is not None
                and size_of(self.files) - self.baseline > self.max_growth
            ):
                reason = "growth"
            if reason is not None:
                with self._lock:  # never interrupt a later statement: only while this one runs
                    if not self._done.is_set():
                        self.reason = reason
                        self.conn.interrupt()
                return

    def _past_deadline(self, waits_done: int, waits: int | None) -> bool:
        if self.deadline_s is None or waits is None:
            return False
        if self._clock is None:
            return waits_done >= waits
        try:
            used = time.clock_gettime(self._clock) - self._started
        except OSError:  # the thread is gone: its statement is over
            return False
        return used >= self.deadline_s


def cpu_clock() -> int | None:
    """The CPU-time clock of the calling thread, or None where the platform has none."""
    getter = getattr(time, "pthread_getcpuclockid", None)
    if getter is None:
        return None
    try:
        clock: int = getter(threading.get_ident())
        time.clock_gettime(clock)
    except (OSError, OverflowError):
        return None
    return clock


def size_of(files: Sequence[str]) -> int:
    """Bytes of the files that exist among `files`."""
    total = 0
    for f in files:
        with contextlib.suppress(OSError):
            total += os.stat(f).st_size
    return total


class Guarded:
    """Registers the guarded built-ins on a connection; `refusal` says why a call was refused."""

    def __init__(self, conn: sqlite3.Connection, max_value_bytes: int) -> None:
        self.max_value_bytes = max_value_bytes
        self.refusal: str | None = None
        self._real = sqlite3.connect(":memory:", check_same_thread=False)
        self._real.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_value_bytes)
        like = sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH  # the player's limit holds in here too
        self._real.setlimit(like, conn.getlimit(like))
        for name in ("printf", "format"):
            conn.create_function(name, -1, self._printf(name), deterministic=True)
        for name, arities in _SEARCHES.items():
            for n in arities:
                conn.create_function(name, n, self._search(name, n), deterministic=True)

    def close(self) -> None:
        self._real.close()

    def reset(self) -> None:
        self.refusal = None

    def _call(self, name: str, args: tuple[Any, ...]) -> Any:
        marks = ", ".join("?" * len(args))
        try:
            return self._real.execute(f"SELECT {name}({marks})", args).fetchone()[0]
        except sqlite3.DataError:
            self._refuse(
                f"stopped: a value would be larger than the limit of {self.max_value_bytes:,} bytes"
            )
        except sqlite3.Error as e:
            self._refuse(f"{name}(): {e}")

    def _refuse(self, message: str) -> None:
        if self.refusal is None:
            self.refusal = message
        raise ValueError(message)

    def _printf(self, name: str) -> Callable[..., Any]:
        def printf(*args: Any) -> Any:
            if not args or args[0] is None:
                return self._call(name, args)
            fmt = args[0]
            if isinstance(fmt, bytes):
                fmt = fmt.decode("utf-8", "replace")
            fmt = str(fmt)
            sizes: list[int] = []
            star = False
            for m in _WIDTH.finditer(fmt):
                for part in m.groups():
                    if part == "*":
                        star = True
                    elif part:
                        sizes.append(int(part))
            if star:  # any argument could be a width: check every one that is a number
                sizes.extend(self._as_int(a) for a in args[1:])
            cap = self.max_value_bytes
            if any(abs(s) > cap or abs(_int32(s)) > cap for s in sizes):
                self._refuse(
                    f"stopped: a value would be larger than the limit of {cap:,} bytes "
                    f"(a width or precision of {name}())"
                )
            return self._call(name, args)

        return printf

    def _as_int(self, value: Any) -> int:
        if isinstance(value, int):
            return value
        if value is None:
            return 0
        row = self._real.execute("SELECT CAST(? AS INTEGER)", (value,)).fetchone()
        return int(row[0] or 0)

    def _search(self, name: str, n: int) -> Callable[..., Any]:
        def search(*args: Any) -> Any:
            lengths = [len(a) if isinstance(a, str | bytes) else 24 for a in args[:2]]
            if lengths[0] * max(lengths[1], 1) > _WORK_CAP:
                self._refuse(
                    f"stopped: {name}() on values this long would take too long "
                    f"({lengths[0]:,} by {lengths[1]:,} characters); use shorter values"
                )
            return self._call(name, args)

        return search


def _int32(v: int) -> int:
    """`v` as SQLite's printf sees it after casting a 64-bit argument to a C int."""
    return ((v & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
