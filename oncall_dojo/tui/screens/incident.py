"""The incident screen: pager, clock, logs, metrics, map, changes, runbooks and the ops console.

The screen owns the pacing (a timer that runs whole ticks by speed) and is the
one place that calls `session.perform`: widgets post what the player asked for,
the screen turns it into a command line, performs it, and refreshes the views.

Input stays responsive while the clock runs fast: the simulation runs on the event
loop in slices of at most `SLICE_S` (ticks not run in time are owed to the next
firing, so a slow machine slows the clock, never the keys), a long `wait` runs as
a worker that hands the loop back between slices (console lines entered meanwhile
are performed after it, as in the headless console), and the heap is kept frozen
while play runs so that the collector's full passes stay short (see `_mark_ready`
and `oncall_dojo.tui.heap`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, TabbedContent, TabPane

from oncall_dojo.game.play import finish, perform, wait_seconds
from oncall_dojo.game.play import wait as play_wait
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.observability.logquery import parse as parse_log_query
from oncall_dojo.sim.text import count
from oncall_dojo.tui.focus import first_in_pane, footer_keys, forward_key
from oncall_dojo.tui.heap import PlayHeap
from oncall_dojo.tui.navigation import navigator
from oncall_dojo.tui.pacing import TIMER_HZ, Pacer
from oncall_dojo.tui.screens.dialogs import (
    ConfirmDialog,
    DiagnosisDialog,
    HintDialog,
    ReadingScreen,
    StatusUpdateDialog,
)
from oncall_dojo.tui.screens.measuring import Measuring
from oncall_dojo.tui.tutorial import GuideBar
from oncall_dojo.tui.widgets.changes import ChangeHistory
from oncall_dojo.tui.widgets.console import CommandInput, OpsConsole
from oncall_dojo.tui.widgets.logs import LogsPane
from oncall_dojo.tui.widgets.metrics import MetricsPane
from oncall_dojo.tui.widgets.pager import Pager
from oncall_dojo.tui.widgets.runbooks import Runbooks
from oncall_dojo.tui.widgets.sql import SqlPane
from oncall_dojo.tui.widgets.status import ClockBar
from oncall_dojo.tui.widgets.system_map import SystemMap

if TYPE_CHECKING:
    from oncall_dojo.game.session import Entry, Session

WIDE = 120
"""Terminal width from which the panes sit side by side."""
PANE_COMMAND = {"map": "map", "changes": "deploys"}
"""Opening these panes is an investigation, recorded like the console command."""
STEP_S = 10
PANE_EVERY = 3
"""Refresh the open pane on every third timer firing (about 3 times a second)."""
SLICE_S = 0.02
"""The longest the clock simulates before handing the event loop back to keys and frames."""
MEASURING_AFTER_S = 0.25
"""A finish still running after this long shows its progress (one played ahead is done first)."""
PALETTE_COMMANDS = (
    ("alerts", "alerts firing and pending"),
    ("queues", "every queue"),
    ("workers", "every worker replica"),
    ("deploys", "change history"),
    ("db", "database health"),
    ("jobs", "jobs"),
    ("flags", "flags and config"),
    ("causes", "the candidate root causes"),
)
"""Console commands the palette runs: (command, what it shows)."""


def logs_command(query: str) -> str | None:
    """The `logs` console command for a log explorer query (what the player looked at): the
    console speaks the same query language. None for a query that does not parse."""
    try:
        parse_log_query(query)
    except ValueError:
        return None
    return f"logs {query}".strip()


class IncidentScreen(Screen[None]):
    CSS_PATH = "incident.tcss"
    """The screen's layout and its panes' styles."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help"),
        Binding("f2", "toggle_pause", "Pause"),
        Binding("f3", "faster", "Speed"),
        Binding("f4", "step", "+10s", show=False),
        Binding("f5", "ack", "Ack"),
        Binding("f6", "diagnose", "Diagnose"),
        Binding("f7", "status_update", "Update"),
        Binding("f8", "hint", "Hint"),
        Binding("f9", "resolve", "Resolve"),
        Binding("ctrl+o", "next_pane", "Next pane"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("escape", "focus_console", "Console", show=False),
    ]
    NARROW_KEYS = frozenset({"f1", "f2", "f5", "f6", "f9"})
    """Keys the footer shows below `WIDE` columns (with the palette and ctrl+q); F1 and the
    palette list the rest."""

    def __init__(
        self,
        session: Session,
        *,
        paused: bool = False,
        speed: int = 1,
        pressure: bool = False,
        guide: bool = False,
    ) -> None:
        super().__init__()
        self.session = session
        self.pacer = Pacer(speed=speed, paused=paused)
        self.pressure = pressure
        """The clock keeps running while a dialog is open (else it stops until it closes)."""
        self.guide = guide
        """Show the tutorial's guide line (`oncall_dojo.tui.tutorial`)."""
        self._timer: Timer | None = None
        self._ready = False
        self._over = False
        self._firings = 0
        self._owed = 0
        """Ticks due by the pacer that did not fit in their firing's slice."""
        self._waiting = False
        """A `wait` is running the clock; the timer holds off."""
        self._queued: list[str] = []
        """Console lines entered during a `wait`, performed after it."""
        self.heap = PlayHeap()
        self._measuring: Timer | None = None
        """Shows the progress of the finish if it is still running then (see `end_game`)."""

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        s = self.session
        yield ClockBar(s, self.pacer, id="clock")
        if self.guide:
            yield GuideBar(s, self.pacer, id="guide")
        with Container(id="main"):
            yield Pager(s, id="pager")
            with TabbedContent(initial="logs", id="panes"):
                with TabPane("Logs", id="logs"):
                    yield LogsPane(s, id="logs-pane")
                with TabPane("Metrics", id="metrics"):
                    yield MetricsPane(s, id="metrics-pane")
                with TabPane("Map", id="map"):
                    yield SystemMap(s, id="map-pane")
                with TabPane("Changes", id="changes"):
                    yield ChangeHistory(s, id="changes-pane")
                with TabPane("Runbooks", id="runbooks"):
                    yield Runbooks(s, id="runbooks-pane")
                if s.system.app is not None:
                    with TabPane("Data", id="data"):
                        yield SqlPane(s, id="sql-pane")
            yield OpsConsole(s, id="console")
        yield Footer()

    def on_mount(self) -> None:
        self._timer = self.set_interval(1 / TIMER_HZ, self._on_timer, name="sim-clock")
        self._layout_for(self.size.width)
        command = self.query_one(CommandInput)
        command.to_pane = self.focus_pane
        command.focus()
        self.refresh_views()
        self.call_after_refresh(self._mark_ready)

    def _mark_ready(self) -> None:
        self._ready = True
        # Everything built so far (the session, the incident, these widgets) lives as long as play.
        # Frozen, the collector's full passes skip it and scan only what play creates: on a
        # 2-core machine a pass took 80-190 ms before (every key pressed meanwhile waited) and
        # 15-40 ms after; what each pass finds alive is frozen in turn (render caches fill up as
        # play goes on: 25-80 ms passes after a minute at 20x), so a pass scans only what is new.
        # Thawed when play ends or the screen goes, so nothing is kept longer.
        self.heap.start()

    def on_unmount(self) -> None:
        self.heap.stop()

    def on_resize(self) -> None:
        self._layout_for(self.size.width)

    def _layout_for(self, width: int) -> None:
        self.set_class(width >= WIDE, "wide")
        self._footer_keys(wide=width >= WIDE)
        pager = self.query_one(Pager)
        pager.compact = width < WIDE
        pager.set_class(pager.compact, "-compact")
        pager.update_view()
        for sql in self.query(SqlPane):
            sql.set_narrow(width < WIDE)

    def _footer_keys(self, *, wide: bool) -> None:
        shown = frozenset(b.key for b in self.BINDINGS if isinstance(b, Binding) and b.show)
        footer_keys(self, shown, self.NARROW_KEYS, wide=wide)

    # ------------------------------------------------------------------ focus
    def action_focus_console(self) -> None:
        """Escape, from any pane: back to the ops console."""
        self.query_one(CommandInput).focus()

    def on_key(self, event: events.Key) -> None:
        forward_key(self, event, self.query_one(CommandInput))

    def focus_pane(self) -> None:
        """Tab on an empty console line: into the open pane (its first field or list)."""
        widget = first_in_pane(self)
        if widget is not None:
            widget.focus()

    # ------------------------------------------------------------------ the clock
    def _on_timer(self) -> None:
        due = self.pacer.due()
        if self._over or self._waiting or self.pacer.stopped:
            self._owed = 0
            return
        # owed ticks are capped at a second of play: behind by more, the clock slows down
        self._owed = min(self._owed + due, max(due, self.pacer.speed))
        if not self._owed:
            return
        self._owed -= self._simulate(self._owed, time.perf_counter() + SLICE_S)
        self._firings += 1
        # the clock, pager and console every firing; the (heavier) open pane a few times a second
        self._after_ticks(panes=self._firings % PANE_EVERY == 0)

    def _simulate(self, ticks: int, deadline: float) -> int:
        """Run up to `ticks` ticks, at least one, stopping once past `deadline`; returns how many ran."""
        s = self.session
        ran = 0
        while ran < ticks and not s.ended:
            s.advance(1)
            ran += 1
            if time.perf_counter() >= deadline:
                break
        return ran

    def _after_ticks(self, panes: bool = True) -> None:
        self.refresh_views(panes)
        if self.session.ended:
            self.end_game()

    def advance(self, seconds: int, panes: bool = True) -> None:
        """Run the simulation `seconds` ticks at once (exactly; tests use this) and refresh."""
        if self._over or seconds <= 0:
            return
        self.session.advance(seconds)
        self._after_ticks(panes)

    @property
    def waiting(self) -> bool:
        """A `wait` is running the clock."""
        return self._waiting

    async def wait(self, seconds: int) -> None:
        """Let `seconds` of simulated time pass, slice by slice, the screen live in between
        (the clock's timer holds off until it is done)."""
        self._waiting = True
        ticks = play_wait(self.session, seconds)  # one simulated second a step
        panes_at = time.perf_counter() + PANE_EVERY / TIMER_HZ
        try:
            done = min(seconds, self.session.remaining) <= 0
            while not done and not self._over:
                deadline = time.perf_counter() + SLICE_S
                done = True
                for _ in ticks:
                    if time.perf_counter() >= deadline:
                        done = False
                        break
                panes = done or time.perf_counter() >= panes_at
                if panes:
                    panes_at = time.perf_counter() + PANE_EVERY / TIMER_HZ
                self._after_ticks(panes)
                if not done:
                    await asyncio.sleep(0)  # keys and frames, then the next slice
        finally:
            self._waiting = False

    async def _console_wait(self, seconds: int) -> None:
        await self.wait(seconds)
        while self._queued and not self._waiting and not self._over:
            self._enter(self._queued.pop(0))

    def advance_to(self, at: int) -> None:
        if at > self.session.now:
            self.advance(at - self.session.now)

    # ------------------------------------------------------------------ commands
    def perform(self, text: str, quiet: bool = False) -> Entry | None:
        """Perform one command line on the session and show it; the only place play changes state."""
        if self._over:
            return None
        s = self.session
        entry = perform(s, text)
        if quiet:
            self.query_one(OpsConsole).quiet.add(len(s.entries) - 1)
        self.refresh_views()
        if s.declared_resolved_at is not None or s.ended:
            self.end_game()
        return entry

    def perform_then(self, text: str, then: Callable[[Entry], None], quiet: bool = True) -> None:
        """Perform a line a view asked for, then show its entry in the view (at once here; a team
        game's screen when the host has played it)."""
        entry = self.perform(text, quiet=quiet)
        if entry is not None:
            then(entry)

    def enter(self, text: str) -> None:
        """Enter a line as if typed at the ops console: performed in turn, after a running `wait`."""
        self._enter(text)

    def perform_quiet_once(self, text: str) -> Entry | None:
        """An investigation made by opening a view; not repeated at the same second."""
        last = next((e for e in reversed(self.session.entries) if e.command == text), None)
        if last is not None and last.at == self.session.now:
            return last
        return self.perform(text, quiet=True)

    def refresh_views(self, panes: bool = True) -> None:
        if self._over:
            return
        self.query_one(ClockBar).update_view()
        self.query_one(Pager).update_view()
        console = self.query_one(OpsConsole)
        console.update_view()
        for guide in self.query(GuideBar):
            for step in guide.newly_done():
                console.note(f"✓ tutorial: {step.title}", "bold green")
            guide.update_view()
        if not panes:
            return
        active = self.query_one(TabbedContent).active
        pane = {
            "logs": LogsPane,
            "metrics": MetricsPane,
            "map": SystemMap,
            "changes": ChangeHistory,
            "runbooks": Runbooks,
            "data": SqlPane,
        }.get(active)
        if pane is not None:
            view: Any = self.query_one(pane)
            view.update_view()

    def on_ops_console_command_entered(self, event: OpsConsole.CommandEntered) -> None:
        self._enter(event.text)

    def _enter(self, text: str) -> None:
        console = self.query_one(OpsConsole)
        if self._waiting:
            self._queued.append(text)
            console.note(f"… `{text}` when the wait is over", "dim")
            return
        try:
            secs = wait_seconds(text)
        except Refusal as exc:
            console.note(f"✗ {exc.reason}", "red")
            return
        if secs is not None:
            console.note(f"… waiting {secs}s", "dim")
            # a worker, not awaited here: the screen keeps handling keys that bubble up to it
            self._waiting = True
            self.run_worker(self._console_wait(secs), group="wait")
            return
        self.perform(text)

    def on_system_map_component_chosen(self, event: SystemMap.ComponentChosen) -> None:
        def show(entry: Entry) -> None:
            self.query_one(SystemMap).show_detail(f"[{event.command}]\n{entry.output}")

        self.perform_then(event.command, show)

    def on_runbooks_runbook_opened(self, event: Runbooks.RunbookOpened) -> None:
        self.perform_quiet_once(f"runbook {event.name}")

    def on_metrics_pane_series_chosen(self, event: MetricsPane.SeriesChosen) -> None:
        """Chart a selector; recorded as `metrics NAME` (the grammar cannot take a selector with
        labels: `metrics` reads any word with `=` as an option)."""
        from oncall_dojo.sim.observability.metrics import Selector, SelectorError

        pane = self.query_one(MetricsPane)
        try:
            name = Selector.parse(event.selector).name
        except SelectorError as exc:
            pane.show_series(None, str(exc))
            return

        def show(entry: Entry) -> None:
            if entry.kind == "refused":
                pane.show_series(None, entry.output)
            elif self.session.system.metrics.kind_of(event.selector) is None:
                pane.show_series(None, f"no series match {event.selector}")
            else:
                pane.show_series(event.selector)

        self.perform_then(f"metrics {name}", show)

    def on_sql_pane_command_requested(self, event: SqlPane.CommandRequested) -> None:
        self.perform_then(event.command, self.query_one(SqlPane).show)

    def on_logs_pane_read_requested(self, event: LogsPane.ReadRequested) -> None:
        self.app.push_screen(ReadingScreen("Log lines in view, whole", event.lines))

    def on_logs_pane_filter_applied(self, event: LogsPane.FilterApplied) -> None:
        cmd = logs_command(event.query)
        if cmd:
            self.perform_quiet_once(cmd)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane_id = event.pane.id or ""
        if self._ready and pane_id in PANE_COMMAND:
            self.perform_quiet_once(PANE_COMMAND[pane_id])
        if pane_id == "data":
            self.query_one("#sql-input").focus()
        self.refresh_views()

    # ------------------------------------------------------------------ actions
    def _reclaim_soon(self) -> None:
        """The player stops to read: a good moment for the collector's one long pass (after the
        frame that shows why they stopped)."""
        self.app.call_after_refresh(self.heap.reclaim)

    def on_screen_suspend(self) -> None:
        """A dialog, the help or the palette covers play: the player reads, and (unless they play
        under pressure) the clock stops until it closes."""
        self._reclaim_soon()
        if not self.pressure:
            self.pacer.held = True
            self.refresh_views(panes=False)

    def on_screen_resume(self) -> None:
        if self.pacer.held:
            self.pacer.held = False
            self.refresh_views(panes=False)

    def action_help(self) -> None:
        navigator(self.app).show_help()

    def action_toggle_pause(self) -> None:
        self.pacer.paused = not self.pacer.paused
        self.refresh_views()
        if self.pacer.paused:
            self._reclaim_soon()

    def action_faster(self) -> None:
        self.pacer.faster()
        self.pacer.paused = False
        self.refresh_views()

    def set_speed(self, speed: int) -> None:
        self.pacer.set_speed(speed)
        self.pacer.paused = False
        self.refresh_views()

    def action_step(self) -> None:
        self.advance(STEP_S)

    def action_ack(self) -> None:
        if self.session.acked_at is not None:
            self.notify("The page is already acknowledged.", severity="information")
            return
        self.perform("ack")

    def _perform_result(self, command: str | None) -> None:
        if command:
            self.perform(command)

    def action_diagnose(self) -> None:
        self.app.push_screen(DiagnosisDialog(self.session), self._perform_result)

    def action_status_update(self) -> None:
        self.app.push_screen(StatusUpdateDialog(), self._perform_result)

    def action_hint(self) -> None:
        self.app.push_screen(HintDialog(self.session), self._perform_result)

    def action_resolve(self) -> None:
        text = (
            "Play ends now; the system keeps running to the end of the incident and the outcome is "
            "measured then. Resolve only once customers are fine and the cause is gone."
        )
        self.app.push_screen(
            ConfirmDialog("Declare the incident resolved?", text, "resolve", "Resolve"),
            self._perform_result,
        )

    def action_next_pane(self) -> None:
        tabs = self.query_one(TabbedContent)
        panes = self.panes()
        i = panes.index(tabs.active) if tabs.active in panes else -1
        self.show_pane(panes[(i + 1) % len(panes)])

    def panes(self) -> list[str]:
        """The ids of the panes this incident shows, in tab order."""
        return [p.id for p in self.query(TabPane) if p.id]

    def show_pane(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane

    def system_commands(self) -> Iterable[SystemCommand]:
        """The incident's palette entries: the clock, the F-key actions, the panes, a few commands."""
        yield SystemCommand(
            "Pause / run the clock", "Stop or restart simulated time (F2)", self.action_toggle_pause
        )
        for speed in (1, 5, 20):
            yield SystemCommand(
                f"Clock speed {speed}x",
                f"{count(speed, 'simulated second')} per second",
                lambda v=speed: self.set_speed(v),
            )
        yield SystemCommand(
            "Step 10 seconds", "Advance the paused clock by 10 s (F4)", self.action_step
        )
        yield SystemCommand(
            "Wait 1 minute",
            "Let a simulated minute pass (as `wait 1m`)",
            lambda: self.enter("wait 1m"),
        )
        yield SystemCommand(
            "Acknowledge the page", "Stops the escalation timer (F5)", self.action_ack
        )
        yield SystemCommand(
            "Declare the root cause…",
            "Pick among the candidate causes, with notes (F6)",
            self.action_diagnose,
        )
        yield SystemCommand(
            "Post a status update…",
            "Tell customers what is happening (F7)",
            self.action_status_update,
        )
        yield SystemCommand(
            "Take a hint…", "Shows the cost before you take it (F8)", self.action_hint
        )
        yield SystemCommand(
            "Declare resolved…",
            "Ends play; the outcome is measured to the end (F9)",
            self.action_resolve,
        )
        for pane in self.panes():
            yield SystemCommand(
                f"Open {pane}", f"Show the {pane} pane", lambda p=pane: self.show_pane(p)
            )
        for cmd, what in PALETTE_COMMANDS:
            yield SystemCommand(f"Run `{cmd}`", f"Console: {what}", lambda c=cmd: self.perform(c))

    # ------------------------------------------------------------------ the end
    def end_game(self) -> None:
        if self._over:
            return
        self._over = True
        if self._timer is not None:
            self._timer.stop()
        self.heap.stop()  # play is over: what it built may go
        # the progress screen only for a finish that takes a while (one played ahead is there at
        # once, and drawing the screen would cost more than the finish)
        self._measuring = self.set_timer(MEASURING_AFTER_S, self._show_measuring)
        self._finish()

    def _show_measuring(self) -> None:
        self._measuring = None
        ahead = getattr(self.app, "ahead", None)
        self.app.push_screen(Measuring(self.session, ahead.reached if ahead is not None else None))

    @work(thread=True, exclusive=True, group="finish")
    def _finish(self) -> None:
        # off the event loop, so the screen stays live; the recorder keeps the `finished` event
        # this emits until the app's thread writes it (SQLite objects belong to their thread).
        # The debrief replaces this screen, so no pane reads a line logged after play: none is
        # kept (the outcome is the same, see `finish`). The app may have played the rest ahead.
        finish(self.session, keep_logs=False, ahead=getattr(self.app, "ahead", None))
        self.app.call_from_thread(self._show_debrief)

    def _show_debrief(self) -> None:
        if self._measuring is not None:
            self._measuring.stop()
        else:
            self.app.pop_screen()  # Measuring
        navigator(self.app).show_debrief(self.session)
