"""The screen shown while the rest of an incident is simulated and scored."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import ProgressBar, Static

from oncall_dojo.game.fmt import mmss

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session


class Measuring(ModalScreen[None]):
    """Shown while the rest of the incident is simulated and scored: how far the simulation
    has got, read from the session ten times a second (the finishing thread moves it)."""

    CSS_PATH = "incident.tcss"

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Play is over. Measuring what happened to the end of the incident…")
            yield ProgressBar(total=self.session.horizon, show_eta=False)
            yield Static(id="measured")

    def on_mount(self) -> None:
        self._show_progress()
        self.set_interval(0.1, self._show_progress)

    def _show_progress(self) -> None:
        now, horizon = min(self.session.now, self.session.horizon), self.session.horizon
        self.query_one(ProgressBar).update(progress=now)
        self.query_one("#measured", Static).update(f"simulated to {mmss(now)} of {mmss(horizon)}")
