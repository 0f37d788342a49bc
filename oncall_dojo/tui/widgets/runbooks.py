"""Runbooks rendered as Markdown, chosen from a list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Markdown, OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session


class Runbooks(Horizontal):
    """The incident's runbooks; opening one is recorded (`runbook NAME`)."""

    class RunbookOpened(Message):
        """The player opened a runbook."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, session: Session, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session

    def compose(self) -> ComposeResult:
        books = sorted(self.session.incident.runbooks)
        yield OptionList(*[Option(b, id=b) for b in books])
        yield Markdown(
            "Choose a runbook on the left: tab on an empty console line reaches the list, ↑/↓ and"
            " enter open one, esc goes back to the console."
            if books
            else "This team has no runbooks."
        )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        name = event.option.id or ""
        self.query_one(Markdown).update(self.session.incident.runbooks.get(name, ""))
        self.post_message(self.RunbookOpened(name))

    def update_view(self) -> None:
        pass
