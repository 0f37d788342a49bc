"""Deploy and change history, newest last, with who made each change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from oncall_dojo.game.fmt import mmss

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session

KIND_STYLE = {
    "deploy": "bold cyan",
    "rollback": "bold magenta",
    "purge": "bold red",
    "flag": "yellow",
    "config": "yellow",
}


class ChangeHistory(DataTable[Text | str]):
    """Every change: deploys, rollbacks, flags, config, restarts, purges (time relative to the page)."""

    def __init__(self, session: Session, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)
        self.session = session
        self._count = -1

    def on_mount(self) -> None:
        for label, w in (
            ("when", 8),
            ("kind", 9),
            ("target", 22),
            ("change", 30),
            ("by", 10),
            ("note", None),
        ):
            self.add_column(label, width=w)
        self.update_view()

    def update_view(self) -> None:
        s = self.session
        changes = s.system.changes
        if len(changes) == self._count:
            return
        self._count = len(changes)
        self.clear()
        for c in changes[-200:]:
            what = f"{c.before} -> {c.after}" if c.before else c.after
            self.add_row(
                mmss(c.tick - s.page_tick),
                Text(c.kind, style=KIND_STYLE.get(c.kind, "")),
                c.target,
                what,
                Text(c.author, style="bold" if c.author == "you" else "dim"),
                c.note,
            )
        self.move_cursor(row=self.row_count - 1)
