"""The team debrief: the solo outcome plus the team's measures, per-player timelines, the
facilitator's notes, and the Markdown postmortem draft; one report model for a game played
here and for a recorded one."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncall_dojo.game import injects, markdown, report
from oncall_dojo.game.play import finish, perform
from oncall_dojo.game.session import Session
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.packs import find
from oncall_dojo.store import Recorder, Store
from oncall_dojo.store import report as store_report

ROLES = [  # as the host records them: a handover swaps the two players' roles
    {"at": 400, "player": "dana", "role": "operations", "by": "dana"},
    {"at": 400, "player": "lee", "role": "commander", "from": "operations", "by": "dana"},
]
NOTES = [
    {"at": 200, "text": "two restarts of billing: nobody said who owns billing"},
    {"at": 900, "text": "lee resolves without checking the backlog"},
]


@pytest.fixture(scope="module")
def incident() -> Incident:
    return load_incident(find("payments-stuck"), seed=1)


def play(inc: Incident, store: Store | None = None) -> tuple[Session, str | None]:
    s = Session(inc, 4)
    injects.schedule(s)
    log = Recorder(store, "host", "team") if store is not None else None
    if log is not None:
        log.started(s, 0)
    for at, who, line in [
        (15, "dana", "ack"),
        (30, "lee", "queue payments"),
        (45, "dana", "queue payments"),
        (50, "dana", "logs billing level=warn"),
        (70, "dana", 'update "Card charges are delayed; orders are safe. Investigating."'),
        (100, "lee", "dlq move payments top"),
        (110, "lee", "restart billing"),
        (140, "dana", "restart billing"),
        (200, "lee", "diagnose poison-message"),
    ]:
        s.advance_to(at)
        perform(s, line, who)
    s.advance_to(500)
    perform(s, 'answer "Charges resume within minutes; nothing is lost"', "dana")
    s.advance_to(900)
    perform(s, "resolve", "lee")
    finish(s)
    if log is not None:
        log.flush()
    return s, log.session_id if log is not None else None


def test_the_team_measures(incident: Incident) -> None:
    s, _ = play(incident)
    rep = report.from_session(s, team=True, roles=ROLES, notes=NOTES)
    t = rep["team"]
    assert t["players"] == ["dana", "lee"]
    assert t["first_update"] == {"at": 70, "player": "dana"}
    assert t["handovers"] == 1 and len(t["roles"]) == 2
    assert [(c["players"], c["target"]) for c in t["conflicts"]] == [(["lee", "dana"], "billing")]
    assert [(x["view"], x["player"], x["at"]) for x in t["signals"]] == [
        ("queue:payments", "lee", 30),
        ("logs:billing", "dana", 50),
        ("workers:billing", None, None),
    ]
    assert [
        (a["from"], a["answered_by"], a["answered_at"], a["in_time"]) for a in t["stakeholders"]
    ] == [("Head of Finance", "dana", 500, True)]
    assert [n["text"] for n in t["notes"]] == [
        "two restarts of billing: nobody said who owns billing",
        "lee resolves without checking the backlog",
    ]
    assert [c["command"] for c in t["timelines"]["lee"]][:2] == [
        "queue payments",
        "dlq move payments top",
    ]
    assert t["outcome"]["score"] == rep["outcome"]["score"] == s.result.score  # type: ignore[union-attr]
    pm = rep["postmortem"]
    assert any("Conflicting actions at 02:20" in w for w in pm["went_wrong"])
    assert any("workers:billing" in w for w in pm["went_wrong"])
    assert any("First status update at 01:10 by dana" in w for w in pm["went_well"])
    assert pm["action_items"] and all(a.startswith("Follow up: ") for a in pm["action_items"])


def test_the_postmortem_draft_has_the_usual_shape(incident: Incident) -> None:
    s, _ = play(incident)
    md = markdown.render(report.from_session(s, team=True, roles=ROLES, notes=NOTES))
    heads = [ln for ln in md.splitlines() if ln.startswith("## ")]
    for h in ["## Summary", "## Impact", "## Timeline", "## The team", "## What went well",
              "## What went wrong", "## Action items"]:  # fmt: skip
        assert h in heads, h
    assert (
        heads.index("## What went well")
        < heads.index("## What went wrong")
        < heads.index("## Action items")
    )
    assert "| 06:40 | lee | commander | operations | dana |" in md
    assert "- 03:20: two restarts of billing: nobody said who owns billing" in md
    assert "| 08:00 | Head of Finance | 08:20 | dana | yes |" in md
    assert "**lee**" in md and "- 01:50 `restart billing`" in md


def test_the_summary_says_the_team_was_paged_not_the_facilitator(incident: Incident) -> None:
    s, _ = play(incident)
    rep = report.from_session(s, team=True, roles=ROLES, notes=NOTES, player="host")
    assert rep["summary"].startswith("The team (dana, lee) was paged by ")
    assert "host was paged" not in markdown.render(rep)
    solo = report.from_session(Session(incident, 4), player="alice")
    assert solo["summary"].startswith("alice was paged by ")


def test_a_solo_report_has_no_team_part(incident: Incident) -> None:
    s = Session(incident, 4)
    perform(s, "ack")
    rep = report.from_session(s)
    assert "team" not in rep and "postmortem" not in rep
    assert "## The team" not in markdown.render(rep)


def test_a_recorded_team_game_reports_the_same(incident: Incident, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "dojo.db")
    try:
        s, sid = play(incident, store)
        assert sid is not None and store.verify(sid) == []
        recorded = store_report.build(store.session(sid), store.events(sid), incident)
    finally:
        store.close()
    here = report.from_session(s, team=True)
    for key in (
        "conflicts",
        "signals",
        "stakeholders",
        "injects",
        "timelines",
        "first_update",
    ):
        assert recorded["team"][key] == here["team"][key], key
    assert recorded["postmortem"] == here["postmortem"]
