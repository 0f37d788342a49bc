"""The incident screen of a team game: the solo screen over a replica of the host's game.

A seat process (a browser page's app, or the app a terminal relays) shows a player the same
screen as solo play: pager, logs, metrics, map, changes, runbooks, data and the ops console,
plus the team pane as a tab (F10). The screen's session is a replica (`net.replica`): it
does not run its own clock and performs nothing on its own. What the player does goes to
the host, which checks the player's role and orders it among the team's commands; the
replica plays it when the host's stream says so, and the view that asked for it (a chart, a
query's rows, a component's detail) shows it then. The host's clock drives the screen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TabbedContent, TabPane

from oncall_dojo.game.fmt import mmss
from oncall_dojo.net import protocol as p
from oncall_dojo.net.replica import Replica
from oncall_dojo.net.roles import powers_text
from oncall_dojo.tui.screens.incident import IncidentScreen
from oncall_dojo.tui.widgets.console import CommandInput, OpsConsole
from oncall_dojo.tui.widgets.team import TeamPane

if TYPE_CHECKING:
    from oncall_dojo.game.session import Entry

HOST_KEEPS_TIME = "The host keeps time for the whole team (the facilitator pauses and sets speed)."


def _powers(welcome: p.Welcome) -> str:
    return f"Your powers: {powers_text(welcome.powers)}."


class SeatLink(Protocol):
    """What the screen asks of the app that holds the connection to the host."""

    def send_command(self, text: str) -> Awaitable[int | None]:
        """Send a console line to the host; its id, or None when not connected."""

    def send(self, msg: p._Msg) -> Awaitable[bool]:
        """Send another message (look, fetch)."""


class TeamOver(ModalScreen[None]):
    """Play is over: the host measures the outcome, then the team's marks."""

    DEFAULT_CSS = """
    TeamOver { align: center middle; }
    TeamOver > Vertical { width: 80%; max-width: 90; height: auto; border: round $primary;
        padding: 1 2; background: $surface; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "app.quit", "Leave")]

    def __init__(self, result: p.Finished | None = None) -> None:
        super().__init__()
        self.result = result

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                "Play is over. The host is measuring what happened to the end of the incident…",
                id="team-over",
            )

    def on_mount(self) -> None:
        if self.result is not None:
            self.show_result(self.result)

    def show_result(self, msg: p.Finished) -> None:
        self.result = msg
        shown = self.query("#team-over")
        if not shown:
            return  # on_mount shows it
        t = Text(f"Score {msg.score:g}/100, grade {msg.grade}", style="bold")
        if not msg.resolved:
            t.append("  [NOT RESOLVED]", style="bold red")
        t.append("\n\n")
        for it in msg.items:
            t.append(f"{it['points']:6.1f} / {it['max']:g}  {it['title']}\n")
        t.append("\nThe facilitator has the team debrief. Ctrl+Q leaves.", style="dim")
        shown.first(Static).update(t)


class TeamIncidentScreen(IncidentScreen):
    """The solo incident screen, following the host's game (see the module's doc)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f10", "team", "Team"),
    ]

    def __init__(self, replica: Replica, link: SeatLink, me: str, welcome: p.Welcome) -> None:
        super().__init__(replica.session, paused=False)
        self.welcome = welcome
        self.replica = replica
        self.link = link
        self.me = me
        self._then: dict[int, Callable[[Entry], None]] = {}
        """Views waiting for the entry of a command they asked for, by command id."""
        self._quiet: list[str] = []
        """Lines a view asked for that the console shows dimmed (when the host plays them)."""
        self._looking = ""
        self.result: p.Finished | None = None
        self._team_pending: list[Any] | None = []
        """Team messages that came before the team tab was there."""

    def on_mount(self) -> None:
        super().on_mount()
        if self._timer is not None:
            self._timer.stop()  # no clock of its own: the host's drives the screen
        console = self.query_one(OpsConsole)
        console.me = self.me
        console.note(f"Team game: you are {self.me} ({self.welcome.role}).", "bold")
        console.note(_powers(self.welcome), "cyan")
        console.note("F10: the team pane (say TEXT at the console talks to the team).", "dim")
        for i, e in enumerate(self.session.entries):
            if e.player != self.me:
                console.quiet.add(i)
        self.call_later(self._add_team)
        self.refresh_views()

    async def _add_team(self) -> None:
        await self.query_one(TabbedContent).add_pane(
            TabPane("Team", TeamPane(id="team-pane"), id="team")
        )
        pending, self._team_pending = self._team_pending, None
        for msg in [self.welcome, *(pending or [])]:
            self._team(msg)

    # -- the host's messages ---------------------------------------------------------------
    def host_message(self, msg: Any) -> None:
        """Follow one of the host's messages (the app passes each one on; Diverged escapes)."""
        if isinstance(msg, p.Step):
            entry = self.replica.apply(msg)
            if entry is not None:
                self._played(entry)
            self.refresh_views()
            if self.session.declared_resolved_at is not None or self.session.ended:
                self.end_game()
        elif isinstance(msg, p.Clock):
            self.replica.follow(msg.at)
            self.pacer.paused = msg.paused
            self.pacer.speed = max(1, round(msg.speed))
            self.refresh_views()
            if self.session.ended:
                self.end_game()
        elif isinstance(msg, p.Sync):
            self.replica.check(msg)
        elif isinstance(msg, p.Reply):
            self._reply(msg)
        elif isinstance(msg, p.Said):
            if msg.kind == "notice":
                self.query_one(OpsConsole).note(f"*** {msg.text}", "bold magenta")
            elif msg.kind == "say":
                self.query_one(OpsConsole).note(f"{msg.player} says: {msg.text}", "green")
            self._team(msg)
        elif isinstance(msg, p.Line | p.Roster | p.Output):
            self._team(msg)
        elif isinstance(msg, p.Finished):
            self.result = msg
            self.end_game()
            over = self.app.screen
            if isinstance(over, TeamOver):
                over.show_result(msg)
        elif isinstance(msg, p.Error):
            self.query_one(OpsConsole).note(f"✗ {msg.text}", "red")

    def caught_up(self, welcome: p.Welcome) -> None:
        """After a reconnection (the replica has caught up): the team lines missed, the roster,
        and the player's role and powers if they changed."""
        for pane in self.query(TeamPane):
            shown = {ln["seq"] for ln in pane.lines}
            for line in welcome.feed:
                if line.seq not in shown:
                    pane.show(line)
            pane.set_roster(welcome.roster)
        if welcome.role != self.welcome.role:
            self.query_one(OpsConsole).note(
                f"You are {welcome.role} now. " + _powers(welcome), "bold cyan"
            )
        self.welcome = welcome
        self.refresh_views()

    def _team(self, msg: Any) -> None:
        if self._team_pending is not None:
            self._team_pending.append(msg)  # the tab is being added
            return
        for pane in self.query(TeamPane):
            pane.show(msg)

    def _played(self, entry: Entry) -> None:
        """A command the host played: dimmed in the console if it is a teammate's or a view's."""
        console = self.query_one(OpsConsole)
        i = len(self.session.entries) - 1
        if entry.player != self.me:
            console.quiet.add(i)
        elif entry.command in self._quiet:
            self._quiet.remove(entry.command)
            console.quiet.add(i)

    def _reply(self, msg: p.Reply) -> None:
        then = self._then.pop(msg.id, None)
        if msg.seq >= 0:
            if then is not None and msg.seq < len(self.session.entries):
                then(self.session.entries[msg.seq])
            return
        console = self.query_one(OpsConsole)  # not played: refused by role, or a team word
        if msg.kind == "refused":
            console.note(f"✗ {msg.output}", "red")
        elif msg.output:
            console.note(msg.output, "cyan")

    # -- what the player does goes to the host ---------------------------------------------
    def perform(self, text: str, quiet: bool = False) -> Entry | None:
        self._send(text, quiet)
        return None

    def perform_then(self, text: str, then: Callable[[Entry], None], quiet: bool = True) -> None:
        self._send(text, quiet, then)

    def perform_quiet_once(self, text: str) -> Entry | None:
        self._send(text, True)
        return None

    def _send(self, text: str, quiet: bool, then: Callable[[Entry], None] | None = None) -> None:
        if self._over:
            return
        text = text.strip()

        async def go() -> None:
            cid = await self.link.send_command(text)
            if cid is None:
                self.query_one(OpsConsole).note(
                    "✗ not connected to the host right now (reconnecting); try again", "red"
                )
                return
            if quiet:
                self._quiet.append(text)
            if then is not None:
                self._then[cid] = then

        self.run_worker(go(), group="send")

    def _enter(self, text: str) -> None:
        self.perform(text)

    def typed_while_joining(self, lines: list[str], rest: str) -> None:
        """What the player typed while this screen was being built: each line as if Entered
        at the console now, in order; `rest` (typed after the last Enter) on the console's
        line, to finish."""
        command = self.query_one(CommandInput)
        for line in lines:
            command.remember(line)
            self._enter(line)
        if rest:
            command.value = rest
            command.cursor_position = len(rest)
            command.focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        super().on_tabbed_content_tab_activated(event)
        what = event.pane.id or ""
        if what == "team":
            for pane in self.query(TeamPane):
                pane.show_newest()
        if what != self._looking:
            self._looking = what
            self.run_worker(self.link.send(p.Look(what=what)), group="look")

    def on_team_pane_output_wanted(self, event: TeamPane.OutputWanted) -> None:
        self.run_worker(self.link.send(p.Fetch(seq=event.seq)), group="fetch")

    # -- time is the host's ----------------------------------------------------------------
    def _on_timer(self) -> None:
        pass

    def on_screen_suspend(self) -> None:
        self._reclaim_soon()

    def on_screen_resume(self) -> None:
        pass

    def action_toggle_pause(self) -> None:
        self.notify(HOST_KEEPS_TIME)

    def action_faster(self) -> None:
        self.notify(HOST_KEEPS_TIME)

    def action_step(self) -> None:
        self.notify(HOST_KEEPS_TIME)

    def set_speed(self, speed: int) -> None:
        self.notify(HOST_KEEPS_TIME)

    def action_team(self) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == "team":
            self.show_pane("logs")
            self.action_focus_console()
        else:
            self.show_pane("team")
            self.query_one("#team-feed").focus()

    # -- the end is the host's -------------------------------------------------------------
    def end_game(self) -> None:
        if self._over:
            return
        self._over = True
        self.heap.stop()
        at = mmss(self.session.now)
        self.query_one(OpsConsole).note(f"Play is over at {at}.", "bold")
        self.app.push_screen(TeamOver(self.result))
