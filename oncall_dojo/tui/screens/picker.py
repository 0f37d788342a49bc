"""The incident picker: bundled incidents and your own, with difficulty, tags and a teaser."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Static

from oncall_dojo.tui.navigation import navigator

if TYPE_CHECKING:
    from oncall_dojo.incident.model import Incident

DIFFICULTY_STYLE = {"easy": "green", "medium": "yellow", "hard": "red"}


TITLE_WIDTH = 46
TAGS_WIDTH = 24


class PickerScreen(Screen[None]):
    CSS_PATH = "picker.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "play", "Play", show=True),
        Binding("s", "focus_seed", "Seed"),
        Binding("t", "app.tutorial", "Tutorial"),
        Binding("f1,question_mark", "app.help", "Help"),
    ]

    def __init__(self, extra: list[Path] | None = None) -> None:
        super().__init__()
        self.extra = extra
        self.incidents: list[Incident] = []
        self.bundled: dict[str, bool] = {}
        self.problems: list[str] = []
        self.best: dict[tuple[str, int], tuple[int, str]] = {}

    def compose(self) -> ComposeResult:
        yield Static("oncall-dojo · pick an incident to be paged for", id="title")
        with Horizontal(id="body"):
            yield DataTable(cursor_type="row", zebra_stripes=True, id="incidents")
            with Vertical(id="teaser-box"):
                yield Static("Loading incidents…", id="teaser")
        with Horizontal(id="seed-row"):
            yield Label("seed (empty: random):")
            yield Input(placeholder="random", id="seed", type="integer")
        yield Footer()

    def on_mount(self) -> None:
        self.set_class(self.size.width < 100, "-narrow")
        extra = self.extra if self.extra is not None else getattr(self.app, "extra_dirs", [])
        self._load(list(extra))

    def on_resize(self) -> None:
        self.set_class(self.size.width < 100, "-narrow")

    @work(thread=True, exclusive=True, group="load")
    def _load(self, extra: list[Path]) -> None:
        from oncall_dojo.game.validate import load_checked
        from oncall_dojo.incident.errors import PackError
        from oncall_dojo.incident.packs import scan
        from oncall_dojo.incident.yamlload import YamlModelError

        found: list[tuple[Incident, bool]] = []
        try:
            files = scan(extra)
        except PackError as exc:  # a malformed config file: show the bundled incidents
            files = scan(extra, config=False)
            files.missing.append(str(exc))
        problems: list[str] = [*files.clashes, *files.missing]
        for f in files.found:
            try:
                found.append((load_checked(f.path), f.bundled))
            except YamlModelError as exc:
                problems.append(f"{f.path.name}: {str(exc).splitlines()[0]}")
        best_scores = getattr(self.app, "best_scores", None)
        best = best_scores() if best_scores is not None else {}
        self.app.call_from_thread(self._show, found, problems, best)

    def _show(
        self,
        found: list[tuple[Any, bool]],
        problems: list[str],
        best: dict[tuple[str, int], tuple[int, str]],
    ) -> None:
        self.best = best
        self.incidents = [inc for inc, _ in found]
        self.bundled = {inc.id: b for inc, b in found}
        self.problems = problems
        table = self.query_one(DataTable)
        # explicit widths: auto-sized columns depend on when rows arrive, which is not deterministic
        titles = [
            inc.title + ("" if self.bundled[inc.id] else "  (yours)") for inc in self.incidents
        ]
        width = min(TITLE_WIDTH, max((len(t) for t in titles), default=8))
        table.add_column("level", width=6)
        table.add_column("incident", width=width)
        table.add_column("tags", width=TAGS_WIDTH)
        for inc, title in zip(self.incidents, titles, strict=True):
            shown = title if len(title) <= width else title[: width - 1] + "…"
            tags = ", ".join(inc.tags)
            tags = tags if len(tags) <= TAGS_WIDTH else tags[: TAGS_WIDTH - 1] + "…"
            table.add_row(
                Text(inc.difficulty, style=DIFFICULTY_STYLE.get(inc.difficulty, "")),
                Text(shown, style="bold"),
                tags,
                key=inc.id,
            )
        if not self.incidents:
            self.query_one("#teaser", Static).update("No incidents found.")
        table.focus()
        self._teaser(0)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._teaser(event.cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_play()

    def _teaser(self, row: int) -> None:
        if not 0 <= row < len(self.incidents):
            return
        inc = self.incidents[row]
        t = Text()
        t.append(inc.title + "\n", style="bold")
        t.append(f"{inc.id} · ", style="dim")
        t.append(inc.difficulty, style=DIFFICULTY_STYLE.get(inc.difficulty, ""))
        t.append(f" · {', '.join(inc.tags)} · {inc.duration_s // 60} min\n\n", style="dim")
        t.append(inc.summary + "\n\n")
        t.append("Best score: ", style="dim")
        scores = [self.best[(n, inc.version)] for n in inc.names if (n, inc.version) in self.best]
        best = max(scores) if scores else None  # also under a former id (`aliases`)
        if best is None:
            t.append("not played yet\n", style="dim italic")
        else:
            t.append(f"{best[0]}/100 ({best[1]})\n", style="bold")
        if self.problems:
            t.append("\nSkipped (invalid files):\n", style="yellow")
            t.append("\n".join(self.problems), style="yellow")
        t.append("\n\nenter plays · s sets the seed", style="dim")
        self.query_one("#teaser", Static).update(t)

    def action_focus_seed(self) -> None:
        self.query_one("#seed", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_play()

    def action_play(self) -> None:
        if not self.incidents:
            return
        table = self.query_one(DataTable)
        inc = self.incidents[max(0, table.cursor_row)]
        raw = self.query_one("#seed", Input).value.strip()
        seed = int(raw) if raw.lstrip("-").isdigit() else None
        navigator(self.app).show_briefing(inc, seed)
