"""The debrief: score and grade, the breakdown in words, your timeline beside the reference
playthrough and doing nothing (same seed), what you never looked at, and a Markdown export."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown, Static
from textual.worker import get_current_worker

from oncall_dojo.game.plays import Outcome
from oncall_dojo.game.views import what_really_happened
from oncall_dojo.store.db import default_path
from oncall_dojo.tui.navigation import navigator
from oncall_dojo.tui.report import Run, key_metrics, unseen
from oncall_dojo.tui.widgets.timeline import TimelineChart

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session

GRADE_STYLE = {
    "A": "bold green",
    "B": "bold green",
    "C": "bold yellow",
    "D": "bold red",
    "F": "bold red",
}


def export_folder() -> Path:
    """Where `e` writes debriefs: `debriefs/` beside the game's database (`$DOJO_HOME`, else the
    user data folder), never the current folder (a git checkout, say)."""
    return default_path().parent / "debriefs"


class DebriefScreen(Screen[None]):
    CSS_PATH = "debrief.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "export", "Export Markdown"),
        Binding("n", "new_incident", "Another incident"),
        Binding("f1,question_mark", "app.help", "Help", show=False),
    ]

    def __init__(self, session: Session, team: bool = False) -> None:
        super().__init__()
        self.session = session
        self.team = team
        """A team game's debrief (the facilitator's): each player's actions on the charts."""
        result = session.result
        assert result is not None, "the debrief needs a finished session"
        self.result = result
        self.outcome = Outcome.of(session)
        self.others: list[Run] = []
        self.exported: Path | None = None

    def compose(self) -> ComposeResult:
        s = self.session
        with VerticalScroll():
            yield Static(self._score_text(), id="score")
            yield Static(
                Text(
                    "Computing the reference playthrough and doing nothing from the same seed…",
                    style="dim italic",
                ),
                id="compare",
            )
            yield Static("Breakdown", classes="section")
            yield Static(self._breakdown(), id="breakdown")
            yield Static("What really happened", classes="section")
            yield Markdown(what_really_happened(s.incident), id="explanation")
            yield Static("Timeline: key metrics over the incident", classes="section")
            yield TimelineChart(
                [Run("Team" if self.team else "You", self.outcome)],
                key_metrics(s.incident),
                id="timeline",
                by_player=self.team,
            )
            yield Static("What you did not look at before your first change", classes="section")
            yield Static(self._unseen(), id="unseen")
            yield Static("Tempting moves and what they cost", classes="section")
            yield Static(self._harmful(), id="harmful")
            yield Static(id="export-status")
        yield Footer()

    def on_mount(self) -> None:
        self._compare()

    def _score_text(self) -> Text:
        r = self.result
        t = Text()
        t.append(f" {r.score}/100 ", style="bold reverse")
        t.append("  grade ")
        t.append(r.grade, style=GRADE_STYLE.get(r.grade, "bold"))
        t.append("   ")
        t.append(
            "resolved"
            if r.resolved
            else "NOT RESOLVED: the cause was still there or the system unhealthy at the end",
            style="green" if r.resolved else "bold red",
        )
        t.append(f"\n{self.session.incident.title}  ·  seed {self.session.seed}", style="dim")
        return t

    def _breakdown(self) -> Text:
        t = Text()
        for it in self.result.items:
            style = (
                "green"
                if it.max and it.points >= it.max
                else ("red" if it.points < 0 or (it.max and it.points < it.max / 2) else "yellow")
            )
            pts = f"{it.points:+.1f}" if it.max == 0 else f"{it.points:.1f}/{it.max:g}"
            t.append(f"{pts:>9}  ", style=style)
            t.append(f"{it.title}: ", style="bold")
            t.append(it.detail + "\n")
        for n in self.result.notes:
            t.append(f"  note: {n}\n", style="yellow")
        return t

    def _unseen(self) -> Text:
        missed = unseen(self.session)
        if not missed:
            return Text(
                "Nothing: you looked at every key signal before your first change.", style="green"
            )
        t = Text()
        for e in missed:
            t.append(f"  {e.view}", style="bold yellow")
            t.append(f": {e.why}\n")
        return t

    def _harmful(self) -> Text:
        t = Text()
        for h in self.session.incident.playthroughs.harmful:
            t.append(f"  {h.name}", style="bold")
            t.append(f": {h.why}\n")
        needless = next((it for it in self.result.items if it.key == "needless"), None)
        if needless:
            t.append(f"  Yours: {needless.detail}\n", style="red")
        return t

    @work(thread=True, exclusive=True, group="compare")
    def _compare(self) -> None:
        from oncall_dojo.tui.report import comparison_runs

        runs = comparison_runs(self.session.incident, self.session.seed)
        if not get_current_worker().is_cancelled:  # the screen is still there to show them
            self.app.call_from_thread(self._show_compare, runs)

    def _show_compare(self, others: list[Run]) -> None:
        if not self.is_attached or not self.query("#compare"):
            return  # the player left the debrief (another incident, or quit) while they ran
        self.others = others
        label = "Team" if self.team else "You"
        t = Text()
        t.append(f"{label} {self.result.score} ({self.result.grade})", style="bold")
        for run in others:
            t.append(f"  ·  {run.label} {run.result.score} ({run.result.grade})")
        t.append(
            f"\nThe reference: {self.session.incident.playthroughs.reference.why}", style="dim"
        )
        self.query_one("#compare", Static).update(t)
        self.query_one(TimelineChart).set_runs([Run(label, self.outcome), *others])

    def action_export(self) -> None:
        """Write the postmortem report (as `dojo report` gives it) to a Markdown file."""
        from oncall_dojo.game.markdown import render
        from oncall_dojo.game.report import from_session

        chosen = getattr(self.app, "export_dir", None)
        directory = Path(chosen) if chosen else export_folder()
        path = (
            Path(directory) / f"dojo-debrief-{self.session.incident.id}-seed{self.session.seed}.md"
        )
        log = getattr(self.app, "play_log", None)
        report = from_session(
            self.session,
            session_id=getattr(log, "session_id", None),
            player=getattr(log, "player", None),
        )
        try:
            if not chosen:  # the data folder is ours to make; a folder given must exist
                directory.mkdir(parents=True, exist_ok=True)
            path.write_text(render(report), encoding="utf-8")
        except OSError as exc:
            message = f"Could not export the debrief to {path}: {exc.strerror or exc}"
            self.query_one("#export-status", Static).update(Text(message, style="bold red"))
            self.notify(message, title="Not exported", severity="error", timeout=30, markup=False)
            return
        self.exported = path
        self.query_one("#export-status", Static).update(Text(f"Exported to {path}", style="green"))
        self.notify(f"Exported to {path}", title="Debrief exported", timeout=10, markup=False)

    def action_new_incident(self) -> None:
        navigator(self.app).show_picker()

    def system_commands(self) -> Iterable[SystemCommand]:
        """The debrief's palette entries."""
        yield SystemCommand(
            "Export the debrief to Markdown",
            f"Write it to a file in {export_folder()}",
            self.action_export,
        )
        yield SystemCommand("Play another incident", "Back to the picker", self.action_new_incident)
