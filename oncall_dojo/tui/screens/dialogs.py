"""Dialogs that compose a command: diagnosis, status update, hint, resolve; and the help screen.

Each returns the command line to perform (or None when cancelled); the
incident screen performs it, so a dialog never changes the session itself.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, RadioSet, Select, Static, TextArea
from textual.widgets import RadioButton as _RadioButton

from oncall_dojo.incident.diagnosis import MECHANISMS
from oncall_dojo.sim.text import count

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session


class RadioButton(_RadioButton):
    """A radio button drawn `(●)` when chosen and `( )` when not (Textual's draws `▐●▌` either
    way and tells them apart by colour alone, which some terminals do not show), whose label
    wraps to the width rather than ending in "…"."""

    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--button")
        return Content.assemble(("(●)" if self.value else "( )", style))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self.render().wrap(max(1, width))))


class _Dialog(ModalScreen[str | None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    _submit_when_chosen = False

    def on_key(self, event: events.Key) -> None:
        """Enter in a list of options chooses the highlighted one and submits, as the dialog's
        `(enter)` button says (space only chooses)."""
        radios = self.focused
        if event.key != "enter" or not isinstance(radios, RadioSet) or not self.query("#ok"):
            return
        event.stop()
        event.prevent_default()
        highlighted = radios._selected  # Textual keeps the highlighted option here only
        if highlighted is None or highlighted == radios.pressed_index:
            self.submit()
        else:
            self._submit_when_chosen = True  # once the set has taken the choice in
            radios.action_toggle_button()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if self._submit_when_chosen:
            self._submit_when_chosen = False
            self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        elif event.button.id == "ok":
            self.submit()

    def submit(self) -> None:  # pragma: no cover - overridden
        self.dismiss(None)


class DiagnosisDialog(_Dialog):
    """Name the part of the system and the failure mechanism, add notes ->
    `diagnose PART MECHANISM NOTES`. Both lists are the same whatever the answer, and nothing
    is chosen until the player chooses it."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Declare the root cause", classes="title")
            yield Static(
                "Which part of the system, and which mechanism? You can declare again later; the last one counts.",
                classes="note",
            )
            yield Select(
                [(p, p) for p in self.session.parts], prompt="Part of the system", id="part"
            )
            yield Select(
                [(f"{m}: {text}", m) for m, text in MECHANISMS.items()],
                prompt="Mechanism",
                id="mechanism",
            )
            yield Label("Notes (what you saw)")
            yield Input(placeholder="the signals that point there", id="notes")
            yield Static(id="missing", classes="note")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Declare (enter)", id="ok", variant="primary")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        part = self.query_one("#part", Select).value
        mechanism = self.query_one("#mechanism", Select).value
        if not isinstance(part, str) or not isinstance(mechanism, str):
            self.query_one("#missing", Static).update("Choose a part and a mechanism first.")
            return
        notes = self.query_one("#notes", Input).value.strip()
        self.dismiss(
            f"diagnose {shlex.quote(part)} {mechanism}"
            + (f" {shlex.quote(notes)}" if notes else "")
        )


class StatusUpdateDialog(_Dialog):
    """Write what customers see and what you are doing -> `update "..."`."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "post", "Post")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Post a status update", classes="title")
            yield Static(
                "Who is affected, what they see, what you are doing, when you will update next. Ctrl+S posts.",
                classes="note",
            )
            yield TextArea(id="text")
            yield Static(id="count", classes="note")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Post (ctrl+s)", id="ok", variant="primary")

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        n = len(event.text_area.text.strip())
        self.query_one("#count", Static).update(
            f"{n} characters" + ("" if n >= 10 else " (at least 10)")
        )

    def action_post(self) -> None:
        self.submit()

    def submit(self) -> None:
        text = " ".join(self.query_one(TextArea).text.split())
        if not text:
            self.dismiss(None)
            return
        self.dismiss(f"update {shlex.quote(text)}")


class HintDialog(_Dialog):
    """Shows what the next hint costs before it is taken -> `hint take`."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        hints = self.session.incident.hints
        i = len(self.session.hints_taken)
        with Vertical():
            yield Label("Take a hint?", classes="title")
            if i >= len(hints):
                yield Static("No more hints: you have taken all of them.")
                with Horizontal(classes="buttons"):
                    yield Button("Close", id="cancel")
                return
            yield Static(
                f"Hint {i + 1} of {len(hints)} costs {count(hints[i].cost, 'point')} of your score. You see it once taken."
            )
            with Horizontal(classes="buttons"):
                yield Button("Not now", id="cancel")
                yield Button(f"Take it (-{hints[i].cost})", id="ok", variant="warning")

    def submit(self) -> None:
        self.dismiss("hint take")


class ConfirmDialog(_Dialog):
    """Yes/no before something that cannot be undone."""

    def __init__(self, title: str, text: str, command: str, ok: str = "Yes") -> None:
        super().__init__()
        self._title, self._text, self._command, self._ok = title, text, command, ok

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title, classes="title")
            yield Static(self._text)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self._ok, id="ok", variant="error")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    def submit(self) -> None:
        self.dismiss(self._command)


class ReadingScreen(ModalScreen[None]):
    """Text too wide for its pane (log lines), wrapped to the terminal's width; escape closes."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self._title, self._lines = title, lines

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label(f"{self._title}  (escape closes)", classes="title")
            for line in self._lines:
                yield Static(Text(line), classes="line")

    def action_close(self) -> None:
        self.dismiss(None)


KEYS = """\
## Keys

| key | what |
|---|---|
| **F1** or **?** | this help |
| **ctrl+p** | command palette: every action |
| **F2** | pause / run the clock (it also stops while a dialog, this help or the palette is open, unless you play with `dojo play --pressure`) |
| **F3** | clock speed 1x → 5x → 20x |
| **F4** | step 10 s (while paused) |
| **F5** | acknowledge the page |
| **F6** | declare the root cause |
| **F7** | post a status update |
| **F8** | take a hint (shows the cost first) |
| **F9** | declare the incident resolved |
| **ctrl+o** | next pane (logs, metrics, map, changes, runbooks) |
| **tab** | in the console: complete; on an empty console line: into the open pane; in a pane: next field, then back to the console |
| **escape** | back to the console, from anywhere |
| **enter** | in the log view: read the lines in view whole, wrapped; **←/→** scroll them |
| **ctrl+q** | quit |

Letters typed while a list, a table or the log view has the keys go to the console.
A click only moves the keys; nothing acts on the system without a key or a button that says so.
Time moves on its own (1x = one simulated second per second). Pause it to read.
In the console, `wait 2m` lets two minutes pass at once.
"""


class HelpScreen(ModalScreen[None]):
    """Keys, the command grammar and the log query syntax."""

    CSS_PATH = "dialogs.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        from oncall_dojo.game.logrequest import CONSOLE_HELP
        from oncall_dojo.sim.observability.logquery import help_text

        commands = ""
        try:
            from oncall_dojo.game.commands import COMMANDS

            rows = [f"| `{c.usage}` | {c.kind} | {c.help} |" for c in COMMANDS.values()]
            commands = (
                "## Console commands\n\n| command | kind | what |\n|---|---|---|\n"
                + "\n".join(rows)
            )
        except ImportError:  # pragma: no cover
            pass
        logs = help_text() + "\n\n" + CONSOLE_HELP
        with VerticalScroll():
            yield Markdown("# oncall-dojo help  (escape closes)\n\n" + KEYS + "\n## Log queries")
            # plain text, not a code block: it wraps at words to any width
            yield Static(Text(logs), id="help-logs")
            yield Markdown(commands)

    def action_close(self) -> None:
        self.dismiss(None)
