"""The facilitator's full-screen console for `dojo host`: an app of one screen over the host,
running in the host's event loop beside the server (the host is not thread-safe)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel
from textual.app import App
from textual.binding import Binding, BindingType

from oncall_dojo.game.session import Session
from oncall_dojo.net import protocol as p
from oncall_dojo.net.host import Host
from oncall_dojo.tui.input_bytes import tolerate_undecodable_input
from oncall_dojo.tui.screens.debrief import DebriefScreen
from oncall_dojo.tui.screens.dialogs import HelpScreen
from oncall_dojo.tui.screens.facilitator import FacilitatorScreen
from oncall_dojo.tui.screens.links import LinksScreen


class HostApp(App[None]):
    TITLE = "oncall-dojo: facilitator"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(
        self,
        host: Host,
        you: str,
        links: list[tuple[str, str, str | None]] | None = None,
        pages: list[tuple[str, str]] | None = None,
        screen: type[FacilitatorScreen] = FacilitatorScreen,
    ) -> None:
        tolerate_undecodable_input()
        super().__init__()
        self.host = host
        self.links = list(links or [])
        self.pages = list(pages or [])
        self._screen = screen(host, you, links, pages)
        """The one screen; `links` are (role, join link, who took it) per seat, `pages`
        (role, browser page) per player's seat when browsers are served; `screen` the
        console's kind (the interviewer's, for `dojo interview`)."""

    def on_mount(self) -> None:
        self.sub_title = self.host.session.incident.title
        self.push_screen(self._screen)
        if type(self._screen) is FacilitatorScreen:  # a game day ends with the team debrief
            self.host.listeners.append(self._heard)

    def _heard(self, msg: BaseModel, audience: str) -> None:
        """The host's news. It comes from the host's tasks, which run outside this app's
        context (they started before it), so screens are changed from the app's own queue."""
        if isinstance(msg, p.Finished) and audience == "answer":
            self.host.listeners.remove(self._heard)
            if self.host.session.result is not None and self.is_running:
                self.call_later(self.show_debrief, self.host.session)

    def show_debrief(self, session: Session) -> None:
        """The team debrief (the solo debrief, each player's actions marked on the charts)."""
        self.push_screen(DebriefScreen(session, team=True))

    def show_picker(self) -> None:
        """'Another incident' from the team debrief: the game day is over, leave."""
        self.exit()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_show_links(self) -> None:
        """The players' links whole, full width, to copy (F8, or `links` at the console)."""
        if not isinstance(self.screen, LinksScreen):
            self.push_screen(LinksScreen(self.links[1:], self.pages))  # not the facilitator's
