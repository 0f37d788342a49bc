"""Formatting shared by every view: clock times and compact numbers (pure Python, no numpy).

The console, the TUI's panes and charts, and the reports all format through here,
so a time or a value reads the same wherever it is shown.
"""

from __future__ import annotations

import math


def mmss(seconds: int) -> str:
    """A time in seconds as `MM:SS`, or `H:MM:SS` from an hour; negative before the page."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m:02d}:{s:02d}"


def _scaled(v: float | None, big: str, k_from: float, small: tuple[tuple[float, str], ...]) -> str:
    """`v` with a G, M or k suffix (`big` digits; k from `k_from`), whole from 100 or when
    whole, else by the first `small` format whose lower bound it reaches."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    a = abs(v)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (k_from, "k")):
        if a >= limit:
            digits = big if suffix != "k" else ".1f"
            return f"{v / (limit if suffix != 'k' else 1e3):{digits}}{suffix}"
    if a >= 100 or v == int(v):
        return f"{v:.0f}"
    return next(f"{v:{spec}}" for lo, spec in small if a >= lo)


def human(v: float | None) -> str:
    """A value for the console's tables: 1.23M, 45.6k, 350, 0.123."""
    return _scaled(v, ".2f", 1e4, ((0.0, ".3g"),))


def compact(v: float | None) -> str:
    """A shorter value for chart axes and labels: 1.2M, 1.2k, 35, 4.2, 0.42."""
    return _scaled(v, ".1f", 1e3, ((1.0, ".1f"), (0.0, ".2g")))
