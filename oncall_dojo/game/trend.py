"""The trend of the days before the run, for a resource whose gauge the incident gives a past.

A slow leak is visible only over days: the run holds an hour of samples, the exporter kept a
week. `metrics` draws that week from the resource's `past` points, with the value at the start
of the run last, one mark per bucket (the highest value in it, so a drop shows where it fell).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from oncall_dojo.game.fmt import human
from oncall_dojo.sim.resources import ResourceSpec

WIDTH = 42
"""Marks in the trend line: a week in buckets of four hours."""
_SPARK = "▁▂▃▄▅▆▇█"


def _span(ago_s: int) -> str:
    """`7d`, `2.5d`, or `18h` under a day."""
    days, rest = divmod(ago_s, 86_400)
    if not days:
        return f"{ago_s // 3600}h"
    return f"{days}d" if not rest else f"{ago_s / 86_400:.1f}d"


def past_values(spec: ResourceSpec, at_start: float, width: int = WIDTH) -> list[float]:
    """One value per bucket from the oldest point to the start of the run (where it read
    `at_start`): the highest of the line through the points at the bucket's edges and at the
    points inside it."""
    pts = sorted(((-p.ago_s, p.value) for p in spec.past), key=lambda p: p[0])
    pts.append((0, at_start))
    xs = np.array([float(x) for x, _ in pts])
    ys = np.array([y for _, y in pts])
    edges = np.linspace(xs[0], 0.0, width + 1)
    out = []
    for a, b in pairwise(edges):
        inside = ys[(xs >= a) & (xs <= b)]
        at_edges = np.interp([a, b], xs, ys)
        out.append(float(max(at_edges.max(), inside.max() if inside.size else -np.inf)))
    return out


def past_trend(spec: ResourceSpec, at_start: float) -> list[str]:
    """The lines `metrics` adds under a series whose resource has a past."""
    if not spec.past:
        return []
    vals = past_values(spec, at_start)
    lo, hi = min(vals), max(vals)
    marks = "".join(
        _SPARK[0] if hi - lo < 1e-12 else _SPARK[min(7, int((v - lo) / (hi - lo) * 7.999))]
        for v in vals
    )
    oldest = max(p.ago_s for p in spec.past)
    return [
        f"  the {_span(oldest)} before the page (low {human(lo)}, high {human(hi)}):",
        f"    {marks}",
        f"    {('-' + _span(oldest)):<{WIDTH - 4}}page",
    ]
