"""Pilot tests of the main flow, and a Pilot-driven game equal to the headless run."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input

from oncall_dojo.game.check import play
from oncall_dojo.incident.model import Incident, parse_timed
from oncall_dojo.tui.screens.briefing import BriefingScreen
from oncall_dojo.tui.screens.dialogs import ConfirmDialog, DiagnosisDialog, HelpScreen
from oncall_dojo.tui.screens.incident import IncidentScreen
from oncall_dojo.tui.screens.picker import PickerScreen
from oncall_dojo.tui.widgets.log_explorer import LogExplorer
from oncall_dojo.tui.widgets.metrics import MetricsPane

from .helpers import command, new_app, sync, to_debrief, to_incident, wait_for


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
        assert {"poison-payments", "fulfillment-crashloop", "orders-cents-as-dollars"} <= set(ids)
        picker.query_one(DataTable).move_cursor(row=ids.index("poison-payments"))
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
        # filter logs: recorded as the closest `logs` command
        screen.query_one("#log-query", Input).value = "service:billing level:warn"
        screen.query_one("#log-query", Input).focus()
        await pilot.press("enter")
        explorer = screen.query_one(LogExplorer)
        assert 0 < explorer.match_count < explorer.line_count
        assert (
            s.entries[-1].command == "logs billing level=warn"
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
        assert isinstance(app.screen, DiagnosisDialog)
        app.screen.query_one("#notes", Input).value = "one message kills every worker"
        await pilot.click("#ok")
        await pilot.pause()
        assert s.diagnosis is not None and s.diagnosis[0] == "poison-message"
        assert s.diagnosis[1] == "one message kills every worker"
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
        assert text.startswith("# Debrief: ") and "## What you never looked at" in text


@sync
async def test_a_pilot_driven_game_equals_the_headless_run(poison: Incident) -> None:
    """Clock paused, time advanced by exact ticks (keys and app methods), the reference's
    commands typed at their times: the outcome equals `check.play` with the same seed."""
    seed = 1
    actions = poison.playthroughs.reference.actions
    app = new_app("poison-payments", seed)
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
    expected = play(poison, seed, actions).to_json()
    assert ours.to_json() == expected
    assert debrief.others[0].result.to_json() == expected  # the debrief's reference run too


@sync
async def test_the_clock_runs_by_whole_ticks_at_the_chosen_speed() -> None:
    app = new_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await to_incident(pilot)
        assert screen.session.now == 0
        screen.set_speed(20)
        await wait_for(pilot, lambda: screen.session.now >= 20, timeout=10)
        await pilot.press("f2")
        assert screen.pacer.paused
        stopped = screen.session.now
        await pilot.pause(0.3)
        assert screen.session.now == stopped


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
