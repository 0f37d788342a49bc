"""What a seat's screen shows while it joins: connecting to the host, then building its view
of the game (the replica, `net.replica`), with how far that is.

Building the view replays the game so far, which can take a while on a busy machine. What
the player types meanwhile is not lost: this screen keeps it and shows it, and the app hands
it to the incident screen once that is open: each line Entered here runs at the ops console
then, in order, as if typed there, and what follows the last Enter waits on the console's
line. Backspace edits; any other key (a function key, an arrow) is not kept, and the screen
says so. Ctrl+Q still leaves.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static

from oncall_dojo.game.fmt import mmss

SHOWN_KEYS = 60
"""The most typed characters the screen echoes (the newest; all of them are kept)."""


def progress_text(done: int, total: int, at: int, target: int) -> str:
    """`joining: building your view of the game, N of M changes`, and how much of the game so
    far is played back (on a line of its own)."""
    changes = "change" if total == 1 else "changes"
    return (
        f"joining: building your view of the game, {done} of {total} {changes}\n"
        f"(the game so far: {mmss(at)} of {mmss(target)} played)"
    )


class JoiningScreen(Screen[None]):
    """The seat's screen until the incident screen is ready (see the module's doc)."""

    CSS_PATH = "joining.tcss"

    def __init__(self, player: str) -> None:
        super().__init__()
        self.player = player
        self.state = f"joining: connecting to the host as {player}..."
        self.lines: list[str] = []
        """Lines typed and Entered here, in order: they run at the ops console when it opens."""
        self.current = ""
        """What was typed after the last Enter: it waits on the console's line."""
        self.refused = ""
        """The last key this screen could not keep (a function key, an arrow...)."""
        self.progress: tuple[int, int, int, int] | None = None
        """The build's latest (done, total, at, target), set from the building thread."""

    def compose(self) -> ComposeResult:
        with Vertical(id="join-box"):
            yield Static("oncall-dojo: team game", id="join-title")
            yield Static(self.state, id="join-state")
            yield Static(
                "Keys you type now are kept: they reach your ops console when it opens.",
                id="join-help",
            )
            yield Static("", id="join-keys")

    def on_mount(self) -> None:
        self.set_interval(0.2, self._show_progress)

    def say(self, text: str) -> None:
        """What the join is doing now."""
        self.state = text
        if self.is_mounted:
            self.query_one("#join-state", Static).update(text)

    def _show_progress(self) -> None:
        if self.progress is not None:
            self.say(progress_text(*self.progress))

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        if event.is_printable and event.character:
            self.current += event.character
        elif event.key in ("enter", "ctrl+j"):  # ctrl+j: a newline typed before raw mode
            if self.current.strip():
                self.lines.append(self.current.strip())
            self.current = ""
        elif event.key == "backspace":
            self.current = self.current[:-1]
        else:
            self.refused = event.key
        self._show_keys()

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        *whole, self.current = (self.current + event.text).split("\n")
        self.lines.extend(line.strip() for line in whole if line.strip())
        self._show_keys()

    def typed(self) -> str:
        """What was typed, as the player reads it (each Entered line ends in ⏎)."""
        text = "".join(f"{line}⏎ " for line in self.lines) + self.current
        if len(text) > SHOWN_KEYS:
            text = "…" + text[-SHOWN_KEYS:]
        return f"Typed so far: {text}"

    def _show_keys(self) -> None:
        shown = self.typed()
        if self.refused:
            shown += (
                f"\n{self.refused} was not kept: while joining only typing is "
                "(and Enter, Backspace)."
            )
        self.query_one("#join-keys", Static).update(shown)
