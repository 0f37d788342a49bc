"""Report golden files (plain files under tests/fixtures/reports/; tests/store/write_fixtures.py
rewrites them, the tests never do).

The sessions are recorded with a fixed clock and fixed ids, so the reports are
byte-for-byte reproducible.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import pytest
from storekit import PLAY_LINES, Record, fixed_clock

from oncall_dojo.game.console import run_console
from oncall_dojo.game.markdown import render
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.packs import bundled_dir
from oncall_dojo.store import Recorder, Store
from oncall_dojo.store.report import build

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
CASES = {
    "good-response": PLAY_LINES,
    "purge-and-guess": [
        "ack",
        "queues",
        "purge payments",
        "restart billing",
        "diagnose workers:billing capacity-shortfall",
        "wait 5m",
        "resolve",
    ],
}


def case_files(case: str, store: Store, poison: Incident) -> dict[str, str]:
    """The report of one case, recorded into `store` (a fixed clock), as its golden files."""
    log = Recorder(store, "alice", "play", session_id=f"{case[:4]}0000golden")
    inp = io.StringIO("\n".join(CASES[case]) + "\n")
    run_console(poison, 5, [], out=io.StringIO(), inp=inp, log=log)
    assert log.keeping and log.session_id is not None, log.broken
    sid = log.session_id
    rep = build(store.session(sid), store.events(sid), poison)
    return {
        f"{case}.md": render(rep),
        f"{case}.json": json.dumps(rep, indent=2, ensure_ascii=False) + "\n",
    }


def write_all() -> list[Path]:
    """Rewrite every golden file (tests/store/write_fixtures.py; never the test run)."""
    poison = load_checked(bundled_dir() / "payments-stuck.yaml")
    written = []
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for case in sorted(CASES):
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open(Path(tmp) / "dojo.db", clock=fixed_clock())
            try:
                files = case_files(case, store, poison)
            finally:
                store.close()
        for name, text in files.items():
            (GOLDEN / name).write_text(text, encoding="utf-8")
            written.append(GOLDEN / name)
    return written


@pytest.mark.parametrize("case", sorted(CASES))
def test_report_matches_the_golden_files(case: str, store: Store, poison: Incident) -> None:
    for name, text in case_files(case, store, poison).items():
        path = GOLDEN / name
        assert path.exists(), f"{path} is missing; write it with tests/store/write_fixtures.py"
        assert text == path.read_text(encoding="utf-8"), (
            f"{name} changed; if intended, rewrite with tests/store/write_fixtures.py and review the diff"
        )


def test_report_without_the_incident_file_still_reports(store: Store, record: Record) -> None:
    sid = record(["ack", "quit"], seed=5)
    rep = build(store.session(sid), store.events(sid), None)
    assert rep["reference"] is None and "diagnosis" in rep
    md = render(rep)
    assert "# Postmortem: payments-stuck" in md and "No reference comparison" in md
