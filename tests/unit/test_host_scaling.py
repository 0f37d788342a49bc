"""Scaling a pool with named hosts: new processes go to the schedulable hosts with the fewest
(then by name) and run the version installed there, removed ones come off the hosts with the
most; a host that is down, cordoned or full gets none; what a host's state does, it does to
every process on it; and the measured throughput follows the processes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Session
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.sim import ops
from oncall_dojo.sim.components.autoscaler import autoscaler_name
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.events import HostEvent
from oncall_dojo.sim.world import add_world

from .simkit import accounted, fleet, found, run, system, value

FLEET = Path(__file__).resolve().parents[1] / "fixtures" / "world" / "fleet.yaml"

SATURATED = fleet(200)


def per_host(s: Any) -> dict[str, int]:
    return dict(sorted(Counter(r.host for r in s.pools["crunch"].live).items()))


def acked_rate(s: Any) -> float:
    return value(s, 'queue_acked_total{queue="jobs"}', "rate", 120)


def test_scaling_up_spreads_over_the_hosts_and_down_takes_from_the_busiest() -> None:
    s = system(SATURATED)
    pool = s.pools["crunch"]
    run(s, 200)
    assert acked_rate(s) == pytest.approx(4 * 4 / 0.4, rel=0.02)
    assert ops.scale(s, pool, 10, "alice") == (4, 6)
    assert per_host(s) == {"h1": 3, "h2": 3, "h3": 2, "h4": 2}
    # each new process runs the version installed on its host
    assert sorted({(r.host, r.version) for r in pool.live}) == [
        ("h1", "v1"),
        ("h2", "v1"),
        ("h3", "v1"),
        ("h4", "v0"),
    ]
    run(s, 240)
    assert acked_rate(s) == pytest.approx(10 * 4 / 0.4, rel=0.02)
    ops.scale(s, pool, 5, "alice")
    assert per_host(s) == {"h1": 2, "h2": 1, "h3": 1, "h4": 1}
    run(s, 240)
    assert acked_rate(s) == pytest.approx(5 * 4 / 0.4, rel=0.02)
    assert s.changes[-1].kind == "scale" and (s.changes[-1].before, s.changes[-1].after) == (
        "10",
        "5",
    )
    accounted(s)


def test_a_host_that_is_down_cordoned_or_full_gets_no_new_processes() -> None:
    s = system(SATURATED)
    pool = s.pools["crunch"]
    add_world(
        s,
        {},
        [
            HostEvent(kind="host_status", at=10, host="h1", state="down"),
            HostEvent(kind="host_status", at=10, host="h3", disk_used_gb=10_000),
        ],
    )
    run(s, 20)
    assert s.fleet is not None
    assert pool.hosts["h3"].full
    ops.cordon(s, "h2", "alice")
    ops.scale(s, pool, 6, "alice")
    # h1 is down, h2 cordoned, h3's volume full (its process crash-loops): h4 takes them all
    assert per_host(s) == {"h2": 1, "h3": 1, "h4": 4}
    ops.cordon(s, "h4", "alice")
    with pytest.raises(Refusal, match="no host of crunch takes new processes"):
        ops.scale(s, pool, 8, "alice")
    assert len(pool.live) == 6


def test_a_host_going_down_takes_every_process_on_it() -> None:
    s = system(SATURATED)
    pool = s.pools["crunch"]
    ops.scale(s, pool, 8, "alice")
    add_world(s, {}, [HostEvent(kind="host_status", at=300, host="h1", state="down")])
    run(s, 300)
    before = acked_rate(s)
    run(s, 200)
    assert per_host(s) == {"h2": 2, "h3": 2, "h4": 2}
    assert acked_rate(s) / before == pytest.approx(6 / 8, rel=0.03)
    accounted(s)


def test_the_console_scales_a_pool_with_hosts_and_workers_shows_each_hosts_processes() -> None:
    s = Session(load_incident(FLEET, expect_id="fleet"), 1)
    billing = s.system.pools["billing"]
    # billing-h3 went down at 60 s: one process on each of the three others
    assert dict(Counter(r.host for r in billing.live)) == {
        "billing-h1": 1,
        "billing-h2": 1,
        "billing-h4": 1,
    }
    e = perform(s, "scale billing 7")
    assert e.kind == "act", e.output
    assert dict(Counter(r.host for r in billing.live)) == {
        "billing-h1": 3,
        "billing-h2": 2,
        "billing-h4": 2,
    }
    out = perform(s, "workers billing").output
    on_h1 = [r.name for r in billing.live if r.host == "billing-h1"]
    assert len(on_h1) == 3 and ", ".join(on_h1) in out
    # restarting a host restarts every process on it, and only those
    e = perform(s, "restart billing billing-h1")
    assert e.kind == "act" and "Restarting 3 replicas" in e.output, e.output
    assert not any(r.name in on_h1 for r in billing.live)
    assert sum(1 for r in billing.live if r.host == "billing-h2") == 2


def autoscaled(min_replicas: int) -> dict[str, Any]:
    """The saturated four-host pool with an autoscaler (100 messages a process, at most 12)."""
    crunch = SATURATED["workers"]["crunch"]
    scale = {"target_per_replica": 100, "min_replicas": min_replicas, "max_replicas": 12}
    return {**SATURATED, "workers": {"crunch": {**crunch, "autoscale": scale}}}


def test_an_autoscaler_places_its_processes_on_the_hosts() -> None:
    s = system(autoscaled(2))
    assert s.automation.get(autoscaler_name("crunch")) is not None
    run(s, 600)
    assert len(s.pools["crunch"].live) > 4
    counts = per_host(s)
    assert max(counts.values()) - min(counts.values()) <= 1


def test_a_pool_with_hosts_may_have_an_autoscaler_and_it_spreads_what_it_adds() -> None:
    text = FLEET.read_text(encoding="utf-8").replace(
        "    billing:\n      hosts:\n",
        "    billing:\n      autoscale: {min_replicas: 3, max_replicas: 9, target_per_replica: 20}\n"
        "      hosts:\n",
    )
    assert "autoscale:" in text
    inc = load_incident(FLEET, text=text, expect_id="fleet")
    s = Session(inc, 1)
    s.advance(300)
    billing = s.system.pools["billing"]
    counts = Counter(r.host for r in billing.live)
    # billing-h3 went down at 60 s and billing-h4's volume filled up: the scaler's processes
    # went to the two hosts that take them, evenly
    assert billing.hosts["billing-h3"].state == "down" and billing.hosts["billing-h4"].full
    assert counts == {"billing-h1": 4, "billing-h2": 4, "billing-h4": 1}


def test_an_autoscaler_with_no_host_to_grow_onto_waits_and_logs_why() -> None:
    s = system(autoscaled(4))
    for h in ("h1", "h2", "h3", "h4"):
        ops.cordon(s, h, "alice")
    run(s, 300)
    assert len(s.pools["crunch"].live) == 4  # the backlog grows, and nowhere takes more
    assert s.queues["jobs"].depth > 12 * 100
    lines = found(s, "service:kube-scheduler FailedScheduling")
    assert lines and "no host of crunch takes new processes (h1 cordoned" in lines[-1]
    ops.uncordon(s, "h3", "alice")
    run(s, 30)
    assert per_host(s)["h3"] > 1
