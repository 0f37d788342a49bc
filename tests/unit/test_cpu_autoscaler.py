"""An autoscaler that reads CPU (`autoscale.metric: cpu`), and a network link that degrades as
a fault (`link_degradation`).

A slot waiting on something slow is busy but uses no CPU, so a CPU autoscaler shrinks a pool
whose work waits just when it needs more replicas, while a backlog autoscaler grows the same
pool; frozen, it leaves the count alone. A degraded link is visible in its series, leaves no
change in the history, and heals by itself after its duration."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from oncall_dojo.incident.model import incident_json_schema
from oncall_dojo.sim import ops
from oncall_dojo.sim.faults import LinkDegradation

from .simkit import run, system, value

POOL: dict[str, Any] = {
    "queues": {"orders": {"kind": "generic", "objective_s": 300, "producer_rps": 30}},
    "workers": {
        "orders": {
            "queue": "orders",
            "replicas": 5,
            "concurrency": 4,
            "service_s": 0.4,
            "version": "v1",
            "autoscale": {
                "metric": "cpu",
                "target_cpu": 0.6,
                "min_replicas": 2,
                "max_replicas": 30,
                "scale_down_delay_s": 120,
            },
        }
    },
}


def waiting(metric: str = "cpu") -> dict[str, Any]:
    """The pool, each message waiting three times its own work (a slow call)."""
    cfg = copy.deepcopy(POOL)
    cfg["versions"] = {"orders": {"v1": {"latency_x": 4}}}
    cfg["workers"]["orders"]["autoscale"]["metric"] = metric
    cfg["workers"]["orders"]["autoscale"]["target_per_replica"] = 50
    return cfg


def test_a_cpu_autoscaler_holds_a_pool_at_its_target() -> None:
    s = system(POOL)
    run(s, 600)
    # 30 messages a second x 0.4 s = 12 busy slots: 5 replicas x 4 slots at 60%
    assert 4 <= len(s.pools["orders"].live) <= 6
    assert 0.45 < value(s, 'worker_cpu_utilization{pool="orders"}', "avg", 300) < 0.75
    assert s.queues["orders"].depth < 50


def test_waiting_work_reads_as_idle_cpu_so_the_autoscaler_shrinks_the_pool() -> None:
    s = system(waiting())
    run(s, 600)
    pool = s.pools["orders"]
    assert len(pool.live) == 2  # its minimum, with a backlog growing
    assert s.queues["orders"].depth > 10_000
    # every slot busy, a quarter of each message's time on the CPU
    assert value(s, 'worker_busy_slots_ratio{pool="orders"}', "avg", 60) > 0.95
    assert 0.2 < value(s, 'worker_cpu_utilization{pool="orders"}', "avg", 60) < 0.3
    entry = s.automation.named("orders-autoscaler")
    assert entry.last.startswith("scaled orders from") and entry.last.endswith("to 2 (cpu 25%)")
    lines = [s.logs.render(i) for i in range(len(s.logs))]
    assert any(
        "hpa=orders" in line and "to=2 cpu_utilization=25% target=60%" in line for line in lines
    )


def test_a_backlog_autoscaler_grows_the_same_pool() -> None:
    s = system(waiting("backlog"))
    run(s, 600)
    assert len(s.pools["orders"].live) >= 15  # from 5, on the backlog, towards its maximum


def test_a_frozen_cpu_autoscaler_leaves_the_count_and_thawed_reads_what_it_then_finds() -> None:
    s = system(waiting())
    ops.freeze(s, "orders-autoscaler", "alice")
    ops.scale(s, s.pools["orders"], 16, "alice")
    run(s, 600)
    assert len(s.pools["orders"].live) == 16  # 64 slots / 1.6 s = 40 a second: it keeps up
    assert s.queues["orders"].depth < 200
    assert not s.automation.named("orders-autoscaler").actions
    ops.thaw(s, "orders-autoscaler", "alice")
    run(s, 16)  # its next evaluation reads 3/4 of the slots busy at a quarter CPU each: ~19%
    assert 4 <= len(s.pools["orders"].live) <= 7  # ceil(16 x 0.19 / 0.6)


def test_a_pool_without_a_cpu_autoscaler_exports_no_cpu_series() -> None:
    s = system(waiting("backlog"))
    run(s, 5)
    assert "worker_cpu_utilization" not in s.metrics.names()


def test_the_guides_cpu_autoscaler_example_shrinks_the_pool_it_describes() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "authoring.md").read_text(
        encoding="utf-8"
    )
    blocks = [b.split("```", 1)[0] for b in guide.split("```yaml\n")[1:]]
    (body,) = [b for b in blocks if "metric: cpu" in b]
    overrides = yaml.safe_load(body)["system"]
    overrides["queues"] = {"fulfillment": {"producer_rps": 30 - 6}}  # with checkout's orders
    s = system(overrides)
    run(s, 600)
    assert len(s.pools["fulfillment"].live) in (4, 5, 6)
    ops.deploy(s, "fulfillment", "v4.3.0", "alice")
    run(s, 600)
    assert len(s.pools["fulfillment"].live) == 2


SITES: dict[str, Any] = {
    "sites": {"cloud": {}, "warehouse": {}},
    "links": {"wms": {"between": ["cloud", "warehouse"], "latency_ms": 12}},
}


def test_a_degraded_link_shows_in_its_series_and_heals_by_itself() -> None:
    fault = LinkDegradation(
        kind="link_degradation", at=10, link="wms", latency_ms=240, loss=0.06, duration_s=100
    )
    s = system(SITES, fault)
    run(s, 50)
    assert value(s, 'network_link_loss_ratio{link="wms"}') == pytest.approx(0.06)
    assert value(s, 'network_link_latency_seconds{link="wms"}') == pytest.approx(0.24)
    assert s.faults[0].active(s)
    assert not s.changes  # the provider's network is nobody's change
    run(s, 100)
    assert value(s, 'network_link_loss_ratio{link="wms"}') == 0.0
    assert value(s, 'network_link_latency_seconds{link="wms"}') == pytest.approx(0.012)
    assert not s.faults[0].active(s)


def test_the_json_schema_describes_the_cpu_autoscaler_and_the_link_fault() -> None:
    defs = incident_json_schema()["$defs"]
    auto = defs["AutoscaleConfig"]["properties"]
    assert auto["metric"]["enum"] == ["backlog", "cpu"] and auto["metric"]["default"] == "backlog"
    assert auto["target_cpu"]["exclusiveMinimum"] == 0 and auto["target_cpu"]["maximum"] == 1
    link = defs["LinkDegradation"]["properties"]
    assert link["kind"]["const"] == "link_degradation"
    assert {"link", "latency_ms", "loss", "partitioned", "duration_s"} <= set(link)
