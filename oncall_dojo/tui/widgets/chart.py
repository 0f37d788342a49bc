"""A block chart of one series, downsampled to the widget's width (Line of Rich text rows)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rich.text import Text
from textual.widget import Widget

from oncall_dojo.tui.charts import block_rows, bounds, fmt

Source = Callable[[int], np.ndarray]
"""Given a number of points (columns), the values to draw."""

LABEL_W = 7


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
        h = max(1, self.size.height)
        w = max(1, self.size.width - LABEL_W)
        vals = self.source(w) if self.source else np.zeros(0)
        if vals.size == 0:
            return Text("no data yet", style="dim")
        lo, hi = bounds(vals)
        rows = block_rows(vals, h, lo, hi)
        style = self.get_component_rich_style("chart--bars")
        out = Text(no_wrap=True, overflow="crop")
        for i, row in enumerate(rows):
            label = fmt(hi) + self.unit if i == 0 else (fmt(lo) if i == h - 1 else "")
            out.append(f"{label:>{LABEL_W - 1}.{LABEL_W - 1}} ", style="dim")
            out.append(row, style=style)
            if i < h - 1:
                out.append("\n")
        return out
