"""`dojo check`: every incident proves itself over several seeds.

For each seed the reference playthrough must resolve the incident (resolution
conditions held at the end, every root-cause fault gone) and clearly beat both
doing nothing and every known-harmful playthrough. An incident with `vary` is
played as each seed picks it, playthroughs included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oncall_dojo.game.scoring import Result
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.vary import Scalar

DEFAULT_SEEDS = (1, 2, 3)
MARGIN_IDLE = 20
MARGIN_HARMFUL = 10


@dataclass
class SeedReport:
    seed: int
    reference: Result
    idle: Result
    harmful: dict[str, Result]
    problems: list[str] = field(default_factory=list)
    values: dict[str, Scalar] = field(default_factory=dict)
    """What `vary` picked for this seed."""


@dataclass
class CheckReport:
    incident: str
    seeds: list[SeedReport]

    @property
    def ok(self) -> bool:
        return all(not s.problems for s in self.seeds)


def play_session(incident: Incident, seed: int, actions: list[str] | None) -> Session:
    """Play timed actions from the page to the end of the incident; the finished session."""
    s = Session(incident, seed)
    s.run_script(list(actions or []))
    return s


def play(incident: Incident, seed: int, actions: list[str] | None) -> Result:
    return play_session(incident, seed, actions).finish()


def run_json(session: Session) -> dict[str, Any]:
    """What `dojo run --json` prints for a finished session: the result and every command."""
    out = session.finish().to_json()
    out["commands"] = [
        {"at": e.at, "command": e.command, "kind": e.kind, "output": e.output}
        for e in session.entries
    ]
    return out


Played = Callable[[str, int, Session], None]
"""Told of each finished playthrough: (`reference` | `idle` | `harmful:NAME`, seed, session)."""


def check_incident(
    incident: Incident, seeds: tuple[int, ...] = DEFAULT_SEEDS, on_play: Played | None = None
) -> CheckReport:
    def run(name: str, inc: Incident, seed: int, actions: list[str] | None) -> Result:
        s = play_session(inc, seed, actions)
        if on_play is not None:
            on_play(name, seed, s)
        return s.finish()

    reports = []
    for seed in seeds:
        inc = incident.for_seed(seed)
        ref = run("reference", inc, seed, inc.playthroughs.reference.actions)
        idle = run("idle", inc, seed, None)
        harmful = {
            h.name: run(f"harmful:{h.name}", inc, seed, h.actions) for h in inc.playthroughs.harmful
        }
        problems = []
        if not ref.resolved:
            t = ref.times
            problems.append(
                f"reference does not resolve the incident (mitigated={t['mitigated']}, cause removed={t['cause_removed']})"
            )
        if ref.score < idle.score + MARGIN_IDLE:
            problems.append(
                f"reference {ref.score} does not beat idle {idle.score} by {MARGIN_IDLE}"
            )
        for name, r in harmful.items():
            if ref.score < r.score + MARGIN_HARMFUL:
                problems.append(
                    f"reference {ref.score} does not beat harmful '{name}' {r.score} by {MARGIN_HARMFUL}"
                )
        reports.append(SeedReport(seed, ref, idle, harmful, problems, inc.picked))
    return CheckReport(incident.id, reports)
