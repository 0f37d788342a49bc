"""The rest of a game, played ahead in a worker process while the player thinks.

When a player resolves, the system runs on to the incident's horizon and is scored
(`play.finish`), and the debrief waits for it: about 0.6 s of simulation for a 60-minute
incident resolved in its first minutes. Nothing the player does after resolving reaches
the system, and between two changes (a command, an inject, a team joining) only the clock
moves it. So from the system as the last change left it, the run to the horizon is the
same whenever the player resolves.

`Ahead` copies the system after every change (a pickle, as the plays' preludes are copied:
a copy plays byte for byte as the original would) and hands the copy to a worker process,
which runs it to the horizon and sends it back. The copy leaves the log lines out: its log
store keeps none, and the game's own store, holding the lines logged until the end of play,
is put back in the system that returns. When the player resolves and nothing changed since
the last copy, `finish` adopts the worker's system. It waits for it while the worker is on
that copy and says how far it got (it started first, so it ends first). With no worker on it
(the system could not be copied because previewed SQL writes wait for `sql commit`, or the
worker is gone or silent), `finish` simulates the rest on its own, as it does without one.

The worker is a fresh interpreter (spawned, never forked: the game runs threads) and a
daemon, so it never outlives the game. Two threads of the game's process move the copies
and the results, so neither the game nor the worker ever waits on the other's pipe.
"""

from __future__ import annotations

import contextlib
import copyreg
import io
import multiprocessing
import pickle
import struct
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from oncall_dojo.sim.observability.logs import LogStore

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session
    from oncall_dojo.sim.faults import Fault
    from oncall_dojo.sim.system import System

__all__ = ["Ahead", "copy_of", "result_of", "run_copy"]

_GEN = struct.Struct(">q")
"""A result's first bytes: the change its copy was made after."""
_AT = struct.Struct(">qq")
"""How far the worker got: the change its copy was made after, and the tick it reached."""
_STEP = 25
"""Seconds the worker simulates between two looks for a newer copy (a few milliseconds)."""
QUIET_S = 5.0
"""A worker that said nothing of the latest copy for this long is not waited for."""


def copy_of(session: Session, change: int) -> bytes | None:
    """A copy of `session`'s system and faults as it is after its `change`-th change, for
    `run_copy`, without its log lines (the copy keeps none: see `run_copy`); None when it
    cannot be copied (play over, or previewed writes held)."""
    s = session
    if s.ended or s.declared_resolved_at is not None or not s.remaining:
        return None
    if s.system.app is not None and s.system.app.has_pending():
        return None  # previewed writes live in the player's connection alone
    end = s.page_tick + s.horizon
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, LogStore: _without_lines}
    try:
        pickler.dump((change, end, s.system, s.fault_runs))
    except (TypeError, pickle.PicklingError):
        return None
    return out.getvalue()


def _without_lines(logs: LogStore) -> tuple[Any, ...]:
    return _muted, (logs.start, list(logs.service_names))


def _muted(start: datetime, services: list[str]) -> LogStore:
    """An empty log store keeping no lines, its services named as the copied one's were."""
    logs = LogStore(start)
    for name in services:
        logs.service_id(name)
    logs.mute()
    return logs


class _Sending(pickle.Pickler):
    """Pickles a finished copy with its log store left out: the game puts its own in."""

    def persistent_id(self, obj: Any) -> str | None:
        return "logs" if type(obj) is LogStore else None


class _Receiving(pickle.Unpickler):
    def __init__(self, data: bytes, logs: LogStore) -> None:
        super().__init__(io.BytesIO(data))
        self.logs = logs

    def persistent_load(self, pid: Any) -> LogStore:
        if pid != "logs":
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return self.logs


def result_of(done: bytes, logs: LogStore) -> tuple[int, tuple[System, list[Fault]]]:
    """The change a `run_copy` result was copied after, and its system and faults, whose log
    store is `logs` (the game's own, holding the lines logged until the end of play)."""
    system, faults = _Receiving(done[_GEN.size :], logs).load()
    return _GEN.unpack_from(done)[0], (system, faults)


def run_copy(
    job: bytes,
    newer: Callable[[], bool] | None = None,
    at: Callable[[int, int], None] | None = None,
) -> bytes | None:
    """Run a copy (`copy_of`: the change number, the horizon's tick, the system and its faults,
    with a log store that keeps no lines) to the horizon, telling `at(change, tick)` how far it
    got every few seconds; its result, or None if `newer()` said a newer copy came first. A
    muted store changes nothing but the lines kept (`LogStore.mute`)."""
    gen, end, system, faults = pickle.loads(job)
    while system.t < end:
        for _ in range(min(_STEP, end - system.t)):
            system.tick()
        if newer is not None and newer():
            return None
        if at is not None:
            at(gen, system.t)
    out = io.BytesIO()
    out.write(_GEN.pack(gen))
    _Sending(out, protocol=pickle.HIGHEST_PROTOCOL).dump((system, faults))
    return out.getvalue()


def _serve(conn: Connection) -> None:
    """In the worker process: run each copy received, the newest first, and send it back."""
    try:
        job = conn.recv_bytes()
        while True:
            while conn.poll():  # copies queued meanwhile: only the newest counts
                job = conn.recv_bytes()
            done = run_copy(job, conn.poll, lambda gen, t: conn.send_bytes(_AT.pack(gen, t)))
            if done is not None:
                conn.send_bytes(done)
            job = conn.recv_bytes()
    except (EOFError, OSError, KeyboardInterrupt):
        return


class Ahead:
    """Plays the rest of `session` ahead after each change, in a worker process (see above).
    It listens to the session; `finished` gives the system at the horizon when it is ready
    and nothing changed since its copy, and `stop` ends the worker."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._changes = 0
        self._copied: int | None = None
        """The change the latest copy was made after (None: the system could not be copied)."""
        self._lock = threading.Lock()
        self._outbox: bytes | None = None
        self._wake = threading.Event()
        self._result: tuple[int, bytes] | None = None
        self._at: tuple[int, int] = (-1, 0)
        """(change, tick): how far the worker got with a copy."""
        self._heard_at = 0.0
        """When the latest copy was sent, or the worker last said something (monotonic)."""
        self._gone = False
        """The worker's pipe closed: it ended (or was ended)."""
        self._stopped = False
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="dojo-ahead")
        # A full-screen app replaces sys.stderr with an object that has no file descriptor, and
        # spawning hands the real one to multiprocessing's helper process.
        stderr = sys.__stderr__ if sys.__stderr__ is not None else sys.stderr
        with contextlib.redirect_stderr(stderr):
            self._proc.start()
        child.close()
        for target in (self._send, self._receive):
            threading.Thread(target=target, daemon=True, name="dojo-ahead").start()
        session.listeners.append(self._heard)
        self._copy()

    @property
    def session(self) -> Session:
        return self._session

    @property
    def working(self) -> bool:
        """Whether the worker process is running (until `stop`)."""
        return not self._stopped and self._proc.is_alive()

    # -- the game's side ------------------------------------------------------------
    def _heard(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind in ("clock", "finished") or (kind == "command" and event.get("name") == "resolve"):
            return  # time passing, or play ending: nothing but the clock moved the system
        self._changes += 1
        self._copy()

    def _copy(self) -> None:
        job = None if self._stopped else copy_of(self._session, self._changes)
        with self._lock:
            self._copied = None if job is None else self._changes
            if job is not None:
                self._outbox = job
        if job is not None:
            self._wake.set()

    def finished(self) -> tuple[System, list[Fault]] | None:
        """The system and its faults run to the horizon from the latest copy, if the worker has
        sent them back and nothing changed since that copy; else None (at once, never waiting)."""
        with self._lock:
            result = self._result
        if result is None or self._copied is None or result[0] != self._copied:
            return None
        if self._copied != self._changes:
            return None
        return result_of(result[1], self._session.system.logs)[1]

    def on_course(self) -> bool:
        """Whether the worker is running the latest copy, made after the latest change, and said
        so lately: then it gets to the horizon before a run started now would."""
        with self._lock:
            return (
                not self._stopped
                and not self._gone
                and self._copied is not None
                and self._copied == self._changes
                and time.monotonic() - self._heard_at < QUIET_S
            )

    def reached(self) -> int | None:
        """The player seconds the worker has simulated the latest copy to, if it is on it."""
        with self._lock:
            change, tick = self._at
        if self._copied is None or change != self._copied:
            return None
        return tick - self._session.page_tick

    def stop(self) -> None:
        """End the worker (a later change is not played ahead)."""
        if self._stopped:
            return
        self._stopped = True
        self._wake.set()
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join(timeout=5)
        with contextlib.suppress(OSError):
            self._conn.close()

    # -- the threads that move copies and results ------------------------------------
    def _send(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                job, self._outbox = self._outbox, None
            if self._stopped:
                return
            if job is not None:
                try:
                    self._conn.send_bytes(job)
                except (OSError, ValueError):
                    return
                with self._lock:
                    self._heard_at = time.monotonic()

    def _receive(self) -> None:
        while not self._stopped:
            try:
                data = self._conn.recv_bytes()
            except (EOFError, OSError, ValueError):
                break
            with self._lock:
                self._heard_at = time.monotonic()
                if len(data) == _AT.size:
                    self._at = _AT.unpack(data)
                else:
                    self._result = (_GEN.unpack_from(data)[0], data)
        with self._lock:
            self._gone = True
