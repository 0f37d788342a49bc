"""`dojo check` over every bundled incident: the reference resolves it and beats idle and harmful play.

The same plays are held to their golden `dojo run --json` output (reference and
idle at seeds 1-3), so any change to the simulation or the scoring shows up here,
byte for byte. Seed 3 is played for the goldens only. Each incident is validated first, as
an author would (`dojo validate`, then `dojo check`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from run_goldens import PLAYTHROUGHS, SEEDS, dump, golden_path
from suite import BUNDLED_COUNT, bundled

from oncall_dojo.cli import main
from oncall_dojo.game.check import MARGIN_HARMFUL, MARGIN_IDLE, check_incident
from oncall_dojo.game.plays import PlayCache, seed_docs
from oncall_dojo.game.probes import probes
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.packs import Found

CHECK_SEEDS = (1, 2)
BUNDLED = bundled()


def test_every_bundled_incident_is_checked_and_has_goldens() -> None:
    assert len(BUNDLED) == BUNDLED_COUNT == 21
    assert all(golden_path(f.path.stem).exists() for f in BUNDLED)


@pytest.mark.parametrize("found", BUNDLED, ids=lambda f: f.path.stem)
def test_the_incident_proves_itself(found: Found, capsys: pytest.CaptureFixture[str]) -> None:
    path = found.path
    assert found.bundled
    incident = load_checked(path)
    assert incident.id == path.stem
    # `dojo validate` first: its trial plays every playthrough at seed 1 into the play cache,
    # where the check below takes them (in one test, so no two workers play them at once)
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    if incident.vary:  # checked for several seeds, every choice at least once
        assert out.startswith(f"{path}: ok (seeds 1, 2, 3, 4, 5") and out.endswith(")\n")
    else:
        assert out == f"{path}: ok\n"
    cache = PlayCache.default()  # the test run's own: shared with the other tests that check
    played: list[tuple[str, int]] = []
    report = check_incident(
        incident, CHECK_SEEDS, cache=cache, on_play=lambda n, seed, _s: played.append((n, seed))
    )
    # validate's trial played the reference, minimal and harmful plays; the check adds the rest
    trial_left = {"idle"} | {p.name for p in probes(incident.for_seed(1))}
    assert {n for n, seed in played if seed == 1} <= trial_left, "played twice at seed 1"
    problems = [f"seed {s.seed}: {p}" for s in report.seeds for p in s.problems]
    assert report.ok, "\n".join(problems)
    assert [s.seed for s in report.seeds] == list(CHECK_SEEDS)
    for s in report.seeds:
        assert s.reference.resolved
        assert s.reference.score >= s.idle.score + MARGIN_IDLE
        assert set(s.harmful) == {h.name for h in incident.playthroughs.harmful}
        assert all(s.reference.score >= r.score + MARGIN_HARMFUL for r in s.harmful.values())
        # each seed plays its own variant, playthroughs included: `vary` picked, `${}` filled
        assert s.values == incident.for_seed(s.seed).picked
        tried = {p.name for p in probes(incident.for_seed(s.seed))}
        assert (
            set(s.runs)
            == {"reference", "idle", "minimal"} | {f"harmful:{n}" for n in s.harmful} | tried
        )
        # a wrong value where the reference applies a remedy never resolves the incident
        assert set(s.probes) == tried
        assert not any(r.resolved for r in s.probes.values())
        commands = [c["command"] for doc in s.runs.values() for c in doc["commands"]]
        assert not any("${" in c for c in commands)
        if "flag" in s.values:  # the flag a seed picks is the one its playthroughs turn
            turned = {c.split()[1] for c in commands if c.startswith("flag ")}
            assert turned == {s.values["flag"]}

    runs: dict[str, dict[str, Any]] = {p: {} for p in PLAYTHROUGHS}
    for s in report.seeds:
        for p in PLAYTHROUGHS:
            runs[p][str(s.seed)] = s.runs[p]
    for seed in SEEDS:
        if seed not in CHECK_SEEDS:
            for p, doc in seed_docs(incident, seed, cache, names=PLAYTHROUGHS).items():
                runs[p][str(seed)] = doc
    golden = json.loads(golden_path(incident.id).read_text(encoding="utf-8"))
    for p in PLAYTHROUGHS:
        for seed in SEEDS:
            got, want = dump(runs[p][str(seed)]), dump(golden[p][str(seed)])
            assert got == want, f"{incident.id} {p} seed {seed}: `dojo run --json` changed" + (
                "; if meant, rewrite with tests/incidents/run_goldens.py and review the diff"
            )
