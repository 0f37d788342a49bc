"""A model value in words with its unit, for the texts an author writes (an alert's summary,
a `${...}` value): bytes as `kB`, `MB`, `GB`, `TB` (decimal, as volumes are sized and
`df -H` prints them), seconds as a duration, a ratio as a percentage.

- `bytes`: `7247300890` -> `7.25 GB`, `2.4e6` -> `2.4 MB`, `512` -> `512 B`;
- `duration`: seconds, `45` -> `45s`, `270` -> `4m 30s`, `7500` -> `2h 5m`, `273600` ->
  `3d 4h`, `0.25` -> `250ms`;
- `percent`: a ratio, `0.2539` -> `25.4%`, `1` -> `100%`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_BYTES = ("B", "kB", "MB", "GB", "TB", "PB")


def in_bytes(v: float) -> str:
    """A number of bytes, three significant digits in the largest unit under 1,000."""
    sign, x = ("-" if v < 0 else ""), abs(v)
    if x < 1000:
        return f"{sign}{x:.0f} B"
    for unit in _BYTES[1:]:
        x /= 1000
        text = f"{x:.3g}"
        if float(text) < 1000 or unit == _BYTES[-1]:
            return f"{sign}{text} {unit}"
    raise AssertionError("unreachable")


def as_duration(v: float) -> str:
    """Seconds as a duration in its two largest units (`4m 30s`, `2h 5m`, `3d 4h`), under a
    second in milliseconds."""
    sign, x = ("-" if v < 0 else ""), abs(v)
    if 0 < x < 1:
        return f"{sign}{x * 1000:.3g}ms"
    s = round(x)
    for size, big, small, part in (
        (86400, "d", "h", 3600),
        (3600, "h", "m", 60),
        (60, "m", "s", 1),
    ):
        if s >= size:
            n, rest = divmod(s, size)
            tail = rest // part
            return f"{sign}{n}{big}" + (f" {tail}{small}" if tail else "")
    return f"{sign}{s}s"


def as_percent(v: float) -> str:
    """A ratio (0.25) as a percentage (`25%`), three significant digits."""
    return f"{v * 100:.3g}%"


UNITS: dict[str, Callable[[float], str]] = {
    "bytes": in_bytes,
    "duration": as_duration,
    "percent": as_percent,
}
"""The units a text may show a value in, by name."""


VALUE = re.compile(r"\{value(?::([^{}]*))?\}")
"""`{value}` or `{value:UNIT}` in a resource threshold's log line: the resource's value."""


def plain(v: float) -> str:
    """A value with no unit: three significant digits, or whole with thousands separators."""
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def with_value(text: str, v: float) -> str:
    """`text` with each `{value}` or `{value:UNIT}` as `v`."""
    return VALUE.sub(lambda m: UNITS[m[1]](v) if m[1] else plain(v), text)


def value_problem(text: str, has_value: bool) -> str | None:
    """What is wrong with a log line's `{value...}` placeholders, or None: only a resource
    threshold's lines have a value, in one of `UNITS`."""
    for m in VALUE.finditer(text):
        if not has_value:
            return f"`{m[0]}`: only the lines of a resource's threshold have a value to show"
        if m[1] is not None and m[1] not in UNITS:
            return f"unknown unit `{m[1]}` in `{m[0]}`; units: {', '.join(UNITS)}"
    return None
