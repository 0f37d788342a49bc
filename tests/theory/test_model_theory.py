"""The model obeys queueing theory: what a senior engineer works out on paper is what the game shows.

A worker pool of R replicas with c slots each, serving messages in a deterministic s seconds, is
an M/D/(R c) queue when its messages arrive as a Poisson stream: its capacity is R c / s
messages a second, its mean wait in queue is Crommelin's (`reference.mdc_mean_wait`), an
overload grows its backlog by lam - R c / s a second, and scaling from R to R' drains a backlog
at (R' - R) c / s a second once the new replicas are up. Little's law (L = lam W) holds on
every queue. The references are in `reference.py`, written apart from the model.

Each test runs a bare system (no API traffic) with one extra queue and pool, for a few
thousand simulated seconds; longer statistical runs are in `benchmarks/theory.py`.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from unit.simkit import run, system, value

from oncall_dojo.sim.system import System

from .reference import (
    impatient_pool,
    mdc_head_ages_on_counts,
    mdc_mean_wait,
    mdc_waits_on_counts,
    mmc_response_factor,
    ps_sojourns,
    quantile,
)

QUEUE = "jobs"


def pool_system(lam: float, replicas: int, concurrency: int, service_s: float, seed: int = 1,
                startup_s: int = 15) -> System:  # fmt: skip
    """A system whose only traffic is a Poisson stream of lam messages a second into one queue,
    consumed by one pool (no database queries, no API requests)."""
    return system(
        {
            "traffic": {"base_rps": 0.0},
            "queues": {QUEUE: {"kind": "generic", "producer_rps": lam, "objective_s": 86_400}},
            "workers": {
                QUEUE: {
                    "queue": QUEUE, "replicas": replicas, "concurrency": concurrency,
                    "service_s": service_s, "startup_s": startup_s, "max_replicas": 100,
                    "memory_limit_mb": 1e9,
                }
            },
        },
        seed=seed,
    )  # fmt: skip


def mean_sojourn(s: System, ticks: int) -> tuple[float, int]:
    """Run `ticks` more ticks; the mean enqueue-to-ack time of the messages acknowledged in them."""
    st = s.queues[QUEUE].stats
    acked, total = st.acked, st.wait_total
    run(s, ticks)
    n = st.acked - acked
    return (st.wait_total - total) / n, n


# ----------------------------------------------------------------------------- waits: M/D/c


def model_and_mdc_waits(
    rho: float, c: int, service_s: float, ticks: int, seed: int
) -> tuple[float, float]:
    """The model's mean wait in queue (enqueue to acknowledgement, less the service time) over
    `ticks` seconds after a warm-up, and exact M/D/c's on the same per-second arrival counts."""
    lam = rho * c / service_s
    s = pool_system(lam, 1, c, service_s, seed=seed, startup_s=0)
    q = s.queues[QUEUE]
    warm = 300
    counts: list[int] = []
    for _ in range(warm):
        before = q.stats.produced
        s.tick()
        counts.append(q.stats.produced - before)
    st = q.stats
    acked, total = st.acked, st.wait_total
    for _ in range(ticks):
        before = q.stats.produced
        s.tick()
        counts.append(q.stats.produced - before)
    model = (st.wait_total - total) / (st.acked - acked) - service_s
    # counts[t] arrived at tick t: during (t - 1, t] in continuous time
    ref = mdc_waits_on_counts(counts[:-60], service_s, c, seed, skip=warm)
    return model, ref


def test_the_m_d_c_reference_on_a_models_counts_is_m_d_c() -> None:
    # the counts the model draws are a Poisson process: the reference fed them is Crommelin's
    c, rho, s_ = 8, 0.8, 1.0
    _, ref = model_and_mdc_waits(rho, c, s_, 20_000, seed=11)
    assert ref == pytest.approx(mdc_mean_wait(rho * c / s_, s_, c), rel=0.08)


@pytest.mark.parametrize("rho", [0.3, 0.5, 0.8, 0.9, 0.95])
@pytest.mark.parametrize("s_", [0.1, 0.5, 1.0, 2.5, 10.0])
def test_waits_match_m_d_c(rho: float, s_: float) -> None:
    c = 4
    model, ref = model_and_mdc_waits(rho, c, s_, 8000, seed=1)
    assert model == pytest.approx(ref, rel=0.10, abs=0.01 * s_)


# ----------------------------------------------------------------------------- Little's law


@pytest.mark.parametrize("service_s", [1.0, 2.0])
def test_littles_law_holds_on_every_queue(service_s: float) -> None:
    # L (messages waiting or in flight, sampled every second) = lam (acked per second) x W
    s = system({"traffic": {"base_rps": 120.0, "noise": 0.0},
                "workers": {"mailer": {"service_s": service_s, "replicas": 3}}}, seed=3)  # fmt: skip
    run(s, 200)
    start = {n: (q.stats.acked, q.stats.wait_total) for n, q in s.queues.items()}
    present = dict.fromkeys(s.queues, 0.0)
    ticks = 4000
    for _ in range(ticks):
        s.tick()
        for n, q in s.queues.items():
            present[n] += q.depth + q.inflight
    for n, q in s.queues.items():
        acked = q.stats.acked - start[n][0]
        assert acked > 5000, n
        lam = acked / ticks
        w = (q.stats.wait_total - start[n][1]) / acked
        L = present[n] / ticks
        # the few messages present at the start or the end are the only difference
        assert L / (lam * w) == pytest.approx(1.0, abs=0.01), n


@pytest.mark.parametrize(("rho", "c", "s_"), [(0.8, 4, 1.0), (0.9, 4, 2.5), (0.8, 8, 0.5)])
def test_the_oldest_message_age_gauge_reads_the_head_of_line_wait(
    rho: float, c: int, s_: float
) -> None:
    # sampled each second, the gauge is how long the oldest message still waiting has waited:
    # M/D/c's head of line on the same arrival counts, in its mean and its tail
    s = pool_system(rho * c / s_, 1, c, s_, startup_s=0)
    q = s.queues[QUEUE]
    gauge = f'queue_oldest_message_age_seconds{{queue="{QUEUE}"}}'
    counts: list[int] = []
    ages: list[float] = []
    for _ in range(4000):
        before = q.stats.produced
        s.tick()
        counts.append(q.stats.produced - before)
        ages.append(value(s, gauge, "last", 1))
    ref = mdc_head_ages_on_counts(counts, s_, c, seed=5)
    model, want = ages[300:], ref[300:]
    assert sum(model) / len(model) == pytest.approx(sum(want) / len(want), rel=0.10)
    assert quantile(model, 0.95) == pytest.approx(quantile(want, 0.95), rel=0.10, abs=0.05 * s_)
    assert quantile(want, 0.95) > 0.25 * s_  # the tail the gauge once rounded down to 0


# ----------------------------------------------------------------------------- capacity, overload, scaling


@pytest.mark.parametrize("service_s", [0.01, 0.05, 0.3, 0.6, 1.0, 1.2, 1.5, 2.5, 10.0, 30.0])
def test_capacity_is_replicas_times_concurrency_over_service_time(service_s: float) -> None:
    replicas, c = 2, 8
    cap = replicas * c / service_s
    s = pool_system(3 * cap, replicas, c, service_s)
    q = s.queues[QUEUE]
    run(s, 30 + int(service_s))
    acked = q.stats.acked
    span = max(600, int(40 * service_s))
    run(s, span)
    assert (q.stats.acked - acked) / span == pytest.approx(cap, rel=0.02)


@pytest.mark.parametrize("service_s", [1.0, 2.0])
def test_an_overload_grows_the_backlog_by_lam_minus_capacity(service_s: float) -> None:
    replicas, c = 2, 8
    cap = replicas * c / service_s
    lam = 1.5 * cap
    s = pool_system(lam, replicas, c, service_s)
    q = s.queues[QUEUE]
    run(s, 60)
    before, produced = q.depth, q.stats.produced
    run(s, 1200)
    arrived = (q.stats.produced - produced) / 1200
    assert arrived == pytest.approx(lam, rel=0.02)
    growth = (q.depth - before) / 1200
    assert growth == pytest.approx(arrived - cap, rel=0.05)


@pytest.mark.parametrize("service_s", [1.0, 2.0])
def test_scaling_out_drains_a_backlog_at_the_added_capacity(service_s: float) -> None:
    replicas, c, startup = 2, 8, 15
    cap = replicas * c / service_s
    lam = 0.9 * cap
    s = pool_system(1.5 * cap, replicas, c, service_s, startup_s=startup)
    q = s.queues[QUEUE]
    run(s, 900)  # a backlog of half the capacity times 900 s builds
    s.queues[QUEUE].cfg.producer_rps = lam
    run(s, 30)
    s.scale_pool(s.pools[QUEUE], 2 * replicas)
    run(s, startup + 5)  # the new replicas start up
    before, produced = q.depth, q.stats.produced
    assert before > 2000
    run(s, 200)
    assert q.depth > 0
    arrived = (q.stats.produced - produced) / 200
    drain = (before - q.depth) / 200
    assert drain == pytest.approx(2 * cap - arrived, rel=0.05)


# ----------------------------------------------------------------------------- the connection pool


def api_pool_system(lam: float, pool_size: int, hold_ms: float, seed: int = 1) -> System:
    """The API at lam requests a second, all on one route that runs one query of hold_ms on a
    database with cores to spare: each request holds a connection for hold_ms."""
    routes: dict[str, Any] = {name: {"share": 0.0} for name in system().cfg.api.routes}
    routes["GET /api/item"] = {"share": 1.0, "base_ms": 5, "queries": {"item": 1}, "cpu_ms": 0.1}
    return system(
        {
            "traffic": {"base_rps": lam, "noise": 0.0, "diurnal_amplitude": 0.0},
            "api": {"pool_size": pool_size, "pool_timeout_s": 1.0, "routes": routes},
            "database": {
                "cpu_ms": 400_000.0,
                "shapes": {"item": {"table": "products", "base_ms": hold_ms}},
            },
        },
        seed=seed,
    )


@pytest.mark.parametrize("rho", [0.8, 0.95, 1.2])
def test_pool_waits_and_timeouts_match_the_impatient_queue(rho: float) -> None:
    c, hold = 5, 0.1
    lam = rho * c / hold
    s = api_pool_system(lam, c, hold * 1000)
    run(s, 60)
    ticks = 2000
    requests0 = s.total_requests
    in_use = 0.0
    for _ in range(ticks):
        s.tick()
        in_use += s.pool_in_use
    requests = s.total_requests - requests0
    timeouts = value(s, "db_pool_wait_timeouts_total", "increase", ticks)
    waited = value(s, "db_pool_wait_seconds_total", "increase", ticks)
    served = requests - timeouts
    ref = impatient_pool(requests / ticks, lambda r: hold, c, 1.0, 300_000, seed=2)
    assert waited / served == pytest.approx(ref.mean_wait_served, rel=0.15, abs=0.002)
    assert timeouts / requests == pytest.approx(ref.timeout_rate, rel=0.15, abs=0.002)
    # Little's law on the pool: connections in use = served per second x hold time
    assert in_use / ticks == pytest.approx(served / ticks * hold, rel=0.01)


# ----------------------------------------------------------------------------- sizing a pool


@pytest.mark.parametrize(
    ("replicas", "concurrency", "service_s"), [(2, 4, 0.3), (2, 8, 0.6), (2, 4, 0.8)]
)
def test_a_pool_at_75_percent_of_its_capacity_keeps_a_small_stable_backlog_for_an_hour(
    replicas: int, concurrency: int, service_s: float
) -> None:
    # the bundled billing, mailer and fulfillment shapes, fed at 3/4 of R c / s
    lam = 0.75 * replicas * concurrency / service_s
    s = pool_system(lam, replicas, concurrency, service_s, startup_s=0)
    q = s.queues[QUEUE]
    depths = []
    for _ in range(3600):
        s.tick()
        depths.append(q.depth)
    first, last = sum(depths[:1200]) / 1200, sum(depths[-1200:]) / 1200
    assert max(depths) <= 6 * replicas * concurrency
    assert first < concurrency and last < concurrency  # M/D/c says well under one message
    assert q.oldest_age(s.t) <= 5
    assert q.stats.wait_total / q.stats.acked < 2 * service_s


# ----------------------------------------------------------------------------- the database


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.9, 0.95])
def test_database_latency_grows_as_m_m_c_over_its_cores(rho: float) -> None:
    s = system({"traffic": {"base_rps": 0.0}, "database": {"cpu_ms": 4000.0}})
    db = s.db
    db.demand_ms = rho * 4000.0
    db.tick(s.t)
    cost = db.cost_ms("order_by_id")
    assert db.latency_ms("order_by_id") / cost == pytest.approx(
        mmc_response_factor(4, rho), rel=1e-6
    )


# ----------------------------------------------------------------------------- the API


def api_cpu_system(rho: float, seed: int = 1) -> System:
    """The API at 100 requests a second on one route with no database work, whose CPU time
    puts the fleet (4 replicas, 1,000 CPU-ms a second each) at utilisation rho."""
    routes: dict[str, Any] = {name: {"share": 0.0} for name in system().cfg.api.routes}
    routes["GET /api/ping"] = {"share": 1.0, "base_ms": 20, "cpu_ms": rho * 40.0}
    return system(
        {
            "traffic": {"base_rps": 100.0, "noise": 0.0, "diurnal_amplitude": 0.0},
            "api": {"replicas": 4, "routes": routes, "timeout_s": 60.0},
        },
        seed=seed,
    )


def api_durations(s: System) -> list[float]:
    out = []
    for line in s.logs.lines:
        i = line.find("duration_ms=")
        if i >= 0 and " status=200 " in line:
            out.append(float(line[i + 12 :].split(" ", 1)[0]))
    return sorted(out)


@pytest.mark.parametrize("rho", [1.25, 2.0, 4.0])
def test_an_overloaded_api_sheds_one_minus_one_over_rho(rho: float) -> None:
    s = api_cpu_system(rho)
    run(s, 300)
    shed = value(s, 'http_requests_total{code="503"}', "increase", 300)
    assert shed / s.total_requests == pytest.approx(1 - 1 / rho, rel=0.05)


def test_the_api_latency_tail_widens_toward_saturation_as_processor_sharing() -> None:
    sigma = 0.35
    mu = math.log(0.02) - sigma**2 / 2
    for rho in (0.1, 0.5, 0.9):
        s = api_cpu_system(rho)
        run(s, 120)
        d = api_durations(s)
        model = d[int(0.99 * len(d))] / d[len(d) // 2]
        # M/G/1 processor sharing with lognormal(0.35) request sizes
        ref = ps_sojourns(rho / 0.02, lambda r: r.lognormvariate(mu, sigma), 40_000, seed=3)
        want = quantile(ref, 0.99) / quantile(ref, 0.5)
        assert model == pytest.approx(want, rel=0.15), rho
