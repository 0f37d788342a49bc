"""A game session: one incident, one seed, the players' timed commands, and the system they act on.

The session is the game's state and its clock: views (the console, the TUI)
read it, and `play` changes it (commands, scripts, waits, finishing and
scoring). Player time is measured from the page: the system runs silently
until the paging alert fires, then play begins, and outcomes are measured until
`duration_s` after the page, whether the player declared the incident resolved
earlier or not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from oncall_dojo.game.entry import Entry, Kind
from oncall_dojo.game.result import Result
from oncall_dojo.incident.diagnosis import parts_of
from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.faults import Fault
from oncall_dojo.sim.observability.rules import default_rules
from oncall_dojo.sim.system import System
from oncall_dojo.sim.world import add_world

__all__ = ["Ask", "Call", "Diagnosis", "Entry", "IncidentBroken", "Kind", "Session"]


class Diagnosis(NamedTuple):
    """A declared root cause: a part of the system and a failure mechanism, with notes."""

    part: str
    mechanism: str
    notes: str
    at: int

    @property
    def label(self) -> str:
        return f"{self.part} {self.mechanism}"


class IncidentBroken(Exception):
    """The incident cannot be played (its page never fires)."""


@dataclass
class Ask:
    """A stakeholder's message the team must answer (an inject; see `game.injects`)."""

    id: str
    at: int
    sender: str
    channel: str
    text: str
    within_s: int
    answers: list[tuple[int, str, str]] = field(default_factory=list)
    """(at, player, text) of every answer."""

    @property
    def answered_at(self) -> int | None:
        return self.answers[0][0] if self.answers else None


@dataclass(frozen=True)
class Call:
    """A team paged with `escalate` that has not joined yet (see `game.escalation`)."""

    due: int
    """Player seconds at which their on-call joins."""
    team: str
    ask: str
    """What the player asked: a console command to run, or words to answer."""
    by: str


@dataclass
class Session:
    incident: Incident
    seed: int
    system: System = field(init=False)
    page_tick: int = field(init=False)
    entries: list[Entry] = field(default_factory=list)
    acked_at: int | None = None
    diagnosis: Diagnosis | None = None
    """The last root cause declared."""
    declared_resolved_at: int | None = None
    status_updates: list[tuple[int, str]] = field(default_factory=list)
    escalations: list[tuple[int, str]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    """Teams paged who have not joined yet, soonest first; `on_join` brings them in."""
    on_join: Callable[[Session], None] | None = None
    """Brings in the paged teams that are due (set by `game.escalation.page`)."""
    hints_taken: list[int] = field(default_factory=list)
    ended: bool = False
    result: Result | None = None
    """The score, once play has finished (`play.finish`)."""
    player: str = "you"
    """Who plays a solo game: the player of its entries and the author of its changes."""
    fault_runs: list[Fault] = field(default_factory=list)
    asks: list[Ask] = field(default_factory=list)
    """Stakeholder messages that arrived (injects), with their answers."""
    away: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Players made unavailable by an inject: name -> (back at, the reason)."""
    injected: list[dict[str, Any]] = field(default_factory=list)
    """Every inject fired, as recorded: {"at", "tick", "by", "key", "inject", ...}."""
    schedule: list[tuple[int, str, Any]] = field(default_factory=list)
    """Injects due on their own: (at, key, inject), earliest first; `on_due` fires them."""
    on_due: Callable[[Session], None] | None = None
    """Fires the scheduled injects that are due (set by `game.injects.schedule`)."""
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    """Called with every event: {"type": "command", ...entry} after a command,
    {"type": "clock", "tick": t, "at": now} after time advanced, {"type": "finished", ...}."""

    def __post_init__(self) -> None:
        self.incident = inc = self.incident.for_seed(self.seed)  # `vary` picked for this seed
        cfg = inc.system_config()
        rules = [r for r in default_rules(cfg) if r.name not in inc.alerts.disable]
        texts = inc.alerts.texts
        rules = [
            r.model_copy(update={"summary": texts[r.name]}) if r.name in texts else r for r in rules
        ]
        rules += inc.alerts.add
        self.system = System(cfg, self.seed, rules)
        add_world(self.system, inc.resources, inc.events, inc.operations)
        self.fault_runs = [Fault(spec, i) for i, spec in enumerate(inc.faults)]
        self.system.faults = self.fault_runs
        page = self.system.alerts.states[inc.page.alert]
        while page.state != "firing":
            if self.system.t >= inc.page.max_wait_s:
                raise IncidentBroken(
                    f"{inc.id}: the page ({inc.page.alert}) did not fire within {inc.page.max_wait_s}s of simulated time"
                )
            self.system.tick()
        self.page_tick = self.system.t

    # -- time ---------------------------------------------------------------------
    @property
    def now(self) -> int:
        """Player seconds since the page."""
        return self.system.t - self.page_tick

    @property
    def horizon(self) -> int:
        return self.incident.duration_s

    @property
    def remaining(self) -> int:
        return max(0, self.horizon - self.now)

    def advance(self, seconds: int = 1, tell: bool = True) -> None:
        """Let `seconds` of simulated time pass (never past the horizon); `tell` the listeners
        where the clock is then (else the caller does, once it is done)."""
        n = min(seconds, self.remaining)
        for _ in range(n):
            if self.schedule and self.on_due is not None and self.schedule[0][0] <= self.now:
                self.on_due(self)
            self.system.tick()
            if self.calls and self.on_join is not None and self.calls[0].due <= self.now:
                self.on_join(self)  # a paged team joins as their minute comes
        if self.remaining == 0:
            self.ended = True
        if n > 0 and tell:
            self.tell_clock()

    def tell_clock(self) -> None:
        self.emit({"type": "clock", "tick": self.system.t, "at": self.now})

    def adopt(self, system: System, fault_runs: list[Fault]) -> None:
        """Go on as `system`: a copy of this session's own, run on with nothing else changing it
        (see `game.ahead`), with `fault_runs` its faults and this system's log store."""
        if system.logs is not self.system.logs:
            raise ValueError("an adopted system keeps the session's log store")
        self.system, self.fault_runs = system, fault_runs
        if self.remaining == 0:
            self.ended = True

    def emit(self, event: dict[str, Any]) -> None:
        """Tell every listener of an event."""
        for listener in self.listeners:
            listener(event)

    def advance_to(self, at: int) -> None:
        if at > self.now:
            self.advance(at - self.now)

    # -- facts used by views and scoring ---------------------------------------------
    def evidence_seen(self, before: int | None = None) -> list[str]:
        return [
            e.evidence for e in self.entries if e.evidence and (before is None or e.at < before)
        ]

    @cached_property
    def parts(self) -> list[str]:
        """The parts of the system a diagnosis may name, from the configuration at the start (so
        faults do not change the list)."""
        return parts_of(self.incident.system_config(), self.incident.resources)

    def first_action_at(self) -> int | None:
        """When a player first changed the system (acknowledging or talking does not count)."""
        return next((e.at for e in self.entries if e.mutates), None)
