"""Scoring the bundled incident from what the simulation measured."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from oncall_dojo.game.scoring import GRADES, Item, Result
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident

Play = Callable[..., Session]

UPDATE = '00:30 update "Card charges are delayed; we are investigating and will update again."'
MAILER_RUN = ["00:20 ack", UPDATE, "01:00 restart mailer", "01:30 diagnose mailer-deploy"]


def item(result: Result, key: str) -> Item:
    return next(i for i in result.items if i.key == key)


def expected_grade(score: int) -> str:
    for floor, grade in ((90, "A"), (80, "B"), (70, "C"), (60, "D")):
        if score >= floor:
            return grade
    return "F"


@pytest.fixture(scope="module")
def reference(play: Play, poison: Incident) -> Session:
    return play(poison.playthroughs.reference.actions)


@pytest.fixture(scope="module")
def idle(play: Play) -> Session:
    return play([])


@pytest.fixture(scope="module")
def purge(play: Play, poison: Incident) -> Session:
    harmful = {h.name: h for h in poison.playthroughs.harmful}
    return play(harmful["purge-the-queue"].actions)


@pytest.fixture(scope="module")
def mailer(play: Play) -> Session:
    """Acknowledge, post an update, restart the healthy mailer, blame the mailer deploy."""
    return play(MAILER_RUN)


def test_the_reference_playthrough_resolves_and_scores_high(reference: Session) -> None:
    r = reference.result
    assert r is not None
    assert r.resolved
    assert r.score >= 85
    assert r.times["mitigated"] is not None and r.times["cause_removed"] is not None
    assert item(r, "diagnosis").points == 10
    assert item(r, "work_lost").points == 10
    assert item(r, "evidence").points == 5
    assert not [i for i in r.items if i.key == "needless"], (
        "restarting a crash-looping pool is not needless"
    )


def test_doing_nothing_leaves_the_incident_unresolved_and_scores_far_lower(
    reference: Session, idle: Session
) -> None:
    r, ref = idle.result, reference.result
    assert r is not None and ref is not None
    assert not r.resolved
    assert r.times["mitigated"] is None
    assert r.times["acknowledged"] is None
    assert r.score < ref.score - 20
    assert item(r, "impact").points < item(ref, "impact").points
    assert r.impact["messages_late"] > ref.impact["messages_late"]


def test_purging_loses_work_and_earns_no_work_lost_points(purge: Session) -> None:
    r = purge.result
    assert r is not None
    purged = sum(q.stats.purged for q in purge.system.queues.values())
    assert r.impact["messages_lost"] == purged > 0
    lost = item(r, "work_lost")
    assert lost.points == 0
    assert f"{purged:,} messages were deleted unprocessed" in lost.detail


def test_purging_scores_clearly_below_the_reference(purge: Session, reference: Session) -> None:
    assert purge.result is not None and reference.result is not None
    assert purge.result.score <= reference.result.score - 10


def test_declaring_the_wrong_cause_earns_nothing_and_explains_why_not(
    mailer: Session, poison: Incident
) -> None:
    r = mailer.result
    assert r is not None
    diagnosis = item(r, "diagnosis")
    assert diagnosis.points == 0
    why_not = next(o.why_not for o in poison.root_cause.options if o.id == "mailer-deploy")
    assert why_not
    assert why_not in diagnosis.detail
    assert "mailer-deploy" in diagnosis.detail


def test_a_status_update_during_impact_earns_comms_points(mailer: Session, idle: Session) -> None:
    assert mailer.result is not None and idle.result is not None
    comms = item(mailer.result, "comms")
    assert comms.points == comms.max == 5
    assert "first at 00:30" in comms.detail
    assert item(idle.result, "comms").points == 0


def test_restarting_a_healthy_pool_is_listed_as_needless(mailer: Session) -> None:
    r = mailer.result
    assert r is not None
    needless = item(r, "needless")
    assert "restarted mailer at 01:00 although it was healthy" in needless.detail
    assert needless.points == -3


def test_hints_taken_cost_exactly_their_points(
    play: Play, poison: Incident, reference: Session
) -> None:
    with_hint = play(["00:10 hint take", *poison.playthroughs.reference.actions]).result
    without = reference.result
    assert with_hint is not None and without is not None
    cost = poison.hints[0].cost
    assert item(with_hint, "hints").points == -cost
    assert sum(i.points for i in without.items) - sum(
        i.points for i in with_hint.items
    ) == pytest.approx(cost)
    assert without.score - with_hint.score == pytest.approx(cost, abs=1)
    others = [(i.key, i.points) for i in with_hint.items if i.key != "hints"]
    assert others == [(i.key, i.points) for i in without.items]


def test_the_positive_items_add_up_to_100(reference: Session) -> None:
    r = reference.result
    assert r is not None
    assert sum(i.max for i in r.items) == 100
    assert r.score == round(sum(i.points for i in r.items))


def test_grades_follow_the_thresholds(
    reference: Session, idle: Session, purge: Session, mailer: Session
) -> None:
    assert GRADES == ((90, "A"), (80, "B"), (70, "C"), (60, "D"), (0, "F"))
    results = [s.result for s in (reference, idle, purge, mailer)]
    for r in results:
        assert r is not None
        assert r.grade == expected_grade(r.score), r.score
    assert len({r.grade for r in results if r}) >= 2


def test_the_timeline_places_faults_before_the_page_and_is_in_order(reference: Session) -> None:
    r = reference.result
    assert r is not None
    assert {"at": 0, "kind": "page", "text": "paged by QueueAgeHigh_payments"} in r.timeline
    faults = [e for e in r.timeline if e["kind"] == "fault"]
    assert [e["at"] for e in faults] == [
        f.started - reference.page_tick for f in reference.fault_runs
    ]
    assert all(e["at"] < 0 for e in faults)
    ats = [e["at"] for e in r.timeline]
    assert ats == sorted(ats)
    kinds = {e["kind"] for e in r.timeline}
    assert {"page", "fault", "act", "investigate", "outcome"} <= kinds
