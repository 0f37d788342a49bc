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

import pytest
from unit.simkit import run, system

from oncall_dojo.sim.system import System

from .reference import mdc_mean_wait, mdc_waits_on_counts

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
def test_waits_match_m_d_c_with_a_one_second_service(rho: float) -> None:
    c, s_ = 4, 1.0
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
    ticks = 1500
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


# ----------------------------------------------------------------------------- capacity, overload, scaling


@pytest.mark.parametrize("service_s", [1.0, 2.0])
def test_capacity_is_replicas_times_concurrency_over_service_time(service_s: float) -> None:
    replicas, c = 2, 8
    cap = replicas * c / service_s
    s = pool_system(3 * cap, replicas, c, service_s)
    q = s.queues[QUEUE]
    run(s, 30)
    acked = q.stats.acked
    run(s, 600)
    assert (q.stats.acked - acked) / 600 == pytest.approx(cap, rel=0.02)


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
