"""The join links, whole: each on a line of its own from the first column, never wrapped, so
that a facilitator can copy one from any terminal (the console's side panel is too narrow
for them at 80 columns). F8 or `links` at the facilitator's line opens it; `c` copies them
all (to a terminal that lets apps set the clipboard); Esc, F8 or q closes it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

HOW = (
    "Select a link with the mouse to copy it (in most terminals hold Shift while you drag); "
    "c copies them all; Esc closes."
)


def links_text(
    links: list[tuple[str, str, str | None]], pages: list[tuple[str, str]]
) -> tuple[Text, list[str]]:
    """The links as shown (a heading, then per seat its role and, on the next line, its link),
    and the links themselves, in that order."""
    t = Text()
    urls: list[str] = []
    t.append("Join links: dojo join LINK --as NAME\n", style="bold")
    for role, link, who in links:
        t.append(f"{role}" + (f" (taken by {who})" if who else "") + "\n", style="cyan")
        t.append(f"{link}\n")
        urls.append(link)
    if pages:
        t.append("\nBrowser pages (nothing to install)\n", style="bold")
        for role, page in pages:
            t.append(f"{role}\n", style="cyan")
            t.append(f"{page}\n")
            urls.append(page)
    return t, urls


class LinksScreen(ModalScreen[None]):
    """The seats' links full width (see the module's doc)."""

    CSS_PATH = "links.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f8,q", "dismiss", "Close"),
        Binding("c", "copy_all", "Copy all"),
    ]

    def __init__(
        self, links: list[tuple[str, str, str | None]], pages: list[tuple[str, str]]
    ) -> None:
        super().__init__()
        self.text, self.urls = links_text(links, pages)

    def compose(self) -> ComposeResult:
        yield Static(HOW, id="links-how")
        with ScrollableContainer(id="links-box"):
            yield Static(self.text, id="links-text")
        yield Footer()

    def action_copy_all(self) -> None:
        self.app.copy_to_clipboard("\n".join(self.urls) + "\n")
        # said on the screen's own line: a notification would cover links being selected
        self.query_one("#links-how", Static).update(
            f"{len(self.urls)} links sent to the clipboard (where the terminal lets apps set "
            "it; otherwise select one with the mouse, Shift+drag). Esc closes."
        )
