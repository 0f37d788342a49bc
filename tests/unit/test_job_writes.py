"""A `write` job's rows are writes of the cluster that holds its table: they feed its replicas'
backlog (the lag gauge rises at the job's rate minus the replica's apply rate) and a failover
while the job runs loses the rows it wrote that the promoted replica had not replayed."""

from __future__ import annotations

from typing import Any

import pytest

from oncall_dojo.sim import ops
from oncall_dojo.sim.components.clusters import writes_lost
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.observability.metrics import Query
from oncall_dojo.sim.system import System

CARTS: dict[str, Any] = {
    "database": {"tables": {"cart_totals": 0}},
    "clusters": {
        "carts-db": {
            "primary": "carts-0",
            "tables": ["cart_totals"],
            "replicas": {"carts-1": {"apply_per_s": 200}},
        }
    },
    "jobs": {"backfill": {"kind": "write", "table": "cart_totals", "total": 0, "rate_per_s": 500}},
}
LAG = 'pg_replication_lag_seconds{cluster="carts-db",replica="carts-1"}'


def lag(sys: System) -> float:
    v = sys.metrics.query(Query(metric=LAG, fn="last", window=1), sys.t - 1)
    assert v is not None
    return v


def backfilling(seconds: int) -> System:
    sys = System(SystemConfig.with_overrides(CARTS), 1)
    for _ in range(60):
        sys.tick()
    assert lag(sys) == 0.0  # nothing else writes to the new table
    sys.scheduler.start(sys.t, "backfill", author="ana")
    for _ in range(seconds):
        sys.tick()
    return sys


def test_a_backfill_raises_its_clusters_replica_lag_at_its_rate_minus_the_apply_rate() -> None:
    sys = backfilling(30)
    assert sys.topology is not None
    carts = sys.topology.clusters["carts-db"]
    assert carts.writes == 500
    # 30 s of 500 rows against 200 applied: 9,000 rows behind, 45 s at 200 a second
    assert lag(sys) == pytest.approx(9_000 / 200)
    # the shop's own cluster does not carry them
    assert sys.topology.clusters["postgres"].members["pg-1"].stream.pending == 0.0
    sys.scheduler.jobs["backfill"].state = "paused"
    for _ in range(10):
        sys.tick()
    assert lag(sys) == pytest.approx((9_000 - 10 * 200) / 200)


def test_a_failover_during_a_backfill_loses_the_rows_the_replica_had_not_replayed() -> None:
    sys = backfilling(30)
    written = sys.db.rows["cart_totals"]
    assert written == 30 * 500
    f = ops.failover_cluster(sys, "carts-db", None, "ana")
    # 6,000 of the 15,000 rows replayed (the first 12 seconds): the other 9,000 are lost
    assert (f.new, f.lost) == ("carts-1", 9_000)
    assert f.rows == {"cart_totals": 9_000}
    assert sys.db.rows["cart_totals"] == written - 9_000
    assert writes_lost(sys.db, sys.topology) == 9_000
    # the job goes on writing on the new primary, whose replica starts from nothing
    sys.tick()
    assert sys.db.rows["cart_totals"] == written - 9_000 + 500


def test_without_clusters_a_backfill_feeds_the_shops_replica_as_before() -> None:
    sys = System(SystemConfig.with_overrides({"jobs": CARTS["jobs"]}), 1)
    assert sys.topology is None
    for _ in range(60):
        sys.tick()
    sys.db.replica_paused = True
    sys.tick()
    before = sys.db.replica_pending
    sys.tick()
    idle = sys.db.replica_pending - before  # the shop's own writes in a second
    sys.scheduler.start(sys.t, "backfill", author="ana")
    before = sys.db.replica_pending
    sys.tick()
    assert sys.db.replica_pending - before == pytest.approx(idle + 500, abs=20)
