"""The debrief's timeline: key metrics over the whole incident for several runs, actions marked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widget import Widget

from oncall_dojo.game.fmt import compact, mmss
from oncall_dojo.tui import dashboards
from oncall_dojo.tui.charts import block_rows, bounds, marker_row

if TYPE_CHECKING:
    from oncall_dojo.tui.report import Run

LABEL_W = 14
SYMBOLS = "123456789abcdefghijklmnopqrstuvwxyz"
ROW_H = 2


class TimelineChart(Widget):
    """For each key metric: one chart per run on a shared scale, with a row marking each action."""

    DEFAULT_CSS = """
    TimelineChart { height: auto; }
    """

    def __init__(
        self, runs: list[Run], metrics: list[tuple[str, str, str]], id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.runs = runs
        self.metrics = metrics

    def set_runs(self, runs: list[Run]) -> None:
        self.runs = runs
        self.refresh(layout=True)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        per_metric = 1 + len(self.runs) * (ROW_H + 1)
        return len(self.metrics) * per_metric + 2 + max(1, len(self.legend()))

    def legend(self) -> list[str]:
        if not self.runs:
            return []
        acts = [(e.at, e.command) for e in self.runs[0].outcome.entries if e.kind == "act"]
        return [
            f"  {SYMBOLS[i % len(SYMBOLS)]} {mmss(at)} {cmd}" for i, (at, cmd) in enumerate(acts)
        ]

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="crop")
        if not self.runs:
            return out
        width = max(10, self.size.width - LABEL_W)
        first = self.runs[0].outcome
        t0 = first.page_tick
        t1 = t0 + first.horizon
        for title, selector, fn in self.metrics:
            out.append(f"{title}\n", style="bold")
            data = [
                dashboards.metric_series(r.outcome.metrics, selector, fn, t0, t1, width)
                for r in self.runs
            ]
            lo, hi = bounds(*data)
            for run, vals in zip(self.runs, data, strict=True):
                rows = block_rows(vals, ROW_H, lo, hi)
                for i, row in enumerate(rows):
                    label = (
                        run.label
                        if i == 0
                        else (f"max {compact(hi)}" if run is self.runs[0] else "")
                    )
                    out.append(
                        f"{label[: LABEL_W - 1]:<{LABEL_W}}", style="bold" if i == 0 else "dim"
                    )
                    out.append(row + "\n", style="cyan" if run is self.runs[0] else "blue")
                acts = [e.at for e in run.outcome.entries if e.kind == "act"]
                syms = (
                    [SYMBOLS[i % len(SYMBOLS)] for i in range(len(acts))]
                    if run is self.runs[0]
                    else None
                )
                out.append(" " * LABEL_W)
                out.append(marker_row(width, 0, t1 - t0, acts, syms) + "\n", style="bold yellow")
        end = mmss(t1 - t0)
        out.append(f"{'':<{LABEL_W}}{'page ' + mmss(0):<{width - len(end)}}{end}\n", style="dim")
        out.append("Your actions (marked above):\n", style="bold")
        out.append("\n".join(self.legend()) or "  none")
        return out
