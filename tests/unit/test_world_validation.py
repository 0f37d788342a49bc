"""Every field of an incident's resources and events is checked, with an error located at the
place in the file that is wrong (`path:line:col: key.path: message`). Each case breaks one
thing in tests/fixtures/world/wal-volume.yaml, which is valid as it stands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from oncall_dojo.incident.loader import load_incident
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.events import Event
from oncall_dojo.sim.observability.alerts import AlertRule
from oncall_dojo.sim.resources import ResourceSpec

from .located import Case, assert_located, case_id

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "world" / "wal-volume.yaml"
BASE = FIXTURE.read_text(encoding="utf-8")


CASES = [
    Case('metric: node_filesystem_avail_bytes', 'metric: node-filesystem', 13, 13, 'resources.wal-volume.metric', "String should match pattern '^[a-zA-Z_:][a-zA-Z0-9_:]*$'"),
    Case('metric: pg_replication_slot_retained_bytes', 'metric: pg_replication_lag_seconds', 31, 13, 'resources.slot.metric', "'pg_replication_lag_seconds' is a metric the system already exports; n"),
    Case('labels: {slot_name: analytics}', 'labels: {slot-name: analytics}', 32, 14, 'resources.slot.labels.slot-name', "String should match pattern '^[a-zA-Z_][a-zA-Z0-9_]*$'"),
    Case('labels: {slot_name: analytics}', 'labels: {slot_name: [a]}', 32, 25, 'resources.slot.labels.slot_name', 'Input should be a valid string'),
    Case('metric: pg_replication_slot_retained_bytes\n    labels: {slot_name: analytics}', 'metric: node_filesystem_avail_bytes\n    labels: {mountpoint: /var/lib/postgresql/wal}', 31, 13, 'resources.slot.metric', "resource 'wal-volume' already exports 'node_filesystem_avail_bytes' wi"),
    Case('help: Free bytes on the WAL volume', 'help: [free]', 15, 11, 'resources.wal-volume.help', 'Input should be a valid string'),
    Case('start: 5.0e9', 'start: lots', 16, 12, 'resources.wal-volume.start', 'Input should be a valid number, unable to parse string as a number'),
    Case('rate: 16384', 'rate: fast', 34, 11, 'resources.slot.rate', 'Input should be a valid number, unable to parse string as a number'),
    Case('per: request', 'per: minute', 35, 10, 'resources.slot.per', "Input should be 'second', 'request', 'published' or 'processed'"),
    Case('route: POST /api/checkout\n', 'route: POST /api/chekout\n', 36, 12, 'resources.slot.route', "no route 'POST /api/chekout'; routes: GET /api/products, GET /api/orde"),
    Case('    route: POST /api/checkout\n', '', 31, 5, 'resources.slot', '`per: request` needs the `route` whose requests count'),
    Case('    route: POST /api/checkout\n', '    route: POST /api/checkout\n    queue: payments\n', 31, 5, 'resources.slot', '`queue` counts only with `per: published` or `per: processed`'),
    Case('per: request\n    route: POST /api/checkout', 'per: published\n    queue: paymnts', 36, 12, 'resources.slot.queue', "no queue 'paymnts'; queues: payments, emails, fulfillment"),
    Case('    min: 0\n', '    min: 0\n    max: 0\n', 13, 5, 'resources.wal-volume', '`min` (0) must be below `max` (0)'),
    Case('    min: 0\n', '    min: 6.0e9\n', 13, 5, 'resources.wal-volume', '`start` (5e+09) is below `min` (6e+09)'),
    Case('    min: 0\n', '    max: 1.0e9\n', 13, 5, 'resources.wal-volume', '`start` (5e+09) is above `max` (1e+09)'),
    Case('    min: 0\n', '    min: zero\n', 18, 10, 'resources.wal-volume.min', 'Input should be a valid number, unable to parse string as a number'),
    Case('      - below: 0\n', '      - below: 0\n        above: 5\n', 27, 9, 'resources.wal-volume.thresholds[1]', 'give exactly one of `above` or `below`'),
    Case('effect: refuse_writes', 'effect: refuse_write', 28, 17, 'resources.wal-volume.thresholds[1].effect', "unknown effect 'refuse_write' (did you mean 'refuse_writes'?); expecte"),
    Case('        effect: log\n        logs:', '        effect: log\n        lgs:', 22, 9, 'resources.wal-volume.thresholds[0]', "unknown key 'lgs' (did you mean 'logs'?)"),
    Case('            every_s: 60', '            every_s: 0', 26, 22, 'resources.wal-volume.thresholds[0].logs[0].every_s', 'Input should be greater than or equal to 1'),
    Case('        effect: refuse_writes\n', '        effect: fail_requests\n        route: GET /api/prods\n', 29, 16, 'resources.wal-volume.thresholds[1].route', "no route 'GET /api/prods'; routes (or `*`): GET /api/products, GET /ap"),
    Case('        effect: refuse_writes\n', '        effect: fail_requests\n        route: GET /api/products\n        share: 2\n', 30, 16, 'resources.wal-volume.thresholds[1].share', 'Input should be less than or equal to 1'),
    Case('        effect: refuse_writes\n', '        effect: fail_messages\n        pool: biling\n', 29, 15, 'resources.wal-volume.thresholds[1].pool', "no worker pool 'biling'; pools: billing, mailer, fulfillment"),
    Case('        effect: refuse_writes\n', '        effect: crash\n        pool: biling\n', 29, 15, 'resources.wal-volume.thresholds[1].pool', "no worker pool 'biling'; pools: billing, mailer, fulfillment"),
    Case('        effect: refuse_writes\n', '        effect: crash\n', 27, 9, 'resources.wal-volume.thresholds[1]', "missing required key 'pool'"),
    Case('        effect: refuse_writes\n        error: \'PANIC: could not write to file "pg_wal/xlogtemp.4711": No space left on device\'\n', '        effect: slow\n        service: postgress\n        factor: 3\n', 29, 18, 'resources.wal-volume.thresholds[1].service', "no service 'postgress'; services: api, billing, mailer, fulfillment"),
    Case('        effect: refuse_writes\n        error: \'PANIC: could not write to file "pg_wal/xlogtemp.4711": No space left on device\'\n', '        effect: slow\n        service: api\n        factor: 1\n', 30, 17, 'resources.wal-volume.thresholds[1].factor', 'Input should be greater than 1'),
    Case('  wal-volume:\n', '  Wal_Volume:\n', 12, 3, 'resources.Wal_Volume', "String should match pattern '^[a-z][a-z0-9_-]*$'"),
    Case('  - at: 300\n', '  - at: -3\n', 38, 9, 'events[0].at', 'Input should be greater than or equal to 0'),
    Case('    kind: pool_disruption\n', '    kind: pool\n', 39, 11, 'events[0].kind', "unknown kind 'pool'; expected one of: 'resource_update', 'pool_disrupt"),
    Case('    resource: wal-volume\n', '    resource: wal\n', 52, 15, 'events[2].resource', "no resource 'wal'; resources: wal-volume, slot"),
    Case('    rate: -1.0e7\n', '', 50, 5, 'events[2]', "give the resource's new `rate`, its new `value`, or both"),
    Case('    pool: billing\n', '    pool: biling\n', 40, 11, 'events[0].pool', "no worker pool 'biling'; pools: billing, mailer, fulfillment"),
    Case('    replicas: 1\n', '    replicas: 99\n', 41, 15, 'events[0].replicas', 'billing can have at most 40 replicas'),
    Case('    replicas: 1\n', '    replicas: -1\n', 41, 15, 'events[0].replicas', 'Input should be greater than or equal to 0'),
    Case('    replicas: 1\n', '', 38, 5, 'events[0]', 'give `replicas` (nodes lost), `crash` (processes killed), or both'),
    Case('    error_rate: 0.3\n', '    error_rate: 2\n', 48, 17, 'events[1].error_rate', 'Input should be less than or equal to 1'),
    Case('    error_rate: 0.3\n', '    latency_x: 0.5\n', 48, 16, 'events[1].latency_x', 'Input should be greater than or equal to 1'),
    Case('value: "provider maintenance window opened", ', '', 49, 13, 'events[1].record', "missing required key 'value'"),
    Case('{kind: audit,', '{kind: Audit Log,', 49, 20, 'events[1].record.kind', "String should match pattern '^[a-z][a-z-]{0,8}$'"),
    Case('        text: "kubelet-node-3 node lost; pods evicted"\n', '        text: "kubelet-node-3 node lost; pods evicted"\n        every_s: 60\n', 46, 18, 'events[0].logs[0].every_s', 'an event happens once: its lines are not repeated'),
    Case("    min: 0\n", "    min: 0\n    resets_with: biling\n", 19, 18, "resources.wal-volume.resets_with", "no worker pool 'biling'; pools: billing, mailer, fulfillment"),
    Case("    min: 0\n", "    min: 0\n    job: wal-cleanup\n    per_item: -1\n", 19, 10, "resources.wal-volume.job", "no job 'wal-cleanup'; jobs in system.jobs: none"),
    Case("    min: 0\n", "    min: 0\n    per_item: -1\n", 13, 5, "resources.wal-volume", "`per_item` needs the `job` whose items count"),
    Case('rate: 16384', 'rate: .inf', 34, 11, 'resources.slot.rate', 'Input should be a finite number'),
    Case('start: 5.0e9', 'start: .nan', 16, 12, 'resources.wal-volume.start', 'Input should be a finite number'),
    Case('    rate: -1.0e7\n', '    rate: -.inf\n', 53, 11, 'events[2].rate', 'Input should be a finite number'),
    Case("    min: 0\n", "    min: 0\n    versions: [v2.8.3]\n", 13, 5, "resources.wal-volume", "`versions` needs the pool under `resets_with` that runs them"),
    Case("    min: 0\n", "    min: 0\n    resets_with: billing\n    versions: [v2.8.3, v9]\n", 20, 24, "resources.wal-volume.versions[1]", "no version 'v9' of billing; known: v2.8.3"),
    Case("    min: 0\n", "    min: 0\n    past: [{ago_s: 0, value: 1}]\n", 19, 20, "resources.wal-volume.past[0].ago_s", "Input should be greater than 0"),
    Case("    min: 0\n", "    min: 0\n    past: [{ago_s: 60, value: 1}, {ago_s: 60, value: 2}]\n", 13, 5, "resources.wal-volume", "`past` has two points at `ago_s: 60`"),
]  # fmt: skip


def test_the_fixture_itself_is_valid() -> None:
    load_incident(FIXTURE, expect_id="wal-volume")


@pytest.mark.parametrize("c", CASES, ids=[case_id(c) for c in CASES])
def test_a_broken_field_is_reported_where_it_is(c: Case) -> None:
    assert_located(BASE, c, "wal-volume.yaml")


def test_the_guides_examples_are_valid() -> None:
    """The resource and event examples of docs/authoring.md validate as they are written
    (with numbers for the `${...}` the guide leaves to `vary`)."""
    guide = (FIXTURE.parents[3] / "docs" / "authoring.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in guide.split("```yaml\n")[1:]]
    doc: dict[str, Any] = {}
    for body in blocks:
        if body.startswith(("resources:", "events:", "system:\n  jobs:")) and (
            "\noperations:" not in body  # tested with the operations (test_operations.py)
        ):
            body = body.replace("${fault_at + 240}", "600").replace("${fault_at}", "360")
            for key, part in yaml.safe_load(body).items():
                if isinstance(part, dict):
                    doc.setdefault(key, {}).update(part)
                else:
                    doc[key] = part
    assert set(doc) == {"resources", "alerts", "events", "system"}
    resources = TypeAdapter(dict[str, ResourceSpec]).validate_python(doc["resources"])
    events = TypeAdapter(list[Event]).validate_python(doc["events"])
    assert [t.effect for t in resources["wal-volume"].thresholds] == ["log", "refuse_writes"]
    assert resources["fds"].resets_with == "billing"
    assert resources["ingest-fds"].versions == ["v2.9.0", "v2.9.1"]
    assert [p.ago_s for p in resources["ingest-fds"].past][:3] == [604800, 432060, 432000]
    assert resources["wal"].job in SystemConfig.with_overrides(doc["system"]).jobs
    assert [e.kind for e in events] == ["resource_update", "pool_disruption", "provider_status"]
    AlertRule.model_validate(doc["alerts"]["add"][0])
