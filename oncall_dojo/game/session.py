"""A game session: one incident, one seed, a player's timed commands, and the system they act on.

The session owns all game state. Views (the console, the TUI) read from it and
send it command strings; nothing else changes it. Player time is measured from
the page: the system runs silently until the paging alert fires, then play
begins, and outcomes are measured until `duration_s` after the page, whether
the player declared the incident resolved earlier or not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from oncall_dojo.incident.model import Incident, parse_timed
from oncall_dojo.sim.faults import Fault
from oncall_dojo.sim.observability.rules import default_rules
from oncall_dojo.sim.system import System

if TYPE_CHECKING:
    from oncall_dojo.game.scoring import Result

Kind = Literal["investigate", "act", "meta", "refused"]


class IncidentBroken(Exception):
    """The incident cannot be played (its page never fires)."""


@dataclass
class Entry:
    """One command the player issued, and what came of it."""

    at: int
    """Player seconds since the page."""
    tick: int
    command: str
    kind: Kind
    output: str
    evidence: str | None = None
    name: str = ""
    """Canonical command name (e.g. `dlq move`)."""


@dataclass
class Session:
    incident: Incident
    seed: int
    system: System = field(init=False)
    page_tick: int = field(init=False)
    entries: list[Entry] = field(default_factory=list)
    acked_at: int | None = None
    diagnosis: tuple[str, str, int] | None = None
    """(option id, notes, at)"""
    declared_resolved_at: int | None = None
    status_updates: list[tuple[int, str]] = field(default_factory=list)
    escalations: list[tuple[int, str]] = field(default_factory=list)
    hints_taken: list[int] = field(default_factory=list)
    ended: bool = False
    _result: Result | None = None
    fault_runs: list[Fault] = field(default_factory=list)
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    """Called with every event: {"type": "command", ...entry} after a command,
    {"type": "clock", "tick": t, "at": now} after time advanced, {"type": "finished", ...}."""

    def __post_init__(self) -> None:
        self.incident = inc = self.incident.for_seed(self.seed)  # `vary` picked for this seed
        cfg = inc.system_config()
        rules = [r for r in default_rules(cfg) if r.name not in inc.alerts.disable] + list(
            inc.alerts.add
        )
        self.system = System(cfg, self.seed, rules)
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

    def advance(self, seconds: int = 1) -> None:
        n = min(seconds, self.remaining)
        for _ in range(n):
            self.system.tick()
        if self.remaining == 0:
            self.ended = True
        if n > 0:
            self._emit({"type": "clock", "tick": self.system.t, "at": self.now})

    def _emit(self, event: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(event)

    def advance_to(self, at: int) -> None:
        if at > self.now:
            self.advance(at - self.now)

    # -- commands -----------------------------------------------------------------
    def perform(self, text: str) -> Entry:
        from oncall_dojo.game.commands import execute

        entry = execute(self, text)
        self._emit({"type": "command", "tick": entry.tick, "at": entry.at, "command": entry.command,
                    "kind": entry.kind, "name": entry.name, "output": entry.output, "evidence": entry.evidence})  # fmt: skip
        return entry

    def run_script(self, lines: list[str]) -> None:
        """Play timed commands (`MM:SS command`), then finish."""
        for line in lines:
            parsed = parse_timed(line)
            if parsed is None:
                raise ValueError(f"not a timed command: {line!r}")
            at, cmd = parsed
            if self.ended or self.declared_resolved_at is not None:
                break
            self.advance_to(at)
            if self.ended:
                break
            self.perform(cmd)
        self.finish()

    def finish(self) -> Result:
        """Run the system to the horizon and score the outcome."""
        if self._result is None:
            self.advance(self.remaining)
            self.ended = True
            for q in self.system.queues.values():
                q.finish(self.system.t)
            from oncall_dojo.game.scoring import score

            self._result = score(self)
            self._emit(
                {
                    "type": "finished",
                    "tick": self.system.t,
                    "score": self._result.score,
                    "grade": self._result.grade,
                }
            )
        return self._result

    @property
    def result(self) -> Result | None:
        return self._result

    # -- facts used by views and scoring ---------------------------------------------
    def evidence_seen(self, before: int | None = None) -> list[str]:
        return [
            e.evidence for e in self.entries if e.evidence and (before is None or e.at < before)
        ]

    def first_action_at(self) -> int | None:
        """When the player first changed the system (acknowledging or talking does not count)."""
        from oncall_dojo.game.commands import COMMANDS

        return next(
            (e.at for e in self.entries if e.kind == "act" and COMMANDS[e.name].mutates), None
        )
