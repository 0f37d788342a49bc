"""The Textual app: screens in order (picker, briefing, incident, debrief) and the command palette.

Kept light at import: the game core (pydantic, numpy) loads in a thread after
the first frame, so `dojo play INCIDENT` is interactive as fast as Textual is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session
    from oncall_dojo.incident.model import Incident


class DojoApp(App[None]):
    TITLE = "oncall-dojo"
    CSS_PATH = "dojo.tcss"
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
    ) -> None:
        super().__init__()
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

    def on_mount(self) -> None:
        self.set_interval(1.0, self.checkpoint, name="record-clock")
        if self.resume is not None:
            from oncall_dojo.tui.screens.incident import IncidentScreen

            session, log = self.resume
            self.begin_session(session, log)
            self.push_screen(IncidentScreen(session, paused=True, speed=self.speed))
            return
        if self.incident_id:
            from oncall_dojo.tui.screens.briefing import BriefingScreen

            self.push_screen(BriefingScreen(self.incident_id, self.seed))
        else:
            from oncall_dojo.tui.screens.picker import PickerScreen

            self.push_screen(PickerScreen())

    def begin_session(self, session: Session, log: Any = None) -> None:
        """Play of `session` starts (or resumes): record it if a recorder is available."""
        self.session = session
        if log is None and self.play_log_factory is not None:
            log = self.play_log_factory()
        self.play_log = log
        if log is not None:
            message = log.started(session, 0)
            if message:
                self.notify(message, timeout=6)

    def checkpoint(self) -> None:
        """Keep the clock in the record (the recorder writes only when time moved)."""
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
        from oncall_dojo.tui.screens.dialogs import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Help", "Keys, console commands and the log query syntax", self.action_help
        )
        from oncall_dojo.tui.screens.debrief import DebriefScreen
        from oncall_dojo.tui.screens.incident import IncidentScreen

        if isinstance(screen, IncidentScreen):
            sc = screen
            yield SystemCommand(
                "Pause / run the clock",
                "Stop or restart simulated time (F2)",
                sc.action_toggle_pause,
            )
            for speed in (1, 5, 20):
                yield SystemCommand(
                    f"Clock speed {speed}x",
                    f"{speed} simulated seconds per second",
                    lambda v=speed: sc.set_speed(v),
                )
            yield SystemCommand(
                "Step 10 seconds", "Advance the paused clock by 10 s (F4)", sc.action_step
            )
            yield SystemCommand(
                "Wait 1 minute",
                "Let a simulated minute pass (as `wait 1m`)",
                lambda: sc.enter("wait 1m"),
            )
            yield SystemCommand(
                "Acknowledge the page", "Stops the escalation timer (F5)", sc.action_ack
            )
            yield SystemCommand(
                "Declare the root cause…",
                "Pick among the candidate causes, with notes (F6)",
                sc.action_diagnose,
            )
            yield SystemCommand(
                "Post a status update…",
                "Tell customers what is happening (F7)",
                sc.action_status_update,
            )
            yield SystemCommand(
                "Take a hint…", "Shows the cost before you take it (F8)", sc.action_hint
            )
            yield SystemCommand(
                "Declare resolved…",
                "Ends play; the outcome is measured to the end (F9)",
                sc.action_resolve,
            )
            for pane in sc.panes():
                yield SystemCommand(
                    f"Open {pane}", f"Show the {pane} pane", lambda p=pane: sc.show_pane(p)
                )
            for cmd, what in (("alerts", "alerts firing and pending"), ("queues", "every queue"), ("workers", "every worker replica"),
                              ("deploys", "change history"), ("db", "database health"), ("jobs", "jobs"), ("flags", "flags and config"),
                              ("causes", "the candidate root causes")):  # fmt: skip
                yield SystemCommand(f"Run `{cmd}`", f"Console: {what}", lambda c=cmd: sc.perform(c))
        if isinstance(screen, DebriefScreen):
            yield SystemCommand(
                "Export the debrief to Markdown",
                "Write it to a file in the current folder",
                screen.action_export,
            )
            yield SystemCommand(
                "Play another incident", "Back to the picker", screen.action_new_incident
            )


def run(
    incident: str | None,
    seed: int | None,
    extra_dirs: list[Path],
    *,
    play_log: Callable[[], Any] | None = None,
    resume: tuple[Session, Any] | None = None,
    best_scores: Callable[[], dict[tuple[str, int], tuple[int, str]]] | None = None,
) -> int:
    app = DojoApp(
        incident, seed, extra_dirs, play_log=play_log, resume=resume, best_scores=best_scores
    )
    app.run()
    app.checkpoint()
    return 0
