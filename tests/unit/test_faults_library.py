"""Model behaviours the incident library relies on, each shown emerging from the simulation:
consumers that fail on a dependency, self-triggering consumers and the queue-depth autoscaler, the
broker's memory watermark and its restart, parking and batched replays, partial rollouts with a
reused flag, retries without backoff, the provider's load window, and the commands that act on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.packs import bundled_dir
from oncall_dojo.sim.config import VersionTraits
from oncall_dojo.sim.faults import (
    ConfigChange,
    DependencySlowdown,
    FaultSpec,
    PartialDeploy,
    RetryStorm,
    ReusedFlag,
)
from oncall_dojo.sim.observability.rules import default_rules
from oncall_dojo.sim.system import System

from . import simkit
from .simkit import accounted, config, found, run, value


def system(overrides: dict[str, Any] | None = None, *faults: FaultSpec, seed: int = 1) -> System:
    """The library's systems carry the default alert rules."""
    return simkit.system(overrides, *faults, seed=seed, rules=True)


def bundled(name: str) -> Incident:
    return load_checked(bundled_dir() / f"{name}.yaml")


# ----------------------------------------------------------------------------- failing consumers


def rotated_key(at: int = 60) -> ConfigChange:
    return ConfigChange(
        kind="config_change",
        at=at,
        key="mailer.smtp.key_version",
        value="k2",
        traits={"mailer": VersionTraits(message_error_rate=1.0, message_error="535 bad key")},
    )


def test_a_consumer_whose_dependency_rejects_it_fails_every_message_and_keeps_it() -> None:
    s = system({"config": {"mailer.smtp.key_version": "k1"}}, rotated_key())
    run(s, 60)
    sent_before = s.records.emails
    run(s, 400)
    q = s.queues["emails"]
    assert s.records.emails == sent_before, "nothing is sent while the key is wrong"
    assert value(s, 'worker_jobs_total{pool="mailer",result="error"}', "increase", 300) > 100
    assert q.depth > 1000 and q.stats.purged == 0 and q.dlq_depth == 0
    assert q.oldest_age(s.t) > 300
    assert any("535 bad key" in line for line in found(s, "service:mailer level:error"))
    assert s.faults[0].active(s)
    accounted(s)

    s.config["mailer.smtp.key_version"] = "k1"  # switch the key back
    run(s, 200)
    assert not s.faults[0].active(s)
    assert q.depth < 20, "the waiting messages are sent once the key works"
    assert s.records.emails > sent_before + 1000
    accounted(s)


def test_a_partial_message_error_rate_fails_that_share() -> None:
    """Each job fails with probability 0.5. Pooled over 6 seeds the last 300 s hold about
    13,700 jobs, so the failed share has a standard deviation near 0.0043: the interval
    0.5 +- 0.015 (3.5 of them) refuses a rate that is off by 0.03 either way (0.47 gives 0.469,
    0.53 gives 0.539 here) and does not move with the queueing model's details."""
    ok = err = 0.0
    for seed in range(1, 7):
        tr = VersionTraits(message_error_rate=0.5, message_error="flaky")
        s = system({"versions": {"fulfillment": {"v9": tr}}}, seed=seed)
        s.deploy(0, "fulfillment", "v9", "test")
        run(s, 400)
        ok += value(s, 'worker_jobs_total{pool="fulfillment",result="ok"}', "increase", 300)
        err += value(s, 'worker_jobs_total{pool="fulfillment",result="error"}', "increase", 300)
    assert ok + err > 10_000
    assert abs(err / (ok + err) - 0.5) < 0.015


# ----------------------------------------------------------------------------- self-triggering consumers


THUMBNAILS: dict[str, Any] = {
    "queues": {"thumbnails": {"kind": "generic", "objective_s": 3600, "producer_rps": 0.4}},
    "workers": {
        "thumbnails": {
            "queue": "thumbnails",
            "replicas": 2,
            "service_s": 0.8,
            "version": "v1",
            "cost_per_replica_hour": 0.9,
            "autoscale": {"min_replicas": 2, "max_replicas": 30, "target_per_replica": 20},
        }
    },
    "config": {"thumbnails.output_bucket": "thumbs"},
}


def self_trigger(at: int = 30) -> ConfigChange:
    return ConfigChange(
        kind="config_change",
        at=at,
        key="thumbnails.output_bucket",
        value="uploads",
        traits={"thumbnails": VersionTraits(fanout={"thumbnails": 1.0})},
    )


def test_a_consumer_that_triggers_itself_keeps_its_queue_busy_and_the_autoscaler_scales_it_up() -> (
    None
):
    s = system(THUMBNAILS, self_trigger())
    run(s, 120)
    cost_before = value(s, "cloud_cost_dollars_per_hour")
    run(s, 1200)
    q = s.queues["thumbnails"]
    enq = value(s, 'queue_enqueued_total{queue="thumbnails"}', "rate", 120)
    acked = value(s, 'queue_acked_total{queue="thumbnails"}', "rate", 120)
    assert enq > 20 * 0.4, "far more messages than uploads: every processed one comes back"
    assert abs(enq - acked) < 0.2 * enq, "enqueue and dequeue rise together"
    assert len(s.pools["thumbnails"].live) > 10
    assert value(s, "cloud_cost_dollars_per_hour") > 3 * cost_before
    assert any("keda-operator" in line for line in found(s, "service:keda"))
    accounted(s)

    s.config["thumbnails.output_bucket"] = "thumbs"  # point the output back
    run(s, 60)
    assert q.depth < 5
    assert not s.faults[0].active(s)
    run(s, 400)  # the autoscaler waits out its scale-down delay
    assert len(s.pools["thumbnails"].live) == 2
    accounted(s)


def test_the_autoscaler_respects_its_maximum_and_can_be_turned_off() -> None:
    s = system(THUMBNAILS, self_trigger())
    auto = s.pools["thumbnails"].cfg.autoscale
    assert auto is not None
    auto.max_replicas = 5
    run(s, 900)
    assert len(s.pools["thumbnails"].live) == 5
    auto.enabled = False
    s.pools["thumbnails"].scale(s.t, 3)
    run(s, 120)
    assert len(s.pools["thumbnails"].live) == 3


def test_without_an_autoscaler_or_producers_the_broker_tick_does_nothing() -> None:
    s = system()
    assert not s.broker.active
    run(s, 30)
    assert s.publish_error is None


# ----------------------------------------------------------------------------- the broker


BROKER: dict[str, Any] = {
    "broker": {"max_messages": 2000, "restart_s": 30},
    "queues": {
        "events": {"kind": "generic", "objective_s": 7200, "producer_rps": 30, "durable": False}
    },
    "workers": {"events": {"queue": "events", "replicas": 2, "concurrency": 32, "service_s": 0.2}},
}


def sick_sink(at: int = 20) -> ConfigChange:
    return ConfigChange(
        kind="config_change",
        at=at,
        key="events.tls",
        value="distroless",
        fixed_by=["debian"],  # the base image the sink's TLS works on
        traits={"events": VersionTraits(message_error_rate=1.0, message_error="x509")},
    )


def test_a_failing_sink_fills_the_broker_until_it_blocks_every_publisher() -> None:
    s = system(BROKER, sick_sink())
    run(s, 25)
    assert s.publish_error is None
    run(s, 175)
    assert s.publish_error is not None and "memory alarm" in s.publish_error
    assert value(s, "broker_publishers_blocked") == 1
    orders = s.records.orders
    run(s, 120)
    assert s.records.orders == orders, "checkout publishes before it answers, so it fails"
    assert (
        value(s, 'http_requests_total{route="POST /api/checkout",code="500"}', "increase", 60) > 50
    )
    assert (
        value(s, 'http_requests_total{route="GET /api/products",code="200"}', "increase", 60) > 500
    )
    assert any("connection blocked" in line for line in found(s, "service:api level:error"))
    for other in ("payments", "emails", "fulfillment"):
        assert s.queues[other].depth == 0
    accounted(s)


def test_parking_the_backlog_clears_the_alarm_and_loses_nothing() -> None:
    s = system(BROKER, sick_sink())
    run(s, 450)
    q = s.queues["events"]
    waiting = q.depth
    assert s.publish_error is not None
    assert q.park_all() == waiting
    run(s, 5)
    assert s.publish_error is None
    assert q.dlq_depth == waiting and q.stats.purged == 0
    accounted(s)

    s.config["events.tls"] = "debian"  # repair the sink
    run(s, 30)
    moved = q.replay_oldest(s.t, 500)
    assert moved == 500 and q.dlq_depth == waiting - 500
    run(s, 60)
    assert q.depth < 50
    assert s.publish_error is None
    accounted(s)


def test_a_broker_restart_drops_transient_messages_and_blocks_publishing_for_a_while() -> None:
    s = system(BROKER, sick_sink())
    run(s, 450)
    waiting = s.queues["events"].depth
    lost = s.restart_broker(s.t)
    assert lost == waiting and s.queues["events"].stats.purged == waiting
    run(s, 10)
    assert s.publish_error is not None and "connection refused" in s.publish_error
    run(s, 30)
    assert s.publish_error is None
    accounted(s)


# ----------------------------------------------------------------------------- a partial rollout and a reused flag


def knight(rollout_at: int = 30, flag_at: int = 120) -> tuple[FaultSpec, FaultSpec]:
    return (
        PartialDeploy(
            kind="partial_deploy", at=rollout_at, pool="billing", version="v2.9.0", percent=67
        ),
        ReusedFlag(
            kind="reused_flag",
            at=flag_at,
            key="billing.split_capture",
            pool="billing",
            legacy_versions=["v2.8.3"],
            legacy=VersionTraits(charges_per_message=4),
        ),
    )


KNIGHT: dict[str, Any] = {
    "workers": {
        "billing": {"queue": "payments", "replicas": 3, "concurrency": 2, "version": "v2.8.3"}
    },
    "flags": {"billing.split_capture": False},
}


def test_a_rollout_that_stops_part_way_leaves_one_replica_on_the_old_version() -> None:
    s = system(KNIGHT, *knight())
    run(s, 100)
    versions = sorted(r.version for r in s.pools["billing"].live)
    assert versions == ["v2.8.3", "v2.9.0", "v2.9.0"]
    assert s.faults[0].active(s)
    change = next(c for c in s.changes if c.kind == "deploy")
    assert change.before == "v2.8.3", "the change history shows what ran before the deploy"


def test_the_reused_flag_makes_only_the_stale_replica_charge_again() -> None:
    s = system(KNIGHT, *knight())
    run(s, 110)
    assert s.records.duplicate_charges == 0
    run(s, 300)
    dups = s.records.duplicate_charges
    orders = len(s.records.charges)
    assert dups > 0
    assert 0.2 < dups / 3 / orders < 0.8, (
        "the orders the stale replica took, three extra captures each"
    )
    assert s.traits("billing", "v2.8.3").charges_per_message == 4
    assert s.traits("billing", "v2.9.0").charges_per_message == 1
    lines = found(s, 'service:billing "legacy capture path"')
    assert lines and all("idem_key=none" in x for x in lines)


def test_rolling_the_whole_pool_back_puts_the_legacy_path_everywhere() -> None:
    s = system(KNIGHT, *knight())
    run(s, 200)
    s.deploy(s.t, "billing", "v2.8.3", "you")
    run(s, 60)
    before, t0 = s.records.duplicate_charges, s.t
    run(s, 300)
    rolled_back = (s.records.duplicate_charges - before) / (s.t - t0)

    other = system(KNIGHT, *knight())
    run(other, 260)
    before, t0 = other.records.duplicate_charges, other.t
    run(other, 300)
    stale_only = (other.records.duplicate_charges - before) / (other.t - t0)
    assert rolled_back > 1.5 * stale_only
    assert s.faults[1].active(s)


def test_turning_the_flag_off_and_finishing_the_rollout_removes_the_cause() -> None:
    s = system(KNIGHT, *knight())
    run(s, 200)
    s.flags["billing.split_capture"] = False
    assert not s.faults[1].active(s)
    run(s, 30)
    dups = s.records.duplicate_charges
    run(s, 200)
    assert s.records.duplicate_charges == dups
    assert s.faults[0].active(s)
    s.deploy(s.t, "billing", "v2.9.0", "you")
    run(s, 60)
    assert not s.faults[0].active(s)
    s.flags["billing.split_capture"] = True  # the flag means "capture once" to v2.9.0
    assert not s.faults[1].active(s)


# ----------------------------------------------------------------------------- retries, backoff, the provider


STORM: dict[str, Any] = {
    "provider": {"capacity_rps": 12, "load_window_s": 30},
    "api": {
        "routes": {
            "POST /api/checkout": {
                "share": 0.10,
                "base_ms": 35,
                "queries": {"cart_by_user": 1, "order_insert": 1},
                "enqueue": {"payments": 1, "emails": 1, "fulfillment": 1},
                "provider_calls": 1,
                "creates_order": True,
            }
        }
    },
}


def storm(attempts: int = 10) -> tuple[FaultSpec, FaultSpec]:
    return (
        RetryStorm(kind="retry_storm", at=10, max_attempts=attempts),
        DependencySlowdown(
            kind="dependency_slowdown",
            at=100,
            latency_x=6,
            error_rate=0.3,
            duration_s=200,
            cause=False,
        ),
    )


def test_immediate_retries_keep_the_provider_saturated_after_its_own_trouble_ends() -> None:
    s = system(STORM, *storm())
    run(s, 90)
    calm = value(s, "payment_provider_requests_total", "rate", 60)
    run(s, 900)
    assert s.faults[1].ended is not None, "the brown-out is over"
    calls = value(s, "payment_provider_requests_total", "rate", 120)
    checkouts = value(s, 'http_requests_total{route="POST /api/checkout"}', "rate", 120)
    assert calls > 4 * calm and calls > 5 * checkouts
    assert (
        value(s, 'http_requests_total{route="POST /api/checkout",code=~"5.."}', "rate", 120)
        > 0.5 * checkouts
    )

    s.config["payments.retry.max_attempts"] = 1  # shed the retries
    run(s, 300)
    assert not s.faults[0].active(s)
    assert value(s, "payment_provider_requests_total", "rate", 60) < 2 * calm
    assert (
        value(s, 'http_requests_total{route="POST /api/checkout",code=~"5.."}', "increase", 60) < 3
    )


def test_the_api_counts_its_provider_calls_like_the_workers_do() -> None:
    s = system(STORM)
    run(s, 300)
    calls = value(s, "payment_provider_requests_total", "rate", 200)
    checkouts = value(s, 'http_requests_total{route="POST /api/checkout"}', "rate", 200)
    captures = value(s, 'worker_jobs_total{pool="billing"}', "rate", 200)
    assert calls == pytest.approx(checkouts + captures, rel=0.1)


def test_without_backoff_a_failed_charge_goes_back_on_the_queue_at_once() -> None:
    s = system(
        {"provider": {"error_rate": 1.0}}, RetryStorm(kind="retry_storm", at=0, max_attempts=3)
    )
    run(s, 60)
    q = s.queues["payments"]
    assert q.delayed == [] or all(r.visible_at <= s.t for r in q.delayed)
    s.config["payments.retry.backoff"] = "exponential"
    run(s, 5)
    assert any(r.visible_at > s.t for r in q.delayed), (
        "with backoff it waits out the visibility timeout"
    )


@pytest.mark.parametrize("window", [1, 30])
def test_the_provider_load_window_sets_how_fast_an_overload_builds(window: int) -> None:
    s = system({"provider": {"load_window_s": window}})
    s.provider.calls = 600.0  # one very busy second
    s.provider.settle()
    first = s.provider_load
    s.provider.settle()
    if window == 1:
        assert first == pytest.approx(10.0) and s.provider_load == 0
    else:
        assert first == pytest.approx(10.0 / 30) and 0 < s.provider_load < first


def test_slow_requests_are_counted() -> None:
    s = system({"versions": {"api": {"v9": VersionTraits(latency_x=60)}}})
    s.deploy(0, "api", "v9", "test")
    run(s, 200)
    assert value(s, "http_requests_slow_total", "rate", 60, over="http_requests_total") > 0.2
    healthy = system()
    run(healthy, 200)
    assert value(healthy, "http_requests_slow_total", "increase", 100) == 0


def test_alert_names_stay_valid_for_queue_names_with_dashes() -> None:
    cfg = config({"queues": {"partner-events": {"kind": "generic"}},
                  "workers": {"partner-events": {"queue": "partner-events"}}})  # fmt: skip
    names = {r.name for r in default_rules(cfg)}
    assert {"QueueAgeHigh_partner_events", "WorkerCrashLooping_partner_events"} <= names


# ----------------------------------------------------------------------------- the commands


@pytest.fixture(scope="module")
def broker_incident() -> Incident:
    return bundled("checkout-failing")


def sink_of(s: Session) -> str:
    return next(n for n in s.system.queues if n not in ("payments", "emails", "fulfillment"))


def test_dlq_move_all_parks_and_replay_limit_returns_the_oldest(broker_incident: Incident) -> None:
    s = Session(broker_incident, 2)
    sink = sink_of(s)
    q = s.system.queues[sink]
    waiting = q.depth
    e = perform(s, f"dlq move {sink} all")
    assert e.kind == "act" and f"{waiting:,}" in e.output
    assert q.depth == 0 and q.dlq_depth == waiting
    e = perform(s, f"dlq replay {sink} limit=1000")
    assert e.kind == "act" and q.dlq_depth == waiting - 1000
    assert perform(s, f"dlq replay {sink} limit=0").kind == "refused"
    assert perform(s, f"dlq replay {sink} msg_00000000 limit=5").kind == "refused"
    assert perform(s, "dlq move payments all").kind == "refused"


def test_restart_broker_drops_the_transient_backlog(broker_incident: Incident) -> None:
    s = Session(broker_incident, 1)
    sink = sink_of(s)
    waiting = s.system.queues[sink].depth
    e = perform(s, "restart broker")
    assert e.kind == "act" and f"{waiting:,}" in e.output
    assert s.system.queues[sink].stats.purged == waiting


def test_autoscale_shows_caps_and_turns_off_the_autoscaler() -> None:
    s = Session(bundled("cloud-spend-spike"), 1)
    out = perform(s, "autoscale thumbnails").output
    assert "autoscaler: on 2-60" in out
    e = perform(s, "autoscale thumbnails max=4")
    assert e.kind == "act" and len(s.system.pools["thumbnails"].live) == 4
    s.advance(60)
    assert len(s.system.pools["thumbnails"].live) <= 4
    assert "will set the count again" in perform(s, "scale thumbnails 8").output
    assert perform(s, "autoscale thumbnails off").kind == "act"
    perform(s, "scale thumbnails 8")
    s.advance(60)
    assert len(s.system.pools["thumbnails"].live) == 8
    assert perform(s, "autoscale billing").kind == "refused"
    assert perform(s, "autoscale thumbnails min=9 max=3").kind == "refused"


def test_restarting_a_pool_keeps_each_replica_on_its_own_version() -> None:
    s = Session(bundled("charges-exceed-orders"), 1)
    before = sorted(r.version for r in s.system.pools["billing"].live)
    assert len(set(before)) == 2
    assert perform(s, "restart billing").kind == "act"
    assert sorted(r.version for r in s.system.pools["billing"].live) == before


def test_the_library_incidents_exist() -> None:
    names = {p.stem for p in Path(bundled_dir()).glob("*.yaml")}
    assert {
        "missing-receipts", "cloud-spend-spike", "checkout-failing", "charges-exceed-orders",
        "checkout-payment-errors", "latency-budget-burn", "noisy-pager",
    } <= names  # fmt: skip
