"""The briefing: who you are, the system at the moment of the page, and the page itself.

The session is built in a thread while the player reads (the system runs
silently until the page fires); enter takes the page once it is ready.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Markdown, Static

from oncall_dojo.tui.navigation import navigator

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session
    from oncall_dojo.incident.model import Incident


class BriefingScreen(Screen[None]):
    CSS_PATH = "briefing.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "take_page", "Take the page", priority=True),
        Binding("escape", "back", "Incidents"),
        Binding("f1,question_mark", "app.help", "Help"),
    ]

    def __init__(self, incident: Incident | str, seed: int | None) -> None:
        super().__init__()
        self.incident: Incident | None = None if isinstance(incident, str) else incident
        self.ident = incident if isinstance(incident, str) else incident.id
        self.seed = secrets.randbelow(1_000_000) if seed is None else seed
        self.session: Session | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(f"Loading {self.ident}…", style="dim"), id="brief-title")
            yield Static("Who you are", classes="section")
            yield Markdown("", id="briefing")
            yield Static("The page", classes="section")
            yield Static(
                Text("Waiting for the system to misbehave…", style="dim italic"), id="page"
            )
            yield Static("The system right now", classes="section")
            yield Static("", id="map")
            with Horizontal(id="take-row"):
                yield Button("Take the page (enter)", id="take", variant="error", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        if self.incident is not None:
            self._show_incident(self.incident)
        # build after the first frame, so the game core's imports do not delay it
        self.call_after_refresh(self._build)

    def _show_incident(self, inc: Incident) -> None:
        from oncall_dojo.incident.yamlload import YamlModelError

        self.incident = inc
        with contextlib.suppress(YamlModelError):  # building the session reports it
            inc = inc.for_seed(self.seed)  # the briefing as this seed plays it (`vary`)
        t = Text()
        t.append(inc.title, style="bold")
        t.append(
            f"\n{inc.id} · {inc.difficulty} · {', '.join(inc.tags)} · seed {self.seed}", style="dim"
        )
        self.query_one("#brief-title", Static).update(t)
        self.query_one("#briefing", Markdown).update(inc.briefing.strip())

    @work(thread=True, exclusive=True, group="session")
    def _build(self) -> None:
        from oncall_dojo.game.session import Session

        inc = self.incident
        if inc is None:
            try:
                inc = self.app.load_incident(self.ident)  # type: ignore[attr-defined]
            except Exception as exc:  # a missing or broken file: say so, offer the picker
                self.app.call_from_thread(self._failed, str(exc))
                return
            self.app.call_from_thread(self._show_incident, inc)
        try:
            session = Session(inc, self.seed)
        except Exception as exc:  # e.g. the values this seed picks make the file invalid
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._ready, session)

    def _failed(self, message: str) -> None:
        self.query_one("#brief-title", Static).update(Text(message, style="bold red"))
        self.query_one("#page", Static).update(
            Text("Press escape to pick an incident.", style="yellow")
        )

    def _ready(self, session: Any) -> None:
        from oncall_dojo.game import views

        self.session = session
        inc = session.incident
        page = session.system.alerts.states[inc.page.alert]
        t = Text()
        t.append("*** PAGE *** ", style="bold red")
        t.append(f"{inc.page.alert}", style="bold")
        t.append(f"  [{page.rule.severity}]\n", style="red")
        t.append(session.system.alerts.summary(page) + "\n")
        if inc.page.text:
            t.append(inc.page.text.strip(), style="italic")
        self.query_one("#page", Static).update(t)
        self.query_one("#map", Static).update(Text(views.system_map(session)))
        button = self.query_one("#take", Button)
        button.disabled = False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_take_page()

    def action_take_page(self) -> None:
        if self.session is None:
            return
        navigator(self.app).show_incident(self.session)

    def action_back(self) -> None:
        navigator(self.app).show_picker()
