"""The debrief's timeline: key metrics over the whole incident for several runs, actions marked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from rich.text import Text
from textual.widget import Widget

from oncall_dojo.game.fmt import compact, mmss
from oncall_dojo.tui import dashboards
from oncall_dojo.tui.charts import block_rows, bounds, marker_row

if TYPE_CHECKING:
    from oncall_dojo.game.entry import Entry
    from oncall_dojo.game.session import Session
    from oncall_dojo.sim.observability.metrics import MetricStore

LABEL_W = 14
SYMBOLS = "123456789abcdefghijklmnopqrstuvwxyz"
ROW_H = 2
PLAYER_STYLES = ("bold yellow", "bold magenta", "bold green", "bold red", "bold blue")
"""Each player's marks in their own colour (a team game's debrief)."""


class Played(Protocol):
    """What the chart draws of a play: its commands and metrics, from the page over `horizon`
    simulated seconds (`game.plays.Outcome`, or a game still being played)."""

    @property
    def entries(self) -> Sequence[Entry]: ...
    @property
    def metrics(self) -> MetricStore: ...
    @property
    def page_tick(self) -> int: ...
    @property
    def horizon(self) -> int: ...


class Drawn(Protocol):
    """One run of the chart: a label and what was played (`tui.report.Run`)."""

    @property
    def label(self) -> str: ...
    @property
    def outcome(self) -> Played: ...


@dataclass
class Live:
    """A game still being played, drawn from the page to now (the interviewer's console):
    the chart stretches over the time so far and grows as the game goes on."""

    session: Session

    @property
    def entries(self) -> Sequence[Entry]:
        return self.session.entries

    @property
    def metrics(self) -> MetricStore:
        return self.session.system.metrics

    @property
    def page_tick(self) -> int:
        return self.session.page_tick

    @property
    def horizon(self) -> int:
        return max(60, min(self.session.now, self.session.horizon))


@dataclass
class LiveRun:
    label: str
    outcome: Live


class TimelineChart(Widget):
    """For each key metric: one chart per run on a shared scale, with a row marking each action;
    with `by_player` (a team game), the first run's actions on one row per player, labelled
    with the player's name, and the legend naming who did what."""

    DEFAULT_CSS = """
    TimelineChart { height: auto; }
    """

    def __init__(
        self,
        runs: Sequence[Drawn],
        metrics: list[tuple[str, str, str]],
        id: str | None = None,
        by_player: bool = False,
        heading: str = "",
        hold: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(id=id)
        self.runs = list(runs)
        self.metrics = metrics
        self.by_player = by_player
        self.heading = heading
        """Above the legend (default: "Your actions", or the team's by player)."""
        self.hold = hold
        """While it says so, the chart shows what it last drew and reads nothing of the runs
        (a live game whose outcome is being measured in a worker thread)."""
        self._drawn: Text | None = None

    def _acts(self) -> list[tuple[int, str, str]]:
        """The first run's actions: (at, command, player)."""
        if not self.runs:
            return []
        return [
            (e.at, e.command, e.player) for e in self.runs[0].outcome.entries if e.kind == "act"
        ]

    def players(self) -> list[str]:
        """The players whose actions get a row of their own (in the order they first acted)."""
        return list(dict.fromkeys(p for _, _, p in self._acts())) if self.by_player else []

    def set_runs(self, runs: Sequence[Drawn]) -> None:
        self.runs = list(runs)
        self.refresh(layout=True)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        per_metric = 1 + len(self.runs) * (ROW_H + 1) + max(0, len(self.players()) - 1)
        return len(self.metrics) * per_metric + 2 + max(1, len(self.legend()))

    def legend(self) -> list[str]:
        if not self.runs:
            return []
        who = self.by_player
        return [
            f"  {SYMBOLS[i % len(SYMBOLS)]} {mmss(at)} {cmd}" + (f"  ({p})" if who else "")
            for i, (at, cmd, p) in enumerate(self._acts())
        ]

    def render(self) -> Text:
        if self.hold is not None and self.hold():
            return self._drawn or Text("(drawn when the outcome is measured)", style="dim")
        self._drawn = self._draw()
        return self._drawn

    def _draw(self) -> Text:
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
                if run is self.runs[0] and self.by_player:
                    self._player_rows(out, width, t1 - t0)
                    continue
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
        head = self.heading or (
            "The team's actions, by player" if self.by_player else "Your actions"
        )
        out.append(f"{head} (marked above):\n", style="bold")
        out.append("\n".join(self.legend()) or "  none")
        return out

    def _player_rows(self, out: Text, width: int, span: int) -> None:
        """One marker row per player: their actions, numbered as in the legend."""
        acts = self._acts()
        players = self.players()
        for n, player in enumerate(players or [""]):
            mine = [(i, at) for i, (at, _, p) in enumerate(acts) if p == player]
            syms = [SYMBOLS[i % len(SYMBOLS)] for i, _ in mine]
            label = f"{player[: LABEL_W - 2]}" if player else ""
            out.append(f"{label:<{LABEL_W}}", style=PLAYER_STYLES[n % len(PLAYER_STYLES)])
            row = marker_row(width, 0, span, [at for _, at in mine], syms)
            out.append(row + "\n", style=PLAYER_STYLES[n % len(PLAYER_STYLES)])
