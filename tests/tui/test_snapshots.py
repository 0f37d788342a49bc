"""How the screens look at 80x24 and 160x50: fixed seed, clock paused, no wall-clock text.

Update the pictures with `pytest tests/tui --snapshot-update` after a deliberate change.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from oncall_dojo.tui.screens.briefing import BriefingScreen
from oncall_dojo.tui.screens.picker import PickerScreen

from .helpers import command, new_app, to_debrief, to_incident, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]
SnapCompare = Any


@pytest.mark.parametrize("size", SIZES)
def test_picker(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[None]) -> None:
        app = pilot.app
        await wait_for(
            pilot, lambda: isinstance(app.screen, PickerScreen) and bool(app.screen.incidents)
        )
        await pilot.pause()

    assert snap_compare(new_app(None, None), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_briefing(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[None]) -> None:
        app = pilot.app
        await wait_for(
            pilot, lambda: isinstance(app.screen, BriefingScreen) and app.screen.session is not None
        )
        await pilot.pause()

    assert snap_compare(new_app(), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_incident_screen(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[None]) -> None:
        screen = await to_incident(pilot)
        screen.advance(20)
        await pilot.press("f5")
        await command(pilot, "queue payments")
        await command(pilot, "restrat billing")
        query = screen.query_one("#log-query", Input)
        query.value = "service:billing level:warn"
        query.focus()
        await pilot.press("enter")
        screen.query_one("#command", Input).focus()
        for inp in screen.query(Input):
            inp.cursor_blink = False  # a blinking cursor would differ between pictures
        await pilot.pause()

    assert snap_compare(new_app(), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_debrief(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[None]) -> None:
        screen = await to_incident(pilot)
        for at, cmd in ((20, "ack"), (40, "queue payments"), (70, "dlq move payments top"),
                        (90, "diagnose queue:payments poison-message"), (600, "resolve")):  # fmt: skip
            screen.advance_to(at)
            await command(pilot, cmd)
        await to_debrief(pilot)

    assert snap_compare(new_app(), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """F1 wraps to the width: keys, then (scrolled) the log query syntax."""

    async def ready(pilot: Pilot[None]) -> None:
        await to_incident(pilot)
        await pilot.press("f1")
        await pilot.pause()
        help_screen = pilot.app.screen
        help_screen.query_one("#help-logs").scroll_visible(top=True, animate=False)
        await pilot.pause()

    assert snap_compare(new_app(), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_diagnosis_dialog(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    """The part and mechanism lists with nothing chosen, the notes, the buttons in sight."""

    async def ready(pilot: Pilot[None]) -> None:
        await to_incident(pilot)
        await pilot.press("f6")
        await pilot.pause()
        for inp in pilot.app.screen.query(Input):
            inp.cursor_blink = False
        await pilot.pause()

    assert snap_compare(new_app(), terminal_size=size, run_before=ready)
