"""The simulated backend's dynamics: health, a poison message, restarts, charges, the database,
the cache, crash-loop back-off, metrics and alert rules. Short runs of a few hundred ticks."""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Callable, Iterable

import numpy as np
import pytest

from oncall_dojo.sim.components.database import BLOCKED_MS
from oncall_dojo.sim.components.pool import backoff_s
from oncall_dojo.sim.components.queue import Run
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.faults import (
    CacheLoss,
    Fault,
    LedgerReadOnly,
    MigrationLock,
    MissingIndex,
    PoisonMessage,
)
from oncall_dojo.sim.observability.alerts import EVAL_INTERVAL_S, AlertManager, AlertRule
from oncall_dojo.sim.observability.metrics import (
    LATENCY_BUCKETS,
    Condition,
    MetricStore,
    Query,
    SelectorError,
    histogram_quantile,
)
from oncall_dojo.sim.system import System

from .simkit import accounted, found, run, system, value


def poisoned(seed: int = 1) -> tuple[System, Fault]:
    s = system(None, PoisonMessage(kind="poison_message", at=10, queue="payments"), seed=seed)
    return s, s.faults[0]


def poison_is_waiting(s: System, f: Fault) -> bool:
    seq = f.state["seq"]
    return any(r.first <= seq < r.first + r.count for r in s.queues["payments"].waiting_runs())


# ----------------------------------------------------------------------------- health


@pytest.mark.parametrize("seed", [1, 7])
def test_a_healthy_system_fails_no_requests_and_keeps_its_queues_empty(seed: int) -> None:
    s = system(seed=seed)
    run(s, 600)
    assert s.total_requests > 10_000
    assert s.bad_requests == 0
    assert value(s, 'http_requests_total{code=~"5.."}', "increase", 600) == 0
    for name, q in s.queues.items():
        assert q.stats.acked > 1000, name
        assert q.depth == 0, name
        assert q.dlq_depth == 0, name
        assert value(s, f'queue_oldest_message_age_seconds{{queue="{name}"}}', "max", 600) <= 2
    assert all(p.crashes == 0 and p.running == 2 for p in s.pools.values())
    assert s.alerts.firing() == []
    accounted(s)


# ----------------------------------------------------------------------------- a poison message


def test_a_poison_message_crash_loops_billing_and_backs_up_only_payments() -> None:
    s, f = poisoned()
    depths = []
    for _ in range(400):
        s.tick()
        accounted(s)
        depths.append(s.queues["payments"].depth)
    assert f.started == 10
    assert s.pools["billing"].crashes >= 5
    assert (
        value(s, 'kube_pod_container_status_restarts_total{pool="billing"}', "increase", 400) >= 5
    )
    assert depths[399] > depths[250] > depths[150] > 0
    assert s.queues["payments"].oldest_age(s.t) > s.cfg.queues["payments"].objective_s
    for other in ("emails", "fulfillment"):
        assert s.queues[other].depth == 0
        assert s.pools["mailer" if other == "emails" else "fulfillment"].crashes == 0
    assert f.active(s)


def test_the_crash_is_logged_with_the_poison_message_id() -> None:
    s, f = poisoned()
    run(s, 120)
    fatal = found(s, "service:billing level:fatal")
    assert fatal
    assert all(f.state["id"] in line for line in fatal)


def test_moving_the_poison_message_to_the_dlq_lets_the_backlog_drain() -> None:
    s, f = poisoned()
    q = s.queues["payments"]
    run(s, 200)
    for _ in range(600):  # a moment the poison waits in the queue behind a backlog
        if poison_is_waiting(s, f) and q.depth > 50:
            break
        s.tick()
    backlog = q.depth
    crashes = s.pools["billing"].crashes
    assert backlog > 50
    assert poison_is_waiting(s, f)

    q.move_to_dlq(f.state["id"])

    assert q.dlq_depth == 1
    assert not f.active(s)
    for _ in range(300):
        s.tick()
        accounted(s)
    assert s.pools["billing"].crashes == crashes, "nobody takes the poison any more"
    assert s.pools["billing"].running == 2
    assert q.depth < 20
    assert q.oldest_age(s.t) < 30
    assert q.stats.acked > q.stats.produced - 25


def test_scaling_up_does_not_fix_a_poison_message() -> None:
    s, f = poisoned()
    run(s, 100)
    s.pools["billing"].scale(s.t, 10)
    crashes = s.pools["billing"].crashes
    run(s, 400)
    assert s.pools["billing"].crashes >= crashes + 5
    assert f.active(s)
    assert s.queues["payments"].oldest_age(s.t) > 400
    accounted(s)


# ----------------------------------------------------------------------------- restarts and back-off


@pytest.mark.parametrize("startup_s", [0, 7, 15])
def test_a_restarted_replica_becomes_ready_exactly_startup_s_ticks_later(startup_s: int) -> None:
    s = system({"workers": {"mailer": {"startup_s": startup_s}}})
    run(s, 30)
    pool = s.pools["mailer"]
    old = pool.live[0]
    t0 = s.t
    s._terminate(pool, old, t0)
    new = pool.new_replica(t0)
    became_running = None
    for _ in range(startup_s + 5):
        s.tick()
        if became_running is None and new.state == "running":
            became_running = s.t - 1
    assert became_running == t0 + startup_s
    ready = s.metrics.values[:, s.g_w["mailer"]["running"]]
    assert ready[t0 + startup_s] == 2
    if startup_s:
        assert ready[t0 + startup_s - 1] == 1


@pytest.mark.parametrize(
    ("restarts", "wait"),
    [(0, 10), (1, 10), (2, 20), (3, 40), (4, 80), (5, 160), (6, 300), (7, 300), (20, 300)],
)
def test_crash_loop_back_off_doubles_from_10s_to_a_5_minute_cap(restarts: int, wait: int) -> None:
    assert backoff_s(restarts) == wait


def test_crashed_replicas_wait_out_the_back_off_before_starting_again() -> None:
    s, _ = poisoned()
    seen: list[tuple[int, int]] = []
    states = {r.name: r.state for r in s.pools["billing"].replicas}
    for _ in range(500):
        s.tick()
        t = s.t - 1
        for r in s.pools["billing"].replicas:
            if r.state == "backoff" and states.get(r.name) != "backoff":
                assert r.ready_at - t == backoff_s(r.restarts)
                seen.append((r.restarts, r.ready_at - t))
            if r.state == "starting" and states.get(r.name) == "backoff":
                assert t == r.started
            states[r.name] = r.state
    assert seen[0] == (1, 10)
    assert {(2, 20), (3, 40), (4, 80)} <= set(seen)


# ----------------------------------------------------------------------------- charges


def _seqs(runs: Iterable[Run]) -> set[int]:
    return {seq for r in runs for seq in range(r.first, r.first + r.count)}


def _charges_replayed(idempotency_keys: bool) -> tuple[set[int], System]:
    """Charges that reached the provider but not the ledger are dead-lettered, then replayed."""
    s = system(
        {
            "queues": {"payments": {"max_receive_count": 1}},
            "config": {"payments.idempotency_keys": idempotency_keys},
        }
    )
    q = s.queues["payments"]
    s.ledger_error = "READONLY You can't write against a read only replica."
    run(s, 60)  # every charge succeeds at the provider, its ledger write fails: dead-lettered
    s.ledger_error = None
    run(s, 10)
    assert s.records.duplicate_charges == 0
    parked = _seqs(q.dlq)
    assert len(parked) > 50
    assert all(s.records.charges.get(seq) == 1 for seq in parked), "charged once before parking"
    assert q.replay_dlq(s.t) == len(parked)
    for _ in range(600):
        s.tick()
        in_flight = _seqs(run for r in s.pools["billing"].replicas for run, _ in r.inflight)
        if not parked & (_seqs(q.waiting_runs()) | in_flight):
            break
    else:
        pytest.fail("the replayed charges were never processed")
    assert q.dlq_depth == 0
    accounted(s)
    return parked, s


def test_replaying_charges_without_idempotency_keys_charges_customers_twice() -> None:
    replayed, s = _charges_replayed(idempotency_keys=False)
    assert s.records.duplicate_charges == len(replayed)
    assert {o for o, n in s.records.charges.items() if n > 1} == replayed


def test_replaying_charges_with_idempotency_keys_charges_nobody_twice() -> None:
    replayed, s = _charges_replayed(idempotency_keys=True)
    assert s.records.duplicate_charges == 0
    assert all(s.records.charges[seq] == 1 for seq in replayed)


@pytest.mark.parametrize("keys", [False, True])
def test_a_read_only_ledger_makes_retried_charges_duplicate_only_without_keys(keys: bool) -> None:
    s = system(None, LedgerReadOnly(kind="ledger_read_only", at=5, idempotency_keys=keys))
    run(s, 200)
    assert s.ledger_error is not None
    assert value(s, "ledger_write_errors_total", "increase", 190) > 100
    if keys:
        assert s.records.duplicate_charges == 0
    else:
        assert s.records.duplicate_charges > 100
    accounted(s)


# ----------------------------------------------------------------------------- the database


def test_a_missing_index_turns_its_queries_into_slow_sequential_scans() -> None:
    s = system(None, MissingIndex(kind="missing_index", at=30, index="orders_pkey"))
    run(s, 30)
    before = s.db.latency_ms("order_by_id")
    assert not s.db.uses_seq_scan("order_by_id")
    assert value(s, "pg_stat_seq_scan_total", "increase", 30) == 0
    run(s, 30)
    assert "orders_pkey" not in s.db.indexes
    assert s.db.uses_seq_scan("order_by_id")
    assert s.db.cost_ms("order_by_id") > 100 * s.cfg.database.shapes["order_by_id"].base_ms
    assert s.db.latency_ms("order_by_id") > 100 * before
    assert value(s, "pg_stat_seq_scan_total", "increase", 29) > 0
    assert value(s, 'pg_stat_statements_mean_ms{query="order_by_id"}') > 100 * before
    assert s.db.latency_ms("user_by_id") < BLOCKED_MS  # other tables keep their plans
    assert not s.db.uses_seq_scan("user_by_id")


def build_index(s: System, name: str, concurrently: bool, check: Callable[[], None]) -> int:
    """Start an index build on orders, tick until the index exists (calling `check` after each
    tick while it is building), and return the tick it became usable."""
    s.db.create_index(s.t, name, "orders", "id", concurrently=concurrently)
    for _ in range(2000):
        s.tick()
        if name in s.db.indexes:
            return s.t - 1
        check()
    pytest.fail(f"index {name} was never built")


def test_creating_the_index_concurrently_takes_time_and_never_blocks_writes() -> None:
    s = system(None, MissingIndex(kind="missing_index", at=5, index="orders_pkey"))
    run(s, 20)
    t0 = s.t
    rows = s.db.rows["orders"]

    def writes_flow() -> None:
        assert s.db.table_blocked("orders", write=True) is None
        assert s.db.latency_ms("order_insert") < BLOCKED_MS
        assert s.db.uses_seq_scan("order_by_id"), "no index until the build is done"

    done = build_index(s, "orders_pkey", concurrently=True, check=writes_flow)
    assert done - t0 >= rows / s.cfg.database.index_build_rows_per_s > 10
    assert not s.db.uses_seq_scan("order_by_id")
    assert s.db.cost_ms("order_by_id") == s.cfg.database.shapes["order_by_id"].base_ms
    with pytest.raises(Refusal, match="already exists"):
        s.db.create_index(s.t, "orders_pkey", "orders", "id", concurrently=True)


def test_a_blocking_index_build_blocks_writes_to_its_table_until_done() -> None:
    s = system()
    run(s, 20)
    checkout_504 = 'http_requests_total{route="POST /api/checkout",code="504"}'
    assert value(s, checkout_504, "increase", 20) == 0
    t0 = s.t
    blocked_ticks: list[int] = []

    def writes_blocked() -> None:
        build = s.db.table_blocked("orders", write=True)
        assert build is not None and build.index == "orders_created_idx"
        blocked_ticks.append(s.t - 1)
        assert s.db.latency_ms("order_insert") == BLOCKED_MS
        assert s.db.table_blocked("orders", write=False) is None, "reads still work"
        assert s.db.table_blocked("carts", write=True) is None, "other tables are unaffected"

    done = build_index(s, "orders_created_idx", concurrently=False, check=writes_blocked)
    assert blocked_ticks == list(range(t0, done))
    assert done - t0 >= s.db.rows["orders"] / s.cfg.database.index_build_rows_per_s - 1 > 10
    assert s.db.table_blocked("orders", write=True) is None
    assert s.db.latency_ms("order_insert") < BLOCKED_MS
    assert value(s, checkout_504, "increase", done - t0) > 0
    assert s.changes[-1].kind == "index"


def test_a_concurrent_index_build_fails_no_checkout() -> None:
    s = system()
    run(s, 20)
    build_index(s, "orders_created_idx", concurrently=True, check=lambda: None)
    assert s.bad_requests == 0


def test_a_migration_waiting_on_a_lock_blocks_the_table_until_the_blocker_is_killed() -> None:
    spec = MigrationLock(kind="migration_lock", at=5, table="orders", migration_s=3)
    s = system(None, spec)
    f = s.faults[0]
    run(s, 30)
    mig = s.db.table_blocked("orders", write=False)
    assert mig is not None and mig.pid == f.state["pid"]
    assert not mig.holding
    assert s.db.latency_ms("order_by_id") == BLOCKED_MS
    assert s.db.latency_ms("user_by_id") < BLOCKED_MS
    assert value(s, "pg_locks_waiting") > 0
    assert f.active(s)

    t_kill = s.t
    s.db.kill(f.state["blocker"])
    with pytest.raises(Refusal, match="no running backend"):
        s.db.kill(f.state["blocker"])

    for _ in range(spec.migration_s):
        s.tick()
        assert s.db.table_blocked("orders", write=False) is mig, "the migration now runs"
    s.tick()
    assert s.t - 1 == t_kill + spec.migration_s
    assert s.db.table_blocked("orders", write=False) is None
    assert s.db.backends == []
    assert s.db.latency_ms("order_by_id") < BLOCKED_MS
    assert not f.active(s)


def test_without_a_kill_the_migration_keeps_the_table_blocked() -> None:
    s = system(None, MigrationLock(kind="migration_lock", at=5, table="orders"))
    run(s, 300)
    assert s.db.table_blocked("orders", write=True) is not None
    assert (
        value(s, 'http_requests_total{route="GET /api/orders/:id",code="504"}', "increase", 60) > 0
    )


# ----------------------------------------------------------------------------- the cache


def test_the_cache_refills_after_a_flush() -> None:
    s = system({"cache": {"warm_s": 120}}, CacheLoss(kind="cache_loss", at=50))
    f = s.faults[0]
    run(s, 50)
    warm = s.cache_hit
    assert warm == pytest.approx(0.95)
    s.tick()
    assert s.cache_hit < 0.05
    assert f.active(s)
    hits = []
    for _ in range(300):
        s.tick()
        hits.append(s.cache_hit)
    assert all(b >= a for a, b in itertools.pairwise(hits))
    assert hits[-1] > 0.9 * warm
    assert not f.active(s)
    assert value(s, "cache_hit_ratio") == pytest.approx(hits[-1])


# ----------------------------------------------------------------------------- metrics


def _store() -> tuple[MetricStore, int, int, int, int]:
    m = MetricStore(capacity=8)
    ok = m.counter("http_requests_total", route="/a", code="200")
    err = m.counter("http_requests_total", route="/a", code="500")
    depth = m.gauge("queue_depth", queue="payments")
    h = m.histogram("latency_seconds", route="/a")
    return m, ok, err, depth, h


def test_counters_store_per_tick_increments_and_sum_over_windows() -> None:
    m, ok, err, _, _ = _store()
    for t, (a, b) in enumerate([(10, 0), (20, 1), (30, 0), (40, 3)]):
        m.row[ok] += a
        m.row[err] += b
        m.commit(t)
    assert m.row[ok] == 0, "counters reset after each commit"
    q = lambda sel, fn, w=60, over=None: m.query(Query(metric=sel, fn=fn, window=w, over=over), 3)  # noqa: E731
    assert q('http_requests_total{code="200"}', "increase") == 100
    assert q('http_requests_total{code="200"}', "increase", 2) == 70
    assert q("http_requests_total", "increase") == 104
    assert q('http_requests_total{code=~"5.."}', "rate", 2) == pytest.approx(1.5)
    assert q('http_requests_total{code!="200"}', "increase") == 4
    assert q(
        'http_requests_total{code="500"}', "increase", 4, "http_requests_total"
    ) == pytest.approx(4 / 104)
    assert q('http_requests_total{code="404"}', "increase") is None


def test_gauges_keep_their_value_and_aggregate_over_windows() -> None:
    m, _, _, depth, _ = _store()
    for t, v in enumerate([5.0, 9.0, 1.0, 4.0]):
        m.row[depth] = v
        m.commit(t)
    assert m.row[depth] == 4.0, "gauges keep their value"

    def q(fn: str, w: int = 60) -> float | None:
        return m.query(Query(metric='queue_depth{queue="payments"}', fn=fn, window=w), 3)  # type: ignore[arg-type]

    assert q("last") == 4.0
    assert q("max") == 9.0
    assert q("min") == 1.0
    assert q("avg") == pytest.approx(19 / 4)
    assert q("avg", 2) == pytest.approx(2.5)
    assert m.query(Query(metric="queue_depth", fn="last"), 1) == 9.0
    with pytest.raises(SelectorError, match="needs a histogram"):
        q("p99")


def test_the_store_grows_past_its_capacity() -> None:
    m, ok, *_ = _store()
    for t in range(20):
        m.row[ok] += 1
        m.commit(t)
    assert m.capacity >= 20
    assert m.query(Query(metric="http_requests_total", fn="increase", window=20), 19) == 20


def test_a_pickled_store_keeps_its_rows_only_and_reads_and_grows_as_the_original() -> None:
    m = MetricStore(capacity=4096)
    ok = m.counter("http_requests_total", route="/a", code="200")
    depth = m.gauge("queue_depth", queue="payments")
    h = m.histogram("latency_seconds", route="/a")
    rate = Query(metric="http_requests_total", fn="rate", window=7)
    p90 = Query(metric="latency_seconds", fn="p90", window=9)

    def tick(store: MetricStore, t: int) -> None:
        store.row[ok] += 0.1 * (t % 13)  # sums that do not round alike in any order
        store.row[depth] = t % 5
        store.observe(h, 0.001 * (t % 17))
        store.commit(t)

    for t in range(300):
        tick(m, t)
        if t == 150:
            m.query(rate, t)  # the running sums are part way
    copy = pickle.loads(pickle.dumps(m))
    assert len(pickle.dumps(m)) < 300 * 8 * 8 + 300 * 12 * 4 + 10_000  # no spare rows, no sums
    for store in (m, copy):
        for t in range(300, 5000):  # past the capacity
            tick(store, t)
    for t in (0, 149, 299, 300, 4095, 4999):
        for q in (rate, p90, Query(metric="queue_depth", fn="max", window=4)):
            assert copy.query(q, t) == m.query(q, t)
    assert np.array_equal(copy.values[:5000], m.values[:5000])
    assert np.array_equal(copy.hvalues[:5000], m.hvalues[:5000])


def test_conditions_compare_query_values() -> None:
    m, _, _, depth, _ = _store()
    m.row[depth] = 7
    m.commit(0)
    assert m.holds(Condition(metric="queue_depth", op=">", value=5), 0)
    assert not m.holds(Condition(metric="queue_depth", op="<", value=5), 0)
    assert not m.holds(Condition(metric="no_such_metric", op="<", value=5), 0)


def _counts(**by_upper: int) -> np.ndarray:
    counts = np.zeros(len(LATENCY_BUCKETS), dtype=np.int64)
    for key, n in by_upper.items():
        counts[LATENCY_BUCKETS.index(float(key.removeprefix("le_").replace("_", ".")))] = n
    return counts


@pytest.mark.parametrize(
    ("q", "counts", "expected"),
    [
        (0.5, _counts(le_0_1=10), 0.075),  # all in (0.05, 0.1]: interpolate half way
        (0.9, _counts(le_0_1=10), 0.095),
        # the median sits at the top of the first bucket
        (0.5, _counts(le_0_01=10, le_1_0=10), 0.01),
        (0.75, _counts(le_0_01=10, le_1_0=10), 0.75),
        (0.99, _counts(le_0_005=99, le_2_5=1), 0.005),
        (0.995, _counts(le_0_005=99, le_2_5=1), 1.75),
        (0.5, _counts(le_inf=4), 10.0),  # the +Inf bucket answers with the highest finite bound
    ],
)
def test_histogram_quantile_interpolates_within_buckets(
    q: float, counts: np.ndarray, expected: float
) -> None:
    assert histogram_quantile(q, counts) == pytest.approx(expected)


def test_histogram_quantile_of_no_observations_is_none() -> None:
    assert histogram_quantile(0.5, np.zeros(len(LATENCY_BUCKETS))) is None


def test_histogram_quantiles_over_a_window_of_observations() -> None:
    m, *_, h = _store()
    for _ in range(10):
        m.observe(h, 0.07)
    m.commit(0)
    for _ in range(10):
        m.observe(h, 0.7)
    m.commit(1)
    q = lambda fn, w: m.query(Query(metric="latency_seconds", fn=fn, window=w), 1)  # noqa: E731
    assert q("p50", 1) == pytest.approx(0.75)
    assert q("p50", 2) == pytest.approx(0.1)
    assert q("p90", 2) == pytest.approx(0.5 + 0.5 * 8 / 10)
    assert q("rate", 2) == pytest.approx(10.0)
    assert m.kind_of("latency_seconds") == "histogram"


# ----------------------------------------------------------------------------- alert rules


def test_an_alert_goes_pending_then_fires_after_for_s_then_resolves() -> None:
    m = MetricStore(capacity=256)
    depth = m.gauge("queue_depth", queue="payments")
    rule = AlertRule(
        name="DepthHigh",
        severity="page",
        for_s=30,
        summary="depth is {value}",
        conditions=[Condition(metric='queue_depth{queue="payments"}', op=">", value=5)],
    )
    am = AlertManager([rule])
    states = {}
    for t in range(150):
        m.row[depth] = 10.0 if 20 <= t < 100 else 0.0
        m.commit(t)
        if t % EVAL_INTERVAL_S == 0:
            am.evaluate(m, t)
            states[t] = am.states["DepthHigh"].state
    assert states[15] == "inactive"
    assert states[30] == states[45] == "pending"
    assert states[60] == states[75] == states[90] == "firing"
    assert states[105] == "inactive"
    assert [(e.tick, e.state, e.summary) for e in am.events] == [
        (60, "firing", "depth is 10"),
        (105, "resolved", "depth is 0"),
    ]
    assert am.firing() == []


def test_an_alert_that_stops_holding_while_pending_never_fires() -> None:
    m = MetricStore(capacity=64)
    depth = m.gauge("queue_depth")
    rule = AlertRule(
        name="DepthHigh",
        for_s=60,
        summary="x",
        conditions=[Condition(metric="queue_depth", op=">", value=5)],
    )
    am = AlertManager([rule])
    for t in range(64):
        m.row[depth] = 10.0 if t < 40 else 0.0
        m.commit(t)
        if t % EVAL_INTERVAL_S == 0:
            am.evaluate(m, t)
    assert am.events == []
    assert am.states["DepthHigh"].state == "inactive"
