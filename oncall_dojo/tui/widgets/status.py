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

    def on_resize(self) -> None:
        self.update_view()

    def update_view(self) -> None:
        width = (self.content_size.width or 80) - 1
        t = self._line(width, total=True)
        if t is None:  # narrow and the declared cause would be cut: the total and times give way
            t = self._line(width, total=False, cut=True)
        assert t is not None
        if t.plain != self._last:
            self._last = t.plain
            self.update(t, layout=False)

    def _line(self, width: int, total: bool, cut: bool = False) -> Text | None:
        """The bar's text; None when the declared cause does not fit and `cut` is not allowed."""
        s, p = self.session, self.pacer
        narrow = width < 100
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f" {s.incident.id} ", style="bold reverse")
        if narrow:
            t.append(f"T+{mmss(s.now)}", style="bold")
            t.append(f"/{mmss(s.horizon)} " if total else " ", style="dim")
        else:
            t.append(f"  T+{mmss(s.now)} ", style="bold")
            t.append(f"of {mmss(s.horizon)}  ", style="dim")
        if p.paused:
            t.append(" ⏸ PAUSED ", style="bold black on yellow")
        elif p.held:
            t.append(" ⏸ HELD ", style="bold black on yellow")
        else:
            t.append(f" ▶ {p.speed}x ", style="bold black on green")
        t.append(" " if narrow else "  ")
        if s.acked_at is None:
            t.append("NOT ACKED" if narrow else "PAGE NOT ACKED", style="bold red")
        else:
            t.append(f"acked {mmss(s.acked_at)}" if total else "acked", style="green")
        if not narrow:
            t.append(f"  updates: {len(s.status_updates)}", style="dim")
        elif s.status_updates:  # narrow: only once there are some
            t.append(f" upd {len(s.status_updates)}", style="dim")
        t.append(" cause: " if narrow else "  cause: ")
        cause = s.diagnosis.label if s.diagnosis else ("none" if narrow else "not declared")
        room = max(4, width - len(t.plain))
        if len(cause) > room:
            if narrow and not cut:
                return None
            cause = cause[: room - 1] + "…"
        t.append(cause, style="bold" if s.diagnosis else "dim")
        return t
