"""`dojo tutorial`: the guided first incident, played by keys as a new player would, to a genuine
score; and the offer on a player's first start."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Select

from oncall_dojo.incident.diagnosis import MECHANISMS
from oncall_dojo.tui.app import DojoApp
from oncall_dojo.tui.screens.debrief import DebriefScreen
from oncall_dojo.tui.screens.dialogs import ConfirmDialog, DiagnosisDialog, StatusUpdateDialog
from oncall_dojo.tui.screens.picker import PickerScreen
from oncall_dojo.tui.tutorial import INCIDENT, SEED, STEPS, GuideBar, WelcomeDialog
from oncall_dojo.tui.widgets.console import CommandInput, ConsoleLog

from .helpers import command, sync, to_debrief, to_incident, wait_for


def _step(guide: GuideBar) -> int:
    return guide.current


async def _type(pilot: object, text: str) -> None:
    for ch in text:
        await pilot.press(ch)  # type: ignore[attr-defined]


@sync
async def test_the_tutorial_is_played_by_keys_step_by_step_to_a_real_score() -> None:
    app = DojoApp(INCIDENT, SEED, tutorial=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await to_incident(pilot)
        s = screen.session
        guide = screen.query_one(GuideBar)
        assert screen.pacer.paused and _step(guide) == 0
        assert "F2" in str(guide.render())
        await pilot.press("f2", "f2")  # run the clock, pause it again (the test keeps it still)
        assert _step(guide) == 1 and "F5" in str(guide.render())
        await pilot.press("f5")
        assert _step(guide) == 2
        # logs: tab into the pane, type the filter, enter; escape back
        await pilot.press("tab")
        assert screen.focused is screen.query_one("#log-query")
        await _type(pilot, "service:billing level:warn")
        await pilot.press("enter", "escape")
        assert _step(guide) == 3
        # a chart: ctrl+o to metrics, tab to the series field
        await pilot.press("ctrl+o", "tab", "tab", "tab")
        assert screen.focused is screen.query_one("#series", Input)
        await _type(pilot, 'queue_depth{queue="payments"}')
        await pilot.press("enter", "escape")
        assert _step(guide) == 4
        await pilot.press("ctrl+o")  # the map: opened, and a component's detail
        await pilot.pause()
        assert _step(guide) == 4
        await pilot.press("tab")
        table = screen.query_one("#map-pane DataTable", DataTable)
        assert screen.focused is table
        while table.cursor_row < table.get_row_index("workers billing"):
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        assert s.entries[-1].command == "workers billing"
        assert _step(guide) == 5
        await pilot.press("escape")
        console = screen.query_one(CommandInput)
        await _type(pilot, "queue pay")
        await pilot.press("tab")
        assert console.value == "queue payments "
        await pilot.press("enter")
        assert _step(guide) == 6
        await _type(pilot, "restart")
        await pilot.press("enter")
        assert s.entries[-1].kind == "refused" and _step(guide) == 7
        await command(pilot, "dlq move payments top")
        await command(pilot, "restart billing")
        assert _step(guide) == 8
        await pilot.press("f7")
        assert isinstance(app.screen, StatusUpdateDialog)
        await _type(pilot, "Card charges are delayed; we are restarting billing")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen)
        assert s.status_updates and _step(guide) == 9
        await pilot.press("f6")
        assert isinstance(app.screen, DiagnosisDialog)
        assert app.screen.focused is app.screen.query_one("#part", Select)
        part = 1 + s.parts.index("queue:payments")  # the list opens on its blank prompt
        mechanism = 1 + list(MECHANISMS).index("poison-message")
        await pilot.press("enter", *["down"] * part, "enter", "tab")
        await pilot.press("enter", *["down"] * mechanism, "enter", "tab", "enter")
        await wait_for(pilot, lambda: app.screen is screen)
        assert s.diagnosis is not None and _step(guide) == 10
        assert (s.diagnosis.part, s.diagnosis.mechanism) == ("queue:payments", "poison-message")
        await command(pilot, "wait 2m")
        lines = " ".join(line.text for line in screen.query_one(ConsoleLog).lines)
        assert all(f"✓ tutorial: {st.title}" in lines for st in STEPS[:-1])
        await pilot.press("f9")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")
        debrief = await to_debrief(pilot, with_comparison=False)
        assert isinstance(debrief, DebriefScreen)
        result = s.result
        assert result is not None and result.resolved and result.score > 0
        # the guide's looks (queue, logs, workers) come before its first change: full evidence
        evidence = next(i for i in result.items if i.key == "evidence")
        assert evidence.points == evidence.max, evidence.detail
        comms = next(i for i in result.items if i.key == "comms")
        assert comms.points > 0, comms.detail


@sync
async def test_the_first_start_offers_the_tutorial_and_it_can_be_skipped() -> None:
    app = DojoApp(None, None, offer_tutorial=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeDialog))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        assert not app.tutorial
        await pilot.press("t")  # and it is on the picker any time
        screen = await to_incident(pilot)
        assert screen.session.incident.id == INCIDENT and screen.query(GuideBar)


@sync
async def test_the_offer_taken_starts_the_tutorial() -> None:
    app = DojoApp(None, None, offer_tutorial=True)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeDialog))
        await pilot.press("enter")
        screen = await to_incident(pilot)
        assert app.tutorial and screen.query(GuideBar) and screen.pacer.paused


@sync
async def test_the_same_incident_played_normally_has_no_guide() -> None:
    app = DojoApp(INCIDENT, SEED)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await to_incident(pilot)
        assert not screen.query(GuideBar) and not screen.pacer.paused
