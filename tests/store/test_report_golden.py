"""Report golden files (plain files under tests/fixtures/reports/; UPDATE_GOLDEN=1 rewrites them).

The sessions are recorded with a fixed clock and fixed ids, so the reports are
byte-for-byte reproducible.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from storekit import PLAY_LINES, Record

from oncall_dojo.game.markdown import render
from oncall_dojo.incident.model import Incident
from oncall_dojo.store import Store
from oncall_dojo.store.report import build

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
CASES = {
    "good-response": PLAY_LINES,
    "purge-and-guess": [
        "ack",
        "queues",
        "purge payments",
        "restart billing",
        "diagnose billing-capacity",
        "wait 5m",
        "resolve",
    ],
}


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed; if intended, rerun with UPDATE_GOLDEN=1 and review the diff"
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_report_matches_the_golden_files(
    case: str, store: Store, record: Record, poison: Incident
) -> None:
    sid = record(CASES[case], seed=5, player="alice", session_id=f"{case[:4]}0000golden")
    rep = build(store.session(sid), store.events(sid), poison)
    check(f"{case}.md", render(rep))
    check(f"{case}.json", json.dumps(rep, indent=2, ensure_ascii=False) + "\n")


def test_report_without_the_incident_file_still_reports(store: Store, record: Record) -> None:
    sid = record(["ack", "quit"], seed=5)
    rep = build(store.session(sid), store.events(sid), None)
    assert rep["reference"] is None and "diagnosis" in rep
    md = render(rep)
    assert "# Postmortem: payments-stuck" in md and "No reference comparison" in md
