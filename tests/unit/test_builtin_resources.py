"""The model's own quantities as resources (`builtin`): the database volume's used GB, the API's
connections in use and a queue's depth are watched each second with thresholds of any effect;
the volume may also be set by events and worked off by operations, which change the model (the
writes that a full volume refused go through again). Each value is checked against the model's
own state, not against the resource code."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.yamlload import YamlModelError
from oncall_dojo.sim.events import Event
from oncall_dojo.sim.operations import OperationSpec
from oncall_dojo.sim.resources import ResourceSpec
from oncall_dojo.sim.system import System
from oncall_dojo.sim.world import add_world

from .simkit import found, run, system, value

EVENTS: TypeAdapter[list[Event]] = TypeAdapter(list[Event])
NO_SPACE = "No space left on device"


def world(
    resources: dict[str, dict[str, Any]],
    events: list[dict[str, Any]] | None = None,
    operations: dict[str, dict[str, Any]] | None = None,
    overrides: dict[str, Any] | None = None,
) -> System:
    s = system(overrides)
    add_world(
        s,
        {n: ResourceSpec.model_validate(r) for n, r in resources.items()},
        EVENTS.validate_python(events or []),
        {n: OperationSpec.model_validate(o) for n, o in (operations or {}).items()},
    )
    return s


def test_the_database_volume_is_the_models_own_and_its_thresholds_act() -> None:
    disk = {
        "builtin": "database.disk_used_gb",
        "thresholds": [
            {
                "above": 150,
                "effect": "log",
                "logs": [
                    {"service": "postgres", "level": "warn", "text": "pg-0 volume past 150 GB"}
                ],
            }
        ],
    }
    s = world(
        {"disk": disk}, [{"at": 30, "kind": "resource_update", "resource": "disk", "value": 200}]
    )
    res = s.world.resources["disk"]
    run(s, 20)
    assert res.value == pytest.approx(s.db.disk_used_gb)
    assert res.value < 150 and not found(s, '"volume past 150 GB"')
    run(s, 60)
    # the event set the model's own volume: it is full, and the model refuses writes with its
    # own error, as for any full volume
    assert s.db.disk_used_gb >= s.db.disk_gb
    assert res.value == pytest.approx(s.db.disk_used_gb)
    assert found(s, '"volume past 150 GB"')
    assert value(s, 'node_filesystem_used_ratio{mountpoint="/var/lib/postgresql"}') == 1.0
    failed = 'http_requests_total{route="POST /api/checkout",code="500"}'
    assert value(s, failed, "increase", 30) > 0
    assert found(s, f'"{NO_SPACE}"')


def test_an_operation_works_the_volume_off_and_the_writes_go_through_again() -> None:
    s = world(
        {"disk": {"builtin": "database.disk_used_gb"}},
        [{"at": 10, "kind": "resource_update", "resource": "disk", "value": 200}],
        {
            "repack": {
                "kind": "maintenance",
                "component": "postgres",
                "resource": "disk",
                "to": 150,
                "rate": 5,
            }
        },
    )
    run(s, 60)
    failed = 'http_requests_total{route="POST /api/checkout",code="500"}'
    assert value(s, failed, "increase", 30) > 0
    op = s.world.operations.ops["repack"]
    s.world.operations.start(op, s.t, "ann")
    run(s, 12)
    assert op.state == "done"  # 50 GB at 5 GB a second, plus what the writes added meanwhile
    assert s.db.disk_used_gb == pytest.approx(150, abs=0.1)
    run(s, 40)
    assert value(s, failed, "increase", 30) == 0


def test_the_connection_pool_and_a_queues_depth_are_watched_each_second() -> None:
    pool = {
        "builtin": "api.pool_in_use",
        "thresholds": [
            {"above": 0.01, "effect": "log", "logs": [{"service": "api", "text": "pool busy"}]}
        ],
    }
    depth = {
        "builtin": "queue.depth",
        "queue": "payments",
        "thresholds": [
            {
                "above": 50,
                "effect": "fail_requests",
                "route": "POST /api/checkout",
                "share": 1.0,
                "error": "payments backlog: checkout closed",
            }
        ],
    }
    s = world(
        {"pool": pool, "depth": depth},
        [{"at": 20, "kind": "pool_disruption", "pool": "billing", "replicas": 0}],
    )
    run(s, 10)
    assert s.world.resources["pool"].value == pytest.approx(s.api.pool_in_use)
    assert found(s, '"pool busy"')
    run(s, 200)
    assert s.world.resources["depth"].value == s.queues["payments"].depth > 50
    failed = 'http_requests_total{route="POST /api/checkout",code="500"}'
    assert value(s, failed, "increase", 30) > 0
    assert found(s, '"payments backlog: checkout closed"')


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"builtin": "database.disk_used_gb", "metric": "disk_gb"}, "a `builtin` quantity is the model's own: drop `metric`"),
        ({"builtin": "database.disk_used_gb", "start": 1, "rate": 2}, "a `builtin` quantity is the model's own: drop `start`, `rate`"),
        ({"builtin": "queue.depth"}, "`builtin: queue.depth` and `queue` (the queue it counts) go together"),
        ({"builtin": "api.pool_in_use", "queue": "payments"}, "`builtin: queue.depth` and `queue` (the queue it counts) go together"),
        ({"metric": "x_bytes"}, "missing required key 'start' (or name a `builtin` quantity)"),
        ({"start": 1}, "missing required key 'metric' (or name a `builtin` quantity)"),
        ({"builtin": "database.disk_free"}, "Input should be 'database.disk_used_gb', 'api.pool_in_use' or 'queue.depth'"),
    ],
)  # fmt: skip
def test_a_builtin_quantity_is_declared_by_its_name_alone(
    spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        ResourceSpec.model_validate(spec)
    assert message in str(info.value)


BASE = """id: builtin
title: "t"
difficulty: easy
tags: [database]
summary: s
briefing: b
page: {alert: DiskFull}
duration_s: 600
resources:
  disk:
    builtin: database.disk_used_gb
  pool:
    builtin: api.pool_in_use
operations:
  repack:
    kind: maintenance
    component: postgres
    resource: disk
    to: 150
    rate: 5
events:
  - at: 60
    kind: resource_update
    resource: disk
    value: 199
alerts:
  add:
    - name: DiskFull
      summary: "volume {value} full"
      conditions:
        - metric: 'node_filesystem_used_ratio{mountpoint="/var/lib/postgresql"}'
          op: ">"
          value: 0.99
faults:
  - kind: damage
    at: 30
    fixed_by: repack
    cause: true
root_cause:
  answer: {part: postgres, mechanism: resource-exhaustion, text: "the volume filled"}
  explanation: e
resolution:
  conditions:
    - metric: 'node_filesystem_used_ratio{mountpoint="/var/lib/postgresql"}'
      op: "<"
      value: 0.9
  for: 60
playthroughs:
  reference:
    name: repack
    actions: ["00:10 operation start repack"]
  harmful:
    - name: restart
      actions: ["00:10 restart postgres"]
"""


def test_the_file_with_builtin_quantities_is_valid() -> None:
    inc = load_incident("builtin.yaml", text=BASE, expect_id="builtin")
    assert inc.resources["disk"].builtin == "database.disk_used_gb"


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("    resource: disk\n    to", "    resource: pool\n    to", "operations.repack.resource", "'pool' is the model's `api.pool_in_use`: it can be watched, not changed"),
        ("    value: 199\n", "    value: 199\n    rate: 1\n", "events[0].resource", "'disk' is the model's `database.disk_used_gb`: the model sets its rate"),
        ("    resource: disk\n    value", "    resource: pool\n    value", "events[0].resource", "'pool' is the model's `api.pool_in_use`: it can be watched, not changed"),
    ],
)  # fmt: skip
def test_only_the_volume_may_be_changed_and_never_its_rate(
    old: str, new: str, where: str, message: str
) -> None:
    assert BASE.count(old) == 1
    with pytest.raises(YamlModelError) as info:
        load_incident("builtin.yaml", text=BASE.replace(old, new), expect_id="builtin")
    (err,) = info.value.errors
    assert err.keypath == where and err.message == message


def test_the_guides_builtin_example_is_valid_and_acts() -> None:
    from pathlib import Path

    import yaml

    guide = (Path(__file__).resolve().parents[2] / "docs" / "authoring.md").read_text("utf-8")
    blocks = [b.split("```", 1)[0] for b in guide.split("```yaml\n")[1:]]
    (body,) = [b for b in blocks if b.startswith("resources:\n  data-volume:")]
    doc = yaml.safe_load(body)
    s = world(
        doc["resources"],
        [{"at": 5, "kind": "resource_update", "resource": "data-volume", "value": 181}],
        doc["operations"],
    )
    run(s, 20)
    assert found(s, '"data volume past 90%"')
    op = s.world.operations.ops["repack-orders"]
    s.world.operations.start(op, s.t, "ann")
    run(s, 250)
    assert op.state == "done" and s.db.disk_used_gb == pytest.approx(140, abs=0.1)
