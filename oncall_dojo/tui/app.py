"""The Textual app: it owns the screens' order (picker, briefing, incident, debrief) and the
command palette (its own entries, and those of the screen shown).

Kept light at import: the game core (pydantic, numpy) loads in a thread after
the first frame, so `dojo play INCIDENT` is interactive as fast as Textual is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from oncall_dojo.tui.input_bytes import tolerate_undecodable_input
from oncall_dojo.tui.navigation import HasSystemCommands
from oncall_dojo.tui.tutorial import INCIDENT as TUTORIAL_INCIDENT
from oncall_dojo.tui.tutorial import SEED as TUTORIAL_SEED
from oncall_dojo.tui.tutorial import WelcomeDialog

if TYPE_CHECKING:
    from oncall_dojo.game.ahead import Ahead
    from oncall_dojo.game.session import Session
    from oncall_dojo.incident.model import Incident


class DojoApp(App[None]):
    TITLE = "oncall-dojo"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        incident: str | None = None,
        seed: int | None = None,
        extra_dirs: list[Path] | None = None,
        *,
        start_paused: bool = False,
        speed: int = 1,
        export_dir: Path | None = None,
        play_log: Callable[[], Any] | None = None,
        resume: tuple[Session, Any] | None = None,
        best_scores: Callable[[], dict[tuple[str, int], tuple[int, str]]] | None = None,
        play_ahead: bool = False,
        pressure: bool = False,
        tutorial: bool = False,
        offer_tutorial: bool = False,
    ) -> None:
        tolerate_undecodable_input()
        super().__init__()
        self.tutorial = tutorial
        """Play the guided first incident (`oncall_dojo.tui.tutorial`)."""
        self.offer_tutorial = offer_tutorial
        """Offer the tutorial over the picker (the player's first start)."""
        self.pressure = pressure
        """Keep the clock running while a dialog, the help or the palette is open."""
        self.play_ahead = play_ahead
        """Play each game's comparison runs in a worker process while it is played."""
        self.best_scores = best_scores
        """The player's best (score, grade) per (incident, version), for the picker."""
        self.play_log_factory = play_log
        self.play_log: Any = None
        self.resume = resume
        self.incident_id = incident
        self.seed = seed
        self.extra_dirs = list(extra_dirs or [])
        self.start_paused = start_paused
        self.speed = speed
        self.export_dir = export_dir
        self.session: Session | None = None
        self.ahead: Ahead | None = None
        """The rest of the game being played in a worker process (`game.ahead`), if `play_ahead`."""
        self.record_problems: list[str] = []
        """Why results were not kept, for each game that lost its record (said again on exit)."""

    def on_mount(self) -> None:
        self.set_interval(1.0, self.checkpoint, name="record-clock")
        if self.resume is not None:
            session, log = self.resume
            if session.result is not None:  # a finished game reopens as its debrief
                self.session = session
                self.show_debrief(session)
            else:
                self._show_incident(session, log, paused=True)
        elif self.incident_id:
            self.show_briefing(self.incident_id, self.seed)
        else:
            self.show_picker()
            if self.offer_tutorial:
                self.push_screen(WelcomeDialog(), self._welcomed)

    def _welcomed(self, start: bool | None) -> None:
        if start:
            self.start_tutorial()

    def start_tutorial(self) -> None:
        """The guided first incident: its briefing, then play with the guide line."""
        self.tutorial = True
        self.show_briefing(TUTORIAL_INCIDENT, TUTORIAL_SEED)

    # ------------------------------------------------------------------ navigation
    # The screens' order lives here: a screen asks for the next one (`tui.navigation`) and
    # never imports another. Screens load when first shown, so the first frame comes fast.

    def _replace(self, screen: Screen[Any]) -> None:
        """Show `screen` in place of the current one (over the default screen at start)."""
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def show_picker(self) -> None:
        """The incident picker: back to the one under a briefing opened from it, else a new
        one in place of the current screen (it reads the incidents and best scores again)."""
        from oncall_dojo.tui.screens.briefing import BriefingScreen
        from oncall_dojo.tui.screens.picker import PickerScreen

        if isinstance(self.screen, BriefingScreen) and len(self.screen_stack) > 2:
            self.pop_screen()
        else:
            self._replace(PickerScreen())

    def show_briefing(self, incident: Incident | str, seed: int | None) -> None:
        """The briefing of `incident` (loaded, or an id or path), over the current screen (escape
        goes back to it)."""
        from oncall_dojo.tui.screens.briefing import BriefingScreen

        self.push_screen(BriefingScreen(incident, seed))

    def show_incident(self, session: Session) -> None:
        """Play `session` (built by the briefing) in place of the current screen; recorded. The
        tutorial starts paused: its first step is the clock."""
        self._show_incident(session, None, paused=self.start_paused or self._guided(session))

    def _guided(self, session: Session) -> bool:
        return self.tutorial and session.incident.id == TUTORIAL_INCIDENT

    def _show_incident(self, session: Session, log: Any, *, paused: bool) -> None:
        from oncall_dojo.tui.screens.incident import IncidentScreen

        self.begin_session(session, log)
        self._replace(
            IncidentScreen(
                session,
                paused=paused,
                speed=self.speed,
                pressure=self.pressure,
                guide=self._guided(session),
            )
        )

    def show_debrief(self, session: Session) -> None:
        """The debrief of finished `session` in place of the current screen (its score is
        brought onto the record first: the finish ran in a worker thread, see `checkpoint`)."""
        from oncall_dojo.tui.screens.debrief import DebriefScreen

        self.checkpoint()
        self._replace(DebriefScreen(session))

    def begin_session(self, session: Session, log: Any = None) -> None:
        """Play of `session` starts (or resumes): record it if a recorder is available."""
        self.session = session
        self.stop_ahead()
        if self.play_ahead:
            from oncall_dojo.game.ahead import Ahead
            from oncall_dojo.tui.report import play_ahead

            play_ahead(session.incident, session.seed)  # ready by the debrief
            self.ahead = Ahead(session)  # the rest of the game, after each change
        if log is None and self.play_log_factory is not None:
            log = self.play_log_factory()
        self.play_log = log
        if log is not None:
            if hasattr(log, "warn"):
                log.warn = self.record_failed  # where the player looks, not a hidden stderr
            message = log.started(session, 0)
            broken = getattr(log, "broken", None)
            if broken:
                self.record_failed(message or f"results will not be kept: {broken}")
            elif message:
                self.notify(message, timeout=6, markup=False)

    def stop_ahead(self) -> None:
        if self.ahead is not None:
            self.ahead.stop()
            self.ahead = None

    def record_failed(self, message: str) -> None:
        """The record cannot be written: tell the player now, and again when the app exits."""
        self.record_problems.append(message)
        self.notify(message, title="Not recorded", severity="error", timeout=30, markup=False)

    def checkpoint(self) -> None:
        """Bring the record up to date: the clock (written only when time moved) and events
        emitted on other threads (the finish, which runs in a worker)."""
        if self.play_log is not None:
            self.play_log.checkpoint()

    def load_incident(self, ident: str) -> Incident:
        """An incident by id or path (called from a worker thread)."""
        from oncall_dojo.game.validate import load_checked
        from oncall_dojo.incident.packs import discover, find

        try:
            path = find(ident, self.extra_dirs)
        except LookupError:
            ids = ", ".join(f.path.stem for f in discover(self.extra_dirs))
            raise LookupError(f"no incident {ident!r}; available: {ids}") from None
        return load_checked(path)

    def action_help(self) -> None:
        self.show_help()

    def action_tutorial(self) -> None:
        self.start_tutorial()

    def show_help(self) -> None:
        """The help (keys, console commands, log queries) over the current screen."""
        from oncall_dojo.tui.screens.dialogs import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Help", "Keys, console commands and the log query syntax", self.action_help
        )

        if isinstance(screen, HasSystemCommands):
            yield from screen.system_commands()


def run(
    incident: str | None,
    seed: int | None,
    extra_dirs: list[Path],
    *,
    play_log: Callable[[], Any] | None = None,
    resume: tuple[Session, Any] | None = None,
    best_scores: Callable[[], dict[tuple[str, int], tuple[int, str]]] | None = None,
    pressure: bool = False,
    tutorial: bool = False,
    offer_tutorial: bool = False,
) -> int:
    app = DojoApp(
        incident,
        seed,
        extra_dirs,
        play_log=play_log,
        resume=resume,
        best_scores=best_scores,
        play_ahead=True,
        pressure=pressure,
        tutorial=tutorial,
        offer_tutorial=offer_tutorial,
    )
    try:
        app.run()
    finally:
        from oncall_dojo.tui.report import stop_playing_ahead

        stop_playing_ahead()
        app.stop_ahead()
    app.checkpoint()
    for problem in app.record_problems:
        print(f"dojo: {problem}", file=sys.stderr)
    if app.record_problems:
        print("dojo: results were not kept for every game (see above)", file=sys.stderr)
        return 1
    return 0
