"""Metrics: a dashboard per service (rate, errors, latency, saturation) and a chart of any series."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, Select, Static

from oncall_dojo.game.fmt import compact
from oncall_dojo.tui import dashboards
from oncall_dojo.tui.widgets.chart import NO_DATA, Chart, chart_lines
from oncall_dojo.tui.widgets.steady import SteadyInput

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session
    from oncall_dojo.tui.dashboards import Panel


class MetricRow(Widget):
    """A label with the current value beside a small chart, drawn by this one widget.

    One widget rather than a row of a Static and a Chart: the metrics pane's first show lays
    out and renders a third of the widgets (every widget sized for the first time costs the
    layout and a render of its own), and a refresh draws the value and chart together.
    """

    DEFAULT_CSS = """
    MetricRow { height: 2; }
    MetricRow > .metric-row--label { color: $text; }
    MetricRow > .chart--bars { color: $accent; }
    """
    COMPONENT_CLASSES = {"metric-row--label", "chart--bars"}

    VALUE_W = 26
    """Cells for the label and the current value, left of the chart."""

    def __init__(self, pane: MetricsPane, panel: Panel) -> None:
        super().__init__()
        self.pane = pane
        self.panel = panel

    def _source(self, points: int) -> np.ndarray:
        s, p = self.pane.session, self.panel
        t0, t1 = dashboards.window(s, self.pane.range_key)
        return dashboards.series(s, p.selector, p.fn, t0, t1, points, p.over)

    def shown(self) -> str:
        """The current value as shown under the label."""
        v = dashboards.current(self.pane.session, self.panel)
        if self.panel.over and v is not None:
            return f"{v:.1%}"
        return compact(v) + self.panel.unit

    def render(self) -> Text:
        width, height = self.size.width, max(1, self.size.height)
        label = self.get_component_rich_style("metric-row--label")
        left = [
            Text.assemble((self.panel.label, label + Style(bold=True))),
            Text.assemble((f"  {self.shown()}", label + Style(color="cyan"))),
        ]
        chart: list[Text] = []
        if width > self.VALUE_W:
            bars = self.get_component_rich_style("chart--bars")
            chart = chart_lines(self._source, width - self.VALUE_W, height, self.panel.unit, bars)
            chart = chart or [Text(NO_DATA, style="dim")]
        lines = []
        for i in range(height):
            line = left[i] if i < len(left) else Text()
            line.truncate(self.VALUE_W, overflow="ellipsis", pad=True)
            if i < len(chart):
                line.append_text(chart[i])
            lines.append(line)
        out = Text("\n").join(lines)
        out.no_wrap, out.overflow = True, "crop"
        return out

    def update_view(self) -> None:
        self.refresh()  # the value and the chart are read when drawn


class MetricsPane(Vertical):
    """Pick a service for its dashboard; type a series selector (tab-free: → accepts) to chart it."""

    class SeriesChosen(Message):
        """The player asked for a chart of a series selector."""

        def __init__(self, selector: str) -> None:
            super().__init__()
            self.selector = selector

    def __init__(self, session: Session, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.service = "api"
        self.range_key = "15m"
        self.selector: str | None = None
        self._drawn: tuple[int, str, str, str | None] | None = None
        """(tick, service, range, selector) the dashboard and chart were last drawn for."""

    def compose(self) -> ComposeResult:
        s = self.session
        with Horizontal(id="metrics-controls"):
            yield Select(
                [(f"service: {n}", n) for n in dashboards.services(s)],
                value="api",
                allow_blank=False,
                compact=True,
                id="service",
            )
            yield Select(
                [(f"last {k}" if k != "all" else "since page-1h", k) for k in dashboards.RANGES],
                value="15m",
                allow_blank=False,
                compact=True,
                id="range",
            )
        # the series field first, its chart at the top of the scroll: in sight on small terminals
        m = s.system.metrics
        keys = sorted({*m.names(), *(x.key for x in m.series), *(x.key for x in m.hist_series)})
        yield SteadyInput(
            placeholder='chart a series: e.g. queue_depth{queue="payments"} (→ accepts, enter charts)',
            suggester=SuggestFromList(keys, case_sensitive=True),
            id="series",
        )
        yield Static(id="series-error")
        with VerticalScroll():
            yield Chart(self._series_source, id="series-chart")
            yield Vertical(id="dashboard")

    def on_mount(self) -> None:
        self._build_dashboard()

    def _build_dashboard(self) -> None:
        box = self.query_one("#dashboard", Vertical)
        box.remove_children()
        box.mount(*[MetricRow(self, p) for p in dashboards.panels(self.session, self.service)])
        self._drawn = None
        self.call_after_refresh(self.update_view)

    def _series_source(self, points: int) -> np.ndarray:
        if not self.selector:
            return np.zeros(0)
        s = self.session
        kind = s.system.metrics.kind_of(self.selector)
        fn = {"counter": "rate", "histogram": "p99"}.get(kind or "", "max")
        t0, t1 = dashboards.window(s, self.range_key)
        return dashboards.series(s, self.selector, fn, t0, t1, points)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        value = str(event.value)
        if event.select.id == "service" and value != self.service:
            self.service = value
            self._build_dashboard()
        elif event.select.id == "range" and value != self.range_key:
            self.range_key = value
            self.update_view()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.post_message(self.SeriesChosen(event.value.strip()))

    def show_series(self, selector: str | None, error: str = "") -> None:
        """Chart `selector` (None keeps the current one) and show an error if there is one."""
        if selector is not None:
            self.selector = selector
        self.query_one("#series-error", Static).update(Text(error, style="bold red"))
        title = f"{self.selector}" if self.selector else ""
        chart = self.query_one("#series-chart", Chart)
        chart.border_title = title
        chart.set_class(bool(self.selector), "-charted")
        chart.refresh()
        if self.selector:
            self.call_after_refresh(chart.scroll_visible, animate=False)

    def update_view(self) -> None:
        drawn = (self.session.system.t, self.service, self.range_key, self.selector)
        if drawn == self._drawn:
            return  # the same data: redrawing every chart would only cost time
        for row in self.query(MetricRow):
            row.update_view()
        self.query_one("#series-chart", Chart).refresh()
        self._drawn = drawn
