"""The SQL console: a statement line, the result as a table, previewed writes to commit or discard.

It reaches the application database only through the `sql` commands of the grammar, so every
statement is recorded and replayed like any other command; the screen performs what it posts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Static

from oncall_dojo.tui.widgets.steady import HistoryInput

if TYPE_CHECKING:
    from oncall_dojo.game.session import Entry, Session


class SqlPane(Vertical):
    """Run SQL on the application database; writes are previewed until committed."""

    BINDINGS = [
        Binding("ctrl+s", "commit", "Commit SQL", show=False),
        Binding("ctrl+z", "rollback", "Discard SQL", show=False),
    ]

    class CommandRequested(Message):
        """The player asked for a `sql ...` command."""

        def __init__(self, command: str) -> None:
            super().__init__()
            self.command = command

    def __init__(self, session: Session, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session

    def compose(self) -> ComposeResult:
        with Horizontal(id="sql-body"):
            with VerticalScroll(id="sql-tables"):
                yield Static(self._tables(), id="sql-tables-text")
            with ScrollableContainer(id="sql-result-scroll"):
                yield Static(
                    "Type a statement below and press enter, e.g.\n"
                    "  SELECT status, count(*) FROM payments GROUP BY status\n\n"
                    "UPDATE, INSERT and DELETE are previewed (rows that would change, per table);\n"
                    "Commit (ctrl+s) applies them in one transaction, Discard (ctrl+z) drops them.",
                    id="sql-result",
                )
        with Horizontal(id="sql-bar"):
            yield HistoryInput(placeholder="SELECT ... (enter runs it)", id="sql-input")
            yield Button("Commit", id="sql-commit", variant="warning", disabled=True)
            yield Button("Discard", id="sql-discard", disabled=True)

    def _tables(self) -> str:
        app = self.session.system.app
        if app is None:
            return "This incident has no application database."
        writable = set(app.cfg.writable)
        lines = ["[b]Tables[/b] ([i]w[/i] = writable)", ""]
        for table, cols in app.schema().items():
            mark = " [i]w[/i]" if table in writable else ""
            lines.append(f"[b]{table}[/b]{mark}")
            lines.append("  " + ", ".join(cols))
        return "\n".join(lines)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            return
        inp = self.query_one("#sql-input", HistoryInput)
        inp.remember(text)
        inp.value = ""
        self.post_message(self.CommandRequested(f"sql {text}"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "sql-commit":
            self.action_commit()
        elif event.button.id == "sql-discard":
            self.action_rollback()

    def action_commit(self) -> None:
        self.post_message(self.CommandRequested("sql commit"))

    def action_rollback(self) -> None:
        self.post_message(self.CommandRequested("sql rollback"))

    def show(self, entry: Entry) -> None:
        """Show what a `sql` command answered (rows, a preview, a refusal in words)."""
        # the player's data, never read as markup
        if entry.kind == "refused":
            shown = Text.assemble(("✗ ", "red"), entry.output)
        else:
            shown = Text(entry.output)
        self.query_one("#sql-result", Static).update(shown)
        if entry.kind != "refused" and entry.command.split()[:2] == ["sql", "commit"]:
            self.query_one("#sql-tables-text", Static).update(self._tables())
        self.update_view()

    def update_view(self) -> None:
        app = self.session.system.app
        pending = bool(app is not None and app.has_pending())
        self.query_one("#sql-commit", Button).disabled = not pending
        self.query_one("#sql-discard", Button).disabled = not pending

    def set_narrow(self, narrow: bool) -> None:
        self.set_class(narrow, "narrow")
