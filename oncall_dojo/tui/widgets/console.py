"""The ops console: the command grammar with history, tab completion and refusals inline.

Its output is a view of `session.entries` (plus a few lines the screen adds, such
as `wait`); a command typed here is posted up as `OpsConsole.CommandEntered` and
the screen performs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.suggester import Suggester
from textual.widgets import Input, RichLog, Static

from oncall_dojo.game.fmt import mmss
from oncall_dojo.sim.text import shown as visible
from oncall_dojo.tui.completion import candidates, complete
from oncall_dojo.tui.widgets.steady import HistoryInput, SteadyScrollbars

if TYPE_CHECKING:
    from oncall_dojo.game.session import Entry, Session


class _Suggest(Suggester):
    """Ghost text when exactly one completion exists (right arrow accepts)."""

    def __init__(self, session: Session) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.session = session

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value[-1].isspace():
            return None
        partial, found = candidates(value, self.session)
        if len(found) == 1 and found[0] != partial:
            return value[: len(value) - len(partial)] + found[0]
        return None


PROMPT = "type a command: help, alerts, logs billing level=warn ... (tab completes)"
AWAY = "esc: back here to type commands (typing in a list or the log view lands here too)"
"""The placeholder while another pane has the keys."""


class CommandInput(HistoryInput):
    """An Input where tab completes (on an empty line: goes into the open pane) and up/down walk
    the history."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # not a priority binding: those run when the key reaches the app, before the letters
        # typed just ahead of it reach this input, so tab saw an empty line and left it
        Binding("tab", "complete", "Complete", show=False),
    ]

    def __init__(self, session: Session, id: str | None = None) -> None:
        # no select-all on focus: a key typed in a pane lands here and the next must not replace it
        super().__init__(
            placeholder=PROMPT, suggester=_Suggest(session), id=id, select_on_focus=False
        )
        self.session = session
        self.to_pane: Callable[[], None] | None = None
        """Set by the screen: what tab on an empty line does (focus the open pane)."""

    def on_focus(self) -> None:
        self.placeholder = PROMPT

    def on_blur(self) -> None:
        self.placeholder = AWAY

    def action_complete(self) -> None:
        if not self.value.strip() and self.to_pane is not None:
            self.to_pane()  # at once, not by message: the next key already goes there
            return
        text, found = complete(self.value, self.session)
        console = self.parent
        self.value = text
        self.cursor_position = len(text)
        if isinstance(console, OpsConsole):
            console.show_candidates(found)


class ConsoleLog(RichLog, SteadyScrollbars):
    """The console's output (a RichLog that redraws its scrollbar only when it changes).

    A line written grows the log's virtual size, which in a RichLog lays out the whole screen
    again (15-45 ms with the metrics or map pane showing) although the log's own size is fixed
    by the CSS. Here it updates the scrollbar and repaints the log; the screen is laid out again
    only when the scrollbar appears or goes (`show_vertical_scrollbar` asks for that itself)."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def watch_virtual_size(self, size: Size) -> None:
        self._scroll_update(size)  # Textual's own update of scrollbar visibility and thumb
        self.refresh()


class OpsConsole(Vertical):
    """Output of every command so far, a line of completions, and the prompt."""

    class CommandEntered(Message):
        """The player entered a command line."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, session: Session, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.shown = 0
        """How many session entries are written out."""
        self.quiet: set[int] = set()
        """Entries made by opening a pane: shown as one dim line without their output."""
        self.me: str | None = None
        """Whose console this is, when not the session's own player (a team game's seat)."""

    def compose(self) -> ComposeResult:
        yield ConsoleLog(wrap=True, markup=False, highlight=False, auto_scroll=True, min_width=20)
        yield Static(id="candidates")
        yield CommandInput(self.session, id="command")

    def on_mount(self) -> None:
        self.note(
            "Ops console. `help` lists commands; tab completes (on an empty line: into the pane);"
            " esc comes back here; ↑/↓ history; F1 for keys.",
            "dim",
        )
        self.update_view()

    def note(self, text: str, style: str = "italic") -> None:
        self.query_one(RichLog).write(Text(text, style=style))

    def show_candidates(self, found: list[str]) -> None:
        shown = "  ".join(found[:30]) + (f"  … {len(found) - 30} more" if len(found) > 30 else "")
        self.query_one("#candidates", Static).update(Text(shown), layout=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        inp = self.query_one(CommandInput)
        inp.value = ""
        self.show_candidates([])
        if not text:
            return
        inp.remember(text)
        self.post_message(self.CommandEntered(text))

    def update_view(self) -> None:
        entries = self.session.entries
        log = self.query_one(RichLog)
        while self.shown < len(entries):
            i = self.shown
            me = self.me or self.session.player
            log.write(self.format(entries[i], quiet=i in self.quiet, me=me))
            self.shown += 1

    @staticmethod
    def format(e: Entry, quiet: bool = False, me: str | None = None) -> Text:
        """An entry as the log shows it; what the player typed and what came back (an SQL
        value, a status update) with control characters as visible escapes. An entry of
        someone other than `me` (a paged team that joined) is headed with their name."""
        e = replace(e, command=visible(e.command), output=visible(e.output, keep_lines=True))
        t = Text()
        t.append(f"[{mmss(e.at)}] ", style="dim")
        if me is not None and e.player and e.player != me:
            t.append(f"{visible(e.player)}: ", style="bold magenta")
        if quiet:
            t.append(f"> {e.command}", style="dim italic")
            if e.kind == "refused":
                t.append(f"  ✗ {e.output}", style="red")
            return t
        t.append("> ", style="bold")
        t.append(
            e.command,
            style="bold "
            + ("red" if e.kind == "refused" else ("yellow" if e.kind == "act" else "cyan")),
        )
        if e.kind == "refused":
            t.append("\n  ✗ refused: ", style="bold red")
            t.append(e.output, style="red")
        elif e.output:
            t.append("\n" + e.output)
        return t
