"""The team pane: who is in the game and what they look at, every player's commands as they
happen, `say` lines and notices, and conflicting actions flagged as they happen.

It renders the team game's messages (`net.protocol`: `Line`, `Said`, `Roster`, `Output`), the
same ones a joined client receives and the host's listeners see, so it serves a player's
screen and the facilitator console alike. Outputs come on demand: selecting a command line
posts `TeamPane.OutputWanted`, and whoever owns the connection answers with `show_output`.
The pane keeps only what it shows.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from oncall_dojo.game.conflicts import conflicts_of
from oncall_dojo.game.fmt import mmss
from oncall_dojo.net import protocol as p


class TeamPane(Vertical):
    """Roster, team feed (with conflicts flagged) and the output of the line selected."""

    DEFAULT_CSS = """
    TeamPane { height: 1fr; }
    TeamPane > #team-roster { height: auto; max-height: 8; border-bottom: solid $panel; }
    TeamPane > #team-feed { height: 1fr; border: none; }
    TeamPane > #team-output { height: auto; max-height: 10; border-top: solid $panel; }
    """

    class OutputWanted(Message):
        """The output of feed line `seq` was asked for (a line was selected)."""

        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[dict[str, Any]] = []
        """The commands shown so far (for the conflict check)."""
        self.conflicts = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="team-roster")
        yield OptionList(id="team-feed")
        yield Static("Select a command to see its output.", id="team-output")

    # -- messages in ------------------------------------------------------------------------
    def show(self, msg: Any) -> None:
        """Render one team message (others are ignored)."""
        if isinstance(msg, p.Welcome):
            self.set_roster(msg.roster)
            # catching up: the commands and the talk so far, in the order they happened
            items: list[p.Line | p.Said] = [*msg.feed, *msg.said]
            for item in sorted(items, key=lambda m: m.at):
                if isinstance(item, p.Line):
                    self._line(item)
                else:
                    self._said(item)
        elif isinstance(msg, p.Line):
            self._line(msg)
        elif isinstance(msg, p.Said):
            self._said(msg)
        elif isinstance(msg, p.Roster):
            self.set_roster(msg.members)
        elif isinstance(msg, p.Output):
            self.show_output(msg.seq, msg.output)

    def set_roster(self, members: list[p.Member]) -> None:
        t = Text()
        for i, m in enumerate(members):
            if i:
                t.append("\n")  # no newline after the last: a blank line costs a feed line
            t.append("● " if m.online else "○ ", style="green" if m.online else "dim")
            t.append(f"{m.name:<12}", style="bold")
            t.append(f" {m.role:<14}", style="cyan")
            if m.looking:
                t.append(f" looking at {m.looking}", style="dim")
        self.query_one("#team-roster", Static).update(t)

    def show_output(self, seq: int, output: str) -> None:
        line = next((ln for ln in self.lines if ln["seq"] == seq), None)
        head = f"{line['player']} > {line['command']}\n" if line else ""
        self.query_one("#team-output", Static).update(Text(head + output))

    def _feed(self) -> OptionList:
        return self.query_one("#team-feed", OptionList)

    def _line(self, line: p.Line) -> None:
        cmd = {
            "seq": line.seq,
            "at": line.at,
            "player": line.player,
            "command": line.command,
            "kind": line.kind,
        }
        found = conflicts_of(self.lines, cmd)
        self.lines.append(cmd)
        t = Text(f"[{mmss(line.at)}] ", style="dim")
        t.append(f"{line.player} ", style="bold")
        if line.kind == "refused":
            t.append(f"! {line.command}", style="red")
            t.append(f"  ({line.refused})", style="dim red")
        else:
            t.append(f"> {line.command}", style="yellow" if line.kind == "act" else "")
        self._feed().add_option(Option(t, id=f"line-{line.seq}"))
        for c in found:
            self.conflicts += 1
            self._feed().add_option(Option(Text(f"  ⚠ conflict: {c.text}", style="bold red")))
        self._feed().scroll_end(animate=False)

    def _said(self, said: p.Said) -> None:
        t = Text(f"[{mmss(said.at)}] ", style="dim")
        if said.kind == "notice":
            t.append(f"*** {said.text}", style="magenta")
        elif said.kind == "note":
            t.append(f"{said.player} (note): {said.text}", style="italic")
        else:
            t.append(f"{said.player}: ", style="bold")
            t.append(said.text, style="green")
        self._feed().add_option(Option(t))
        self._feed().scroll_end(animate=False)

    def show_newest(self) -> None:
        """Its tab was opened: the newest lines in sight, not the oldest (lines that came while
        the pane was hidden could not scroll it: it had no size then)."""
        self.call_after_refresh(self._feed().scroll_end, animate=False)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        oid = event.option.id or ""
        if oid.startswith("line-"):
            event.stop()
            self.post_message(self.OutputWanted(int(oid.removeprefix("line-"))))
