"""Seat processes: a replica of the host's game, so that a remote player gets the solo
incident screen while the host stays the one authority.

A browser page, or a terminal relayed by `dojo join`, is drawn by an app process the host
itself starts on its own machine (`net.web`). That process may hold the incident: only its
screen leaves the machine. It keeps a *replica*: a `Session` of the same incident and seed
that follows the host's game exactly as `dojo replay` rebuilds a recorded one (the same
seed, incident and timed changes give the same run). The host sends it, over the private
channel only (a connection that presented the host's seat key):

- `SeatStart` in its welcome: the incident as this game plays it, the seed, the session's
  own player and every change so far (a late or reconnecting seat catches up from it);
- a `Step` for every change, in the host's order, as it happens: each command with its
  player and tick (and a digest of its output), each inject as recorded;
- `Clock` (as every client) to advance to, and now and then a `Sync`: a digest of the host's
  state at a tick, which the replica compares with its own (`state_digest`).

Commands a player types go to the host like any client's; the replica performs them only
when the host's stream says so, in the host's order. `SeatFeed` is the host's side,
`Replica` the seat's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from oncall_dojo.game.entry import Entry
from oncall_dojo.game.injects import replay_fired
from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.sim.errors import Refusal


class Peer(Protocol):
    """A seat process's connection (the server's, as `net.host.Peer`)."""

    def send(self, frame: str) -> None: ...


SYNC_EVERY_S = 1.0
"""The least real time between two state digests sent to seat processes."""

BUILD_CHUNK_S = 30
"""While a replica is built: simulated seconds between two reports of its progress."""

Progress = Callable[[int, int, int, int], None]
"""How far a replica's build is: (changes applied, changes in all, simulated seconds reached,
simulated seconds to reach). Called from the thread that builds."""


def output_digest(output: str) -> str:
    return hashlib.sha256(output.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def state_digest(s: Session) -> str:
    """A digest of where a session stands: its clock, its record of play and the state of its
    one source of randomness (any difference in what the simulation did changes the draws)."""
    h = hashlib.sha256()
    facts = (
        s.system.t,
        s.page_tick,
        len(s.entries),
        len(s.injected),
        s.acked_at,
        s.declared_resolved_at,
        tuple(s.hints_taken),
        s.diagnosis,
        len(s.status_updates),
        len(s.system.logs),
        s.entries[-1].output if s.entries else "",
    )
    h.update(repr(facts).encode("utf-8", "surrogatepass"))
    h.update(repr(s.system.rng.getstate()).encode())
    return h.hexdigest()[:24]


def incident_data(inc: Incident) -> dict[str, Any]:
    """The incident as this game plays it (`vary` already picked), as JSON that
    `Incident.model_validate` reads back to the same incident."""
    data = inc.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if inc.injects:
        data["injects"] = [i.to_data() for i in inc.injects]  # fault begin times left out
    return data


def command_step(e: Entry) -> p.Step:
    return p.Step(
        kind="command",
        at=e.at,
        tick=e.tick,
        player=e.player or "",
        command=e.command,
        output=output_digest(e.output),
    )


def inject_step(record: dict[str, Any]) -> p.Step:
    data = {k: record[k] for k in ("key", "by", "inject", "away") if k in record}
    return p.Step(kind="inject", at=int(record["at"]), tick=int(record["tick"]), data=data)


@dataclass(eq=False)
class SeatFeed:
    """The host's side: who the seat processes are, and every change in the host's order."""

    session: Session
    finishing: Callable[[], bool]
    """True once play is over and the outcome is being measured (in a worker thread)."""
    key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    """The seat key: the host hands it to the processes it starts (never printed, never kept)."""
    peers: list[Peer] = field(default_factory=list)
    steps: list[p.Step] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    _last_sync: float = -1e9

    def __post_init__(self) -> None:
        self.session.listeners.append(self._on_session)

    def admits(self, key: str) -> bool:
        return bool(key) and hmac.compare_digest(key.encode(), self.key.encode())

    def start(self) -> p.SeatStart:
        s = self.session
        return p.SeatStart(
            incident=incident_data(s.incident), seed=s.seed, player=s.player, steps=self.steps
        )

    def _on_session(self, ev: dict[str, Any]) -> None:
        if self.finishing():
            return  # measuring the outcome (in a worker thread): seats follow play only
        if ev["type"] == "command":
            step = p.Step(
                kind="command",
                at=ev["at"],
                tick=ev["tick"],
                player=ev.get("player") or "",
                command=ev["command"],
                output=output_digest(ev["output"]),
            )
        elif ev["type"] == "inject":
            step = inject_step(ev)
        else:
            return
        self.steps.append(step)
        self._send(step)

    def _send(self, msg: p._Msg) -> None:
        if self.peers:
            frame = p.encode(msg)
            for peer in list(self.peers):
                peer.send(frame)

    def sync(self, force: bool = False) -> None:
        """After the clock was sent: the state's digest, at most every `SYNC_EVERY_S`."""
        now = self.clock()
        if self.peers and (force or now - self._last_sync >= SYNC_EVERY_S):
            self._last_sync = now
            s = self.session
            self._send(p.Sync(at=s.now, digest=state_digest(s)))


class Diverged(Exception):
    """The replica does not match the host's game; the text says where."""


@dataclass
class Replica:
    """The seat's side: a session that follows the host's steps and clock."""

    session: Session
    steps: list[p.Step] = field(default_factory=list)
    """Every step applied, in order (to rebuild from, after a divergence)."""
    start: p.SeatStart | None = None
    checked: int = 0
    """State digests compared and found equal."""

    @classmethod
    def build(cls, start: p.SeatStart, at: int = 0, progress: Progress | None = None) -> Replica:
        """The replica of a game from its seat start, caught up to `at` (player seconds).
        `progress`, when given, hears how far the build is (see `Progress`), from the thread
        that builds, after each change and every `BUILD_CHUNK_S` simulated seconds."""
        session = Session(Incident.model_validate(start.incident), start.seed)
        session.player = start.player
        r = cls(session, start=start)
        total = len(start.steps)
        target = min(max([at, *(s.at for s in start.steps)]), session.horizon)

        def advance(to: int, done: int) -> None:
            while session.now < min(to, session.horizon):
                session.advance_to(min(to, session.now + BUILD_CHUNK_S))
                if progress is not None:
                    progress(done, total, session.now, target)

        if progress is not None:
            progress(0, total, session.now, target)
        for done, step in enumerate(start.steps):
            advance(step.at, done)
            r.apply(step)
            if progress is not None:
                progress(done + 1, total, session.now, target)
        advance(at, total)
        r.follow(at)
        return r

    def catch_up(self, start: p.SeatStart, at: int) -> None:
        """After a reconnection: the steps missed (the host's welcome has them all)."""
        if [s.model_dump() for s in start.steps[: len(self.steps)]] != [
            s.model_dump() for s in self.steps
        ]:
            raise Diverged("the host's record of play differs from what this seat applied")
        for step in start.steps[len(self.steps) :]:
            self.apply(step)
        self.follow(at)

    def follow(self, at: int) -> None:
        """Advance to the host's clock (never back)."""
        self.session.advance_to(min(at, self.session.horizon))

    def apply(self, step: p.Step) -> Entry | None:
        """Apply one of the host's steps at its time; Diverged when the outcome differs."""
        s = self.session
        s.advance_to(step.at)
        self.steps.append(step)
        if step.kind == "inject":
            try:
                fired = replay_fired(s, dict(step.data or {}))
            except (Refusal, KeyError, ValueError) as exc:
                raise Diverged(f"the inject at {step.at}s could not be fired here: {exc}") from None
            if fired["tick"] != step.tick:
                raise Diverged(f"an inject fired at tick {fired['tick']}, on the host {step.tick}")
            return None
        entry = perform(s, step.command, step.player or None)
        if entry.tick != step.tick:
            raise Diverged(f"`{step.command}` ran at tick {entry.tick}, on the host {step.tick}")
        if output_digest(entry.output) != step.output:
            raise Diverged(f"`{step.command}` gave another output than on the host")
        return entry

    def check(self, sync: p.Sync) -> None:
        """Follow the host to `sync.at` and compare the state's digest (Diverged if unequal)."""
        self.follow(sync.at)
        if self.session.now != sync.at:
            return  # the host is past the horizon: nothing more to compare
        if state_digest(self.session) != sync.digest:
            raise Diverged(f"the state at {sync.at}s differs from the host's")
        self.checked += 1

    def rebuilt(self) -> Replica:
        """A fresh replica from the seat start and every step applied (after a divergence)."""
        assert self.start is not None
        start = self.start.model_copy(update={"steps": list(self.steps)})
        return Replica.build(start, self.session.now)

    def on_message(self, msg: Any) -> Entry | None:
        """Follow one of the host's messages (a step, a sync, the clock; others are ignored).
        Returns the entry of a command step. Raises Diverged."""
        if isinstance(msg, p.Step):
            return self.apply(msg)
        if isinstance(msg, p.Sync):
            self.check(msg)
        elif isinstance(msg, p.Clock):
            self.follow(msg.at)
        return None
