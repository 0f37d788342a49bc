"""What a statement produced, and how the console shows it: a plain-text table (psql style)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from oncall_dojo.sim.text import count

__all__ = ["COUNT_CAP", "QueryResult", "render_table"]

COUNT_CAP = 100_000
"""Rows of a read are counted up to this many; past it the total is shown as "100,000+"."""


@dataclass
class QueryResult:
    """What one statement (or one commit) produced."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    """At most `max_rows` rows, exactly as SQLite returned them."""
    total_rows: int
    """Rows the statement produced, counted up to `COUNT_CAP` (see `total_capped`)."""
    truncated: bool
    """Fewer rows are kept than were produced."""
    changes: dict[str, int]
    """For writes: rows changed per table (a preview's would-be changes); {} for reads."""
    kind: str
    """Either "read", or "write" (a write's preview, or a commit)."""
    total_capped: bool = False
    """Counting stopped (at `COUNT_CAP` rows, the step budget or the bytes read): a floor."""
    committed: bool = False
    """The result of `Sandbox.commit`: `changes` were really made."""
    steps: int = 0
    """VM instructions used, in units of the progress handler's period; deterministic."""


def _width(s: str) -> int:
    w = 0
    for ch in s:
        if unicodedata.combining(ch):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def _clip(s: str, width: int) -> str:
    """`s` cut to `width` display columns, ending in "…" when cut."""
    if _width(s) <= width:
        return s
    if width <= 0:
        return ""
    out: list[str] = []
    used = 0
    for ch in s:
        w = (
            0
            if unicodedata.combining(ch)
            else (2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1)
        )
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


_CONTROL = {i: f"\\x{i:02x}" for i in (*range(32), *range(127, 160))} | {
    9: "\\t",
    10: "\\n",
    13: "\\r",
}
_CONTROL |= {
    i: f"\\u{i:04x}" for i in (0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}


def _cell(v: object, limit: int = 1_000) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bytes):
        head = v[:64].hex()
        return f"x'{head}…'" if len(v) > 64 else f"x'{head}'"
    if isinstance(v, float):
        return repr(v)
    s = str(v)
    if len(s) > limit:
        s = s[:limit] + "…"
    return s.translate(_CONTROL)


def _footer(r: QueryResult) -> str:
    if r.committed:
        if not r.total_rows:
            return "nothing to commit: no write is pending"
        return "committed: " + _change_words(r.changes, "changed", "no rows changed")
    if r.kind == "write":
        after = "; `sql commit` to apply, `sql rollback` to discard"
        if not r.changes:
            return "preview: schema change" + after
        return (
            "preview: " + _change_words(r.changes, "would change", "no rows would change") + after
        )
    total = f"{r.total_rows:,}+" if r.total_capped else f"{r.total_rows:,}"
    if r.truncated or r.total_capped:
        return f"{len(r.rows):,} of {total} rows shown"
    return count(r.total_rows, "row")


def _change_words(changes: dict[str, int], verb: str, none: str) -> str:
    items = sorted(changes.items())
    if len(items) == 1:
        table, n = items[0]
        return f"{none} in {table}" if n == 0 else f"{count(n, 'row')} {verb} in {table}"
    if not any(n for _, n in items):
        return none
    return f"rows {verb} in " + ", ".join(f"{t} ({n:,})" for t, n in items)


def render_table(result: QueryResult, width: int = 120) -> str:
    """A plain-text table of `result` (psql style) at most `width` columns wide, then a summary line."""
    lines: list[str] = []
    if result.columns:
        cols = result.columns
        cells = [[_cell(v) for v in row] for row in result.rows]
        numeric = [
            bool(result.rows)
            and all(
                row[i] is None or (isinstance(row[i], int | float) and not isinstance(row[i], bool))
                for row in result.rows
            )
            for i in range(len(cols))
        ]
        natural = [max([_width(c)] + [_width(row[i]) for row in cells]) for i, c in enumerate(cols)]
        room = max(width - 3 * (len(cols) - 1), len(cols))
        widths = _fit(natural, room)

        def line(values: list[str]) -> str:
            parts = []
            for i, v in enumerate(values):
                v = _clip(v, widths[i])
                pad = " " * (widths[i] - _width(v))
                parts.append(pad + v if numeric[i] else v + pad)
            return _clip(" | ".join(parts).rstrip(), width)

        lines.append(line(list(cols)))
        lines.append(_clip("-+-".join("-" * w for w in widths), width))
        lines.extend(line(row) for row in cells)
    lines.append(_footer(result))
    return "\n".join(lines)


def _fit(natural: list[int], room: int) -> list[int]:
    """Column widths: natural ones if they fit, else the widest ones cut down to a common cap."""
    if sum(natural) <= room:
        return natural
    lo, hi = 1, max(natural)
    while lo < hi:  # the largest cap whose total fits
        mid = (lo + hi + 1) // 2
        if sum(min(w, mid) for w in natural) <= room:
            lo = mid
        else:
            hi = mid - 1
    return [min(w, max(lo, 1)) for w in natural]
