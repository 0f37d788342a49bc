"""Golden `dojo run --json` outputs of every bundled incident: reference and idle, seeds 1-3.

They pin the simulation and the scoring byte for byte, so a refactor that should
change nothing shows any change it makes. `test_check.py` compares against them.
When a change is meant to alter outcomes, rewrite them with

    .venv/bin/python tests/incidents/run_goldens.py [INCIDENT...]

and review the diff before committing it. The tests never rewrite them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from oncall_dojo.game.check import play_session
from oncall_dojo.game.plays import run_json
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.packs import discover

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
SEEDS = (1, 2, 3)
PLAYTHROUGHS = ("reference", "idle")


def golden_path(incident_id: str) -> Path:
    return GOLDEN_DIR / f"{incident_id}.json"


def dump(obj: Any) -> str:
    """Exactly what `dojo run --json` prints (without the final newline)."""
    return json.dumps(obj, indent=2)


def play(incident: Incident, playthrough: str, seed: int) -> dict[str, Any]:
    inc = incident.for_seed(seed)
    actions = inc.playthroughs.reference.actions if playthrough == "reference" else None
    return run_json(play_session(inc, seed, actions))


def write(incident: Incident) -> Path:
    runs = {p: {str(seed): play(incident, p, seed) for seed in SEEDS} for p in PLAYTHROUGHS}
    path = golden_path(incident.id)
    path.write_text(dump(runs) + "\n", encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    wanted = set(argv)
    for found in discover():
        if not found.bundled or (wanted and found.path.stem not in wanted):
            continue
        print(write(load_checked(found.path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
