"""`dojo check` over every bundled incident: the reference resolves it and beats idle and harmful play."""

from __future__ import annotations

import pytest

from oncall_dojo.game.check import MARGIN_HARMFUL, MARGIN_IDLE, check_incident
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.packs import Found, discover

SEEDS = (1, 2)


@pytest.mark.parametrize("found", [f for f in discover() if f.bundled], ids=lambda f: f.path.stem)
def test_the_incident_proves_itself(found: Found) -> None:
    incident = load_checked(found.path)
    report = check_incident(incident, SEEDS)
    problems = [f"seed {s.seed}: {p}" for s in report.seeds for p in s.problems]
    assert report.ok, "\n".join(problems)
    assert [s.seed for s in report.seeds] == list(SEEDS)
    for s in report.seeds:
        assert s.reference.resolved
        assert s.reference.score >= s.idle.score + MARGIN_IDLE
        assert set(s.harmful) == {h.name for h in incident.playthroughs.harmful}
        assert all(s.reference.score >= r.score + MARGIN_HARMFUL for r in s.harmful.values())
