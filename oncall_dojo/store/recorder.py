"""Recording a session as it is played: every command, the clock, intents, the score.

Each event is its own committed transaction, written before the game moves on, so
what the player saw acknowledged survives kill -9. Clock events are throttled:
the console calls `checkpoint()` before every prompt, and during long waits the
tick is written at least every `CLOCK_EVERY_S` simulated seconds. If the database
stops accepting writes (disk full, read-only), the recorder says so once, through
`warn` (the TUI shows it as a notification), keeps the reason in `broken`, and the
game goes on without it.

Every write happens on the thread that created the recorder, the one that owns the
SQLite connection. Events the session emits on another thread (the TUI finishes a
game in a worker thread, so that the screen stays live while the rest of the
incident is simulated) wait in an inbox, in order, and are written by the next
`checkpoint()` or `flush()` on the owning thread. One writer keeps the chain's
order simple: no two threads race for the head of the log.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from oncall_dojo import __version__
from oncall_dojo.game.session import Session
from oncall_dojo.store.errors import StoreError
from oncall_dojo.store.events import TEAM_TYPES
from oncall_dojo.store.records import Head, Store, score_fields

CLOCK_EVERY_S = 30


def _stderr(msg: str) -> None:
    print(f"dojo: {msg}", file=sys.stderr, flush=True)


def incident_digest(session: Session) -> str:
    return hashlib.sha256(session.incident.model_dump_json().encode("utf-8")).hexdigest()


class Recorder:
    """Writes one session's events to the store (the console's `PlayLog`)."""

    def __init__(
        self,
        store: Store | None,
        player: str,
        mode: str,
        *,
        script: str | None = None,
        warn: Callable[[str], None] = _stderr,
        session_id: str | None = None,
        head: Head | None = None,
        unavailable: str | None = None,
        start_extra: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.player = player
        self.mode = mode
        self.script = script
        self.warn = warn
        self.wanted_id = session_id
        self.head = head
        self.start_extra = dict(start_extra or {})
        """More for the start event (a team game's seats and roles)."""
        self.session: Session | None = None
        self.broken: str | None = unavailable if store is None else None
        self._pending: dict[str, Any] | None = None
        self._last_tick = -1
        self._owner = threading.get_ident()
        """The thread that writes (the one that made the recorder, and opened the store)."""
        self._inbox: deque[dict[str, Any]] = deque()
        """Events emitted on other threads, waiting for the owner to write them."""

    @property
    def session_id(self) -> str | None:
        return self.head.session_id if self.head else None

    @property
    def keeping(self) -> bool:
        return self.broken is None and self.store is not None

    # -- PlayLog ---------------------------------------------------------------------------
    def started(self, session: Session, think_s: int) -> str | None:
        self.session = session
        if self.broken is not None:
            return f"Results will not be kept: {self.broken}"
        if self.head is None:
            s = session
            start = {
                "incident": s.incident.id,
                "incident_version": s.incident.version,
                "incident_digest": incident_digest(s),
                "seed": s.seed,
                "mode": self.mode,
                "player": self.player,
                "game_version": __version__,
                "page_tick": s.page_tick,
                "think_s": think_s,
                "script": self.script,
                **self.start_extra,
            }
            if s.on_due is not None:
                start["injects"] = True  # the incident's timed injects fire (resume keeps them)
            self._do(lambda st: setattr(self, "head", st.begin(start, s.page_tick, self.wanted_id)))
        self._last_tick = session.system.t
        session.listeners.append(self._on_event)
        if self.head is None:
            return f"Results will not be kept: {self.broken}"
        return f"Recording as session {self.head.session_id} (player {self.player})."

    def waiting(self, until: int) -> None:
        self._intent("wait", {"until": until})

    def quitting(self) -> None:
        self._intent("quit", {})

    def checkpoint(self) -> None:
        self.flush()
        p = self._pending
        if p is not None and p["tick"] > self._last_tick:
            self._append("clock", p["tick"], p["at"], {})
        self._pending = None

    def flush(self) -> None:
        """Write the events emitted on other threads (call on the owning thread)."""
        if threading.get_ident() != self._owner:
            return
        while self._inbox:
            self._handle(self._inbox.popleft())

    @property
    def unwritten(self) -> int:
        """Events emitted on other threads that no `flush()` has written yet."""
        return len(self._inbox)

    def recorded_player(self, who: str | None) -> str:
        """The name a command's player is recorded under: the session's own player (`you` in a
        solo game) is the recorder's player; anyone else (a team game's players) by name."""
        if who is None or (self.session is not None and who == self.session.player):
            return self.player
        return who

    def team(self, type_: str, data: dict[str, Any]) -> None:
        """Record a team game's own event (`type_` from `TEAM_TYPES`: a join, a role handed
        over, a `say` line, a facilitator's action) at the session's current time."""
        if type_ not in TEAM_TYPES:
            raise ValueError(f"not a team event type: {type_}")
        self.flush()
        self.checkpoint()
        self._intent(type_, data)

    # -- internals -------------------------------------------------------------------------
    def _intent(self, type_: str, data: dict[str, Any]) -> None:
        if self.session is not None:
            self._append(type_, self.session.system.t, self.session.now, data)

    def _on_event(self, ev: dict[str, Any]) -> None:
        if threading.get_ident() != self._owner:
            self._inbox.append(ev)  # SQLite objects belong to their thread: the owner writes it
            return
        self.flush()
        self._handle(ev)

    def _handle(self, ev: dict[str, Any]) -> None:
        t = ev["type"]
        if t == "clock":
            self._pending = ev
            if ev["tick"] - self._last_tick >= CLOCK_EVERY_S:
                self.checkpoint()
        elif t == "command":
            data = {k: ev[k] for k in ("command", "kind", "name", "output", "evidence")}
            data["player"] = self.recorded_player(ev.get("player"))
            self._append("command", ev["tick"], ev["at"], data)
        elif t == "inject":
            data = {k: ev[k] for k in ("key", "by", "inject", "away") if k in ev}
            self._append("inject", ev["tick"], ev["at"], data)
        elif t == "finished" and self.session is not None and self.session.result is not None:
            self._pending = None
            res = self.session.result
            data = {
                "score": res.score,
                "grade": res.grade,
                "resolved": res.resolved,
                "result": res.to_json(),
            }
            at = self.session.now
            self._append("finished", ev["tick"], at, data, finished=True)

    def _append(
        self, type_: str, tick: int, at: int, data: dict[str, Any], finished: bool = False
    ) -> None:
        head = self.head
        if head is None:
            return

        def write(st: Store) -> None:
            score = None
            if finished and self.session is not None:
                # as the start event recorded them: a resumed session keeps the incident's
                # name it was started under, even if the incident was renamed since
                row = st.session(head.session_id)
                start = {k: row[k] for k in ("incident", "incident_version", "seed", "mode")}
                score = score_fields(start, data)
            st.append(head, type_, tick, at, data, score)
            self._last_tick = max(self._last_tick, tick)

        self._do(write)

    def _do(self, fn: Callable[[Store], None]) -> None:
        if not self.keeping or self.store is None:
            return
        try:
            fn(self.store)
        except (StoreError, sqlite3.Error, OSError) as exc:
            self.broken = str(exc)
            self.warn(f"results will not be kept from here on: {exc}. The game goes on.")
