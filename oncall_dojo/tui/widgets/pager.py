"""The pager: alerts firing and pending, with severity and how long they have fired."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Static

from oncall_dojo.game.fmt import mmss

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session

SEVERITY_STYLE = {"page": "bold red", "ticket": "yellow", "info": "dim"}
STATE_STYLE = {"firing": "bold white on red", "pending": "black on yellow"}


class Pager(Static, can_focus=True):
    """Active alerts, the page first, each with its summary. `a` (or F5) acknowledges the page."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("a", "ack", "Acknowledge")]

    class AckRequested(Message):
        """The player asked to acknowledge the page."""

    def __init__(self, session: Session, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self._last = ""
        self._lines = -1
        self.compact = False
        """One line per alert (small terminals)."""

    def on_mount(self) -> None:
        self.update_view()

    def action_ack(self) -> None:
        self.post_message(self.AckRequested())

    def on_click(self) -> None:
        if self.session.acked_at is None:
            self.post_message(self.AckRequested())

    def update_view(self) -> None:
        s = self.session
        sys_ = s.system
        states = sorted(
            (st for st in sys_.alerts.states.values() if st.state != "inactive"),
            key=lambda x: (x.state != "firing", x.rule.severity != "page", x.rule.name),
        )
        t = Text(no_wrap=self.compact, overflow="ellipsis")
        firing = sum(st.state == "firing" for st in states)
        t.append("PAGER ", style="bold")
        t.append(
            f"{firing} firing, {len(states) - firing} pending",
            style="bold red" if firing else "green",
        )
        if s.acked_at is None:
            t.append("  · F5 (or click) to acknowledge", style="bold yellow")
        else:
            t.append(f"  · acknowledged at {mmss(s.acked_at)}", style="dim")
        if not states:
            t.append("\n  all clear: nothing firing or pending", style="green")
        for st in states:
            t.append("\n")
            t.append(f" {st.state.upper()} ", style=STATE_STYLE.get(st.state, ""))
            t.append(f" {st.rule.severity:<6} ", style=SEVERITY_STYLE.get(st.rule.severity, ""))
            t.append(st.rule.name, style="bold" if st.rule.name == s.incident.page.alert else "")
            t.append(f"  for {mmss(sys_.t - st.since)}", style="dim")
            if st.acked_at is not None:
                t.append(" ✓acked", style="green")
            if self.compact:
                t.append("  " + sys_.alerts.summary(st), style="dim")
            else:
                t.append("\n    " + sys_.alerts.summary(st), style="italic")
        lines = t.plain.count("\n")
        if t.plain != self._last:
            self.update(t, layout=lines != self._lines)
            self._last, self._lines = t.plain, lines
