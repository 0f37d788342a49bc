"""Hosts: named machines of a worker pool, each with its version, disk and state.

A pool loses the share of its throughput that a lost host carried; a crash threshold on some
hosts takes exactly their processes down; a full volume crashes its host's process; cordon,
drain and uncordon act as in Kubernetes; each host is exported as node and kube-state series;
and a run with hosts is deterministic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from oncall_dojo.game.check import play_session
from oncall_dojo.game.commands import names
from oncall_dojo.game.play import perform
from oncall_dojo.game.plays import run_json
from oncall_dojo.game.session import Session
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.sim.components.hosts import process_on
from oncall_dojo.sim.components.pool import DISK_FULL_PANIC
from oncall_dojo.sim.events import Event, HostEvent
from oncall_dojo.sim.resources import ResourceSpec
from oncall_dojo.sim.world import add_world

from .simkit import accounted, fleet, found, run, system, value

FLEET = Path(__file__).resolve().parents[1] / "fixtures" / "world" / "fleet.yaml"

SATURATED = fleet(100)


def acked_rate(s: Any) -> float:
    return value(s, 'queue_acked_total{queue="jobs"}', "rate", 240)


def test_a_pool_with_hosts_runs_one_process_per_host_on_its_version() -> None:
    s = system(SATURATED)
    pool = s.pools["crunch"]
    assert [(r.host, r.version, r.state) for r in pool.live] == [
        ("h1", "v1", "running"),
        ("h2", "v1", "running"),
        ("h3", "v1", "running"),
        ("h4", "v0", "running"),
    ]


def test_losing_a_host_drops_the_measured_throughput_by_its_share() -> None:
    s = system(SATURATED)
    add_world(s, {}, [HostEvent(kind="host_status", at=300, host="h1", state="down")])
    run(s, 300)
    before = acked_rate(s)
    run(s, 300)
    after = acked_rate(s)
    assert before == pytest.approx(4 * 4 / 0.4, rel=0.02)  # saturated: every slot busy
    assert after / before == pytest.approx(3 / 4, rel=0.02)
    assert value(s, 'up{instance="h1"}') == 0 and value(s, 'up{instance="h2"}') == 1
    assert value(s, 'kube_node_status_condition{node="h1"}') == 0
    accounted(s)


def test_a_not_ready_host_takes_no_work_and_its_messages_are_redelivered() -> None:
    s = system(SATURATED)
    add_world(
        s,
        {},
        [
            HostEvent(kind="host_status", at=100, host="h2", state="not_ready"),
            HostEvent(kind="host_status", at=400, host="h2", state="ready"),
        ],
    )
    run(s, 360)
    pool = s.pools["crunch"]
    r = process_on(pool, "h2")
    assert r is not None and r.state == "unready" and r.inflight_n == 0
    assert acked_rate(s) == pytest.approx(30, rel=0.02)
    accounted(s)
    run(s, 300)
    assert r.state == "running" and r.restarts == 0  # healthy again, not restarted
    assert acked_rate(s) == pytest.approx(40, rel=0.02)


def on_hosts(
    metric: str,
    effect: str,
    error: str,
    hosts: list[str] | None = None,
    start: float = 0,
    rate: float = 1,
    **threshold: Any,
) -> ResourceSpec:
    """A resource of crunch's, from `start` at `rate` a second, whose threshold at 100 has
    `effect` on `hosts` (h1 and h2 by default) with `error` (and the `threshold` fields given)."""
    return ResourceSpec.model_validate(
        {
            "metric": metric,
            "start": start,
            "rate": rate,
            "thresholds": [
                {
                    "above": 100,
                    "effect": effect,
                    "pool": "crunch",
                    **threshold,
                    "hosts": hosts or ["h1", "h2"],
                    "error": error,
                }
            ],
        }
    )


def test_a_crash_threshold_on_two_hosts_takes_exactly_their_processes_down() -> None:
    s = system(SATURATED)
    spec = on_hosts("crunch_open_files", "crash", "open /data: too many open files")
    add_world(s, {"fds": spec}, [])
    run(s, 99)
    pool = s.pools["crunch"]
    assert all(r.state == "running" for r in pool.live)
    run(s, 400)
    by_host = {r.host: r for r in pool.live}
    assert {h for h, r in by_host.items() if r.restarts} == {"h1", "h2"}
    assert all(by_host[h].state in ("backoff", "starting") for h in ("h1", "h2"))
    assert all(by_host[h].state == "running" for h in ("h3", "h4"))
    crashed = found(s, "service:crunch level:fatal")
    assert crashed and all("too many open files" in line for line in crashed)
    assert {n for n in ("h1", "h2", "h3", "h4") if any(by_host[n].name in x for x in crashed)} == {
        "h1",
        "h2",
    }
    assert acked_rate(s) == pytest.approx(20, rel=0.02)
    accounted(s)


def billing_failed(s: Any) -> int:
    return int(s.pools["billing"].failed)


def failed_by_host(s: Any, pool: str) -> dict[str, int]:
    """The messages each host's process failed, counted from the workers' log lines (each
    names its process and the batch it failed)."""
    by_name = {r.name: r.host for r in s.pools[pool].replicas}
    out = dict.fromkeys(s.pools[pool].hosts, 0)
    for line in found(s, f"service:{pool} level:error"):
        if 'msg="job failed' not in line:
            continue
        name = next(n for n in by_name if f" {n} msg_id=" in line)
        out[by_name[name]] += int(line.split(" batch=", 1)[1].split()[0])
    return out


def test_a_fail_messages_threshold_on_hosts_fails_only_what_their_processes_handle() -> None:
    s = system(SATURATED)
    spec = on_hosts(
        "crunch_open_sockets", "fail_messages", "dial tcp 10.0.0.7:443: socket: too many open files"
    )
    add_world(s, {"sockets": spec}, [])
    run(s, 100)
    assert s.pools["crunch"].failed == 0
    run(s, 300)
    failed = failed_by_host(s, "crunch")
    assert failed["h1"] > 500 and failed["h2"] > 500
    assert failed["h3"] == 0 and failed["h4"] == 0
    assert sum(failed.values()) == s.pools["crunch"].failed
    assert all(r.restarts == 0 for r in s.pools["crunch"].live)  # they fail, they do not die
    assert acked_rate(s) == pytest.approx(20, rel=0.02)  # h3 and h4 alone ack
    assert all("too many open files" in x for x in found(s, "service:crunch level:error"))
    accounted(s)


def test_a_share_of_a_hosts_messages_fails() -> None:
    """With `share`, that share of what the host's process handles fails: the rest is acked."""
    s = system(SATURATED)
    spec = on_hosts(
        "crunch_open_sockets", "fail_messages", "dial tcp: i/o timeout", ["h4"], 200, 0, share=0.5
    )
    add_world(s, {"sockets": spec}, [])
    run(s, 600)
    failed = failed_by_host(s, "crunch")
    assert [failed[h] for h in ("h1", "h2", "h3")] == [0, 0, 0]
    handled_per_host = 600 * 4 / 0.4  # saturated: every slot of a host busy
    assert failed["h4"] / handled_per_host == pytest.approx(0.5, abs=0.05)
    assert acked_rate(s) == pytest.approx(35, rel=0.03)
    accounted(s)


def test_a_full_volume_crashes_its_hosts_process_until_space_is_freed() -> None:
    s = system(SATURATED)
    add_world(
        s,
        {},
        [
            HostEvent(kind="host_status", at=10, host="h3", disk_fill_gb_per_s=1.0),
            HostEvent(kind="host_status", at=200, host="h3", disk_used_gb=20, disk_fill_gb_per_s=0),
        ],
    )
    run(s, 150)  # 40 of 100 GB used at the start: full after 60 s
    r = process_on(s.pools["crunch"], "h3")
    assert r is not None and r.state != "running" and r.restarts >= 2
    assert value(s, 'node_filesystem_avail_bytes{instance="h3"}') == 0
    assert any(DISK_FULL_PANIC in line for line in found(s, "service:crunch level:fatal"))
    run(s, 400)
    assert r.state == "running"
    assert value(s, 'node_filesystem_avail_bytes{instance="h3"}') == 80 * 1_073_741_824


def test_cordon_drain_and_uncordon_from_the_console() -> None:
    s = Session(load_incident(FLEET, expect_id="fleet"), 1)
    sys_ = s.system
    billing = sys_.pools["billing"]
    assert names("host", s) == ["billing-h1", "billing-h2", "billing-h3", "billing-h4"]
    assert perform(s, "cordon billing-h1").kind == "act"
    assert process_on(billing, "billing-h1") is not None  # runs on
    assert value(sys_, 'kube_node_spec_unschedulable{node="billing-h1"}') == 0  # not yet ticked
    s.advance(1)
    assert value(sys_, 'kube_node_spec_unschedulable{node="billing-h1"}') == 1
    perform(s, "restart billing billing-h1")
    assert process_on(billing, "billing-h1") is None  # replaced: nowhere to go
    e = perform(s, "uncordon billing-h1")
    assert e.kind == "act" and "process starts on it" in e.output
    assert process_on(billing, "billing-h1") is not None
    e = perform(s, "drain billing-h2")
    assert e.kind == "act" and "evicted" in e.output
    assert process_on(billing, "billing-h2") is None
    assert perform(s, "cordon billing-h2").kind == "refused"
    assert "did you mean 'billing-h2'" in perform(s, "drain billing-h22").output
    out = perform(s, "workers billing").output
    assert (
        "hosts of billing:" in out and "Ready,SchedulingDisabled" in out and "on billing-h4" in out
    )
    assert "hosts 2/4 ready" in perform(s, "map").output
    changes = [(c.kind, c.target, c.after) for c in sys_.changes[-4:]]
    assert ("drain", "billing-h2", "drained") in changes and (
        "cordon",
        "billing-h1",
        "cordoned",
    ) in changes


def test_the_fleet_fixture_plays_the_same_twice() -> None:
    inc = load_incident(FLEET, expect_id="fleet")
    first = json.dumps(run_json(play_session(inc, 1, inc.playthroughs.reference.actions)))
    second = json.dumps(run_json(play_session(inc, 1, inc.playthroughs.reference.actions)))
    assert first == second


def test_the_guides_hosts_example_is_valid_and_acts_as_it_says() -> None:
    """The hosts example of docs/authoring.md validates, and its events and threshold do what
    the guide says."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "authoring.md").read_text(
        encoding="utf-8"
    )
    blocks = [b.split("```", 1)[0] for b in guide.split("```yaml\n")[1:]]
    (body,) = [b for b in blocks if b.startswith("system:\n  workers:\n    billing:\n      hosts:")]
    doc = yaml.safe_load(body)
    s = system(doc["system"])
    resources = TypeAdapter(dict[str, ResourceSpec]).validate_python(doc["resources"])
    add_world(s, resources, TypeAdapter(list[Event]).validate_python(doc["events"]))
    run(s, 349)  # 200 open files + 2 a second: 900 reached at 350 s, 1,024 at 412 s
    assert billing_failed(s) == 0
    run(s, 51)
    billing = s.pools["billing"]
    by_host = {r.host: r for r in billing.live}
    failed = failed_by_host(s, "billing")
    assert failed["billing-h1"] > 0 and failed["billing-h2"] > 0
    assert sum(failed.values()) == billing.failed
    assert by_host["billing-h3"].version == "v2.8.2"
    assert by_host["billing-h3"].state == "unready"  # not ready since 300 s
    assert by_host["billing-h4"].restarts > 0  # 5 GB free, filling at 0.02 GB/s from 120 s
    assert by_host["billing-h1"].restarts == 0
    run(s, 120)
    assert by_host["billing-h1"].restarts > 0 and by_host["billing-h2"].restarts > 0
    assert by_host["billing-h3"].restarts == 0


def test_hosts_and_deploy_bots_are_parts_a_diagnosis_may_name() -> None:
    s = Session(load_incident(FLEET, expect_id="fleet"), 1)
    assert s.parts[-7:] == [
        "host:billing-h1",
        "host:billing-h2",
        "host:billing-h3",
        "host:billing-h4",
        "automation:argocd",
        "automation:release-train",
        "resource:spool",  # the fixture's one resource, after the system's own parts
    ]
    assert (
        perform(s, "diagnose host:billing-h3 capacity-shortfall the host went down").kind == "act"
    )
