"""Queueing theory references, written apart from the game's model (nothing here imports it).

Time is in seconds. `lam` is the arrival rate (per second), `c` the number of servers, `D`
or `s` a deterministic service time, `rho` the utilisation lam * s / c.

- M/D/c: the exact mean wait in queue (Crommelin 1932, in the form given by Tijms, *A First
  Course in Stochastic Models*, 2003, section 9.4) and an exact simulation of it. With
  deterministic service and first-come first-served, customer n is served by the server that
  served customer n - c, so it starts at max(A_n, S_{n-c} + D): a recursion, no event list.
- M/M/c: Erlang C, the probability of waiting, and the mean response time as a multiple of the
  service time.
- M/G/c+D, a connection pool with a first-come first-served waiting room whose clients give up
  after a fixed timeout: a simulation. With deterministic patience a client knows at arrival
  whether it will be served in time (only those ahead of it matter, and those who give up
  never hold a connection), so the recursion stays exact.
- M/G/1 processor sharing: a simulation of the sojourn times, for the tail of an API whose
  replicas share their CPU among the requests in progress.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache


def poisson_at_least(k: int, mu: float) -> float:
    """P(N >= k) for N ~ Poisson(mu): the upper tail summed from k upwards when k >= mu (so the
    far tail keeps its precision), else one minus the head summed from k - 1 downwards."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    if k >= mu:
        p = math.exp(k * math.log(mu) - mu - math.lgamma(k + 1))
        total, j = 0.0, k
        while p > 1e-17 * total or total == 0.0:
            total += p
            j += 1
            p *= mu / j
            if p == 0.0:
                break
        return total
    j = k - 1
    p = math.exp(j * math.log(mu) - mu - math.lgamma(j + 1))
    head = 0.0
    while j >= 0 and (p > 1e-17 * head or head == 0.0):
        head += p
        p *= j / mu
        j -= 1
    return 1.0 - head


@lru_cache(maxsize=256)
def mdc_mean_wait(lam: float, D: float, c: int) -> float:
    """Exact mean wait in queue of M/D/c (Crommelin):

    Wq = D * sum_{k>=1} [ P(N_k >= kc) - P(N_k >= kc + 1) / rho ],  N_k ~ Poisson(k c rho).
    """
    rho = lam * D / c
    if not 0 < rho < 1:
        raise ValueError(f"M/D/c needs 0 < rho < 1, got {rho}")
    total = prev = 0.0
    k = 1
    while True:
        mu = k * c * rho
        term = poisson_at_least(k * c, mu) - poisson_at_least(k * c + 1, mu) / rho
        total += term
        # the terms decay nearly geometrically (like exp(-k c (rho - 1 - ln rho)) / k^1.5): once
        # they do, add the geometric rest and stop
        if k > 20 and term > 0:
            r = term / prev
            rest = term * r / (1 - r) if r < 1 else math.inf
            if rest < 1e-7 * total:
                return (total + rest) * D
        prev = term
        k += 1


def mdc_simulated_wait(lam: float, D: float, c: int, n: int, seed: int) -> float:
    """Mean wait in queue of M/D/c over n customers (after n // 10 for warm-up), by the exact
    recursion S_n = max(A_n, S_{n-c} + D)."""
    rng = random.Random(seed)
    starts = [-math.inf] * c  # ring of the last c start times
    a = 0.0
    warm = n // 10
    total = 0.0
    for i in range(n):
        a += rng.expovariate(lam)
        s = max(a, starts[i % c] + D)
        starts[i % c] = s
        if i >= warm:
            total += s - a
    return total / (n - warm)


def erlang_c(c: int, a: float) -> float:
    """Erlang C: the probability an arrival waits in M/M/c with offered load a = lam / mu < c."""
    if not 0 <= a < c:
        raise ValueError(f"Erlang C needs 0 <= a < c, got a={a}, c={c}")
    # Erlang B by its recursion, then C from B
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    return b / (1 - rho + rho * b)


def mmc_response_factor(c: int, rho: float) -> float:
    """Mean response time of M/M/c over the mean service time: 1 + C(c, a) / (c (1 - rho))."""
    return 1.0 + erlang_c(c, c * rho) / (c * (1 - rho))


@dataclass(frozen=True)
class PoolStats:
    """What an impatient connection pool (M/G/c+D) gave over its measured clients."""

    mean_wait_served: float
    """Mean wait for a connection among clients that got one."""
    timeout_rate: float
    """Share of clients that gave up after the timeout."""
    mean_in_use: float
    """Time-average connections held."""
    mean_waiting: float
    """Time-average clients waiting for a connection."""


def impatient_pool(
    lam: float,
    hold: Callable[[random.Random], float],
    c: int,
    timeout: float,
    n: int,
    seed: int,
) -> PoolStats:
    """A pool of c connections, Poisson arrivals at lam, first-come first-served, clients who
    give up after `timeout` seconds of waiting, hold times drawn by `hold`."""
    rng = random.Random(seed)
    free = [0.0] * c  # heap of the times the connections become free
    a = 0.0
    warm = n // 10
    served = timed_out = 0
    wait_served = held = waited = 0.0
    t0 = 0.0
    for i in range(n):
        a += rng.expovariate(lam)
        h = hold(rng)
        start = max(a, free[0])
        w = start - a
        measured = i >= warm
        if i == warm:
            t0 = a
        if w > timeout:
            if measured:
                timed_out += 1
                waited += timeout
            continue
        heapq.heapreplace(free, start + h)
        if measured:
            served += 1
            wait_served += w
            waited += w
            held += h
    span = a - t0
    return PoolStats(
        mean_wait_served=wait_served / max(1, served),
        timeout_rate=timed_out / max(1, served + timed_out),
        mean_in_use=held / span,
        mean_waiting=waited / span,
    )


def ps_sojourns(
    lam: float, size: Callable[[random.Random], float], n: int, seed: int
) -> list[float]:
    """Sojourn times of n jobs (after n // 10 for warm-up) in M/G/1 processor sharing: every job
    in the system is served at rate 1 / (jobs in the system)."""
    rng = random.Random(seed)
    t = 0.0
    next_arrival = rng.expovariate(lam)
    jobs: list[list[float]] = []  # [remaining work, arrival time, index]
    out: list[float] = []
    warm = n // 10
    arrived = 0
    while arrived < n or jobs:
        k = len(jobs)
        if k:
            shortest = min(j[0] for j in jobs)
            finish_at = t + shortest * k
        else:
            finish_at = math.inf
        if arrived < n and next_arrival < finish_at:
            if k:
                done = (next_arrival - t) / k
                for j in jobs:
                    j[0] -= done
            t = next_arrival
            jobs.append([size(rng), t, float(arrived)])
            arrived += 1
            next_arrival = t + rng.expovariate(lam)
        else:
            for j in jobs:
                j[0] -= shortest
            t = finish_at
            keep = []
            for j in jobs:
                if j[0] <= 1e-12:
                    if j[2] >= warm:
                        out.append(t - j[1])
                else:
                    keep.append(j)
            jobs = keep
    return out


def quantile(xs: list[float], q: float) -> float:
    ys = sorted(xs)
    return ys[min(len(ys) - 1, int(q * len(ys)))]


def mdc_waits_on_counts(counts: list[int], D: float, c: int, seed: int, skip: int = 0) -> float:
    """Mean wait in queue of M/D/c on a given path of Poisson counts: counts[t] customers arrive
    during (t - 1, t], each at a uniform time within it (which, given the counts, is exactly a
    Poisson process). Customers of the first `skip` seconds are served but not measured.

    Fed the counts a model drew, this is the exact M/D/c on the same sample path: comparing the
    two removes most of the statistical noise a separate run would bring."""
    rng = random.Random(seed)
    starts = [-math.inf] * c
    i = 0
    total = 0.0
    n = 0
    for t, k in enumerate(counts):
        for a in sorted(t - 1 + rng.random() for _ in range(k)):
            s = max(a, starts[i % c] + D)
            starts[i % c] = s
            i += 1
            if t >= skip:
                total += s - a
                n += 1
    return total / n


def mdc_head_ages_on_counts(counts: list[int], D: float, c: int, seed: int) -> list[float]:
    """M/D/c on a given path of Poisson counts (as `mdc_waits_on_counts`): at each whole second
    t, how long the oldest customer still waiting (arrived by t, not started by t) has waited;
    0 when nobody waits. This is what a queue's oldest-message-age gauge reads."""
    rng = random.Random(seed)
    starts = [-math.inf] * c
    i = 0
    waiting: list[tuple[float, float]] = []  # (arrival, start) of customers not yet started
    ages: list[float] = []
    for t, k in enumerate(counts):
        for a in sorted(t - 1 + rng.random() for _ in range(k)):
            s = max(a, starts[i % c] + D)
            starts[i % c] = s
            i += 1
            waiting.append((a, s))
        # FCFS: customers start in arrival order, so the waiting ones are a suffix
        waiting = [(a, s) for a, s in waiting if s > t]
        ages.append(t - waiting[0][0] if waiting else 0.0)
    return ages
