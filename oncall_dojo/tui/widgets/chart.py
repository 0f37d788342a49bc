"""A block chart of one series, downsampled to the widget's width (Line of Rich text rows)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from oncall_dojo.game.fmt import compact
from oncall_dojo.tui.charts import block_rows, bounds

Source = Callable[[int], np.ndarray]
"""Given a number of points (columns), the values to draw."""

LABEL_W = 7
NO_DATA = "no data yet"


def chart_lines(
    source: Source | None, width: int, height: int, unit: str, bars: Style
) -> list[Text]:
    """`height` lines of `source(columns)` drawn as blocks, `width` cells with the max and min
    on the left; none if there is nothing to draw."""
    h = max(1, height)
    vals = source(max(1, width - LABEL_W)) if source else np.zeros(0)
    if vals.size == 0:
        return []
    lo, hi = bounds(vals)
    lines = []
    for i, row in enumerate(block_rows(vals, h, lo, hi)):
        label = compact(hi) + unit if i == 0 else (compact(lo) if i == h - 1 else "")
        lines.append(Text.assemble((f"{label:>{LABEL_W - 1}.{LABEL_W - 1}} ", "dim"), (row, bars)))
    return lines


class Chart(Widget):
    """Draws `source(columns)` as blocks with the max and min on the left. Read on every refresh."""

    DEFAULT_CSS = """
    Chart { height: 3; }
    Chart > .chart--bars { color: $accent; }
    """
    COMPONENT_CLASSES = {"chart--bars"}

    def __init__(
        self,
        source: Source | None = None,
        *,
        unit: str = "",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.source = source
        self.unit = unit

    def render(self) -> Text:
        lines = chart_lines(
            self.source,
            self.size.width,
            self.size.height,
            self.unit,
            self.get_component_rich_style("chart--bars"),
        )
        if not lines:
            return Text(NO_DATA, style="dim")
        out = Text("\n").join(lines)
        out.no_wrap, out.overflow = True, "crop"
        return out
