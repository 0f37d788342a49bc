"""The system map: every component with its health; choosing one shows its detail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from oncall_dojo.game import views

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session

HEALTH_STYLE = {"ok": "green"}


def component_rows(s: Session) -> list[tuple[str, str, str]]:
    """(component, health, details) parsed from the map view (`name  STATE  details`)."""
    rows = []
    for line in views.system_map(s).splitlines():
        name, rest = line[:20].strip(), line[21:]
        if name == "spend":
            rows.append((name, "", rest.strip()))
            continue
        state, _, detail = rest.partition(" ")
        rows.append((name, state.strip(), detail.strip()))
    return rows


def detail_command(component: str) -> str | None:
    """The investigation that shows a component in detail."""
    if component.startswith("queue "):
        return "queue " + component.split(" ", 1)[1]
    if component.startswith("workers "):
        return "workers " + component.split(" ", 1)[1]
    if component == "postgres":
        return "db queries"
    if component == "api":
        return "alerts"
    return None


class SystemMap(Vertical):
    """Health at a glance; enter on a row opens its detail (recorded as that command)."""

    class ComponentChosen(Message):
        """The player opened a component's detail."""

        def __init__(self, component: str, command: str) -> None:
            super().__init__()
            self.component = component
            self.command = command

    def __init__(self, session: Session, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self._rows: list[tuple[str, str, str]] = []
        """The rows as last shown."""

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Static(
            "enter on a component: its detail (queue, workers, db sessions)", id="map-help"
        )
        with VerticalScroll():
            yield Static(id="map-detail")

    def on_mount(self) -> None:
        table: DataTable[Text | str] = self.query_one(DataTable)
        table.add_column("component", width=20, key="c")
        table.add_column("health", width=9, key="h")
        table.add_column("details", key="d")
        self.update_view()

    def update_view(self) -> None:
        table: DataTable[Text | str] = self.query_one(DataTable)
        rows = component_rows(self.session)
        if rows == self._rows:
            return  # every cell update redraws the table
        if table.row_count != len(rows) or [r[0] for r in rows] != [r[0] for r in self._rows]:
            table.clear()
            for name, state, detail in rows:
                table.add_row(name, self._health(state), detail, key=name)
        else:
            for (name, state, detail), (_, was_state, was_detail) in zip(
                rows, self._rows, strict=True
            ):
                if state != was_state:
                    table.update_cell(name, "h", self._health(state))
                if detail != was_detail:
                    table.update_cell(name, "d", detail, update_width=False)
        self._rows = rows

    @staticmethod
    def _health(state: str) -> Text:
        if not state:
            return Text("")
        return Text(state, style=HEALTH_STYLE.get(state, "bold red"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        name = str(event.row_key.value)
        cmd = detail_command(name)
        if cmd is None:
            self.show_detail(f"{name}: nothing more to see than the map line.")
            return
        self.post_message(self.ComponentChosen(name, cmd))

    def show_detail(self, text: str) -> None:
        self.query_one("#map-detail", Static).update(Text(text))
