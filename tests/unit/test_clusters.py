"""Database clusters, sites and links, played: a replica's backlog grows at (write rate - apply
rate) and drains at the reverse, a partitioned link stops replication, a failover loses exactly
the writes the promoted replica had not replayed (their rows vanish from the application
database, and the data score drops), the auto-failover promotes after its delay unless frozen,
and a play is byte-for-byte the same twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from oncall_dojo.game.play import finish, perform, run_script
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.sim import ops
from oncall_dojo.sim.components.clusters import Topology, rows_lost
from oncall_dojo.sim.components.replication import Replication
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.observability.metrics import Query
from oncall_dojo.sim.system import System

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "world" / "split-brain.yaml"

TWO_SITES: dict[str, Any] = {
    "appdb": {},
    "sites": {"east": {}, "west": {}},
    "links": {"wan": {"between": ["east", "west"], "latency_ms": 40}},
    "clusters": {
        "postgres": {
            "site": "east",
            "replicas": {"pg-1": {"site": "east"}, "pg-2": {"site": "west", "apply_per_s": 3}},
        },
        "pay-db": {
            "primary": "pay-0",
            "site": "east",
            "tables": ["payments", "ledger_entries"],
            "replicas": {"pay-1": {"site": "west"}},
        },
    },
}


def system(overrides: dict[str, Any] = TWO_SITES, seed: int = 1) -> System:
    return System(SystemConfig.with_overrides(overrides), seed)


def topo(sys: System) -> Topology:
    assert sys.topology is not None
    return sys.topology


def ticks(sys: System, n: int) -> None:
    for _ in range(n):
        sys.tick()


def gauge(sys: System, metric: str) -> float:
    v = sys.metrics.query(Query(metric=metric, fn="last", window=1), sys.t - 1)
    assert v is not None, metric
    return v


# ------------------------------------------------------------------------------ the stream
def test_the_backlog_grows_at_write_minus_apply_and_drains_at_the_reverse() -> None:
    r = Replication()
    for t in range(7):
        r.advance(t, 50.0, 30.0)
    assert r.pending == pytest.approx(140.0)
    # 210 applied: seconds 0-3 and 10 of second 4's 50 writes, so 40 of them still wait
    assert r.cut() == (4, pytest.approx(0.8))
    for t in range(7, 10):
        r.advance(t, 50.0, 30.0)
    assert r.pending == pytest.approx(200.0)
    for t in range(10, 14):
        r.advance(t, 10.0, 40.0)
    assert r.pending == pytest.approx(80.0)
    r.advance(14, 0.0, 1000.0)
    assert r.pending == 0.0 and r.cut() is None


def test_a_slow_replica_falls_behind_at_the_difference_in_the_running_system() -> None:
    sys = system()
    ticks(sys, 120)
    c = topo(sys).clusters["postgres"]
    pg2 = c.members["pg-2"]
    before = pg2.stream.pending
    sys.tick()
    assert c.writes > pg2.apply_per_s
    assert pg2.stream.pending - before == pytest.approx(c.writes - pg2.apply_per_s)
    # pg-1 keeps up (400 writes a second), and its lag is all the database's own figure shows
    assert c.members["pg-1"].stream.pending == 0.0
    lag = 'pg_replication_lag_seconds{cluster="postgres",replica="pg-2"}'
    assert gauge(sys, lag) == pytest.approx(pg2.stream.pending / 3 + 0.040)
    # made faster by an event's worth, it drains at apply - write
    topo(sys).set_replica("postgres", "pg-2", None, 500.0)
    before = pg2.stream.pending
    sys.tick()
    assert before - pg2.stream.pending == pytest.approx(500.0 - c.writes)


def test_a_partition_stops_replication_and_healing_lets_it_drain() -> None:
    sys = system()
    ticks(sys, 60)
    pay = topo(sys).clusters["pay-db"]
    assert pay.members["pay-1"].stream.pending == 0.0
    topo(sys).set_link("wan", True, None, None)
    ticks(sys, 1)
    before = pay.members["pay-1"].stream.pending
    ticks(sys, 1)
    assert pay.writes > 0
    assert pay.members["pay-1"].stream.pending - before == pytest.approx(pay.writes)
    assert gauge(sys, 'probe_success{link="wan"}') == 0.0
    # the replica in the primary's own site is not behind a link: it keeps up
    assert topo(sys).clusters["postgres"].members["pg-1"].stream.pending == 0.0
    topo(sys).set_link("wan", False, None, None)
    ticks(sys, 5)
    assert pay.members["pay-1"].stream.pending == 0.0


def test_a_lossy_link_slows_replay_by_its_loss() -> None:
    sys = system()
    ticks(sys, 5)
    topo(sys).set_link("wan", False, 120.0, 0.5)
    pg2 = topo(sys).clusters["postgres"].members["pg-2"]
    c = topo(sys).clusters["postgres"]
    before = pg2.stream.pending
    sys.tick()
    assert pg2.stream.pending - before == pytest.approx(c.writes - 3 * 0.5)
    assert gauge(sys, 'network_link_latency_seconds{link="wan"}') == pytest.approx(0.120)


# ------------------------------------------------------------------------------ failover
def count(sys: System, sql: str, *args: Any) -> int:
    assert sys.app is not None
    return sys.app.scalar(sql, args)


def test_a_failover_loses_exactly_the_unreplayed_writes_and_their_rows() -> None:
    sys = system()
    ticks(sys, 100)
    pay = topo(sys).clusters["pay-db"]
    topo(sys).set_replica("pay-db", "pay-1", True, None)  # replay stops from second 100 on
    assert sys.app is not None
    since = sys.app.ts(sys.t)
    ticks(sys, 90)
    pending = pay.members["pay-1"].stream.pending
    payments = count(sys, "SELECT count(*) FROM payments")
    ledger = count(sys, "SELECT count(*) FROM ledger_entries")
    orders = count(sys, "SELECT count(*) FROM orders")
    new_pay = count(sys, "SELECT count(*) FROM payments WHERE created_at >= ?", since)
    new_ledger = count(sys, "SELECT count(*) FROM ledger_entries WHERE created_at >= ?", since)
    assert new_pay > 50 and new_ledger > 50
    f = ops.failover_cluster(sys, "pay-db", None, "ana")
    assert (f.old, f.new, f.lost) == ("pay-0", "pay-1", int(pending))
    assert f.rows == {"payments": new_pay, "ledger_entries": new_ledger}
    assert count(sys, "SELECT count(*) FROM payments") == payments - new_pay
    assert count(sys, "SELECT count(*) FROM ledger_entries") == ledger - new_ledger
    assert count(sys, "SELECT count(*) FROM payments WHERE created_at >= ?", since) == 0
    # the cluster holds no orders: they stay
    assert count(sys, "SELECT count(*) FROM orders") == orders
    assert rows_lost(sys.app) == f.rows
    # the old primary is left diverged, the change is recorded with its author
    assert pay.primary == "pay-1" and pay.members["pay-0"].diverged
    assert sys.changes[-1].kind == "failover" and sys.changes[-1].author == "ana"
    assert (sys.changes[-1].before, sys.changes[-1].after) == ("pay-0", "pay-1")
    # its tables' queries fail while clients reconnect, the rest of the shop's do not
    assert sys.db.write_error("ledger_insert") is not None
    assert sys.db.write_error("order_insert") is None
    ticks(sys, f.down_s + 1)
    assert sys.db.write_error("ledger_insert") is None
    with pytest.raises(Refusal, match="diverged"):
        ops.failover_cluster(sys, "pay-db", "pay-0", "ana")


def test_the_shops_own_failover_removes_its_unreplayed_rows_too() -> None:
    sys = system({"appdb": {}})
    assert sys.topology is None
    ticks(sys, 60)
    sys.db.replica_paused = True
    assert sys.app is not None
    since = sys.app.ts(sys.t)
    ticks(sys, 30)
    orders = count(sys, "SELECT count(*) FROM orders")
    new = count(sys, "SELECT count(*) FROM orders WHERE created_at >= ?", since)
    assert new > 0
    pending = sys.db.replica_pending
    _, lost = ops.failover_postgres(sys, "ana")
    assert lost == int(pending)
    assert count(sys, "SELECT count(*) FROM orders") == orders - new
    assert rows_lost(sys.app)["orders"] == new
    assert (
        count(
            sys,
            "SELECT count(*) FROM order_items i LEFT JOIN orders o ON o.id = i.order_id WHERE o.id IS NULL",
        )
        == 0
    )


def test_naming_a_replica_that_is_not_there_is_refused_with_the_replicas() -> None:
    sys = system()
    with pytest.raises(Refusal, match="no replica 'pg-9' in postgres; replicas: pg-1, pg-2"):
        ops.failover_cluster(sys, "postgres", "pg-9", "ana")
    with pytest.raises(Refusal, match="no database cluster 'nope'"):
        ops.failover_cluster(sys, "nope", None, "ana")


# ------------------------------------------------------------------------------ auto-failover
AUTO = {
    **TWO_SITES,
    "clusters": {
        "postgres": {
            **TWO_SITES["clusters"]["postgres"],
            "auto_failover": {"site": "west", "after_s": 20},
        }
    },
}


def test_the_auto_failover_promotes_across_a_partition_after_its_delay() -> None:
    sys = system(AUTO)
    ticks(sys, 50)
    topo(sys).set_link("wan", True, None, None)
    c = topo(sys).clusters["postgres"]
    ticks(sys, 20)
    assert c.primary == "pg-0"
    ticks(sys, 2)
    assert c.primary == "pg-2"
    assert c.writes_lost > 0 and sys.db.writes_lost == c.writes_lost
    assert sys.changes[-1].author == "postgres-failover"
    # pg-1 had replayed writes the new primary never had: it diverged
    assert c.members["pg-1"].diverged and c.members["pg-0"].diverged


def test_a_frozen_auto_failover_watches_and_promotes_nothing_until_thawed() -> None:
    sys = system(AUTO)
    ticks(sys, 50)
    ops.freeze(sys, "postgres-failover", "ana")
    topo(sys).set_link("wan", True, None, None)
    ticks(sys, 120)
    c = topo(sys).clusters["postgres"]
    assert c.primary == "pg-0" and c.writes_lost == 0
    found = [i for i in range(len(sys.logs.lines)) if "recovery blocked" in sys.logs.render(i)]
    assert found
    with pytest.raises(Refusal, match="already frozen"):
        ops.freeze(sys, "postgres-failover", "ana")
    ops.thaw(sys, "postgres-failover", "ana")
    ticks(sys, 1)
    assert c.primary == "pg-2"


# ------------------------------------------------------------------------------ the game
def played(text: str, actions: list[str], seed: int = 1) -> Session:
    s = Session(load_incident("split-brain.yaml", text=text, expect_id="split-brain"), seed)
    run_script(s, actions, keep_logs=False)
    return s


def test_a_failover_by_hand_lowers_the_data_score_by_what_it_lost() -> None:
    text = FIXTURE.read_text(encoding="utf-8")
    no_auto = text.replace(
        "      auto_failover:\n        name: orchestrator\n        site: west\n        after_s: 40\n",
        "",
    )
    assert no_auto != text
    idle = played(no_auto, [])
    hand = played(no_auto, ["00:10 ack", "01:00 failover postgres pg-1"])
    assert idle.result is not None and hand.result is not None
    data = {i.key: i for i in idle.result.items}["data"]
    hurt = {i.key: i for i in hand.result.items}["data"]
    assert data.points == data.max
    lost = hand.result.impact["rows_lost_in_failover"]
    assert lost["orders"] > 0
    assert hurt.points < data.points
    assert "committed rows lost in a failover" in hurt.detail
    assert "rows_lost_in_failover" not in idle.result.impact
    entry = next(e for e in hand.entries if e.command.startswith("failover"))
    assert "writes lost" in entry.output and "pg-0 is left diverged" in entry.output


def test_the_views_show_clusters_and_links() -> None:
    s = Session(load_checked(FIXTURE), 1)
    out = perform(s, "map").output
    assert "cluster postgres" in out and "link east-west" in out
    db = perform(s, "db").output
    assert "cluster payments-db" in db and "tables ledger_entries, payments" in db


def test_two_plays_are_byte_identical() -> None:
    incident = load_checked(FIXTURE)

    def doc() -> str:
        s = Session(incident, 3)
        run_script(s, incident.playthroughs.reference.actions)
        r = finish(s)
        return json.dumps(r.to_json(), sort_keys=True) + "\n".join(s.system.logs.lines)

    assert doc() == doc()


def test_the_guides_example_validates_and_loses_the_writes_of_the_partition() -> None:
    """The topology example of docs/authoring.md, in the fixture's place: 43 seconds without
    the link, and the orchestrator on the far side promotes pg-2 after 30."""
    guide = (FIXTURE.parents[3] / "docs" / "authoring.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in guide.split("```yaml\n")[1:]]
    (body,) = [b for b in blocks if b.startswith("system:\n  sites:")]
    body = body.replace("${fault_at + 43}", "343").replace("${fault_at}", "300")
    example = yaml.safe_load(body)
    doc = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    doc["system"] = {"appdb": {}, **example["system"]}
    doc["events"] = example["events"]
    doc["root_cause"]["answer"]["part"] = "link:coast-to-coast"
    doc["page"] = {"alert": "LinkDown"}
    doc["alerts"] = {
        "add": [
            {
                "name": "LinkDown",
                "summary": "probe across the link failing",
                "for": 10,
                "conditions": [
                    {"metric": 'probe_success{link="coast-to-coast"}', "op": "<", "value": 1}
                ],
            }
        ]
    }
    del doc["resources"]
    text = yaml.safe_dump(doc, sort_keys=False)
    s = Session(load_incident("split-brain.yaml", text=text, expect_id="split-brain"), 1)
    s.advance(s.remaining)
    c = topo(s.system).clusters["postgres"]
    (f,) = c.failovers
    assert (f.old, f.new) == ("pg-0", "pg-2")
    assert s.system.changes[-1].author == "orchestrator"
    assert f.lost > 0 and f.rows["orders"] > 0
    # payments-db's replica was cut off too, but nothing promoted it: it caught up after
    pay = topo(s.system).clusters["payments-db"]
    assert pay.primary == "payments-0" and pay.members["payments-1"].stream.pending < 50


def test_the_fixtures_events_and_threshold_act_at_their_ticks() -> None:
    """split-brain.yaml: a resource past 200 slows the link by 80 ms and 20% loss (from the
    tick after it is crossed), pg-1's replay pauses at 60, the link is down from 400 and back
    at 460 with 90 ms of its own; idle, the orchestrator in west promotes pg-2 at 440."""
    s = Session(load_checked(FIXTURE), 1)
    s.advance(s.remaining)
    sys = s.system

    def at(metric: str, t: int) -> float:
        v = sys.metrics.query(Query(metric=metric, fn="last", window=1), t)
        assert v is not None, metric
        return v

    rtt, loss, up = (
        f'{m}{{link="east-west"}}'
        for m in ("network_link_latency_seconds", "network_link_loss_ratio", "probe_success")
    )
    assert at(rtt, 150) == pytest.approx(0.062) and at(loss, 150) == 0.0
    assert at(rtt, 250) == pytest.approx(0.142) and at(loss, 250) == pytest.approx(0.2)
    assert at(up, 399) == 1.0 and at(up, 400) == 0.0 and at(up, 459) == 0.0
    assert at(up, 460) == 1.0 and at(rtt, 500) == pytest.approx(0.170)
    lag = 'pg_replication_lag_seconds{cluster="postgres",replica="pg-1"}'
    assert at(lag, 59) == 0.0 and 0 < at(lag, 80) < at(lag, 100)
    c = topo(sys).clusters["postgres"]
    (f,) = c.failovers
    assert (f.old, f.new) == ("pg-0", "pg-2")
    (change,) = [ch for ch in sys.changes if ch.kind == "failover"]
    assert (change.tick, change.author) == (440, "orchestrator")
    assert c.auto is not None and c.auto.actions == 1
    logs = [sys.logs.render(i) for i in range(len(sys.logs.lines))]
    cut = [line for line in logs if "pg-2 FATAL: could not receive data from WAL stream" in line]
    assert len(cut) == 1 and sys.logs.timestamp(400)[:19] in cut[0]


def test_freezing_the_orchestrator_before_the_partition_keeps_every_write() -> None:
    """The fixture's reference freezes the orchestrator once paged; the harmful one promotes
    pg-1 (paused, far behind) by hand. Only the second loses rows."""
    incident = load_checked(FIXTURE)
    s = Session(incident, 1)
    assert s.page_tick < 400
    run_script(s, incident.playthroughs.reference.actions)
    c = topo(s.system).clusters["postgres"]
    assert c.primary == "pg-0" and not c.failovers and c.frozen
    assert s.system.app is not None and not s.system.app.lost
    logs = s.system.logs
    assert any("recovery blocked" in logs.render(i) for i in range(len(logs.lines)))
    out = next(e for e in s.entries if e.command.startswith("freeze")).output
    assert "orchestrator" in out
    h = Session(incident, 1)
    run_script(h, incident.playthroughs.harmful[0].actions, keep_logs=False)
    assert h.system.app is not None and rows_lost(h.system.app)
    assert h.result is not None and s.result is not None
    data = {i.key: i.points for i in h.result.items}["data"]
    assert data < {i.key: i.points for i in s.result.items}["data"]


def test_tab_completes_failover_with_the_clusters_and_their_replicas() -> None:
    from oncall_dojo.tui.completion import candidates

    s = Session(load_checked(FIXTURE), 1)
    assert candidates("failover ", s)[1] == ["postgres", "ledger", "payments-db"]
    assert candidates("failover pay", s)[1] == ["payments-db"]
    assert candidates("failover payments-db ", s)[1] == ["payments-1"]
    assert candidates("failover postgres ", s)[1] == ["pg-1", "pg-2"]
    assert candidates("failover ledger ", s)[1] == []


def test_the_default_lag_alert_reads_the_laggiest_replica_not_the_sum() -> None:
    """With clusters declared every replica has its own lag series beside the shop database's
    unlabelled one; `ReplicationLagHigh` and the database view read the laggiest replica as the
    clusters measure it (its own apply rate, its link), not the sum of the series."""
    from oncall_dojo.sim.observability.rules import default_rules

    cfg = SystemConfig.with_overrides(TWO_SITES)
    sys = System(cfg, 1, default_rules(cfg))
    t = topo(sys)
    for name in ("pg-1", "pg-2"):
        t.set_replica("postgres", name, True, None)
    ticks(sys, 120)
    c = t.clusters["postgres"]
    worst = max(t.lag_s(c, m) for m in c.members.values())
    assert worst > 30
    assert sys.db.replication_lag_s == pytest.approx(worst)
    (rule,) = [r for r in default_rules(cfg) if r.name == "ReplicationLagHigh"]
    assert sys.metrics.query(rule.conditions[0], sys.t - 1) == pytest.approx(worst)
    assert gauge(sys, "pg_replication_lag_seconds") > 2 * worst  # what the sum would read


def test_a_threshold_refuses_the_writes_of_one_cluster_only() -> None:
    """A shard's volume fills: writes to payments-db's tables fail with the author's error
    (billing cannot write its ledger), while orders, on the shop's database, are still taken."""
    from oncall_dojo.sim.resources import ResourceSpec
    from oncall_dojo.sim.world import add_world

    sys = system()
    full = "PANIC: could not write to file pg_wal/xlogtemp.77: No space left on device"
    spec = ResourceSpec.model_validate(
        {
            "metric": "node_filesystem_avail_bytes",
            "labels": {"instance": "pay-0"},
            "start": 100,
            "rate": -1,
            "min": 0,
            "thresholds": [
                {"below": 40, "effect": "refuse_writes", "cluster": "pay-db", "error": full}
            ],
        }
    )
    add_world(sys, {"pay-volume": spec}, [])
    ticks(sys, 50)
    assert sys.db.write_error("ledger_insert") is None
    ticks(sys, 60)
    assert sys.db.write_error("ledger_insert") == full
    assert sys.db.write_error("order_insert") is None
    assert sys.db.refusal is None  # the shop's database takes writes
    ok = 'http_requests_total{route="POST /api/checkout",code="201"}'
    assert gauge(sys, ok) > 0
    failed = sys.metrics.query(
        Query(metric='worker_jobs_total{pool="billing",result="error"}', fn="increase", window=30),
        sys.t - 1,
    )
    assert failed is not None and failed > 0
