"""Pilot tests of the main flow, and a Pilot-driven game equal to the headless run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.widgets import DataTable, Input, RichLog, Select

from oncall_dojo.game.fmt import compact, mmss
from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident, parse_timed
from oncall_dojo.tui import dashboards
from oncall_dojo.tui.pacing import TIMER_HZ
from oncall_dojo.tui.screens import incident as incident_screen
from oncall_dojo.tui.screens.briefing import BriefingScreen
from oncall_dojo.tui.screens.dialogs import ConfirmDialog, DiagnosisDialog, HelpScreen
from oncall_dojo.tui.screens.incident import IncidentScreen
from oncall_dojo.tui.screens.picker import PickerScreen
from oncall_dojo.tui.widgets.chart import LABEL_W
from oncall_dojo.tui.widgets.console import OpsConsole
from oncall_dojo.tui.widgets.log_explorer import LogExplorer
from oncall_dojo.tui.widgets.metrics import MetricRow, MetricsPane
from oncall_dojo.tui.widgets.system_map import component_rows

from .helpers import command, new_app, sync, to_debrief, to_incident, wait_for

Play = Callable[..., Session]


@sync
async def test_the_main_flow_from_the_picker_to_the_exported_debrief(tmp_path: Path) -> None:
    app = new_app(None, None, export_dir=tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        # pick an incident, with a seed
        await wait_for(
            pilot, lambda: isinstance(app.screen, PickerScreen) and bool(app.screen.incidents)
        )
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        ids = [inc.id for inc in picker.incidents]
        assert {"payments-stuck", "orders-not-shipping", "order-totals-wrong"} <= set(ids)
        picker.query_one(DataTable).move_cursor(row=ids.index("payments-stuck"))
        picker.query_one("#seed", Input).value = "1"
        await pilot.press("enter")
        # read the briefing
        await wait_for(
            pilot, lambda: isinstance(app.screen, BriefingScreen) and app.screen.session is not None
        )
        briefing = app.screen
        assert isinstance(briefing, BriefingScreen) and briefing.seed == 1
        assert "QueueAgeHigh_payments" in str(briefing.query_one("#page").render())
        screen = await to_incident(pilot)
        s = screen.session
        assert s.seed == 1 and screen.pacer.paused
        # the clock moves only by keys while paused
        await pilot.press("f4")
        assert s.now == 10
        # help opens and closes
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        # acknowledge
        await pilot.press("f5")
        assert s.acked_at == 10
        # filter logs: recorded as the `logs` command with the same query
        screen.query_one("#log-query", Input).value = "service:billing level:warn"
        screen.query_one("#log-query", Input).focus()
        await pilot.press("enter")
        explorer = screen.query_one(LogExplorer)
        assert 0 < explorer.match_count < explorer.line_count
        assert (
            s.entries[-1].command == "logs service:billing level:warn"
            and s.entries[-1].evidence == "logs:billing"
        )
        # open a chart
        screen.show_pane("metrics")
        await pilot.pause()
        series = screen.query_one("#series", Input)
        series.value = 'queue_depth{queue="payments"}'
        series.focus()
        await pilot.press("enter")
        assert screen.query_one(MetricsPane).selector == 'queue_depth{queue="payments"}'
        assert s.entries[-1].evidence == "metrics:queue_depth"
        # console: a command, a refused one (inline), tab completion of names that exist
        await command(pilot, "queue payments")
        await command(pilot, "restrat billing")
        assert [e.kind for e in s.entries[-2:]] == ["investigate", "refused"]
        assert "Did you mean `restart`?" in s.entries[-1].output
        inp = screen.query_one("#command", Input)
        inp.value = "dlq move pay"
        await pilot.press("tab")
        assert inp.value == "dlq move payments "
        await pilot.press("tab")
        assert "top" in str(screen.query_one("#candidates").render())
        await command(pilot, "dlq move payments top")
        assert s.entries[-1].kind == "act"
        # declare the root cause through the form
        await pilot.press("f6")
        dialog = app.screen
        assert isinstance(dialog, DiagnosisDialog)
        part, mechanism = dialog.query_one("#part", Select), dialog.query_one("#mechanism", Select)
        # nothing is chosen for the player, and declaring needs both choices
        assert part.is_blank() and mechanism.is_blank()
        await pilot.click("#ok")
        await pilot.pause()
        assert app.screen is dialog and s.diagnosis is None
        assert "Choose a part and a mechanism" in str(dialog.query_one("#missing").render())
        part.value = "queue:payments"
        mechanism.value = "poison-message"
        dialog.query_one("#notes", Input).value = "one message kills every worker"
        # a button still showing its last press ignores another click (Textual's debounce)
        await wait_for(pilot, lambda: not dialog.query_one("#ok").has_class("-active"))
        await pilot.click("#ok")
        await wait_for(pilot, lambda: app.screen is not dialog)
        assert s.diagnosis is not None
        assert (s.diagnosis.part, s.diagnosis.mechanism) == ("queue:payments", "poison-message")
        assert s.diagnosis.notes == "one message kills every worker"
        # resolve (confirmed), then the debrief
        await pilot.press("f9")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.click("#ok")
        debrief = await to_debrief(pilot)
        assert debrief.result.score == s.result.score  # type: ignore[union-attr]
        assert [r.label for r in debrief.others] == ["Reference", "Did nothing"]
        compare = str(debrief.query_one("#compare").render())
        assert "Reference" in compare and "Did nothing" in compare
        await pilot.press("e")
        assert debrief.exported is not None
        text = debrief.exported.read_text()
        assert text.startswith("# Postmortem: ") and "## What the reference did differently" in text
        assert "| Session | not recorded |" in text


@sync
async def test_a_pilot_driven_game_equals_the_headless_run(poison: Incident, play: Play) -> None:
    """Clock paused, time advanced by exact ticks (keys and app methods), the reference's
    commands typed at their times: the outcome equals the headless run with the same seed."""
    seed = 1
    actions = poison.playthroughs.reference.actions
    app = new_app("payments-stuck", seed)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await to_incident(pilot)
        await pilot.press("f4", "f4")  # 20 s by keys: the first action is at 00:20
        for line in actions:
            parsed = parse_timed(line)
            assert parsed is not None
            at, cmd = parsed
            screen.advance_to(at)
            assert screen.session.now == at
            await command(pilot, cmd)
        debrief = await to_debrief(pilot)
        ours = app.session.result  # type: ignore[union-attr]
    assert ours is not None
    headless = play(actions, seed).result
    assert headless is not None
    expected = headless.to_json()
    assert ours.to_json() == expected
    assert debrief.others[0].result.to_json() == expected  # the debrief's reference run too


async def _until(cond: Callable[[], bool], limit: int = 2000) -> None:
    """Let the event loop run until `cond` holds (no Pilot: it would wait for the screen)."""
    for _ in range(limit):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {cond}")


@sync
async def test_the_clock_runs_in_slices_keys_are_handled_meanwhile_and_play_replays_headless(
    poison: Incident, digest: Callable[[Session], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = new_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await to_incident(pilot)
        s = screen.session
        assert s.now == 0
        screen.set_speed(20)
        await wait_for(pilot, lambda: s.now >= 10, timeout=10)
        await command(pilot, "queue payments")  # typed while the clock runs
        await command(pilot, "ack")
        await wait_for(pilot, lambda: s.now >= 20, timeout=10)
        await pilot.press("f2")
        assert screen.pacer.paused
        stopped = s.now
        await pilot.pause(0.3)
        assert s.now == stopped
        assert [e.command for e in s.entries] == ["queue payments", "ack"]
        assert 10 <= s.entries[0].at <= s.entries[1].at <= stopped
        # the same commands at the same ticks, headless: the same game
        headless = Session(poison, 1)
        for e in s.entries:
            headless.advance_to(e.at)
            perform(headless, e.command)
        headless.advance_to(stopped)
        assert [(e.tick, e.kind, e.output) for e in headless.entries] == [
            (e.tick, e.kind, e.output) for e in s.entries
        ]
        assert digest(headless) == digest(s)

        # A slice that runs out owes its ticks to the next firing instead of blocking. Watched
        # through the clock the player sees, at the start of each firing of the screen's timer
        # (the pacer is asked once a firing): a firing runs 2 ticks at 20x.
        seen: list[tuple[bool, int]] = []
        ask = screen.pacer.due

        def due(dt: float = 1 / TIMER_HZ) -> int:
            seen.append((screen.pacer.paused, s.now))
            return ask(dt)

        monkeypatch.setattr(screen.pacer, "due", due)

        async def firings(n: int, mark: int | None = None) -> list[int | None]:
            """Let `n` firings pass from `mark` (now if not given): the ticks each ran, or None
            for a firing that found the clock paused."""
            start = len(seen) if mark is None else mark
            await wait_for(pilot, lambda: len(seen) > start + n, timeout=30)
            steps = zip(seen[start:], seen[start + 1 :], strict=False)
            return [None if a[0] else b[1] - a[1] for a, b in steps][:n]

        monkeypatch.setattr(incident_screen, "SLICE_S", 0.0)  # every slice spent after a tick
        await pilot.press("f2")
        assert not screen.pacer.paused
        assert await firings(20) == [1] * 20  # the clock slowed to a tick a firing, keys still work
        monkeypatch.setattr(incident_screen, "SLICE_S", 10.0)  # room again: the debt is paid...
        assert await firings(3) == [20, 2, 2]  # ...capped at a second of play (19 owed + 2 due)
        monkeypatch.setattr(incident_screen, "SLICE_S", 0.0)
        assert await firings(4) == [1] * 4  # ticks are owed again
        await pilot.press("f2")
        assert screen.pacer.paused
        stood = s.now
        assert await firings(2) == [None, None] and s.now == stood  # paused: the clock stands
        monkeypatch.setattr(incident_screen, "SLICE_S", 10.0)
        mark = len(seen)
        await pilot.press("f2")
        ran = await firings(4, mark)
        assert [r for r in ran if r is not None][:3] == [2, 2, 2]  # the pause forgave the debt
        await pilot.press("f2")
        assert screen.pacer.paused
        await pilot.pause()
        monkeypatch.setattr(incident_screen, "SLICE_S", 0.0)

        # a long wait runs in slices too (one tick each here): the screen stays live meanwhile
        screen.show_pane("map")
        await pilot.pause()
        start = s.now
        inp = screen.query_one("#command", Input)
        inp.focus()
        inp.value = "wait 5m"

        def key(k: str) -> None:
            app.post_message(events.Key(k, k if len(k) == 1 else None))

        key("enter")
        await _until(lambda: screen.waiting)
        key("x")  # typed while the clock runs: handled before the wait is over
        await _until(lambda: inp.value == "x")
        key("backspace")  # a key bound in the input (keys bubble through the screen)
        await _until(lambda: inp.value == "")
        assert screen.waiting and start < s.now < start + 300
        inp.value = "queue payments"
        key("enter")
        await _until(lambda: inp.value == "")
        assert screen.waiting  # entered during the wait: performed after it, as the console does
        await _until(lambda: not screen.waiting)
        await pilot.pause()
        assert s.now == start + 300
        assert [(e.at, e.command) for e in s.entries[-2:]] == [
            (start, "map"),
            (start + 300, "queue payments"),
        ]
        # the open pane followed the clock: every cell shows the map as it is now
        table = screen.query_one("#map-pane DataTable", DataTable)
        cells = [
            tuple(str(table.get_cell(name, col)) for col in ("h", "d"))
            for name, _, _ in component_rows(s)
        ]
        assert cells == [(health, detail) for _, health, detail in component_rows(s)]
        # so does the metrics dashboard when it is opened
        screen.show_pane("metrics")
        await pilot.pause()
        row = screen.query(MetricRow).first()
        value = dashboards.current(s, row.panel)
        assert value is not None
        shown = f"{value:.1%}" if row.panel.over else compact(value)
        assert shown in _row_lines(row)[1]
        # the palette's wait is the console's
        screen.enter("wait 1m")
        await wait_for(pilot, lambda: not screen.waiting)
        assert s.now == start + 360


@sync
async def test_a_wait_in_the_console_advances_and_a_bad_one_is_refused_inline() -> None:
    app = new_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await to_incident(pilot)
        await command(pilot, "wait 2m")
        assert screen.session.now == 120
        await command(pilot, "wait soon")
        assert screen.session.now == 120
        assert isinstance(app.screen, IncidentScreen)
        # the console keeps to its newest line, and its scrollbar to the console
        log = screen.query_one("#console RichLog", RichLog)
        for i in range(60):
            screen.query_one(OpsConsole).note(f"line {i}")
        await pilot.pause()
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y
        bar = log.vertical_scrollbar
        assert (bar.window_virtual_size, bar.position) == (log.virtual_size.height, log.scroll_y)
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert log.container_size == log.region.size  # the view took its new size
        assert log.scroll_y == log.max_scroll_y
        # a line longer than the prompt scrolls with the cursor
        inp = screen.query_one("#command", Input)
        inp.value, inp.cursor_position = "x" * 120, 120
        await pilot.press(*"yyyyy")
        assert inp.value == "x" * 120 + "yyyyy" and inp.scroll_x > 0
        assert inp.scroll_x <= inp.cursor_position <= inp.scroll_x + inp.content_size.width


def _row_lines(row: MetricRow) -> list[str]:
    """The lines a metric row draws on screen."""
    return [row.render_line(y).text for y in range(row.size.height)]


@sync
async def test_a_metric_row_draws_its_label_value_and_a_chart_that_follows_the_data() -> None:
    app = new_app()
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await to_incident(pilot)
        s = screen.session
        screen.show_pane("metrics")
        await pilot.pause()
        row = screen.query(MetricRow).first()
        assert row.panel.label == "rate" and not row.panel.over

        def drawn() -> tuple[str, str, str]:
            top, bottom = _row_lines(row)
            w = MetricRow.VALUE_W
            return top[:w].rstrip(), bottom[:w].strip(), top[w:] + bottom[w:]

        label, value, chart = drawn()
        assert label == "rate"
        assert value == compact(dashboards.current(s, row.panel)) + "/s"
        assert any(block in chart for block in "▁▂▃▄▅▆▇█")
        points = row.size.width - MetricRow.VALUE_W - LABEL_W
        assert (
            chart.split()[0] == compact(row._source(points).max()) + "/s"
        )  # the max, left of the bars
        screen.advance(120)
        await pilot.pause()
        label, later_value, later_chart = drawn()
        assert label == "rate"
        assert later_value == compact(dashboards.current(s, row.panel)) + "/s"
        assert later_chart != chart  # two more minutes of data in the window


@sync
async def test_the_debrief_takes_its_comparison_runs_from_the_worker_that_played_them(
    repo_root: Path, monkeypatch: pytest.MonkeyPatch, play: Play
) -> None:
    """With `play_ahead` (as `dojo play` runs), the reference and doing nothing are played in
    a worker process from the start of the game; the debrief shows those runs, which are the
    same, byte for byte, as the golden headless ones. The rest of the game itself is played
    in another worker after each change, and the finish takes it: the score is the headless
    one."""
    import json
    import os

    from oncall_dojo.tui import report

    golden = json.loads(
        (repo_root / "tests/incidents/golden/payments-stuck.json").read_text(encoding="utf-8")
    )
    monkeypatch.setattr(report, "_RUNS", {})  # no runs kept from an earlier game of this seed
    app = new_app("payments-stuck", 3, play_ahead=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await to_incident(pilot)
        key = report._ahead_key(screen.session.incident, 3)
        worker = report._AHEAD[key]
        assert worker._proc.pid != os.getpid() and worker.names == ["reference", "idle"]
        await command(pilot, "ack")
        # a player takes a while (and a busy machine can make the worker slow)
        await wait_for(pilot, worker.ready, timeout=600)
        rest = app.ahead  # the rest of this game, played in another worker after the ack
        assert rest is not None and rest.session is screen.session and rest.working
        await wait_for(pilot, lambda: rest.finished() is not None, timeout=600)
        before = screen.session.system
        await pilot.press("f9")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.click("#ok")
        debrief = await to_debrief(pilot)
        assert key not in report._AHEAD and not worker._proc.is_alive()
        # the finish took the system the worker ran to the horizon, and scored it as its own
        assert debrief.session.system is not before and not rest.working
        actions = [f"{mmss(e.at)} {e.command}" for e in debrief.session.entries]
        assert actions == ["00:00 ack", "00:00 resolve"]
        ours = debrief.session.result
        # measured to the horizon without keeping log lines nobody can read any more
        assert debrief.session.system.logs.muted
        ref, idle = debrief.others
    headless = play(actions, 3).result
    assert ours is not None and headless is not None
    assert ours.to_json() == headless.to_json()
    for run, name in ((ref, "reference"), (idle, "idle")):
        want = {k: v for k, v in golden[name]["3"].items() if k != "commands"}
        assert json.loads(json.dumps(run.result.to_json())) == want
        assert run.outcome.end == run.outcome.page_tick + run.outcome.horizon
        assert run.outcome.metrics.ticks == run.outcome.end
    # another game of the same seed in this process plays nothing ahead: the runs are kept
    report.play_ahead(debrief.session.incident, 3)
    assert report._AHEAD == {}
    again = report.comparison_runs(debrief.session.incident, 3)
    assert [r.outcome for r in again] == [ref.outcome, idle.outcome]


class HeldRuns:
    """The debrief's comparison runs, held in their worker thread until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import threading

        from oncall_dojo.tui import report

        self.asked, self.release, self.returned = (threading.Event() for _ in range(3))
        real = report.comparison_runs

        def held(incident: Incident, seed: int) -> Any:
            self.asked.set()
            self.release.wait(120)
            try:
                return real(incident, seed)
            finally:
                self.returned.set()

        monkeypatch.setattr(report, "comparison_runs", held)

    async def come_back(self, pilot: Any) -> None:
        self.release.set()
        await wait_for(pilot, self.returned.is_set, timeout=600)
        for _ in range(5):  # the worker hands them to the app's loop
            await pilot.pause()


async def _resolved(pilot: Any, held: HeldRuns) -> Any:
    await to_incident(pilot)
    await command(pilot, "ack")
    await pilot.press("f9")
    assert isinstance(pilot.app.screen, ConfirmDialog)
    await pilot.click("#ok")
    debrief = await to_debrief(pilot, with_comparison=False)
    await wait_for(pilot, held.asked.is_set, timeout=60)
    return debrief


@sync
async def test_leaving_the_debrief_before_its_comparison_runs_are_back_is_safe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`n` on the debrief while the reference and doing nothing still play: the picker opens,
    and the runs that come back later are dropped without an error."""
    held = HeldRuns(monkeypatch)
    app = new_app("payments-stuck", 1)
    async with app.run_test(size=(120, 40)) as pilot:
        debrief = await _resolved(pilot, held)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen), timeout=60)
        await held.come_back(pilot)
        assert isinstance(app.screen, PickerScreen) and not debrief.others


@sync
async def test_comparison_runs_that_come_back_while_the_debrief_is_taken_down_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Quitting on the debrief takes its widgets down while the runs may still be on their
    way (a thread cannot be cancelled): they find no place to show in and are dropped, where
    they used to fail the app with `NoMatches('#compare')`."""
    from textual.containers import VerticalScroll

    held = HeldRuns(monkeypatch)
    app = new_app("payments-stuck", 1)
    async with app.run_test(size=(120, 40)) as pilot:
        debrief = await _resolved(pilot, held)
        await debrief.query_one(VerticalScroll).remove()  # as the app's shutdown does
        await held.come_back(pilot)
        assert not debrief.others and not debrief.query("#compare")
    assert app._exception is None


@pytest.mark.parametrize("after_s", [0.05, 60.0])
@sync
async def test_the_progress_screen_shows_only_while_a_finish_takes_a_while(
    monkeypatch: pytest.MonkeyPatch, after_s: float
) -> None:
    """The finish is held until the test lets it go: the progress screen appears once it has
    run for `MEASURING_AFTER_S`, and the debrief replaces it. A finish done sooner (the rest
    played ahead) goes straight to the debrief, with no progress screen drawn."""
    import threading

    from oncall_dojo.tui.screens.measuring import Measuring

    held, real, show = threading.Event(), incident_screen.finish, IncidentScreen._show_measuring
    shown: list[float] = []

    def slow(*args: Any, **kwargs: Any) -> Any:
        held.wait(60)
        return real(*args, **kwargs)

    def showing(screen: IncidentScreen) -> None:
        shown.append(screen.session.now)
        show(screen)

    monkeypatch.setattr(incident_screen, "finish", slow)
    monkeypatch.setattr(IncidentScreen, "_show_measuring", showing)
    monkeypatch.setattr(incident_screen, "MEASURING_AFTER_S", after_s)
    app = new_app("payments-stuck", 2)
    async with app.run_test(size=(120, 40)) as pilot:
        await to_incident(pilot)
        await command(pilot, "ack")
        await pilot.press("f9")
        await pilot.click("#ok")
        if after_s < 1:
            await wait_for(pilot, lambda: isinstance(app.screen, Measuring))
        held.set()
        debrief = await to_debrief(pilot, with_comparison=False)
        assert not any(isinstance(s, Measuring) for s in app.screen_stack)
        assert debrief.session.result is not None
    assert len(shown) == (1 if after_s < 1 else 0)
