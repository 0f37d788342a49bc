"""How the log explorer draws a row (styled segments) and where its scrollbar's thumb is."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from itertools import pairwise

from rich.segment import Segment
from rich.style import Style
from textual.scrollbar import ScrollBar

from oncall_dojo.sim.observability.logs import LEVELS, PREFIX_LEN

__all__ = ["row_segments", "scrollbar_thumb"]

_TS_END = 24
"""Rendered lines start `2026-03-14T03:12:07.123Z LEVEL instance ...`: timestamp [0, 24)."""
_LEVEL = (25, 30)
_MSG = PREFIX_LEN
_CONTROLS = {c: " " if c == 9 else "\ufffd" for c in (*range(32), 127)}
"""Control characters would break the layout: a tab shows as a space, others as a replacement."""


def row_segments(
    line: str, level: int, highlights: list[re.Pattern[str]], style: Callable[[str], Style]
) -> list[Segment]:
    """A rendered log line as segments: timestamp, level and instance styled (`style(name)`
    gives the explorer's component style `log-explorer--NAME`), matches of `highlights` marked."""
    text = line.translate(_CONTROLS)
    inst_end = text.find(" ", _MSG)
    if inst_end < 0:
        inst_end = len(text)
    regions: list[tuple[int, int, Style | None]] = [
        (0, _TS_END, style("timestamp")),
        (_LEVEL[0], _LEVEL[1], style(LEVELS[level].lower() if level < len(LEVELS) else "info")),
        (_MSG, inst_end, style("instance")),
    ]
    matches = list(_match_spans(highlights, text))
    return _segments(text, regions, matches, style("match"))


def scrollbar_thumb(bar: ScrollBar, position: float) -> tuple[int, int] | None:
    """Where a vertical scrollbar draws its thumb at `position`, in eighths of a cell (the
    arithmetic of Textual's `ScrollBarRender.render_bar`), or None when it draws none."""
    size = bar.size.height
    virtual = math.ceil(bar.window_virtual_size)
    window = math.ceil(bar.window_size if bar.window_size < bar.window_virtual_size else 0)
    if not (window and size and virtual and size != virtual):
        return None
    thumb = max(1, window / (virtual / size))
    offset = (size - thumb) * (bar.validate_position(position) / (virtual - window))
    start = int(offset * 8)
    return start, start + math.ceil(thumb * 8)


def _match_spans(patterns: Iterable[re.Pattern[str]], text: str) -> Iterable[tuple[int, int]]:
    for p in patterns:
        for m in p.finditer(text):
            if m.end() > m.start():
                yield m.span()


def _segments(
    text: str,
    regions: list[tuple[int, int, Style | None]],
    matches: list[tuple[int, int]],
    match_style: Style,
) -> list[Segment]:
    """Cut `text` into segments: base `regions` styles, with `matches` highlighted on top."""
    n = len(text)
    cuts = {0, n}
    for a, b, _ in regions:
        cuts.update((min(a, n), min(b, n)))
    for a, b in matches:
        cuts.update((a, b))
    points = sorted(cuts)
    out: list[Segment] = []
    for a, b in pairwise(points):
        if a >= b:
            continue
        style: Style | None = None
        for ra, rb, rs in regions:
            if ra <= a < rb:
                style = rs
                break
        if any(ma <= a < mb for ma, mb in matches):
            style = match_style if style is None else style + match_style
        out.append(Segment(text[a:b], style))
    return out
