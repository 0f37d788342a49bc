"""Clients that retry obey the arithmetic an engineer does on paper.

A route whose fresh requests arrive at lam a second and fail with probability p each:

- with unlimited retries every request is eventually sent 1 / (1 - p) times on average, so the
  route's offered load (fresh and retries) is lam / (1 - p);
- with at most k attempts it is lam (1 + p + ... + p^(k-1)) = lam (1 - p^k) / (1 - p), and
  lam p^k clients a second give up;
- after an outage of D seconds with a fixed backoff of b seconds and no jitter, every client
  that arrived during the outage is still retrying: they all come back within b seconds of the
  recovery, each second's share on top of the fresh lam, about lam (1 + D / b) a second;
  clients that failed in the same second come back in the same second without jitter (a wave),
  spread evenly over the backoff with a full jitter, over its second half with an equal one;
- a client that stops waiting after ct retries the successes slower than ct: with a share q of
  them that slow, lam / (1 - q) is offered, all of it served;
- a rate limit of L a second admits L a second of a larger offered load; a ramp from a to z
  over S seconds admits (a + z) / 2 * S requests over it, then lets everything through.

The failures are a version's `error_rate` on one route (a request fails with probability p
whatever else happens); the route is served far below every capacity, so nothing else fails.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from unit.simkit import run, system, value

from oncall_dojo.sim import ops
from oncall_dojo.sim.system import System

ROUTE = "GET /api/account"
SHARE = 0.14
"""The route's share of the default traffic."""


def route_system(
    lam: float, p: float, retry: dict[str, Any] | None, seed: int = 1, **more: Any
) -> System:
    """A system whose `ROUTE` gets lam fresh requests a second (flat traffic, no noise), each
    failing with probability p; its clients retry as `retry` says."""
    return system(
        {
            "traffic": {"base_rps": lam / SHARE, "noise": 0.0, "diurnal_amplitude": 0.0},
            "api": {"routes": {ROUTE: {"retry": retry}}},
            "versions": {"api": {"v3.41.0": {"error_rate": {ROUTE: p}}}},
            "flags": {"outage": False},
            "flag_traits": {"outage": {"api": {"error_rate": {ROUTE: 1.0}}}},
            **more,
        },
        seed=seed,
    )


def rate(s: System, metric: str, window: int) -> float:
    return value(s, metric, fn="rate", window=window)


OFFERED = f'http_requests_total{{route="{ROUTE}"}}'
RETRIES = f'http_client_retries_total{{route="{ROUTE}"}}'
GAVE_UP = f'http_client_gave_up_total{{route="{ROUTE}"}}'
LIMITED = f'http_requests_total{{route="{ROUTE}",code="429"}}'


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.7])
@pytest.mark.parametrize(
    "retry",
    [
        {"max_attempts": None, "backoff": "fixed", "base_s": 2},
        {"max_attempts": None, "backoff": "exponential", "base_s": 1, "cap_s": 30,
         "jitter": "full"},
    ],
    ids=["fixed", "exponential-jitter"],
)  # fmt: skip
def test_unlimited_retries_offer_lam_over_one_minus_p(p: float, retry: dict[str, Any]) -> None:
    lam, ticks = 20.0, 4000
    s = route_system(lam, p, retry)
    run(s, 600 + ticks)  # warm up: the retries of the first seconds are still coming back
    offered = rate(s, OFFERED, ticks)
    assert offered == pytest.approx(lam / (1 - p), rel=0.03)
    assert rate(s, RETRIES, ticks) == pytest.approx(lam * p / (1 - p), rel=0.05)
    assert value(s, GAVE_UP, fn="increase", window=ticks) == 0


@pytest.mark.parametrize("p", [0.3, 0.6])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_k_attempts_offer_lam_one_minus_p_to_the_k_over_one_minus_p(p: float, k: int) -> None:
    lam, ticks = 20.0, 4000
    s = route_system(lam, p, {"max_attempts": k, "backoff": "exponential", "base_s": 1})
    run(s, 300 + ticks)
    assert rate(s, OFFERED, ticks) == pytest.approx(lam * (1 - p**k) / (1 - p), rel=0.03)
    # every fresh request's k attempts all failed: lam p^k clients a second give up
    assert rate(s, GAVE_UP, ticks) == pytest.approx(lam * p**k, rel=0.06)


def outage(s: System, before: int, d: int) -> None:
    """Run `before` healthy seconds, then D seconds in which every request of the route fails."""
    run(s, before)
    s.flags["outage"] = True
    run(s, d)
    s.flags["outage"] = False


@pytest.mark.parametrize(("d", "b"), [(60, 10), (120, 30), (45, 15)])
def test_after_an_outage_the_herd_comes_back_in_one_synchronized_wave(d: int, b: int) -> None:
    lam = 20.0
    s = route_system(lam, 0.0, {"max_attempts": None, "backoff": "fixed", "base_s": b})
    outage(s, 300, d)
    fresh_in_outage = value(s, OFFERED, fn="increase", window=d) - value(
        s, RETRIES, fn="increase", window=d
    )
    per_tick = []
    for _ in range(b):
        before = s.api.herd.routes[ROUTE].retries  # type: ignore[union-attr]
        s.tick()
        per_tick.append(s.api.herd.routes[ROUTE].retries - before)  # type: ignore[union-attr]
    # every client that arrived during the outage comes back once within b seconds, and all
    # of them succeed: nobody is left waiting
    assert sum(per_tick) == fresh_in_outage
    assert s.api.herd.waiting() == 0  # type: ignore[union-attr]
    assert value(s, RETRIES, fn="increase", window=b) == fresh_in_outage
    # each second of the wave brings back the clients that first came at the same phase of
    # the backoff: about lam D / b on top of the fresh lam
    wave = rate(s, OFFERED, b)
    assert wave == pytest.approx(lam * (1 + d / b), rel=0.05)
    assert min(per_tick) == pytest.approx(lam * d / b, rel=0.3)
    run(s, b)
    assert rate(s, OFFERED, b) == pytest.approx(lam, rel=0.15)


@pytest.mark.parametrize(("jitter", "first", "width"), [("none", 10, 1), ("full", 1, 10),
                                                   ("equal", 5, 6)])  # fmt: skip
def test_clients_that_failed_together_come_back_together_unless_jittered(
    jitter: str, first: int, width: int
) -> None:
    # one second of outage: its lam clients fail at once; a backoff of b = 10 s brings them
    # back all in the 10th second after (no jitter), evenly over the 10 seconds (full), or over
    # the second half, 5 to 10 seconds after (equal)
    lam, b = 120.0, 10
    s = route_system(lam, 0.0, {"max_attempts": None, "backoff": "fixed", "base_s": b,
                                "jitter": jitter})  # fmt: skip
    outage(s, 300, 1)
    failed = value(s, OFFERED, window=1)
    came = []
    for _ in range(b + 2):
        s.tick()
        came.append(value(s, RETRIES, window=1))
    assert sum(came) == failed
    back = [i + 1 for i, c in enumerate(came) if c]
    assert back == list(range(first, first + width))
    assert max(came) - min(c for c in came if c) <= 1  # evenly


def test_a_rate_limit_admits_its_rate_and_the_rejected_clients_retry() -> None:
    lam, limit, ticks = 60.0, 25, 3000
    s = route_system(lam, 0.0, {"max_attempts": 3, "backoff": "exponential", "base_s": 1})
    run(s, 60)
    ops.rate_limit(s, ROUTE, limit, "test")
    run(s, 300 + ticks)
    admitted = rate(s, OFFERED, ticks) - rate(s, LIMITED, ticks)
    assert admitted == pytest.approx(limit, rel=0.03)
    # the rejected come back: the offered load is above the fresh lam
    assert rate(s, OFFERED, ticks) > 1.5 * lam
    assert rate(s, RETRIES, ticks) == pytest.approx(rate(s, OFFERED, ticks) - lam, rel=0.03)


def test_a_ramp_admits_at_the_ramps_rate_then_everything() -> None:
    lam, a, z, secs = 80.0, 10, 70, 600
    s = route_system(lam, 0.0, None)
    run(s, 60)
    ops.ramp(s, ROUTE, (a, z, secs), "test")
    admitted = []
    for _ in range(secs):
        s.tick()
        admitted.append(value(s, OFFERED, window=1) - value(s, LIMITED, window=1))
    # over the ramp: (a + z) / 2 a second; each minute at the line's height then
    assert sum(admitted) == pytest.approx((a + z) / 2 * secs, rel=0.03)
    for m in range(secs // 60):
        mid = a + (z - a) * (m * 60 + 29.5) / secs
        assert sum(admitted[m * 60 : m * 60 + 60]) / 60 == pytest.approx(mid, rel=0.1)
    s.tick()  # the ramp ends
    assert s.api.ramps == {}
    run(s, 120)
    assert value(s, LIMITED, fn="increase", window=120) == 0
    assert rate(s, OFFERED, 120) == pytest.approx(lam, rel=0.1)


@pytest.mark.parametrize("ct", [0.1, 0.12, 0.15])
def test_a_client_timeout_retries_the_slow_successes(ct: float) -> None:
    # the route's requests take 100 ms times a lognormal factor (median 1, shape 0.35) on an
    # idle fleet: a client that waits at most ct gives up on q = P(factor > ct / 0.1) of them
    # and retries, though the server served them; offered lam / (1 - q), every one a success
    # in the server's counters
    lam, ticks, shape = 20.0, 4000, 0.35
    s = route_system(
        lam,
        0.0,
        {"max_attempts": None, "backoff": "fixed", "base_s": 1, "timeout_s": ct},
        api={
            "cpu_ms_per_replica": 1e9,
            "routes": {ROUTE: {"base_ms": 100, "cache": False, "on_miss": {},
                               "retry": {"max_attempts": None, "backoff": "fixed", "base_s": 1,
                                         "timeout_s": ct}}},
        },
    )  # fmt: skip
    run(s, 300 + ticks)
    q = 0.5 * math.erfc(math.log(ct / 0.1) / (shape * math.sqrt(2)))
    offered = rate(s, OFFERED, ticks)
    assert offered == pytest.approx(lam / (1 - q), rel=0.03)
    assert rate(s, f'http_requests_total{{route="{ROUTE}",code="200"}}', ticks) == offered
    assert rate(s, RETRIES, ticks) == pytest.approx(lam * q / (1 - q), rel=0.05)
