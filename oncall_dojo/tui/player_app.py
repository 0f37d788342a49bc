"""A player's full-screen client of a hosted team game: the app of a seat process (each
browser page of a hosted game, and each terminal `dojo join` relays).

Given the host's seat key (a seat process the host started on its own machine), it builds a
replica of the game from the host's welcome (`net.replica`, in a worker thread) and shows
the solo incident screen over it (`TeamIncidentScreen`), passing each of the host's
messages on to it. Until that screen is ready, the joining screen (`JoiningScreen`) says
how far the join is and keeps what is typed meanwhile; the incident screen gets it, in
order, once it is open. Without the key it is the thin team client described below.

Top, the game's clock and who you are. Left, your console: the briefing and the page, the
output of your own commands, notices and the outcome. Right, the team pane: who is in the
game, every player's commands as they happen (conflicts flagged), `say` lines and notes;
selecting a command fetches its output. Bottom, the command line: a console command, `say
TEXT`, `/show N`, `/look WHAT`. The app renders what the host sends and holds no game state;
it has no command palette (in a browser it must not offer anything beyond the game).
"""

from __future__ import annotations

import asyncio
import os
import ssl
from typing import Any, ClassVar

from rich.markdown import Markdown
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Footer, Input, RichLog, Static

from oncall_dojo.game.fmt import mmss
from oncall_dojo.net import protocol as p
from oncall_dojo.net.client import Client, JoinError, to_message
from oncall_dojo.net.interview_remote import RemoteInterview
from oncall_dojo.net.replica import Diverged, Replica
from oncall_dojo.net.roles import powers_text
from oncall_dojo.sim.text import clean
from oncall_dojo.tui.input_bytes import tolerate_undecodable_input
from oncall_dojo.tui.screens.interviewer import InterviewerScreen
from oncall_dojo.tui.screens.joining import JoiningScreen
from oncall_dojo.tui.screens.team_incident import TeamIncidentScreen
from oncall_dojo.tui.widgets.team import TeamPane

NAME_AGAIN = ("already used by", "is taken in this game", "needs a name")
"""Refusals that another name can mend: the app asks for the name again."""


class PlayerApp(App[None]):
    TITLE = "oncall-dojo: team game"
    ENABLE_COMMAND_PALETTE = False
    CSS_PATH = "player_app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Leave", priority=True),
        Binding("f2", "focus_team", "Team feed"),
        Binding("escape", "focus_line", "Console", show=False),
    ]

    def __init__(
        self,
        url: str,
        player: str = "",
        *,
        unix_socket: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        retry_for: float = 120.0,
        parent: int | None = None,
        seat: str = "",
    ) -> None:
        tolerate_undecodable_input()
        super().__init__()
        self.seat = seat
        """The host's seat key: with it, the app shows the incident screen over a replica."""
        self.incident: TeamIncidentScreen | None = None
        self.joining: JoiningScreen | None = None
        """Shown from connecting until the incident screen is ready (a seat process's app)."""
        self.interviewing: RemoteInterview | None = None
        """A second interviewer's seat: the interview as the interviewer's console reads it."""
        self._building: list[Any] | None = None
        """The host's messages that came while the replica was being built, in order."""
        self._early: list[Any] | None = None
        """A seat's messages that came before its welcome (a notice sent to this seat alone,
        such as the interview's banner): kept for the screen the welcome leads to."""
        self.parent_pid = parent
        """The process that started this one (a browser page's host): leave when it is gone."""
        self.url = url
        self.player = clean(player).strip()[: p.MAX_NAME]
        self.client_kw: dict[str, Any] = {
            "unix_socket": unix_socket,
            "retry_for": retry_for,
            "seat": seat,
        }
        if ssl_context is not None:
            self.client_kw["ssl_context"] = ssl_context
        self.client: Client | None = None
        self.role = ""
        self.welcomed = False
        self.clock: p.Clock | None = None
        self.result: p.Finished | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="pl-status")
        with Horizontal(id="pl-main"):
            yield RichLog(
                id="pl-out", wrap=True, markup=False, highlight=False, max_lines=5000, min_width=20
            )
            yield TeamPane(id="pl-team")
        yield Input(id="pl-line", max_length=p.MAX_TEXT, select_on_focus=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#pl-out", RichLog).border_title = "Your console"
        self.query_one(TeamPane).border_title = "Team"
        self.query_one("#pl-line", Input).focus()
        if self.parent_pid is not None:
            self.set_interval(1.0, self._check_parent)
        if self.player:
            self._connect()
        else:
            self._ask_name()

    def _check_parent(self) -> None:
        if os.getppid() != self.parent_pid:
            self.exit()  # the host died (its pipes to us are gone): nobody can see this page

    # -- joining ----------------------------------------------------------------------------
    def _ask_name(self, why: str = "") -> None:
        if why:
            self._write(f"! {why}", "bold red")
        self._status("Type your name (as the team will see it) and press Enter to join.")
        self.query_one("#pl-line", Input).placeholder = "your name"

    def _connect(self) -> None:
        self._status(f"Joining as {self.player}...")
        if self.seat:
            self._show_joining()
            self._early = []
        self.query_one(
            "#pl-line", Input
        ).placeholder = "console> alerts | logs --level error | say TEXT | /show N  (F2: team feed)"
        self.client = Client(self.url, self.player, self._message, **self.client_kw)
        self.run_worker(self._run(self.client), exclusive=True, group="client")

    async def _run(self, client: Client) -> None:
        try:
            await client.run()
        except JoinError as exc:
            self.client = None
            text = str(exc)
            self._hide_joining()  # the refusal shows on the screen below; keys typed are moot
            self._early = None
            if any(w in text for w in NAME_AGAIN) and not self.role:
                self.player = ""
                self._ask_name(text)
            else:
                self._write(f"! {text}", "bold red")
                self._status(f"Not in the game: {text}")
            return
        if client.finished:
            self._status_line()
        else:
            self._status("Disconnected from the game.")

    # -- the host's messages ----------------------------------------------------------------
    def _message(self, msg: Any) -> None:
        if self._building is not None:
            self._building.append(msg)
            return
        if (
            isinstance(msg, p.Welcome)
            and msg.replica is not None
            and self.incident is None
            and self.interviewing is None
        ):
            # what came before the welcome and the welcome does not hold (talk to this seat
            # alone) follows the welcome; the rest (feed, talk, roster) the welcome has
            early, self._early = self._early or [], None
            self._building = [m for m in early if isinstance(m, p.Said) and m not in msg.said]
            self.role = msg.role
            self._status(f"Joined as {msg.you} ({msg.role}). Setting up the incident screen...")
            joining = self._show_joining()
            joining.say(f"joined as {msg.you} ({msg.role}); building your view of the game...")
            self.run_worker(self._build(msg, joining), exclusive=True, group="replica")
            return
        if self.incident is not None:
            self._to_incident(msg)
            return
        if self._early is not None and self.interviewing is None:
            self._early.append(msg)  # a seat not welcomed yet
            return
        if self.interviewing is not None:
            self._to_interviewer(msg)
            return
        team = self.query_one(TeamPane)
        match msg:
            case p.Welcome():
                first, before = not self.welcomed, self.role
                self.welcomed = True
                self.role, self.clock = msg.role, msg.clock
                if first:
                    g = msg.game
                    self._write(
                        f"=== {g.title} ===  (team game; you are {msg.you}, {msg.role})", "bold"
                    )
                    self.query_one("#pl-out", RichLog).write(Markdown(g.briefing))
                    self._write(f"*** PAGE *** {g.page}", "bold red")
                    if g.page_text:
                        self._write(g.page_text)
                    self._write(f"Your powers: {powers_text(msg.powers)}", "cyan")
                    self.query_one(TeamPane).show(msg)
                elif msg.role != before:
                    self._write(
                        f"You are {msg.role} now. Your powers: {powers_text(msg.powers)}",
                        "cyan",
                    )
                else:
                    self._write("(reconnected; caught up)", "dim")
                if not first:
                    self._catch_up(team, msg)
            case p.Line() | p.Said() | p.Roster() | p.Output():
                team.show(msg)
                if isinstance(msg, p.Said) and msg.kind == "notice":
                    self._write(f"*** {msg.text}", "magenta")
            case p.Reply():
                if msg.output:
                    self._write(msg.output, "red" if msg.kind == "refused" else "")
            case p.Clock():
                self.clock = msg
            case p.Finished():
                self.result = msg
                flag = "" if msg.resolved else "  [NOT RESOLVED]"
                self._write(f"Score {msg.score:g}/100, grade {msg.grade}{flag}", "bold")
                for it in msg.items:
                    detail = f": {it['detail']}" if "detail" in it else ""
                    self._write(f"  {it['points']:6.1f} {it['title']}{detail}")
            case p.Error():
                self._write(f"! {msg.text}", "red")
        self._status_line()

    def _show_joining(self) -> JoiningScreen:
        """The joining screen, on top (the one already there, with the keys it kept)."""
        if self.joining is None:
            self.joining = JoiningScreen(self.player)
        if self.joining is not self.screen:
            self.push_screen(self.joining)
        return self.joining

    def _hide_joining(self) -> tuple[list[str], str]:
        """Take the joining screen away; the lines Entered on it, and what was typed after."""
        joining, self.joining = self.joining, None
        if joining is None:
            return [], ""
        if joining is self.screen:
            self.pop_screen()
        return joining.lines, joining.current

    async def _build(self, welcome: p.Welcome, joining: JoiningScreen) -> None:
        """The replica from the host's welcome (off the event loop: it simulates the game so
        far, telling the joining screen how far it is), then the incident screen; the
        messages that came meanwhile follow in order, then what was typed meanwhile."""
        assert welcome.replica is not None

        def progress(done: int, total: int, at: int, target: int) -> None:
            joining.progress = (done, total, at, target)  # the screen shows it on its timer

        replica = await asyncio.to_thread(
            Replica.build, welcome.replica, welcome.clock.at, progress
        )
        if "facilitate" in welcome.powers and welcome.secret is not None:
            # an interviewer's seat: the interviewer's console, not the player's screen
            self.interviewing = RemoteInterview(replica, welcome, self._line_to_host)
            lines, _rest = self._hide_joining()
            await self.push_screen(InterviewerScreen(self.interviewing, welcome.you))
            pending, self._building = self._building or [], None
            for msg in pending:
                self._to_interviewer(msg)
            for line in lines:  # Entered while joining: the interviewer's lines, in order
                self._line_to_host(line)
            return
        self.incident = TeamIncidentScreen(replica, self, welcome.you, welcome)
        lines, rest = self._hide_joining()
        await self.push_screen(self.incident)
        pending, self._building = self._building or [], None
        for msg in pending:
            self._to_incident(msg)
        self.incident.typed_while_joining(lines, rest)

    def _to_incident(self, msg: Any) -> None:
        screen = self.incident
        assert screen is not None
        try:
            if isinstance(msg, p.Welcome):  # reconnected, or a new role
                if msg.replica is not None:
                    screen.replica.catch_up(msg.replica, msg.clock.at)
                self.role = msg.role
                screen.caught_up(msg)
            else:
                screen.host_message(msg)
        except Diverged as exc:
            self._diverged(str(exc))
        if isinstance(msg, p.Finished):
            self.result = msg

    def _to_interviewer(self, msg: Any) -> None:
        assert self.interviewing is not None
        try:
            self.interviewing.host_message(msg)
        except Diverged as exc:
            self.interviewing = None
            if isinstance(self.screen, InterviewerScreen):
                self.pop_screen()
            self._diverged(str(exc))
            return
        if isinstance(msg, p.Welcome):
            self.role = msg.role
        if isinstance(msg, p.Finished):
            self.result = msg

    def _line_to_host(self, text: str) -> None:
        """An interviewer's line from their console, to the host (done in their name)."""

        async def send() -> None:
            if await self.send_command(text) is None:
                self.notify("Not connected to the host right now (reconnecting); try again.")

        self.run_worker(send(), group="lines")

    def _diverged(self, why: str) -> None:
        """The replica no longer matches the host: start again from the host's welcome."""
        self.notify(f"This screen fell out of step with the host ({why}); catching up again.")
        screen, self.incident = self.incident, None
        if screen is not None and screen.is_attached:
            self.pop_screen()
        self._early = []  # until the new welcome
        if self.client is not None and self.client.ws is not None:
            self.run_worker(self.client.ws.close(), group="reconnect")  # the client reconnects

    async def send_command(self, text: str) -> int | None:
        return await self.client.command(text) if self.client is not None else None

    async def send(self, msg: p._Msg) -> bool:
        return await self.client.send(msg) if self.client is not None else False

    def _catch_up(self, team: TeamPane, msg: p.Welcome) -> None:
        """After a reconnection: the lines and talk missed while away."""
        shown = {ln["seq"] for ln in team.lines}
        for line in msg.feed:
            if line.seq not in shown:
                team.show(line)
        team.set_roster(msg.roster)

    # -- output ----------------------------------------------------------------------------
    def _write(self, text: str, style: str = "") -> None:
        self.query_one("#pl-out", RichLog).write(Text(text, style=style))

    def _status(self, text: str) -> None:
        self.query_one("#pl-status", Static).update(Text(text))

    def _status_line(self) -> None:
        if not self.role:
            return
        t = Text(f" {self.player} ", style="bold reverse")
        t.append(f" {self.role} ", style="cyan")
        c = self.clock
        if c is not None:
            t.append(f"  {mmss(c.at)} of {mmss(c.horizon)}  x{c.speed:g}")
            if c.paused:
                t.append("  PAUSED", style="bold yellow")
        if self.result is not None:
            t.append(f"  OVER: {self.result.score:g}/100 {self.result.grade}", style="bold")
        elif self.client is None or not self.client.connected.is_set():
            t.append("  (reconnecting)", style="yellow")
        self.query_one("#pl-status", Static).update(t)

    # -- input -----------------------------------------------------------------------------
    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        line = event.input
        text = clean(event.value).strip()
        line.value = ""
        if not text:
            return
        if self.client is None:
            if self.player or self.role:
                self._write("! not in the game", "red")
                return
            self.player = text[: p.MAX_NAME].strip()
            self._connect()
            return
        msg = to_message(text)
        if msg is None:
            self._write(f"! no such team action: {text} (/show N, /look WHAT)", "red")
            return
        self._write(f"> {text}", "bold")
        sent = (
            await self.client.command(msg.text) is not None
            if isinstance(msg, p.Cmd)
            else await self.client.send(msg)
        )
        if not sent:
            self._write("! not connected to the host right now (reconnecting); try again", "red")

    async def on_team_pane_output_wanted(self, event: TeamPane.OutputWanted) -> None:
        if self.client is not None:
            await self.client.send(p.Fetch(seq=event.seq))

    def action_focus_team(self) -> None:
        self.query_one("#team-feed").focus()

    def action_focus_line(self) -> None:
        self.query_one("#pl-line", Input).focus()

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()
