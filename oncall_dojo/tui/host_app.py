"""The facilitator's full-screen console for `dojo host`: an app of one screen over the host,
running in the host's event loop beside the server (the host is not thread-safe)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from oncall_dojo.net.host import Host
from oncall_dojo.tui.screens.facilitator import FacilitatorScreen


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
        super().__init__()
        self.host = host
        self._screen = screen(host, you, links, pages)
        """The one screen; `links` are (role, join link, who took it) per seat, `pages`
        (role, browser page) per player's seat when browsers are served; `screen` the
        console's kind (the interviewer's, for `dojo interview`)."""

    def on_mount(self) -> None:
        self.sub_title = self.host.session.incident.title
        self.push_screen(self._screen)
