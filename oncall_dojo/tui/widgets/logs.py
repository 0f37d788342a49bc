"""The logs pane: a query line over the log explorer, with match count and follow state."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from oncall_dojo.sim.text import count
from oncall_dojo.tui.widgets.log_explorer import LogExplorer
from oncall_dojo.tui.widgets.steady import SteadyInput, SteadyScrollbars

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session


class PaneLogExplorer(LogExplorer, SteadyScrollbars):
    """The log explorer as the pane shows it: scrollbars redrawn only when they change; enter
    shows the lines in view whole, wrapped. Letters typed here go to the ops console (see
    `oncall_dojo.tui.focus`), so following is on `end` only."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "toggle_follow", "Follow", show=False),
        Binding("enter", "read", "Read whole lines"),
    ]

    def action_read(self) -> None:
        first = int(self.scroll_y)
        rows = range(first, min(first + max(1, self.size.height), self.match_count))
        lines = [self.line_text(self.line_at(r)) for r in rows]
        self.post_message(LogsPane.ReadRequested(lines))


class LogsPane(Vertical):
    """Type a query (`service:billing level:warn "charge"`), enter filters; `f` in the list follows."""

    class ReadRequested(Message):
        """The player asked to read the lines in view whole (they are wider than the pane)."""

        def __init__(self, lines: list[str]) -> None:
            super().__init__()
            self.lines = lines

    class FilterApplied(Message):
        """A filter is in force in the log explorer."""

        def __init__(self, query: str) -> None:
            super().__init__()
            self.query = query

    def __init__(self, session: Session, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self._status = ""

    def compose(self) -> ComposeResult:
        yield SteadyInput(
            placeholder='filter: service:billing level:warn "text" /regex/ since:15m (F1: syntax)',
            id="log-query",
        )
        yield Static(id="log-status")
        yield PaneLogExplorer(self.session.system.logs)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.apply(event.value)

    def apply(self, text: str) -> str | None:
        explorer = self.query_one(LogExplorer)
        error = explorer.set_query(text.strip())
        if error:
            self._status = ""
            self.query_one("#log-status", Static).update(
                Text(f"✗ {error}", style="bold red"), layout=False
            )
        return error

    def on_log_explorer_query_applied(self, event: LogExplorer.QueryApplied) -> None:
        event.stop()
        self.update_status()
        if event.query:
            self.post_message(self.FilterApplied(event.query))

    def update_status(self) -> None:
        ex = self.query_one(LogExplorer)
        t = Text(no_wrap=True)
        t.append(f"{ex.match_count:,} of {count(ex.line_count, 'line')}", style="bold")
        if ex.query_text:
            t.append(f"  matching {ex.query_text}")
        t.append(
            "  · following · enter reads whole"
            if ex.follow
            else "  · paused scrolling (end follows) · enter reads whole",
            style="dim",
        )
        if t.plain != self._status:
            self._status = t.plain
            self.query_one("#log-status", Static).update(t, layout=False)

    def update_view(self) -> None:
        self.query_one(LogExplorer).sync()
        self.update_status()
