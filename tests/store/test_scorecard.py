"""The interview scorecard: golden Markdown and JSON of a scripted interview, the HTML page
self-contained, marks checked against the rubric, the rubric file validated with located
errors, and the percentile among a loop's earlier candidates.

Rewrite the goldens (and review the diff) with:

    .venv/bin/python tests/store/test_scorecard.py
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from storekit import fixed_clock  # noqa: E402

from oncall_dojo.game import rubric as rubrics  # noqa: E402
from oncall_dojo.game import scorecard as card  # noqa: E402
from oncall_dojo.incident.model import Incident  # noqa: E402
from oncall_dojo.incident.yamlload import YamlModelError  # noqa: E402
from oncall_dojo.net.interview import new_interview  # noqa: E402
from oncall_dojo.store import Store  # noqa: E402
from oncall_dojo.store import interviews as records  # noqa: E402

GOLDEN = HERE.parent / "fixtures" / "scorecards"
SID = "0000interview1"
SEED = 5
SCRIPT: list[tuple[int, str]] = [
    (20, "alerts"),
    (15, "queue payments"),
    (0, "!note went straight to the queue; good"),
    (20, "logs billing level=warn"),
    (0, "!nudge What do you suspect?"),
    (5, "say one message keeps crashing billing, I think"),
    (0, "ack"),
    (10, "note checking the workers before I touch anything"),
    (10, "workers billing"),
    (0, "!hint"),
    (15, "dlq move payments top"),
    (
        10,
        "diagnose queue:payments poison-message one bad charge request kills every billing worker",
    ),
    (0, "!pause"),
    (0, "!resume"),
    (30, 'update "Charges are delayed; a bad message is parked, billing is recovering."'),
    (120, "queue payments"),
    (10, "resolve"),
]
MARKS = {
    "lines": {
        "investigation": {"mark": 4, "note": "queue, logs and workers before acting", "by": "ivy"},
        "hypothesis": {"mark": 3, "note": "one hypothesis, tested", "by": "ivy"},
        "safety": {"mark": 3, "note": "parked rather than purged", "by": "ivy"},
        "communication": {"mark": 2, "note": "one update, late", "by": "ivy"},
    },
    "words": {"mark": "right", "note": "names the message and the crash", "by": "ivy"},
}


def record(poison: Incident, db: Path) -> Store:
    """The scripted interview, recorded into `db` with a fixed clock and session id."""
    store = Store.open(db, clock=fixed_clock())
    host = new_interview(
        poison.for_seed(SEED), SEED, host_name="ivy", store=store, minutes=30, session_id=SID
    )
    token = host.seats[1].token
    assert token is not None
    host.join(token, "Cam Doe")
    for wait, line in SCRIPT:
        if wait:
            host.session.advance(wait)
        if line.startswith("!"):
            word, _, arg = line[1:].partition(" ")
            host.facilitate("ivy", word, arg)
        else:
            reply = host.command("Cam Doe", line)
            assert reply.kind != "refused", (line, reply.output)
    asyncio.run(host.finish())
    records.set_marks(store, SID, MARKS)
    return store


def scorecard(poison: Incident, tmp: Path) -> dict[str, Any]:
    store = record(poison, tmp / "dojo.db")
    try:
        return records.scorecard(store, SID, poison, rubrics.load())
    finally:
        store.close()


def test_golden_scorecards(poison: Incident, tmp_path: Path) -> None:
    data = scorecard(poison, tmp_path)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    assert text == (GOLDEN / "interview.json").read_text(encoding="utf-8")
    assert card.markdown(data) == (GOLDEN / "interview.md").read_text(encoding="utf-8")
    # what the goldens hold, said plainly
    assert data["candidate"] == "Cam Doe" and data["interviewers"] == ["ivy"]
    assert [m["key"] for m in data["milestones"] if m["at"] is not None] == [
        "acknowledged",
        "first_look",
        "first_action",
        "mitigated",
        "diagnosed",
        "resolved",
    ]
    # the reference's milestones too: it looked, acted and diagnosed, as its timeline says
    assert all(m["reference_at"] is not None for m in data["milestones"])
    acts = data["interviewer_actions"]
    assert len(acts["nudges"]) == len(acts["hints"]) == len(acts["pauses"]) == 1
    assert acts["notes"] == 1
    assert data["diagnosis"]["words"] == "one bad charge request kills every billing worker"
    assert data["diagnosis"]["verdict"] == "right" and data["diagnosis"]["words_mark"] == "right"
    assert [ln["mark"] for ln in data["rubric"]["lines"]] == [4, 3, 3, 2, None]
    kinds = {(t["role"], t["kind"]) for t in data["timeline"]}
    assert {("interviewer", "note"), ("interviewer", "nudge"), ("interviewer", "hint")} <= kinds
    assert {("candidate", "say"), ("candidate", "note")} <= kinds


def test_the_html_page_is_self_contained(poison: Incident, tmp_path: Path) -> None:
    page = card.html(scorecard(poison, tmp_path))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for outside in ("http://", "https://", "<script", "<link", "src=", "url(", "@import"):
        assert outside not in page, outside
    assert "@media print" in page and "Cam Doe" in page and "What do you suspect?" in page
    # text from the record is escaped, never markup
    data = scorecard(poison, tmp_path / "again") if (tmp_path / "again").mkdir() is None else {}
    data["candidate"] = "<img src=x onerror=alert(1)>"
    assert "<img" not in card.html(data)


def test_percentile_needs_four_earlier_candidates() -> None:
    assert card._percentile(50, [10, 20, 30]) is None
    assert card._percentile(50, [10, 20, 30, 40]) == 100.0
    assert card._percentile(50, [10, 20, 30, 40, 60]) == 80.0
    assert card._percentile(30, [10, 30, 30, 90, 95]) == 40.0


def test_a_broken_rubric_file_gets_located_errors(tmp_path: Path) -> None:
    bad = tmp_path / "rubric.yaml"
    bad.write_text(
        "name: ours\nlines:\n  - id: look\n    title: Looks first\n    anchors: [a, b]\n"
        "  - id: Bad Id\n    titel: x\n    anchors: [a, b, c, d]\n",
        encoding="utf-8",
    )
    with pytest.raises(YamlModelError) as exc:
        rubrics.load(bad)
    text = str(exc.value)
    assert re.search(r"rubric\.yaml:5:\d+: lines\[0\]\.anchors: .*at least 4", text), text
    assert re.search(r"rubric\.yaml:7:\d+: lines\[1\]: unknown key 'titel'", text), text
    assert re.search(r"rubric\.yaml:\d+:\d+: lines\[1\]\.id: ", text), text


def test_the_default_rubric_has_the_five_lines_anchored() -> None:
    r = rubrics.load().rubric
    assert [ln.id for ln in r.lines] == [
        "investigation",
        "hypothesis",
        "safety",
        "communication",
        "repair",
    ]
    assert all(len(ln.anchors) == 4 and all(len(a) > 40 for a in ln.anchors) for ln in r.lines)
    with pytest.raises(rubrics.BadMark, match="the lines are investigation"):
        rubrics.check_mark(r, "speed", 3)
    with pytest.raises(rubrics.BadMark, match="1 to 4, not 5"):
        rubrics.check_mark(r, "safety", 5)


def test_marks_and_scorecard_from_the_command_line(
    poison: Incident, dojo: Any, tmp_path: Path
) -> None:
    import os

    record(poison, Path(os.environ["DOJO_HOME"]) / "dojo.db").close()
    code, out, _ = dojo("interview", "mark", "Cam Doe", "repair", "4", "verified", "the", "queue")
    assert code == 0 and "Repair and verification: 4" in out
    code, _, err = dojo("interview", "mark", "Cam Doe", "repair", "7")
    assert code == 2 and "1 to 4" in err
    code, _, err = dojo("interview", "mark", "Cam Doe", "words", "maybe")
    assert code == 2 and "right, partly, wrong" in err
    for fmt in ("md", "json", "html"):
        path = tmp_path / f"card.{fmt}"
        code, out, err = dojo("interview", "scorecard", "Cam Doe", "--format", fmt, "-o", str(path))
        assert code == 0, err
    data = json.loads((tmp_path / "card.json").read_text(encoding="utf-8"))
    repair = data["rubric"]["lines"][-1]
    assert repair["mark"] == 4 and repair["note"] == "verified the queue"
    assert "| Repair and verification | 4 |" in (tmp_path / "card.md").read_text(encoding="utf-8")
    assert "verified the queue" in (tmp_path / "card.html").read_text(encoding="utf-8")


if __name__ == "__main__":
    import tempfile

    from oncall_dojo.game.validate import load_checked
    from oncall_dojo.incident.packs import bundled_dir

    inc = load_checked(bundled_dir() / "payments-stuck.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        data = scorecard(inc, Path(tmp))
    GOLDEN.mkdir(parents=True, exist_ok=True)
    (GOLDEN / "interview.json").write_text(
        json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (GOLDEN / "interview.md").write_text(card.markdown(data), encoding="utf-8")
    print(f"wrote {GOLDEN}/interview.json and interview.md")


class _Tab:
    """A candidate's browser tab, as the server gives it to the host."""

    def send(self, frame: str) -> None:
        pass

    def close(self, reason: str) -> None:
        pass


def test_a_candidate_who_never_came_back_lost_the_time_to_the_end_of_play(
    poison: Incident, tmp_path: Path
) -> None:
    """Away from 02:00 until the interviewer ended at 05:00: three minutes lost, not the hour
    to the incident's horizon that measuring the outcome plays through."""
    store = Store.open(tmp_path / "dojo.db", clock=fixed_clock())
    host = new_interview(
        poison.for_seed(SEED), SEED, host_name="ivy", store=store, minutes=30, session_id=SID
    )
    token = host.seats[1].token
    assert token is not None
    tab = _Tab()
    host.join(token, "Cam Doe", tab)
    host.session.advance(120)
    host.leave("Cam Doe", tab)
    host.session.advance(180)
    host.facilitate("ivy", "end")
    asyncio.run(host.finish())
    try:
        data = records.scorecard(store, SID, poison, rubrics.load())
    finally:
        store.close()
    assert host.session.now > 3000  # the outcome was measured to the horizon
    assert data["disconnects"] == {"count": 1, "lost_s": 180}
    page = card.markdown(data)
    assert "Disconnects: 1, time lost 03:00" in page
    assert "- Declared: nothing (no `diagnose` during the exercise)" in page
    assert "Declared: nothing (no <code>diagnose</code>" in card.html(data)
