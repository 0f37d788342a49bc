"""Scoring the bundled incident from what the simulation measured."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest

from oncall_dojo.game.evidence import evidence_covered, key_signals, seen_before_acting
from oncall_dojo.game.play import finish, perform
from oncall_dojo.game.report import what_was_done
from oncall_dojo.game.scoring import HARM_CAP, Item, Result
from oncall_dojo.game.session import Session
from oncall_dojo.game.times import FAST_BURN, GROWTH_STEP_S, impact_growing
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.model import Hint, Incident, parse_timed
from oncall_dojo.incident.packs import bundled_dir
from oncall_dojo.sim.observability.metrics import Query
from oncall_dojo.tui.report import unseen

Play = Callable[..., Session]

UPDATE = '00:30 update "Card charges are delayed; we are investigating and will update again."'
MAILER_RUN = [
    "00:20 ack",
    UPDATE,
    "01:00 restart mailer",
    "01:30 diagnose workers:mailer bad-release",
]


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
    assert f"{purged:,} orders to charge" in lost.detail


def test_irreversible_harm_caps_the_score_below_a_clean_slow_fix(
    purge: Session, play: Play, poison: Incident
) -> None:
    r = purge.result
    assert r is not None and r.score <= HARM_CAP and r.grade == "F"
    # the reference's careful fix, plus a purge of the backlog behind the poison message
    actions = [*poison.playthroughs.reference.actions, "02:15 purge payments"]
    actions.sort(key=lambda a: a[:5])
    careless = play(actions).result
    assert careless is not None
    cap = item(careless, "harm_cap")
    assert "orders to charge purged" in cap.detail and cap.points < 0
    assert careless.score == HARM_CAP and careless.grade == "F"
    # the same fix without the purge, late and without a word: never below the purge
    assert poison.playthroughs.minimal is not None
    late = [
        f"{int(t.split(':')[0]) + 5:02d}:{t.split(':')[1]}"
        for t in poison.playthroughs.minimal.actions
    ]
    slow = play(late).result
    assert slow is not None and not any(i.key == "harm_cap" for i in slow.items)
    assert slow.score > r.score


def test_impact_is_told_in_the_business_units(idle: Session) -> None:
    r = idle.result
    assert r is not None
    detail = item(r, "impact").detail
    assert "orders to charge: " in detail and "minutes of error budget" in detail
    units = {u["queue"]: u for u in r.impact["business_units"]}
    pay = units["payments"]
    assert pay["unit"] == "orders to charge" and pay["late"] > 0
    assert pay["total"] == idle.system.queues["payments"].stats.produced
    assert "scored on the worst (orders to charge)" in detail


def test_mitigation_is_when_impact_stopped_growing(reference: Session, idle: Session) -> None:
    r = reference.result
    assert r is not None
    t = r.times
    assert t["mitigated"] is not None and t["resolved"] is not None
    assert t["mitigated"] <= t["resolved"] and t["cause_removed"] <= t["resolved"]
    assert t["healthy"] is not None and t["healthy"] <= t["resolved"]
    s = reference
    after = s.page_tick + t["mitigated"] + GROWTH_STEP_S
    assert not any(impact_growing(s, x) for x in range(after, s.system.t, 60))
    assert impact_growing(s, s.page_tick + t["mitigated"])
    assert impact_growing(idle, idle.system.t - 1)


def test_purging_scores_clearly_below_the_reference(purge: Session, reference: Session) -> None:
    assert purge.result is not None and reference.result is not None
    assert purge.result.score <= reference.result.score - 10


def test_naming_a_red_herring_earns_nothing_costs_points_and_explains_why_not(
    mailer: Session, poison: Incident
) -> None:
    r = mailer.result
    assert r is not None
    assert item(r, "diagnosis").points == 0
    assert "workers:mailer, bad-release" in item(r, "diagnosis").detail
    herring = item(r, "red_herring")
    assert herring.points == -3
    why_not = next(h.why_not for h in poison.root_cause.red_herrings if h.part == "workers:mailer")
    assert why_not and why_not in herring.detail


@pytest.mark.parametrize(
    ("declared", "points", "herring"),
    [
        ("queue:payments poison-message", 10, False),
        ("workers:billing poison-message", 10, False),  # either part a postmortem could name
        ("workers:billing capacity-shortfall", 4, False),  # the right part, the wrong mechanism
        ("postgres poison-message", 0, False),  # the right mechanism on the wrong part
        ("workers:mailer poison-message", 0, True),
    ],
)
def test_a_diagnosis_is_judged_by_part_then_mechanism(
    play: Play, declared: str, points: float, herring: bool
) -> None:
    r = play([f"00:20 diagnose {declared} notes"]).result
    assert r is not None
    assert item(r, "diagnosis").points == points
    assert any(i.key == "red_herring" for i in r.items) is herring


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


@pytest.mark.parametrize(
    ("view", "seen", "covered"),
    [
        ("queues", ["queue:fulfillment"], True),  # one queue in detail shows the queues signal
        ("queues", ["metrics:queue_depth"], True),  # so does a queue metric
        ("queues", ["map"], True),
        ("workers", ["map"], True),
        ("queue:payments", ["messages:payments"], True),
        ("messages:payments", ["queue:payments"], True),
        ("queue:payments", ["metrics:queue_depth"], False),  # a metric names no queue here
        ("queue:payments", ["map"], False),
        ("workers:billing", ["map"], False),
        ("workers", ["metrics:kube_pod_container_status_restarts_total"], True),
        ("db:indexes", ["db:indexes"], True),
        ("logs", ["logs:all"], True),
        ("queue:payments", ["queues"], True),  # the listing shows every queue, this one too
        ("messages:payments", ["queues"], False),  # but none of its messages
        ("queue:payments", ["queue:emails"], False),
        ("logs:billing", ["logs:all"], False),
        ("logs", ["logs:billing"], True),
        ("db:indexes", ["db:stats"], False),
    ],
)
def test_evidence_is_credited_by_signal(view: str, seen: list[str], covered: bool) -> None:
    assert evidence_covered(view, seen) is covered


def test_evidence_before_acting_follows_the_order_of_commands(play: Play) -> None:
    """A look and a change in the same second: the look counts when it came first."""
    looked = play(["00:30 queue payments", "00:30 workers billing", "00:30 restart billing"])
    acted = play(["00:30 restart billing", "00:30 queue payments", "00:30 workers billing"])
    assert looked.result is not None and acted.result is not None
    assert "looked at 2 of 3" in item(looked.result, "evidence").detail
    assert "looked at 0 of 3" in item(acted.result, "evidence").detail
    # the debrief's list follows the same rule
    assert [e.view for e in unseen(looked)] == ["logs:billing"]
    assert [v for v, _, ok in key_signals(acted) if not ok] == [e.view for e in unseen(acted)]
    assert seen_before_acting([("queues", False), (None, True), ("logs:billing", False)]) == {
        "queues"
    }


def test_the_queues_listing_counts_as_looking_at_each_queue(play: Play) -> None:
    """`queues` shows every queue's depth and oldest message: it credits `queue:payments`."""
    listed = play(["00:30 queues", "00:40 restart billing"])
    assert listed.result is not None
    assert "looked at 1 of 3" in item(listed.result, "evidence").detail
    assert [v for v, _, ok in key_signals(listed) if ok] == ["queue:payments"]


def test_the_reference_is_compared_by_command_and_target() -> None:
    assert what_was_done("dlq move payments top") == ("dlq move", "payments")
    assert what_was_done("dlq move   payments msg_1a2b") == ("dlq move", "payments")
    assert what_was_done('update "Charges are delayed; we are on it."') == ("update", None)
    assert what_was_done("update 'Something else entirely, in other words'") == ("update", None)
    assert what_was_done("diagnose queue:payments poison-message notes") == (
        "diagnose",
        "queue:payments",
    )
    assert what_was_done("resolve all good") == ("resolve", None)
    assert what_was_done("scale billing 8") != what_was_done("scale mailer 8")


def _burn(s: Session, t: int, window: int) -> float:
    m = s.system.metrics

    def inc(sel: str) -> float:
        return m.query(Query(metric=sel, fn="increase", window=window), t) or 0.0

    total = inc("http_requests_total")
    bad = inc('http_requests_total{code=~"5..|429"}') + inc("http_requests_slow_total")
    return bad / total if total else 0.0


def test_a_minute_of_slow_requests_is_a_blip_not_impact_still_growing(play: Play) -> None:
    """Impact from requests counts as growing only over both the last minute and the last five,
    as a multi-window burn-rate alert pages: the healthy system's slow tail crosses the fast-burn
    rate for a minute now and then, and that must not keep an incident unmitigated."""
    inc = load_checked(bundled_dir() / "checkout-payment-errors.yaml")
    s = play(inc.playthroughs.reference.actions, seed=1, incident=inc.for_seed(1))
    threshold = FAST_BURN * (1 - s.system.cfg.slo.availability)
    blips = [
        t
        for t in range(300, s.system.t, GROWTH_STEP_S)
        if _burn(s, t, 60) > threshold and _burn(s, t, 300) <= threshold
    ]
    assert blips, "no minute-long blip to judge"
    assert not any(impact_growing(s, t) for t in blips)
    times = s.result.times if s.result else {}
    assert times["mitigated"] is not None and times["mitigated"] <= 600, times


def test_work_already_late_when_paged_is_told_but_not_held_against_the_responder(
    play: Play,
) -> None:
    inc = load_checked(bundled_dir() / "repeat-card-charges.yaml")
    s = play(inc.playthroughs.reference.actions, seed=1, incident=inc.for_seed(1))
    r = s.result
    assert r is not None
    unit = next(u for u in r.impact["business_units"] if u["queue"] == "payments")
    q = s.system.queues["payments"]
    assert unit["already_late"] > 0
    assert unit["late"] + unit["already_late"] == q.stats.late
    assert unit["late"] == q.late_due_from(s.page_tick) < q.late_due_from(0)
    assert f"{unit['already_late']:,} already late when paged" in item(r, "impact").detail
    assert r.grade == "A", r.score


def test_restarting_a_pool_that_fails_its_messages_is_not_needless() -> None:
    """every-site-failing: billing's replicas all run, its queue keeps up, yet it fails most of
    its charges (its outside calls fail); a restart there is a try, not a needless action."""
    from oncall_dojo.game.needless import needless_actions, pool_was_troubled

    s = Session(load_checked(bundled_dir() / "every-site-failing.yaml"), 1)
    s.advance(60)
    g = s.system.g_w["billing"]
    vals = s.system.metrics.values
    lo, t = max(0, s.system.t - 300), s.system.t
    assert vals[lo:t, g["err"]].sum() > 0.01 * (vals[lo:t, g["err"]] + vals[lo:t, g["ok"]]).sum()
    assert pool_was_troubled(s, "billing", t)
    assert perform(s, "restart billing").kind == "act"
    assert not [n for n in needless_actions(s) if n.startswith("restarted billing")]
