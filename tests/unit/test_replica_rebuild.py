"""An operation that rebuilds a replica of a database cluster, played on
tests/fixtures/world/replica-rebuild.yaml: starting it takes the replica out of replication (it
cannot be promoted, its lag is the age of its copy), the base backup works through its `units`
at the rate the link between the sites lets through, the primary's writes meanwhile are the
run's inflow (and can fail it), and a finished run leaves the replica streaming, replaying
exactly the writes made during the run at its apply rate. A failover during the run fails it;
a replica that became the primary cannot be rebuilt. Each figure is checked against the
cluster's own write counter, not against the model's formulas."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.components.clusters import Cluster, Member, Topology
from oncall_dojo.sim.observability.metrics import Query

from .located import Case, assert_located, case_id

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "world" / "replica-rebuild.yaml"
BASE = FIXTURE.read_text(encoding="utf-8")
OP = "rebuild-pg-2"
UNITS, RATE = 120, 0.5
LAG = 'pg_replication_lag_seconds{cluster="postgres",replica="pg-2"}'


def incident(text: str = BASE) -> Incident:
    if text == BASE:
        return load_checked(FIXTURE)
    return load_incident("replica-rebuild.yaml", text=text, expect_id="replica-rebuild")


def parts(s: Session) -> tuple[Topology, Cluster, Member]:
    topo = s.system.topology
    assert topo is not None
    c = topo.clusters["postgres"]
    return topo, c, c.members["pg-2"]


def gauge(s: Session, metric: str) -> float:
    v = s.system.metrics.query(Query(metric=metric, fn="last", window=1), s.system.t - 1)
    assert v is not None, metric
    return v


def run_rebuild(s: Session) -> tuple[int, float]:
    """Start the rebuild and play until it ends: (seconds it ran, writes made meanwhile)."""
    _, c, _ = parts(s)
    op = s.system.world.operations.ops[OP]
    assert perform(s, f"operation start {OP}").kind == "act"
    start, writes = s.system.t, 0.0
    while op.state == "running" and s.system.t < start + 3 * UNITS / RATE:
        s.advance(1)
        writes += c.writes
    return s.system.t - start, writes


def test_a_rebuild_copies_its_base_backup_then_replays_what_was_written_meanwhile() -> None:
    s = Session(incident(), 1)
    topo, c, m = parts(s)
    assert m.stream.pending > 10_000  # its replay stopped at 00:30: it will never catch up
    took, writes = run_rebuild(s)
    op = s.system.world.operations.ops[OP]
    assert op.state == "done"
    assert took == math.ceil(UNITS / RATE)  # no link loss, an idle database: the full rate
    assert not m.diverged and m.rebuilding is None
    # it starts streaming with exactly the writes the primary made during the copy (and
    # replays its first second of them in the second it finishes)
    assert m.stream.pending == pytest.approx(writes - m.apply_per_s)
    assert writes > 1_000
    lag_then = gauge(s, LAG)
    assert lag_then == pytest.approx(topo.lag_s(c, m))
    # and replays them at its apply rate, faster than the primary writes
    behind, written = m.stream.pending, 0.0
    for _ in range(3):
        s.advance(1)
        written += c.writes
    assert m.stream.pending == pytest.approx(behind - 3 * m.apply_per_s + written)
    s.advance(120)
    assert gauge(s, LAG) < 1.0
    logs = s.system.logs
    assert any(
        "pg-2 LOG: base backup completed; started streaming WAL from primary pg-0" in logs.render(i)
        for i in range(len(logs.lines))
    )


def test_while_it_rebuilds_a_replica_replays_nothing_cannot_be_promoted_and_ages() -> None:
    s = Session(incident(), 1)
    _, _, m = parts(s)
    assert perform(s, f"operation start {OP}").kind == "act"
    s.advance(60)
    assert m.diverged and m.rebuilding == "pg-0"
    assert gauge(s, LAG) == 60.0  # the copy it will have is a minute old: never "caught up"
    out = perform(s, "failover postgres pg-2")
    assert out.kind == "refused" and "diverged" in out.output
    db = perform(s, "db").output
    assert "pg-2@west REBUILDING" in db


def test_a_lossy_link_slows_the_copy_and_a_partition_stops_it() -> None:
    text = BASE.replace(
        "events:\n",
        "events:\n  - at: 800\n    kind: link_status\n    link: east-west\n    loss: 0.5\n",
    )
    s = Session(incident(text), 1)
    took, _ = run_rebuild(s)
    assert took == math.ceil(UNITS / (RATE * 0.5))
    cut = BASE.replace(
        "events:\n",
        "events:\n  - at: 800\n    kind: link_status\n    link: east-west\n    partitioned: true\n",
    )
    s = Session(incident(cut), 1)
    op = s.system.world.operations.ops[OP]
    assert perform(s, f"operation start {OP}").kind == "act"
    s.advance(100)
    assert op.state == "running" and op.done == 0.0


def test_too_many_writes_during_the_copy_fail_it_and_cutting_them_first_lets_it_finish() -> None:
    tight = BASE.replace("inflow_above: 9000", "inflow_above: 2500")
    s = Session(incident(tight), 1)
    _, _, m = parts(s)
    took, writes = run_rebuild(s)
    op = s.system.world.operations.ops[OP]
    assert op.state == "failed" and "has already been removed" in op.error
    assert writes > 2500 and writes - 60 <= 2500 + 60  # it fails the second it passes the limit
    assert took < UNITS / RATE
    assert m.diverged and m.rebuilding is None and m.stream.pending == 0
    # with the write load cut (carts and checkouts held to 2 a second), the same copy finishes
    s = Session(incident(tight), 1)
    for route in ("POST /api/cart", "POST /api/checkout"):
        assert perform(s, f"ratelimit {route} 2").kind == "act"
    took, writes = run_rebuild(s)
    assert s.system.world.operations.ops[OP].state == "done", writes
    assert took == math.ceil(UNITS / RATE)


def test_a_failover_during_the_copy_fails_it() -> None:
    s = Session(incident(), 1)
    _, c, m = parts(s)
    assert perform(s, f"operation start {OP}").kind == "act"
    s.advance(30)
    assert perform(s, "failover postgres pg-1").kind == "act"
    s.advance(2)
    op = s.system.world.operations.ops[OP]
    assert op.state == "failed"
    assert op.error == "the primary changed during the base backup (pg-0 -> pg-1)"
    assert c.primary == "pg-1" and m.diverged and m.rebuilding is None


def test_the_old_primary_can_be_rebuilt_after_a_failover_but_not_while_it_is_primary() -> None:
    text = BASE.replace(
        "    component: postgres\n    replica: pg-2\n",
        "    component: postgres\n    replica: pg-0\n",
    )
    s = Session(incident(text), 1)
    out = perform(s, f"operation start {OP}")
    assert out.kind == "refused"
    assert "pg-0 is the primary of postgres now" in out.output
    assert s.system.world.operations.ops[OP].state == "ready"
    assert perform(s, "failover postgres pg-1").kind == "act"
    topo, c, _ = parts(s)
    old = c.members["pg-0"]
    assert old.diverged
    s.advance(20)
    perform(s, f"operation start {OP}")
    while s.system.world.operations.ops[OP].state == "running":
        s.advance(1)
    assert s.system.world.operations.ops[OP].state == "done"
    assert not old.diverged and c.primary == "pg-1"
    s.advance(60)
    assert topo.lag_s(c, old) < 1.0


CASES = [
    Case("    component: postgres\n    replica: pg-2\n", "    component: postgres\n    replica: pg-3\n", 42, 14, "operations.rebuild-pg-2.replica", "no instance 'pg-3' in postgres (did you mean 'pg-2'?); instances: pg-0, pg-1, pg-2"),
    Case("    component: postgres\n    replica", "    component: postgress\n    replica", 41, 16, "operations.rebuild-pg-2.component", "no cluster 'postgress' (did you mean 'postgres'?); clusters: postgres"),
    Case("    kind: resync\n", "    kind: reindex\n", 40, 5, "operations.rebuild-pg-2", "`replica` names the replica a `resync` or `restore` rebuilds"),
    Case("    units: 120\n", "    table: orders\n", 40, 5, "operations.rebuild-pg-2", "a replica's rebuild copies a base backup: give its size as `units`"),
]  # fmt: skip


def test_a_rebuild_needs_the_incidents_clusters() -> None:
    text = BASE[: BASE.index("  sites:\n")] + BASE[BASE.index("operations:\n") :]
    c = Case(
        "    replica: pg-2\n",
        "    replica: pg-2\n",
        18,
        14,
        "operations.rebuild-pg-2.replica",
        "a replica is rebuilt within a database cluster: declare `system.clusters`",
    )
    assert_located(text, c, "replica-rebuild.yaml")


def test_the_guides_rebuild_example_is_the_fixtures_and_plays_as_told() -> None:
    """The rebuild example of docs/authoring.md, in the fixture's place: it validates and the
    copy takes units / rate seconds."""
    guide = (FIXTURE.parents[3] / "docs" / "authoring.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in guide.split("```yaml\n")[1:]]
    (body,) = [b for b in blocks if b.startswith("operations:\n  rebuild-pg-2:")]
    start, end = BASE.index("operations:\n"), BASE.index("faults:\n")
    s = Session(incident(BASE[:start] + body + BASE[end:]), 1)
    took, _ = run_rebuild(s)
    assert s.system.world.operations.ops[OP].state == "done"
    assert took == math.ceil(UNITS / RATE)


def test_the_json_schema_and_the_reference_describe_the_replica_field() -> None:
    from oncall_dojo.game.reference import render
    from oncall_dojo.incident.model import incident_json_schema

    spec = incident_json_schema()["$defs"]["OperationSpec"]["properties"]
    assert "replica" in spec and "rebuilds" in spec["replica"]["description"]
    assert "| `replica` | string or null | null | A replica of the cluster" in render()


HELD = """resources:
  wal-volume:
    metric: node_filesystem_avail_bytes
    labels: {mountpoint: /var/lib/postgresql/wal}
    start: 5.0e10
    rate: -1.0e7
    min: 0
    failover: {cluster: postgres, value: 6.0e10, rate: 0}
  retained:
    metric: pg_replication_slots_pg_wal_lsn_diff
    labels: {slot_name: reporting}
    start: 0
    rate: 1.0e8
    failover: {cluster: postgres}
operations:
"""


def test_a_quantity_the_primary_holds_is_the_new_primarys_after_a_failover() -> None:
    s = Session(incident(BASE.replace("operations:\n", HELD, 1)), 1)
    volume = s.system.world.resources["wal-volume"]
    retained = s.system.world.resources["retained"]
    t0 = s.system.t
    assert volume.value == pytest.approx(5.0e10 - 1.0e7 * (t0 - 1))  # it ran down from tick 1
    s.advance(10)
    assert volume.value < 5.0e10 - 1.0e7 * t0
    assert perform(s, "failover postgres pg-1").kind == "act"
    s.advance(1)
    assert volume.value == 6.0e10 and volume.rate == 0  # the new primary's volume, not filling
    assert retained.value == 0  # back at its start, and growing as before from there
    s.advance(30)
    assert volume.value == 6.0e10
    assert retained.value == pytest.approx(30 * 1.0e8)
    assert gauge(s, 'node_filesystem_avail_bytes{mountpoint="/var/lib/postgresql/wal"}') == 6.0e10


FAILOVER_CASES = [
    Case("failover: {cluster: postgres, value: 6.0e10, rate: 0}", "failover: {cluster: postgress, value: 6.0e10, rate: 0}", 45, 25, "resources.wal-volume.failover.cluster", "no cluster 'postgress' (did you mean 'postgres'?); clusters: postgres"),
    Case("failover: {cluster: postgres, value: 6.0e10, rate: 0}", "failover: {value: 6.0e10, rate: 0}", 45, 15, "resources.wal-volume.failover", "missing required key 'cluster'"),
    Case("failover: {cluster: postgres, value: 6.0e10, rate: 0}", "failover: {cluster: postgres, valu: 6.0e10}", 45, 35, "resources.wal-volume.failover", "unknown key 'valu' (did you mean 'value'?)"),
]  # fmt: skip


BROKEN = [(BASE, c) for c in CASES] + [
    (BASE.replace("operations:\n", HELD, 1), c) for c in FAILOVER_CASES
]
"""Each case breaks one field of the fixture (the failover cases, of the fixture with HELD)."""


@pytest.mark.parametrize(("text", "c"), BROKEN, ids=[case_id(c) for _, c in BROKEN])
def test_a_broken_rebuild_or_failover_is_reported_where_it_is(text: str, c: Case) -> None:
    assert_located(text, c, "replica-rebuild.yaml")


def test_the_guides_failover_example_plays_as_told() -> None:
    """The `failover` example of docs/authoring.md's resources section, in the fixture."""
    guide = (FIXTURE.parents[3] / "docs" / "authoring.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in guide.split("```yaml\n")[1:]]
    (body,) = [b for b in blocks if b.startswith("resources:\n  pg-wal-volume:")]
    s = Session(incident(BASE.replace("operations:\n", body + "operations:\n", 1)), 1)
    volume = s.system.world.resources["pg-wal-volume"]
    assert volume.rate == -2.0e6 and volume.value < 1.1e10  # checkouts ran it down
    assert perform(s, "failover postgres pg-1").kind == "act"
    s.advance(1)
    assert (volume.value, volume.rate) == (5.9e10, 0)
