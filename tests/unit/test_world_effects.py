"""Each threshold effect and each event kind, on a bare system: what the model does while the
threshold holds, and after it no longer does."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from oncall_dojo.sim.events import Event
from oncall_dojo.sim.ops import restart_replicas
from oncall_dojo.sim.resources import ResourceSpec
from oncall_dojo.sim.system import System
from oncall_dojo.sim.world import add_world

from .simkit import found, run, system, value

EVENTS: TypeAdapter[list[Event]] = TypeAdapter(list[Event])


def world(resources: dict[str, dict[str, Any]], events: list[dict[str, Any]] = ()) -> System:  # type: ignore[assignment]
    s = system()
    add_world(
        s,
        {n: ResourceSpec.model_validate(r) for n, r in resources.items()},
        EVENTS.validate_python(list(events)),
    )
    return s


def counter(metric: str = "x_total", rate: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"metric": metric, "start": 0, "rate": rate, **extra}


def test_crash_kills_the_pool_while_it_holds_and_it_comes_back_after() -> None:
    th = {
        "above": 10,
        "effect": "crash",
        "pool": "billing",
        "error": "open /spool: too many open files",
    }
    s = world(
        {"fds": counter("process_open_fds", thresholds=[th])},
        [{"at": 120, "kind": "resource_update", "resource": "fds", "value": 0, "rate": 0}],
    )
    ready = 'worker_replicas_ready{pool="billing"}'
    run(s, 10)
    assert value(s, ready) == 2
    run(s, 100)
    assert value(s, ready) == 0
    assert (
        value(s, 'kube_pod_container_status_restarts_total{pool="billing"}', "increase", 100) >= 4
    )
    assert found(s, '"too many open files"')
    run(s, 400)
    assert value(s, ready) == 2  # the threshold no longer holds: the back-off ends in a start


def test_fail_messages_fails_the_pools_messages_with_the_authors_error() -> None:
    th = {
        "above": 60,
        "effect": "fail_messages",
        "pool": "billing",
        "error": "ledger: quota exceeded",
    }
    s = world({"quota": counter("ledger_quota_used", thresholds=[th])})
    errors = 'worker_jobs_total{pool="billing",result="error"}'
    run(s, 61)
    assert value(s, errors, "increase", 61) == 0
    run(s, 120)
    assert value(s, errors, "increase", 110) > 50
    assert value(s, 'worker_jobs_total{pool="billing",result="ok"}', "increase", 110) == 0
    assert found(s, 'service:billing "ledger: quota exceeded"')


def test_fail_requests_fails_one_route_with_the_authors_error() -> None:
    th = {
        "above": 30,
        "effect": "fail_requests",
        "route": "GET /api/products",
        "error": "EMFILE: too many open files, open '/srv/cache/products.json'",
    }
    s = world({"fds": counter("process_open_fds", thresholds=[th])})
    products = 'http_requests_total{route="GET /api/products",code="500"}'
    run(s, 31)
    assert value(s, products, "increase", 31) == 0
    run(s, 100)
    assert value(s, products, "increase", 99) > 500
    assert value(s, 'http_requests_total{route="GET /api/account",code="500"}', "increase", 99) == 0
    assert found(s, '"EMFILE: too many open files"')


def test_slow_multiplies_the_services_own_time() -> None:
    th = {"above": 30, "effect": "slow", "service": "api", "factor": 8}
    s = world({"gc": counter("jvm_gc_pause_seconds_total", thresholds=[th])})
    p50 = 'http_request_duration_seconds{route="GET /api/orders/:id"}'
    run(s, 31)
    before = value(s, p50, "p50", 30)
    run(s, 60)
    assert value(s, p50, "p50", 30) > 4 * before


def test_below_a_floor_and_a_cap() -> None:
    s = world(
        {
            "free": counter("free_bytes", rate=-10, start=100, min=0),
            "used": counter("used_bytes", rate=10, max=55),
        }
    )
    run(s, 30)
    assert value(s, "free_bytes") == 0
    assert value(s, "used_bytes") == 55


def test_per_message_counts_what_the_queue_published_and_processed() -> None:
    s = world(
        {
            "spool": counter("broker_spool_bytes", rate=2.0, per="published", queue="payments"),
            "logs": counter("worker_log_bytes", rate=3.0, per="processed", queue="payments"),
        }
    )
    q = s.queues["payments"]
    start = (q.stats.produced, q.stats.acked)
    run(s, 300)
    assert q.stats.produced > start[0] + 100
    assert value(s, "broker_spool_bytes") == 2.0 * (q.stats.produced - start[0])
    assert value(s, "worker_log_bytes") == 3.0 * (q.stats.acked - start[1])


def test_a_pool_event_kills_every_process_and_the_provider_event_ends_an_outage() -> None:
    s = world(
        {},
        [
            {
                "at": 50,
                "kind": "pool_disruption",
                "pool": "mailer",
                "crash": "SIGKILL: node drained",
            },
            {"at": 60, "kind": "provider_status", "error_rate": 1.0},
            {"at": 120, "kind": "provider_status"},
        ],
    )
    run(s, 51)
    assert value(s, 'worker_replicas_ready{pool="mailer"}') == 0
    assert value(s, 'kube_pod_container_status_restarts_total{pool="mailer"}', "increase", 5) == 2
    run(s, 40)
    assert s.provider_extra_error == 1.0
    run(s, 60)
    assert s.provider_extra_error == 0.0
    assert value(s, 'worker_replicas_ready{pool="mailer"}') == 2
    assert not [c for c in s.changes if c.tick >= 0]


def test_a_system_without_resources_or_events_has_no_world() -> None:
    s = system()
    add_world(s, {}, [])
    assert s.world is None


def test_a_restart_of_its_pool_takes_a_per_process_quantity_back_to_its_start() -> None:
    s = world({"fds": counter("process_open_fds", start=40, resets_with="billing")})
    run(s, 100)
    assert value(s, "process_open_fds") == 40 + 99
    restart_replicas(s, s.pools["billing"], "you")
    run(s, 1)
    assert value(s, "process_open_fds") == 40
    # it builds up again once a new process runs, after the pool's start-up time
    startup = s.pools["billing"].cfg.startup_s
    run(s, 50)
    assert value(s, "process_open_fds") == 40 + 50 - (startup - 1)
    restart_replicas(s, s.pools["mailer"], "you")  # another pool's processes hold none of it
    run(s, 1)
    assert value(s, "process_open_fds") == 40 + 51 - (startup - 1)


def test_a_leak_that_crashes_its_processes_comes_back_after_each_restart() -> None:
    th = {
        "above": 100,
        "effect": "crash",
        "pool": "billing",
        "error": "accept4: too many open files",
    }
    s = world(
        {"fds": counter("process_open_fds", start=40, resets_with="billing", thresholds=[th])}
    )
    fds, ready = [], []
    for _ in range(400):
        run(s, 1)
        fds.append(value(s, "process_open_fds"))
        ready.append(value(s, 'worker_replicas_ready{pool="billing"}'))
    assert max(fds) == 100  # crossed, then the crash restarts every process and frees them
    crashed = [t for t in range(1, 400) if ready[t] == 0 and ready[t - 1] == 2]
    assert len(crashed) >= 3  # crash, recover, leak again: the cycle the model makes
    assert fds[crashed[0] + 30] < 100 and ready[crashed[0] + 40] == 2


def test_a_job_drains_a_resource_at_its_own_pace_and_stops_when_paused() -> None:
    s = system({"jobs": {"wal-cleanup": {"kind": "script", "total": 500, "rate_per_s": 10}}})
    spec = counter("wal_bytes", rate=2.0, start=1000, min=0, job="wal-cleanup", per_item=-5.0)
    add_world(s, {"wal": ResourceSpec.model_validate(spec)}, [])
    run(s, 50)
    assert value(s, "wal_bytes") == 1000 + 2 * 49  # nothing drains it until the job runs
    s.start_job(s.t, "wal-cleanup", "you")
    run(s, 20)
    # 20 seconds more growth, 10 items a second each taking 5 off
    assert value(s, "wal_bytes") == 1000 + 2 * 69 - 5 * 10 * 20
    s.jobs["wal-cleanup"].state = "paused"
    run(s, 10)
    assert value(s, "wal_bytes") == 1000 + 2 * 79 - 5 * 10 * 20
    s.jobs["wal-cleanup"].state = "running"
    run(s, 30)
    assert value(s, "wal_bytes") == 0  # drained faster than it grows, down to its floor
    assert s.jobs["wal-cleanup"].items_done == 500
    run(s, 30)
    assert s.jobs["wal-cleanup"].state == "done"
    assert value(s, "wal_bytes") == 2 * 30  # the job is done: it builds up again


def test_only_the_processes_on_the_leaking_versions_add_to_it_and_a_rollout_back_stops_it() -> None:
    from oncall_dojo.sim.ops import deploy

    s = system({"versions": {"billing": {"v2.8.2": {}}}})
    spec = counter("process_open_fds", start=40, resets_with="billing", versions=["v2.8.3"])
    add_world(s, {"fds": ResourceSpec.model_validate(spec)}, [])
    run(s, 100)
    assert value(s, "process_open_fds") == 40 + 99  # every process runs v2.8.3
    deploy(s, "billing", "v2.8.2", "you")
    run(s, 300)
    assert value(s, "process_open_fds") == 40  # back to the start, and it stays there
    run(s, 100)
    assert value(s, "process_open_fds") == 40


def test_a_deploy_in_the_history_is_a_version_rollback_returns_to() -> None:
    from oncall_dojo.sim.ops import rollback

    s = system(
        {
            "workers": {"billing": {"version": "v2.9.2"}},
            "history": [
                {"ago_s": 900, "target": "billing", "value": "v2.9.1"},
                {"ago_s": 9000, "target": "billing", "value": "v2.9.0"},
                {"ago_s": 100, "target": "billing", "value": "v2.9.2"},
            ],
        }
    )
    assert {r.started for r in s.pools["billing"].live} == {-100}  # up since their deploy
    assert rollback(s, "billing", "you") == ("v2.9.2", "v2.9.1")
    run(s, 200)
    assert rollback(s, "billing", "you") == ("v2.9.1", "v2.9.0")


def test_a_running_release_is_the_cause_until_no_process_runs_its_versions() -> None:
    from oncall_dojo.sim.faults import RunningRelease
    from oncall_dojo.sim.ops import deploy, restart_replicas

    s = system({"versions": {"billing": {"v2.8.2": {}}}})
    fault = RunningRelease.model_validate(
        {"kind": "running_release", "at": 0, "pool": "billing", "versions": ["v2.8.3"]}
    )
    fault.begin(s, 0, {})
    assert not [c for c in s.changes if c.tick >= 0]  # beginning changes nothing
    run(s, 10)
    assert fault.active(s, {})
    restart_replicas(s, s.pools["billing"], "you")
    run(s, 60)
    assert fault.active(s, {})  # a restart keeps the version
    deploy(s, "billing", "v2.8.2", "you")
    run(s, 120)
    assert not fault.active(s, {})
