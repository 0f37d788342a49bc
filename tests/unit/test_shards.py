"""Clusters with their own query engine, played: the queries on a shard's tables load its CPU
and connections and wait in its lock queues, not the shop's database's; a shard out of
connections fails only the requests that touch it; a failover of the shard ends its sessions
only; a system without one takes exactly the old path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from oncall_dojo.game.play import perform, run_script
from oncall_dojo.game.session import Session
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.model import incident_json_schema
from oncall_dojo.sim.components.database import BLOCKED_MS
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.observability.metrics import Query
from oncall_dojo.sim.system import System
from oncall_dojo.tui.dashboards import current, panels

CART = "POST /api/cart"
ORDERS = "GET /api/orders/:id"
CART_SHAPES = ("cart_upsert", "cart_by_user")
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "world" / "hot-shard.yaml"


def world(engine: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """The shop with a `carts-db` cluster holding `carts` (400k rows, so a lost index makes its
    queries scan), its own engine as given, and an API pool big enough not to be the limit."""
    cluster: dict[str, Any] = {"primary": "carts-0", "tables": ["carts"]}
    if engine is not None:
        cluster["engine"] = engine
    return {
        "database": {"tables": {"carts": 400_000}},
        "api": {"pool_size": 400},
        "clusters": {"carts-db": cluster},
        **extra,
    }


def system(overrides: dict[str, Any], seed: int = 1) -> System:
    return System(SystemConfig.with_overrides(overrides), seed)


def ticks(sys: System, n: int) -> None:
    for _ in range(n):
        sys.tick()


def read(sys: System, metric: str, fn: Any = "avg", window: int = 120) -> float:
    v = sys.metrics.query(Query(metric=metric, fn=fn, window=window), sys.t - 1)
    assert v is not None, metric
    return v


def errors(sys: System, route: str, window: int = 120) -> float:
    """The share of a route's requests that failed over the window."""
    bad = read(sys, f'http_requests_total{{route="{route}",code=~"5.."}}', "increase", window)
    return bad / read(sys, f'http_requests_total{{route="{route}"}}', "increase", window)


def p99(sys: System, route: str) -> float:
    return read(sys, f'http_request_duration_seconds{{route="{route}"}}', "p99")


def lose_the_carts_index(sys: System, at: int = 60) -> None:
    ticks(sys, at)
    sys.db.indexes.pop("carts_user_id_idx")  # what the `missing_index` fault does


# ------------------------------------------------------------------------------ the CPU
def test_a_hot_shard_saturates_its_own_cpu_and_the_shop_stays_idle() -> None:
    hot = system(world({"cpu_ms": 1000}))
    lose_the_carts_index(hot)
    ticks(hot, 240)
    shard_cpu = read(hot, 'pg_cpu_utilization{cluster="carts-db"}')
    shop_cpu = read(hot, 'pg_cpu_utilization{cluster=""}', "max")
    assert shard_cpu > 0.85  # one core, asked for a dozen 240 ms scans a second
    assert shop_cpu < 0.05
    # its queries wait on its saturated core; the shop's run at their idle cost
    for shape in CART_SHAPES:
        assert hot.db.latency_ms(shape) > 10 * hot.db.cost_ms(shape)
    assert hot.db.latency_ms("order_by_id") == pytest.approx(hot.db.cost_ms("order_by_id"), 0.01)
    assert errors(hot, CART) > 0.5  # the carts requests time out
    assert errors(hot, ORDERS) == 0.0
    # the same load without an engine of its own lands on the shop's database, and every
    # shape there slows with it
    shared = system(world(None))
    lose_the_carts_index(shared)
    ticks(shared, 240)
    assert read(shared, "pg_cpu_utilization", "avg") > 10 * read(
        hot, 'pg_cpu_utilization{cluster=""}'
    )
    assert shared.db.latency_ms("order_by_id") > 1.02 * shared.db.cost_ms("order_by_id")
    assert "pg_cpu_utilization{cluster=" not in " ".join(
        f"{s.name}{s.labels}" for s in shared.metrics.series
    )


def test_the_shards_series_count_its_own_transactions_and_scans() -> None:
    sys = system(world({"cpu_ms": 8000}))
    lose_the_carts_index(sys)
    ticks(sys, 120)
    shard_xact = read(sys, 'pg_stat_database_xact_commit_total{cluster="carts-db"}', "rate", 60)
    shop_xact = read(sys, 'pg_stat_database_xact_commit_total{cluster=""}', "rate", 60)
    cart_rps = read(sys, f'http_requests_total{{route="{CART}"}}', "rate", 60)
    assert shard_xact >= cart_rps > 0  # every cart write, and checkout's cart reads
    assert shop_xact > shard_xact  # products, orders, users, the ledger
    assert read(sys, 'pg_stat_seq_scan_total{cluster="carts-db"}', "rate", 60) == pytest.approx(
        shard_xact
    )
    assert read(sys, 'pg_stat_seq_scan_total{cluster=""}', "rate", 60) == 0.0
    assert read(sys, 'pg_settings_max_connections{cluster="carts-db"}', "last") == 120


# ------------------------------------------------------------------------------ connections
def test_a_shard_out_of_connections_fails_only_the_requests_that_touch_it() -> None:
    """Eight cores keep its CPU easy; five connections are too few for 240 ms queries."""
    sys = system(world({"cpu_ms": 8000, "max_connections": 5}))
    ticks(sys, 60)
    assert errors(sys, CART, 60) == 0.0  # indexed, its queries hold a connection 2.5 ms
    sys.db.indexes.pop("carts_user_id_idx")
    ticks(sys, 180)
    assert read(sys, 'pg_cpu_utilization{cluster="carts-db"}', "max") < 0.6
    assert read(sys, 'pg_stat_activity_count{cluster="carts-db"}', "max") == 5
    assert read(sys, 'pg_stat_activity_count{cluster="carts-db"}') > 4.3
    lost = errors(sys, CART)
    assert 0.05 < lost < 0.5  # the share over the limit in the seconds over it, not all
    assert errors(sys, "POST /api/checkout") > 0.05  # it reads the cart first
    for route in (ORDERS, "GET /api/products", "GET /api/account"):
        assert errors(sys, route) == 0.0
    lines = [line for line in sys.logs.lines if "too many clients" in line]
    assert lines and all("carts-0:5432" in line for line in lines)
    assert all("/api/cart" in line or "/api/checkout" in line for line in lines)


def test_with_connections_to_spare_the_same_queries_all_succeed() -> None:
    sys = system(world({"cpu_ms": 8000, "max_connections": 60}))
    lose_the_carts_index(sys)
    ticks(sys, 180)
    assert errors(sys, CART) == 0.0
    used = read(sys, 'pg_stat_activity_count{cluster="carts-db"}', "max")
    assert 3 < used < 60


# ------------------------------------------------------------------------------ locks
def lock_carts(sys: System) -> tuple[int, int]:
    """A long report holds `carts` and a migration waits for it: what `migration_lock` does."""
    blocker = sys.db.start_backend(sys.t - 600, "analytics", "carts", "SELECT 1", 3600, "metabase")
    blocker.holding, blocker.done_at = True, sys.t + 3000
    mig = sys.db.start_backend(
        sys.t, "migration", "carts", "ALTER TABLE carts ...", 3, "migrate", exclusive=True
    )
    return blocker.pid, mig.pid


def test_a_lock_on_a_shards_table_queues_on_the_shard_only() -> None:
    sys = system(world({"cpu_ms": 1000}))
    ticks(sys, 60)
    shop_pid = sys.db.start_backend(59, "analytics", "orders", "SELECT 2", 3600, "metabase").pid
    blocker, mig = lock_carts(sys)
    ticks(sys, 120)
    own = sys.db.engine("carts")
    assert own is not sys.db
    assert {b.pid for b in own.backends} == {blocker, mig}
    assert [b.pid for b in sys.db.backends] == [shop_pid]
    assert {b.pid for b in sys.db.all_backends()} == {shop_pid, blocker, mig}
    for shape in CART_SHAPES:
        assert sys.db.latency_ms(shape) == BLOCKED_MS
    assert sys.db.latency_ms("order_by_id") < 10
    assert read(sys, 'pg_locks_waiting{cluster="carts-db"}', "min", 60) >= 1
    assert read(sys, 'pg_locks_waiting{cluster=""}', "max", 60) == 0
    # the requests stuck behind it hold the shard's connections, not the shop's
    assert read(sys, 'pg_stat_activity_count{cluster="carts-db"}', "avg", 60) > 20
    assert errors(sys, CART, 60) == 1.0
    assert errors(sys, ORDERS, 60) == 0.0
    # the report's own work runs on the shard's core
    assert read(sys, 'pg_cpu_utilization{cluster="carts-db"}', "min", 60) >= 0.6
    assert read(sys, 'pg_cpu_utilization{cluster=""}', "max", 60) < 0.3
    # cancelling the migration by its pid (the console's `kill`) frees the shard
    sys.db.kill(mig)
    ticks(sys, 60)
    assert errors(sys, CART, 30) == 0.0
    assert sys.db.cancelled == 1


def test_a_failover_of_the_shard_ends_its_sessions_and_not_the_shops() -> None:
    sys = system(world({"cpu_ms": 1000}))
    ticks(sys, 30)
    shop_pid = sys.db.start_backend(29, "analytics", "orders", "SELECT 2", 3600, "metabase").pid
    lock_carts(sys)
    ticks(sys, 10)
    assert sys.topology is not None
    f = sys.topology.failover(sys.t, "carts-db", None, "oncall")
    own = sys.db.engine("carts")
    assert own.backends == [] and own.instance == f.new == "pg-1"
    assert [b.pid for b in sys.db.backends] == [shop_pid]
    ticks(sys, f.down_s + 10)
    assert sys.db.latency_ms("cart_upsert") < 10
    assert errors(sys, CART, 5) == 0.0


def test_the_shops_restart_and_full_volume_fail_its_own_writes_not_the_shards() -> None:
    sys = system(world({"cpu_ms": 4000}))
    ticks(sys, 30)
    sys.db.restart(sys.t, 60)
    sys.db.disk_used_gb = sys.db.disk_gb
    ticks(sys, 30)
    assert errors(sys, "POST /api/checkout", 20) == 1.0  # it writes an order
    assert errors(sys, CART, 20) == 0.0
    assert sys.db.write_error("order_insert") is not None
    assert sys.db.write_error("cart_upsert") is None
    shared = system(world(None))
    ticks(shared, 30)
    shared.db.restart(shared.t, 60)
    ticks(shared, 30)
    assert errors(shared, CART, 20) == 1.0


# ------------------------------------------------------------------------------ the old path
def test_without_an_engine_there_is_no_shard_and_one_engine_runs_everything() -> None:
    sys = system(world(None))
    assert sys.shards is None and sys.api.shards is None
    assert sys.db.engines == [] and sys.db.engine("carts") is sys.db
    ticks(sys, 30)
    assert sys.db.all_backends() is sys.db.backends


def test_two_plays_with_a_shard_are_the_same() -> None:
    def play() -> tuple[bytes, str]:
        sys = system(world({"cpu_ms": 4000, "max_connections": 6}))
        lose_the_carts_index(sys, 30)
        ticks(sys, 90)
        return sys.metrics.values[: sys.t].tobytes(), "\n".join(sys.logs.lines)

    assert play() == play()


def test_the_json_schema_describes_the_engine() -> None:
    defs = incident_json_schema()["$defs"]
    assert "engine" in defs["ClusterSpec"]["properties"]
    assert set(defs["EngineSpec"]["properties"]) == {"cpu_ms", "max_connections"}


# ------------------------------------------------------------------------------ the incident
def played(text: str, actions: list[str]) -> Session:
    s = Session(load_incident("hot-shard.yaml", text=text, expect_id="hot-shard"), 1)
    run_script(s, actions, keep_logs=False)
    return s


def test_the_fixtures_index_rebuild_cools_the_shard_and_a_failover_does_not() -> None:
    text = FIXTURE.read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    fix = played(text, doc["playthroughs"]["reference"]["actions"])
    idle = played(text, [])
    moved = played(text, doc["playthroughs"]["harmful"][0]["actions"])
    assert fix.result is not None and idle.result is not None and moved.result is not None
    assert fix.result.resolved and not idle.result.resolved and not moved.result.resolved
    assert fix.result.score > idle.result.score
    assert moved.result.score <= idle.result.score  # the writes it lost, and no cooler
    hot = read(idle.system, 'pg_cpu_utilization{cluster="carts-db"}', "avg", 300)
    cool = read(fix.system, 'pg_cpu_utilization{cluster="carts-db"}', "avg", 300)
    assert hot > 0.6 > 0.1 > cool
    assert read(idle.system, 'pg_cpu_utilization{cluster=""}', "max", 600) < 0.1


def test_the_views_show_the_shards_engine() -> None:
    s = Session(load_incident("hot-shard.yaml", text=FIXTURE.read_text(encoding="utf-8")), 1)
    s.advance(240)
    line = next(x for x in perform(s, "map").output.splitlines() if "cluster carts-db" in x)
    own = s.system.db.engine("carts")
    assert f"cpu {own.cpu_util:.0%}" in line and "connections " in line and "/40" in line
    assert "cluster carts-db" in perform(s, "db").output
    # the database dashboard's CPU is the shop's, not the sum with the shard's
    cpu = next(p for p in panels(s, "postgres") if p.label == "saturation cpu")
    shop = read(s.system, 'pg_cpu_utilization{cluster=""}', "max", 60)
    assert current(s, cpu) == shop < 0.1
    assert read(s.system, "pg_cpu_utilization", "max", 60) > shop + 0.1
    lock_carts(s.system)
    queries = perform(s, "db queries").output
    assert "ALTER TABLE carts" in queries
    (pid,) = [b.pid for b in own.backends if b.exclusive]
    assert "Cancelled pid" in perform(s, f"kill {pid}").output
    assert all(b.pid != pid for b in s.system.db.all_backends())


def test_the_guides_shard_example_pages_on_the_shards_cpu_only() -> None:
    guide = (FIXTURE.parents[3] / "docs" / "authoring.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in guide.split("```yaml\n")[1:]]
    (body,) = [b for b in blocks if "engine:" in b and b.startswith("system:")]
    example = yaml.safe_load(body)
    doc = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    doc["system"] = example["system"]
    doc["alerts"] = example["alerts"]
    doc["page"] = {"alert": "CartsDbCpuHigh"}
    s = played(yaml.safe_dump(doc, sort_keys=False), [])
    fired = [
        e for e in s.system.alerts.events if e.name == "CartsDbCpuHigh" and e.state == "firing"
    ]
    assert fired and fired[0].tick > 60  # after the index is gone, not before
    assert read(s.system, 'pg_cpu_utilization{cluster=""}', "max", 600) < 0.1
