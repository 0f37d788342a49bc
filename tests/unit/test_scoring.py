"""Scoring the bundled incident from what the simulation measured."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest

from oncall_dojo.game.play import finish, perform
from oncall_dojo.game.scoring import Item, Result
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Hint, Incident, parse_timed

Play = Callable[..., Session]

UPDATE = '00:30 update "Card charges are delayed; we are investigating and will update again."'
MAILER_RUN = ["00:20 ack", UPDATE, "01:00 restart mailer", "01:30 diagnose mailer-deploy"]


def item(result: Result, key: str) -> Item:
    return next(i for i in result.items if i.key == key)


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


@pytest.fixture(scope="module")
def near_the_end(poison: Incident) -> bytes:
    """The reference playthrough without its `resolve` (which ends the game early), played to a
    second before the horizon, pickled; the incident carries 60 one-point hints."""
    inc = poison.model_copy(update={"hints": [Hint(text=f"hint {i}", cost=1) for i in range(60)]})
    s = Session(inc, 1)
    for line in poison.playthroughs.reference.actions:
        at, cmd = parse_timed(line)  # type: ignore[misc]
        if cmd != "resolve":
            s.advance_to(at)
            assert perform(s, cmd).kind != "refused", cmd
    s.advance_to(s.now + s.remaining - 1)
    return pickle.dumps(s)


def scored_after_hints(blob: bytes, hints: int) -> Result:
    s: Session = pickle.loads(blob)
    for _ in range(hints):
        assert perform(s, "hint take").kind == "meta"
    return finish(s)


def test_grades_change_at_the_band_edges(near_the_end: bytes) -> None:
    """Scored games whose final scores sit on each side of every band edge (the points a
    game lost to one-point hints bring it there): A from 90, B from 80, C from 70, D from 60."""
    base = scored_after_hints(near_the_end, 0)
    total = sum(i.points for i in base.items)
    edges = {90: "A", 89: "B", 80: "B", 79: "C", 70: "C", 69: "D", 60: "D", 59: "F"}
    assert total - 60 < min(edges) and max(edges) < total, total
    for score, grade in edges.items():
        k = next(k for k in range(61) if round(total - k) == score)
        r = scored_after_hints(near_the_end, k)
        assert (r.score, r.grade) == (score, grade)
        assert item(r, "hints").points == -k


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
