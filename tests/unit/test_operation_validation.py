"""Every field of an incident's operations, and of the `damage` faults that name them, is
checked with an error located at the place in the file that is wrong (`path:line:col:
key.path: message`); a misspelt name is answered with the closest one. Each case breaks one
thing in tests/fixtures/world/replica-resync.yaml, which is valid as it stands."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncall_dojo.incident.loader import load_incident

from .located import Case, assert_located

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "world" / "replica-resync.yaml"
BASE = FIXTURE.read_text(encoding="utf-8")


CASES = [
    Case('  resync-replica:\n', '  Resync Replica:\n', 22, 3, 'operations["Resync Replica"]', "String should match pattern '^[a-z][a-z0-9_-]*$'"),
    Case('kind: resync', 'kind: resink', 23, 11, 'operations.resync-replica.kind', "Input should be 'maintenance', 'resync', 'restore', 'reindex', 'reissu"),
    Case('component: postgres', 'component: postgress', 24, 16, 'operations.resync-replica.component', "no component 'postgress' (did you mean 'postgres'?); components: postgre"),
    Case('component: postgres', 'component: biling', 24, 16, 'operations.resync-replica.component', "no component 'biling' (did you mean 'billing'?); components: postgres, a"),
    Case('    resource: replica-lag\n    rate', '    resource: replica-lgs\n    rate', 25, 15, 'operations.resync-replica.resource', "no resource 'replica-lgs' (did you mean 'replica-lag'?); resources: repl"),
    Case('    resource: replica-lag\n    rate', '    rate', 23, 5, 'operations.resync-replica', 'give exactly one of `units`, `resource` or `table` (its work)'),
    Case('    resource: replica-lag\n    rate', '    resource: replica-lag\n    units: 5\n    rate', 23, 5, 'operations.resync-replica', 'give exactly one of `units`, `resource` or `table` (its work)'),
    Case('    resource: replica-lag\n    rate', '    table: order\n    rate', 25, 12, 'operations.resync-replica.table', "no table 'order' (did you mean 'orders'?); tables: products, orders, use"),
    Case('    resource: replica-lag\n    rate', '    units: 0\n    rate', 25, 12, 'operations.resync-replica.units', 'Input should be greater than 0'),
    Case('    resource: replica-lag\n    rate', '    units: 50\n    to: 0\n    rate', 23, 5, 'operations.resync-replica', '`to` is the value a `resource` is worked down to'),
    Case('    resource: replica-lag\n    rate', '    units: 50\n    rate', 23, 5, 'operations.resync-replica', 'a fixed amount of `units` has no inflow: `inflow_above` needs a `resou'),
    Case('    resource: replica-lag\n    rate', '    resource: replica-lag\n    to: low\n    rate', 26, 9, 'operations.resync-replica.to', 'Input should be a valid number, unable to parse string as a number'),
    Case('rate: 1.0e6', 'rate: 0', 26, 11, 'operations.resync-replica.rate', 'Input should be greater than 0'),
    Case('rate: 1.0e6', 'rate: .inf', 26, 11, 'operations.resync-replica.rate', 'Input should be a finite number'),
    Case('rate: 1.0e6', 'rate: 1.0e6\n    db_busy_slowdown: -1', 27, 23, 'operations.resync-replica.db_busy_slowdown', 'Input should be greater than or equal to 0'),
    Case('rate: 1.0e6', 'rate: 1.0e6\n    db_load_ms: lots', 27, 17, 'operations.resync-replica.db_load_ms', 'Input should be a valid number, unable to parse string as a number'),
    Case('      - inflow_above: 5.0e7\n', '      - inflow_above: -1\n', 28, 23, 'operations.resync-replica.fails_if[0].inflow_above', 'Input should be greater than or equal to 0'),
    Case('      - inflow_above: 5.0e7\n', '      - above: 5.0e7\n        below: 1\n', 28, 9, 'operations.resync-replica.fails_if[0]', 'give exactly one of `above`, `below` or `inflow_above`'),
    Case('      - inflow_above: 5.0e7\n', '      - resource: replica-lag\n        inflow_above: 5\n', 28, 9, 'operations.resync-replica.fails_if[0]', "`inflow_above` counts the operation's own work: drop `resource`"),
    Case('      - inflow_above: 5.0e7\n', '      - resource: replica-lgs\n        above: 5\n', 28, 19, 'operations.resync-replica.fails_if[0].resource', "no resource 'replica-lgs' (did you mean 'replica-lag'?); resources: repl"),
    Case('        error: "pg_basebackup: error: requested WAL segment has already been removed"\n', '', 28, 9, 'operations.resync-replica.fails_if[0]', "missing required key 'error'"),
    Case('        error: "pg_basebackup: error: requested WAL segment has already been removed"\n', '        error: ""\n', 29, 16, 'operations.resync-replica.fails_if[0].error', 'String should have at least 1 character'),
    Case('        replica-lag: {rate: 0}', '        replica-lgs: {rate: 0}', 35, 22, 'operations.resync-replica.done.resources.replica-lgs', "no resource 'replica-lgs' (did you mean 'replica-lag'?); resources: repl"),
    Case('        replica-lag: {rate: 0}', '        replica-lag: {}', 35, 22, 'operations.resync-replica.done.resources.replica-lag', "give the resource's new `value`, its new `rate`, or both"),
    Case('        replica-lag: {rate: 0}', '        replica-lag: {rate: fast}', 35, 29, 'operations.resync-replica.done.resources.replica-lag.rate', 'Input should be a valid number, unable to parse string as a number'),
    Case('        text: "postgres-0 LOG: starting base backup for replica-1"\n', '        text: "postgres-0 LOG: starting base backup for replica-1"\n        every_s: 60\n', 33, 18, 'operations.resync-replica.logs[0].every_s', "an operation's lines are written once: they are not repeated"),
    Case('          text: "postgres-1 LOG: consistent recovery state reached"\n', '          text: "postgres-1 LOG: consistent recovery state reached"\n          every_s: 60\n', 40, 20, 'operations.resync-replica.done.logs[0].every_s', "an operation's lines are written once: they are not repeated"),
    Case('    done:\n', '    dne:\n', 33, 5, 'operations.resync-replica', "unknown key 'dne' (did you mean 'done'?)"),
    Case('fixed_by: resync-replica', 'fixed_by: resync-replika', 43, 15, 'faults[0].fixed_by', "no operation 'resync-replika' (did you mean 'resync-replica'?); operatio"),
    Case('fixed_by: resync-replica', 'fixed_by: [resync-replica, resync-replika]', 43, 32, 'faults[0].fixed_by[1]', "no operation 'resync-replika' (did you mean 'resync-replica'?); operatio"),
    Case('fixed_by: resync-replica', 'fixed_by: []', 43, 15, 'faults[0].fixed_by', 'name the operation (or the operations) whose finished run repairs it'),
    Case('    fixed_by: resync-replica\n', '', 41, 5, 'faults[0]', "missing required key 'fixed_by'"),
    Case('        message_error: "ERROR: canceling statement due to conflict with recovery"\n', '        message_error: "ERROR: canceling statement due to conflict with recovery"\n      biling: {latency_x: 2}\n', 48, 15, 'faults[0].traits.biling', "no service 'biling'; services: api, billing, mailer, fulfillment"),
]  # fmt: skip


@pytest.mark.parametrize("c", CASES, ids=[f"{c.keypath}:{c.line}:{c.col}" for c in CASES])
def test_a_broken_operation_field_is_reported_where_it_is(c: Case) -> None:
    assert_located(BASE, c, "replica-resync.yaml")


@pytest.mark.parametrize("component", ["api", "cache", "billing", "payments", "replica-lag"])
def test_a_component_may_be_a_service_a_pool_a_queue_or_a_resource(component: str) -> None:
    text = BASE.replace("component: postgres", f"component: {component}")
    inc = load_incident("replica-resync.yaml", text=text, expect_id="replica-resync")
    assert inc.operations["resync-replica"].component == component
