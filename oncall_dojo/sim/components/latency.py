"""Latency shapes the services share: lognormal factors, histogram filling, timeout odds."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right

from oncall_dojo.sim.observability.metrics import LATENCY_BUCKETS
from oncall_dojo.sim.rng import SimRandom

_table = SimRandom(20260314)
LOGNORMAL_SIGMA = 0.35
LOGNORMAL = tuple(sorted(_table.lognormvariate(0.0, LOGNORMAL_SIGMA) for _ in range(4096)))
"""Lognormal latency factors (sigma 0.35), picked by a uniform draw: one draw instead of two.

A fixed table, the same in every run (its own fixed seed, not the run's)."""


def count_sorted(counts: list[int], ordered: list[float]) -> None:
    """Add sorted latencies to a histogram's bucket counts (as `bisect_left` per value would, with
    a couple of searches per bucket boundary crossed instead)."""
    first = bisect_left(LATENCY_BUCKETS, ordered[0])
    last = bisect_left(LATENCY_BUCKETS, ordered[-1])
    below = 0
    for k in range(first, last):
        upto = bisect_right(ordered, LATENCY_BUCKETS[k])  # values <= the bucket's upper bound
        counts[k] += upto - below
        below = upto
    counts[last] += len(ordered) - below


def p_over(mean_s: float, limit_s: float, sigma: float = 0.3) -> float:
    """P(lognormal latency with this mean exceeds limit)."""
    if mean_s <= 0:
        return 0.0
    z = (math.log(limit_s) - math.log(mean_s)) / sigma
    return 0.5 * math.erfc(z / math.sqrt(2))
