"""What the screens may ask of the app, as protocols, so that no screen imports another.

The app (`oncall_dojo.tui.app.DojoApp`) owns the order of the screens: picker,
briefing, incident, debrief, and back to the picker. A screen that is done asks
`navigator(self.app)` for the next one; a screen with command palette entries of
its own offers them with `system_commands()`, which the app adds to its palette.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

if TYPE_CHECKING:
    from textual.app import SystemCommand

    from oncall_dojo.game.session import Session
    from oncall_dojo.incident.model import Incident


class Navigator(Protocol):
    """The app's navigation: each method shows a screen in place of the current one."""

    def show_picker(self) -> None:
        """The incident picker (back to the one a briefing was opened from, if any)."""

    def show_briefing(self, incident: Incident | str, seed: int | None) -> None:
        """The briefing of an incident (a loaded one, or an id or path to load)."""

    def show_incident(self, session: Session) -> None:
        """Play of a session built by the briefing (recorded from now on)."""

    def show_debrief(self, session: Session) -> None:
        """The debrief of a finished session."""

    def show_help(self) -> None:
        """The help, over the current screen."""


@runtime_checkable
class HasSystemCommands(Protocol):
    """A screen with command palette entries of its own."""

    def system_commands(self) -> Iterable[SystemCommand]:
        """The palette entries this screen adds while it is shown."""
        ...


def navigator(app: Any) -> Navigator:
    """The app, as the navigation the screens may use."""
    return cast("Navigator", app)
