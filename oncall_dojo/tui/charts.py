"""Text charts for the terminal: downsampling and block rows (pure functions, no Textual).

Series are downsampled to about one point per column before drawing (the
maximum of each bucket, so spikes stay visible), then drawn as rows of eighth
blocks, top row first.
"""

from __future__ import annotations

import numpy as np

BLOCKS = " ▁▂▃▄▅▆▇█"


def downsample(values: np.ndarray, width: int) -> np.ndarray:
    """At most `width` points: the max of each of `width` equal buckets (NaN-aware)."""
    vals = np.asarray(values, dtype=np.float64)
    if width <= 0 or vals.size == 0:
        return np.zeros(0)
    if vals.size <= width:
        return vals
    edges = np.linspace(0, vals.size, width + 1).astype(int)
    out = np.empty(width)
    for i in range(width):
        chunk = vals[edges[i] : max(edges[i + 1], edges[i] + 1)]
        out[i] = np.nan if np.all(np.isnan(chunk)) else np.nanmax(chunk)
    return out


def bounds(*series: np.ndarray) -> tuple[float, float]:
    vals = [s[~np.isnan(s)] for s in series if s.size]
    vals = [v for v in vals if v.size]
    if not vals:
        return 0.0, 1.0
    lo = min(0.0, min(float(v.min()) for v in vals))
    hi = max(float(v.max()) for v in vals)
    if hi - lo < 1e-12:
        hi = lo + (abs(lo) or 1.0)
    return lo, hi


def block_rows(values: np.ndarray, height: int, lo: float, hi: float) -> list[str]:
    """`height` rows of blocks (top first), one column per value; NaN draws nothing."""
    levels = height * 8
    rows = [[" "] * len(values) for _ in range(height)]
    span = hi - lo or 1.0
    for x, v in enumerate(values):
        if np.isnan(v):
            continue
        filled = round((min(max(float(v), lo), hi) - lo) / span * levels)
        if v > lo and filled == 0:
            filled = 1
        for r in range(height):
            part = min(8, max(0, filled - r * 8))
            rows[height - 1 - r][x] = BLOCKS[part]
    return ["".join(r) for r in rows]


def marker_row(
    width: int, t0: int, t1: int, marks: list[int], symbols: list[str] | None = None
) -> str:
    """A row with a symbol at the column of each mark (a time between t0 and t1)."""
    row = [" "] * width
    span = max(1, t1 - t0)
    for i, at in enumerate(marks):
        x = min(width - 1, max(0, int((at - t0) / span * width)))
        sym = symbols[i] if symbols else "▲"
        row[x] = sym if row[x] == " " else "+"
    return "".join(row)
