"""The pager: alerts firing and pending, with severity and how long they have fired."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from oncall_dojo.game.fmt import mmss

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session

SEVERITY_STYLE = {"page": "bold red", "ticket": "yellow", "info": "dim"}
STATE_STYLE = {"firing": "bold white on red", "pending": "black on yellow"}


class Pager(Static):
    """Active alerts, the page first, then the others by name (a row keeps its place as alerts
    come and go), each with its summary. Only F5 acknowledges: a click on a row does nothing, as
    nothing on screen acts on the system without a key that says so."""

    def __init__(self, session: Session, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self._last = ""
        self._lines = -1
        self.compact = False
        """One line per alert (small terminals)."""

    def on_mount(self) -> None:
        self.update_view()

    def update_view(self) -> None:
        s = self.session
        sys_ = s.system
        states = sorted(
            (st for st in sys_.alerts.states.values() if st.state != "inactive"),
            key=lambda x: (x.rule.name != s.incident.page.alert, x.rule.name),
        )
        t = Text(no_wrap=self.compact, overflow="ellipsis")
        firing = sum(st.state == "firing" for st in states)
        t.append("PAGER ", style="bold")
        t.append(
            f"{firing} firing, {len(states) - firing} pending",
            style="bold red" if firing else "green",
        )
        if s.acked_at is None:
            t.append("  · F5 acknowledges", style="bold yellow")
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
