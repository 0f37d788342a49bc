"""The screen shown while the rest of an incident is simulated and scored."""

from __future__ import annotations

from collections.abc import Callable
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
    has got, read ten times a second from the session (the finishing thread moves it) or the
    worker that plays it ahead."""

    CSS_PATH = "incident.tcss"

    def __init__(self, session: Session, reached: Callable[[], int | None] | None = None) -> None:
        """`reached`: how far (player seconds) a worker playing the rest ahead has got, if one does."""
        super().__init__()
        self.session = session
        self.reached = reached

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Play is over. Measuring what happened to the end of the incident…")
            yield ProgressBar(total=self.session.horizon, show_eta=False)
            yield Static(id="measured")

    def on_mount(self) -> None:
        self._show_progress()
        self.set_interval(0.1, self._show_progress)

    def _show_progress(self) -> None:
        ahead = self.reached() if self.reached is not None else None
        now = max(self.session.now, ahead or 0)
        now, horizon = min(now, self.session.horizon), self.session.horizon
        self.query_one(ProgressBar).update(progress=now)
        self.query_one("#measured", Static).update(f"simulated to {mmss(now)} of {mmss(horizon)}")
