"""The facilitator console: the team's activity, the clock, the answer sheet, injects, notes.

Left, the team pane (every player's commands live, conflicts flagged, outputs on demand).
Right, what only the facilitator sees: the clock and its speed, the root cause and the
reference timeline, the incident's injects (ready or fired), and the private notes. At the
bottom, a line for the facilitator's actions (`pause`, `resume`, `speed N`, `hint`,
`note TEXT`, `inject ...`, `role NAME ROLE`, `say TEXT`, `end`), sent to the host; F5
pauses or resumes. The screen renders the host's messages and holds no game state.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from oncall_dojo.game.fmt import mmss
from oncall_dojo.game.injects import FACILITATOR_USAGE
from oncall_dojo.net import protocol as p
from oncall_dojo.net.host import Host, Refused
from oncall_dojo.tui.widgets.team import TeamPane

ACTIONS = ("pause", "resume", "speed", "hint", "end", "note", "role", "inject")


class FacilitatorScreen(Screen[None]):
    CSS_PATH = "facilitator.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5", "toggle_pause", "Pause/resume"),
        Binding("f6", "hint", "Release hint"),
        Binding("f8", "app.show_links", "Join links", show=False),
    ]

    def __init__(
        self,
        host: Host,
        you: str,
        links: list[tuple[str, str, str | None]] | None = None,
        pages: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__()
        self.host = host
        self.you = you
        self.links = list(links or [])
        self.pages = list(pages or [])
        """(role, browser page) per player's seat, with `dojo host --web`."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="fac-main"):
            yield TeamPane(id="fac-team")
            with VerticalScroll(id="fac-side"):
                yield Static("", id="fac-clock")
                yield Static("", id="fac-links")
                yield Static("", id="fac-answer")
                yield Static("", id="fac-injects")
                yield Static("", id="fac-notes")
        yield Static("", id="fac-said")
        yield Input(
            placeholder="facilitator> pause | speed 5 | hint | note TEXT | inject ID | end",
            id="fac-line",
            select_on_focus=False,
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TeamPane).show(self.host.welcome(self.you))
        self.host.listeners.append(self._heard)
        self._side()
        self.query_one("#fac-line", Input).focus()

    def on_unmount(self) -> None:
        if self._heard in self.host.listeners:
            self.host.listeners.remove(self._heard)

    # -- the host's messages ----------------------------------------------------------------
    def _heard(self, msg: BaseModel, audience: str) -> None:
        if audience not in ("all", "answer", self.you):
            return
        self.query_one(TeamPane).show(msg)
        if isinstance(msg, p.Clock | p.Said | p.Finished):
            self._side()
        if isinstance(msg, p.Finished):
            self._say(
                f"Finished: {msg.score:g}/100, grade {msg.grade}; `dojo report` has the team debrief"
            )

    def _side(self) -> None:
        h = self.host
        c = h.clock_message()
        state = "PAUSED" if c.paused else f"{c.speed:g}x"
        self.query_one("#fac-clock", Static).update(
            Text.assemble(
                ("Clock ", "bold"),
                f"{mmss(c.at)} / {mmss(c.horizon)}  ",
                (state, "bold yellow" if c.paused else "green"),
            )
        )
        if self.links:
            # each link on a line of its own, cut (…) rather than wrapped where the panel is
            # narrower: F8 shows them whole, full width, to copy
            seated = {m.name for m in h.roster()}
            links = Text()
            links.append("Join links (dojo join LINK --as NAME)\n", style="bold")
            links.append("F8: whole links, to copy\n", style="dim")
            for role, link, _who in self.links[1:]:
                links.append(f"{role}\n", style="cyan")
                links.append(f"{link}\n")
            if self.pages:
                links.append("Browser pages (nothing to install)\n", style="bold")
                for role, page in self.pages:
                    links.append(f"{role}\n", style="cyan")
                    links.append(f"{page}\n")
            links.append(f"{len(seated)} seated", style="dim")
            self.query_one("#fac-links", Static).update(links)
        secret = h.secret()
        ans = Text()
        ans.append("Only you see this\n", style="bold red")
        ans.append(f"Root cause: {secret['root_cause']}\n", style="bold")
        ans.append(" ".join(str(secret["explanation"]).split()) + "\n\n")
        ans.append("Reference timeline\n", style="bold")
        ans.append("\n".join(f"  {a}" for a in secret["reference"]))
        self.query_one("#fac-answer", Static).update(ans)
        fired = {r["key"] for r in h.session.injected}
        inj = Text()
        inj.append("Injects (inject ID)\n", style="bold")
        for i in h.session.incident.injects:
            when = ", ".join(mmss(t) for t in i.times()) or "by hand"
            mark = "fired" if i.id in fired else "ready"
            inj.append(f"  {i.id:<18} {when:<8} {mark:<5} ", style="dim" if mark == "fired" else "")
            inj.append(f"{i.title}\n")
        extra = [
            r["key"]
            for r in h.session.injected
            if r["key"] not in {i.id for i in h.session.incident.injects}
        ]
        if extra:
            inj.append(f"  also fired: {', '.join(extra)}\n", style="dim")
        self.query_one("#fac-injects", Static).update(inj)
        notes = Text()
        notes.append("Your notes (note TEXT)\n", style="bold")
        for at, _by, text in h.notes:
            notes.append(f"  [{mmss(at)}] {text}\n")
        self.query_one("#fac-notes", Static).update(notes)

    def _say(self, text: str) -> None:
        self.query_one("#fac-said", Static).update(Text(text))

    # -- the facilitator's actions ----------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        line = event.value.strip()
        event.input.value = ""
        if line:
            self.act(line)

    def act(self, line: str) -> None:
        word, _, arg = line.partition(" ")
        if word == "links":
            self.call_later(self.run_action, "app.show_links")
            self._say("")
            return
        try:
            if word == "say":
                self.host.say(self.you, arg)
                shown = ""
            elif word in ACTIONS:
                shown = self.host.facilitate(self.you, word, arg)
            else:
                usage = (
                    ", ".join(ACTIONS)
                    + ", say TEXT, links; "
                    + "; ".join(u.split("  ")[0] for u in FACILITATOR_USAGE)
                )
                raise Refused(f"not a facilitator action: {word} (one of {usage})")
        except Refused as exc:
            self._say(f"! {exc}")
            return
        self._say("" if shown in ("", "done") else shown)
        self._side()

    def on_key(self, event: events.Key) -> None:
        """Typing always reaches the facilitator's line, whatever pane has the focus."""
        line = self.query_one("#fac-line", Input)
        if event.is_printable and event.character and self.focused is not line:
            line.focus()
            line.insert_text_at_cursor(event.character)
            event.stop()
        elif event.key == "escape":
            line.focus()
            event.stop()

    def action_toggle_pause(self) -> None:
        self.act("resume" if self.host.paused else "pause")

    def action_hint(self) -> None:
        self.act("hint")

    def on_team_pane_output_wanted(self, event: TeamPane.OutputWanted) -> None:
        try:
            out = self.host.output(event.seq)
        except Refused as exc:
            self._say(f"! {exc}")
            return
        self.query_one(TeamPane).show_output(out.seq, out.output)
