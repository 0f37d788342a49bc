"""The clock bar: simulated time, speed, pause, and where the incident stands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from oncall_dojo.game.fmt import mmss

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session
    from oncall_dojo.tui.pacing import Pacer


class ClockBar(Static):
    """One line: incident, T+ time of the total, speed or PAUSED, ack and diagnosis state."""

    def __init__(self, session: Session, pacer: Pacer, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.pacer = pacer
        self._last = ""

    def update_view(self) -> None:
        s, p = self.session, self.pacer
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f" {s.incident.id} ", style="bold reverse")
        t.append(f"  T+{mmss(s.now)} ", style="bold")
        t.append(f"of {mmss(s.horizon)}  ", style="dim")
        if p.paused:
            t.append(" ⏸ PAUSED ", style="bold black on yellow")
        else:
            t.append(f" ▶ {p.speed}x ", style="bold black on green")
        t.append("  ")
        if s.acked_at is None:
            t.append("PAGE NOT ACKED", style="bold red")
        else:
            t.append(f"acked {mmss(s.acked_at)}", style="green")
        t.append("  cause: ")
        t.append(
            s.diagnosis[0] if s.diagnosis else "not declared",
            style="bold" if s.diagnosis else "dim",
        )
        t.append(f"  updates: {len(s.status_updates)}", style="dim")
        if t.plain != self._last:
            self._last = t.plain
            self.update(t, layout=False)
