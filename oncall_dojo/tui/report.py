"""The debrief's facts: comparison runs from the same seed and what went unseen (the Markdown
export is the postmortem report, `game.report` and `game.markdown`).

Pure Python (no Textual). `comparison_run` mirrors `game.check.play` but keeps the play's
`Outcome` (its score, commands and metrics, which the debrief charts); a test checks the two
agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from oncall_dojo.game.evidence import key_signals
from oncall_dojo.game.plays import Background, Outcome, default_cache

if TYPE_CHECKING:
    from oncall_dojo.game.scoring import Result
    from oncall_dojo.game.session import Session
    from oncall_dojo.incident.model import Evidence, Incident


@dataclass
class Run:
    label: str
    outcome: Outcome

    @property
    def result(self) -> Result:
        return self.outcome.result


_RUNS: dict[tuple[str, int, str, int, tuple[str, ...]], Run] = {}
"""(id, version, incident JSON, seed, actions) -> a finished run."""
_KEEP = 8


def comparison_run(incident: Incident, seed: int, actions: list[str] | None, label: str) -> Run:
    """Play timed actions from the same seed to the end (what `check.play` does), keeping its outcome.

    Runs are deterministic, so the last few are kept: playing the same incident and seed again
    (or a test suite) does not simulate them twice."""
    from oncall_dojo.game.check import play_session

    key = _run_key(incident, seed, actions)
    hit = _RUNS.get(key)
    if hit is None:
        hit = Run(label, Outcome.of(play_session(incident, seed, actions)))
        _keep(incident, seed, actions, hit)
    return Run(label, hit.outcome)


_AHEAD: dict[tuple[str, int, str, int], Background] = {}
"""(id, version, incident JSON, seed) -> the comparison runs being played in a worker process."""


def _ahead_key(incident: Incident, seed: int) -> tuple[str, int, str, int]:
    return (incident.id, incident.version, incident.model_dump_json(), seed)


def play_ahead(incident: Incident, seed: int) -> None:
    """Start the debrief's comparison runs (the reference, doing nothing) in a worker process
    now, while the player plays: they do not depend on what the player does. Only the
    latest game's are kept."""
    key = _ahead_key(incident, seed)
    if key in _AHEAD:
        return
    stop_playing_ahead()
    kept = [_run_key(incident, seed, a) for a in (incident.playthroughs.reference.actions, None)]
    if all(k in _RUNS for k in kept):  # played for an earlier game of this seed: nothing to do
        return
    _AHEAD[key] = Background(incident, seed, ["reference", "idle"], default_cache())


def stop_playing_ahead() -> None:
    for bg in _AHEAD.values():
        bg.stop()
    _AHEAD.clear()


def comparison_runs(incident: Incident, seed: int) -> list[Run]:
    """The reference and doing nothing from the same seed, taken from the worker `play_ahead`
    started when there is one (waiting for it if it is still at work), else played here."""
    ref_actions = incident.playthroughs.reference.actions
    bg = _AHEAD.pop(_ahead_key(incident, seed), None)
    if bg is not None:
        outcomes = bg.outcomes()
        bg.stop()
        for name, actions in (("reference", ref_actions), ("idle", [])):
            o = outcomes.get(name) if outcomes is not None else None
            if o is not None:
                _keep(incident, seed, actions, Run(name, o))
    return [
        comparison_run(incident, seed, ref_actions, "Reference"),
        comparison_run(incident, seed, None, "Did nothing"),
    ]


def _run_key(
    incident: Incident, seed: int, actions: list[str] | None
) -> tuple[str, int, str, int, tuple[str, ...]]:
    return (incident.id, incident.version, incident.model_dump_json(), seed, tuple(actions or ()))


def _keep(incident: Incident, seed: int, actions: list[str] | None, run: Run) -> None:
    key = _run_key(incident, seed, actions)
    if len(_RUNS) >= _KEEP:
        _RUNS.pop(next(iter(_RUNS)))
    _RUNS[key] = run


def unseen(s: Session) -> list[Evidence]:
    """The incident's key evidence the player did not look at before the first change (the
    rule the score's evidence item uses)."""
    looked = {view for view, _, ok in key_signals(s) if ok}
    return [e for e in s.incident.evidence if e.view not in looked]


def key_metrics(incident: Incident) -> list[tuple[str, str, str]]:
    """(label, selector, fn) of the metrics that decide resolution, for the timeline charts."""
    out: list[tuple[str, str, str]] = []
    for c in incident.resolution.conditions:
        fn = c.fn if c.fn in ("rate", "increase") else "max"
        out.append((c.describe(), c.metric, fn))
    return out
