"""The debrief's facts: comparison runs from the same seed and what went unseen (the Markdown
export is the postmortem report, `game.report` and `game.markdown`).

Pure Python (no Textual). `comparison_run` mirrors `game.check.play` but keeps
the session, whose metrics the debrief charts; a test checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from oncall_dojo.game.scoring import evidence_covered

if TYPE_CHECKING:
    from oncall_dojo.game.scoring import Result
    from oncall_dojo.game.session import Session
    from oncall_dojo.incident.model import Evidence, Incident


@dataclass
class Run:
    label: str
    session: Session
    result: Result


_RUNS: dict[tuple[str, int, str, int, tuple[str, ...]], Run] = {}
"""(id, version, incident JSON, seed, actions) -> a finished run."""
_KEEP = 8


def comparison_run(incident: Incident, seed: int, actions: list[str] | None, label: str) -> Run:
    """Play timed actions from the same seed to the end (what `check.play` does), keeping the session.

    Runs are deterministic, so the last few are kept: playing the same incident and seed again
    (or a test suite) does not simulate them twice."""
    from oncall_dojo.game.check import play_session

    key = (incident.id, incident.version, incident.model_dump_json(), seed, tuple(actions or ()))
    hit = _RUNS.get(key)
    if hit is None:
        s = play_session(incident, seed, actions)
        hit = Run(label, s, s.finish())
        if len(_RUNS) >= _KEEP:
            _RUNS.pop(next(iter(_RUNS)))
        _RUNS[key] = hit
    return Run(label, hit.session, hit.result)


def unseen(s: Session) -> list[Evidence]:
    """The incident's key evidence the player never looked at (at any time)."""
    seen = set(s.evidence_seen())
    return [e for e in s.incident.evidence if not evidence_covered(e.view, seen)]


def key_metrics(incident: Incident) -> list[tuple[str, str, str]]:
    """(label, selector, fn) of the metrics that decide resolution, for the timeline charts."""
    out: list[tuple[str, str, str]] = []
    for c in incident.resolution.conditions:
        fn = c.fn if c.fn in ("rate", "increase") else "max"
        out.append((c.describe(), c.metric, fn))
    return out
