"""The rest of a game, played ahead in a worker process while the player thinks.

When a player resolves, the system runs on to the incident's horizon and is scored
(`play.finish`), and the debrief waits for it: about 0.6 s of simulation for a 60-minute
incident resolved in its first minutes. Nothing the player does after resolving reaches
the system, and between two changes (a command, an inject, a team joining) only the clock
moves it. So from the system as the last change left it, the run to the horizon is the
same whenever the player resolves.

`Ahead` copies the system after every change (a pickle, as the plays' preludes are copied:
a copy plays byte for byte as the original would) and hands the copy to a worker process,
which runs it to the horizon with its lines muted and sends it back. When the player
resolves and nothing changed since the last copy, `finish` adopts the worker's system;
until it has it, `finish` simulates on its own, so finishing is never slower than without
a worker. A system that cannot be copied (the player's previewed SQL writes wait for
`sql commit`) is not played ahead: the finish then simulates the rest itself, as before.

The worker is a fresh interpreter (spawned, never forked: the game runs threads) and a
daemon, so it never outlives the game. Two threads of the game's process move the copies
and the results, so neither the game nor the worker ever waits on the other's pipe.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import struct
import sys
import threading
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session
    from oncall_dojo.sim.faults import Fault
    from oncall_dojo.sim.system import System

__all__ = ["Ahead", "copy_of", "result_of", "run_copy"]

_GEN = struct.Struct(">q")
"""A result's first bytes: the change its copy was made after."""
_STEP = 25
"""Seconds the worker simulates between two looks for a newer copy (a few milliseconds)."""


def copy_of(session: Session, change: int) -> bytes | None:
    """A copy of `session`'s system and faults as it is after its `change`-th change, for
    `run_copy`; None when it cannot be copied (over, or holding previewed writes)."""
    s = session
    if s.ended or s.declared_resolved_at is not None or not s.remaining:
        return None
    if s.system.app is not None and s.system.app.has_pending():
        return None  # previewed writes live in the player's connection alone
    end = s.page_tick + s.horizon
    try:
        return pickle.dumps((change, end, s.system, s.fault_runs), protocol=pickle.HIGHEST_PROTOCOL)
    except (TypeError, pickle.PicklingError):
        return None


def result_of(done: bytes) -> tuple[int, tuple[System, list[Fault]]]:
    """The change a `run_copy` result was copied after, and its system and faults."""
    system, faults = pickle.loads(done[_GEN.size :])
    return _GEN.unpack_from(done)[0], (system, faults)


def run_copy(job: bytes, newer: Any = None) -> bytes | None:
    """Run a copy (`Ahead`'s pickle of the change number, the horizon's tick, the system and
    its faults) to the horizon with its lines muted; its result, or None if `newer()` said a
    newer copy came first."""
    gen, end, system, faults = pickle.loads(job)
    system.logs.mute()
    while system.t < end:
        for _ in range(min(_STEP, end - system.t)):
            system.tick()
        if newer is not None and newer():
            return None
    return _GEN.pack(gen) + pickle.dumps((system, faults), protocol=pickle.HIGHEST_PROTOCOL)


def _serve(conn: Connection) -> None:
    """In the worker process: run each copy received, the newest first, and send it back."""
    try:
        job = conn.recv_bytes()
        while True:
            while conn.poll():  # copies queued meanwhile: only the newest counts
                job = conn.recv_bytes()
            done = run_copy(job, conn.poll)
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
        return result_of(result[1])[1]

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

    def _receive(self) -> None:
        while not self._stopped:
            try:
                data = self._conn.recv_bytes()
            except (EOFError, OSError, ValueError):
                return
            with self._lock:
                self._result = (_GEN.unpack_from(data)[0], data)
