"""A new player's keys: focus never lost, 80x24 shows what matters, dialogs do what they say."""

from __future__ import annotations

import pytest
from textual.widgets import Footer, Input, OptionList, Select, Static, TabbedContent
from textual.widgets._footer import FooterKey

from oncall_dojo.incident.diagnosis import MECHANISMS
from oncall_dojo.tui.screens.dialogs import (
    DiagnosisDialog,
    HelpScreen,
    ReadingScreen,
    StatusUpdateDialog,
)
from oncall_dojo.tui.widgets.console import CommandInput, ConsoleLog
from oncall_dojo.tui.widgets.log_explorer import LogExplorer
from oncall_dojo.tui.widgets.pager import Pager
from oncall_dojo.tui.widgets.status import ClockBar

from .helpers import new_app, sync, to_incident, wait_for

SIZES = [(80, 24), (160, 50)]


async def _type(pilot: object, text: str) -> None:
    for ch in text:
        await pilot.press(ch)  # type: ignore[attr-defined]


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_after_a_click_on_any_pane_typing_reaches_the_console(size: tuple[int, int]) -> None:
    """Click every pane (and the parts of it that take no text), then type: the command runs at
    the console. A click on a text field keeps the typing there; escape brings it back."""
    app = new_app()
    async with app.run_test(size=size) as pilot:
        screen = await to_incident(pilot)
        s = screen.session
        console = screen.query_one(CommandInput)
        typed = 0
        for pane in screen.panes():
            screen.show_pane(pane)
            await pilot.pause()
            body = screen.query_one(TabbedContent).active_pane
            assert body is not None
            targets = [screen.query_one(Pager), screen.query_one("#panes Tabs"), body]
            targets += [w for w in screen.focus_chain if body in w.ancestors]
            for widget in targets:
                await pilot.click(widget, offset=(2, 0))
                await pilot.pause()
                if isinstance(screen.focused, Input) and screen.focused is not console:
                    await pilot.press("escape")  # a text field keeps its keys until escape
                await _type(pilot, "alerts")
                await pilot.press("enter")
                await pilot.pause()
                typed += 1
                assert screen.focused is console, (pane, widget)
                assert s.entries[-1].command == "alerts", (pane, widget)
                assert [e.command for e in s.entries].count("alerts") == typed
        assert s.acked_at is None  # a click on the pager acknowledged nothing


@sync
async def test_a_click_on_the_pager_does_not_acknowledge_and_rows_keep_their_place() -> None:
    app = new_app()
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await to_incident(pilot)
        pager = screen.query_one(Pager)
        await pilot.click(pager, offset=(5, 1))
        await pilot.click(pager, offset=(5, 2))
        await pilot.pause()
        assert screen.session.acked_at is None
        assert "F5 acknowledges" in str(pager.render())
        page = screen.session.incident.page.alert
        rows = [line for line in str(pager.render()).splitlines() if "FIRING" in line]
        assert page in rows[0]  # the page first, then by name (not by state)
        await pilot.press("f5")
        assert screen.session.acked_at is not None


@sync
async def test_tab_from_an_empty_console_line_reaches_the_pane_and_escape_comes_back() -> None:
    app = new_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await to_incident(pilot)
        console = screen.query_one(CommandInput)
        assert screen.focused is console
        # the runbook list, by keys only
        await pilot.press("ctrl+o", "ctrl+o", "ctrl+o", "ctrl+o")
        assert screen.query_one(TabbedContent).active == "runbooks"
        await pilot.press("tab")
        assert isinstance(screen.focused, OptionList)
        assert console.placeholder.startswith("esc")  # the console says how to come back
        await pilot.press("down", "enter")
        await pilot.pause()
        assert screen.session.entries[-1].command.startswith("runbook ")
        await pilot.press("escape")
        assert screen.focused is console
        # tab with text completes, as before
        console.value = "queue pay"
        await pilot.press("tab")
        assert console.value == "queue payments " and screen.focused is console
        # tab through the logs pane comes back round to the console
        console.value = ""
        screen.show_pane("logs")
        await pilot.pause()
        await pilot.press("tab")
        assert screen.focused is screen.query_one("#log-query")
        await pilot.press("tab")
        assert isinstance(screen.focused, LogExplorer)
        await pilot.press("tab")
        assert isinstance(screen.focused, ConsoleLog)  # the console's output scrolls by keys
        await pilot.press("tab")
        assert screen.focused is console


@sync
async def test_the_lines_in_the_log_view_can_be_read_whole() -> None:
    app = new_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await to_incident(pilot)
        explorer = screen.query_one(LogExplorer)
        explorer.focus()
        await pilot.pause()
        wide = max(
            len(explorer.line_text(explorer.line_at(r))) for r in range(explorer.match_count)
        )
        assert wide > explorer.size.width  # lines are wider than the pane
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ReadingScreen))
        reading = app.screen
        shown = [str(w.render()) for w in reading.query(".line")]
        first = int(explorer.scroll_y)
        assert shown[0] == explorer.line_text(explorer.line_at(first))
        assert all(w.size.width <= 80 and w.size.height >= 1 for w in reading.query(".line"))
        await pilot.press("escape")
        assert app.screen is screen


@sync
async def test_at_80x24_the_footer_header_and_console_show_what_matters() -> None:
    app = new_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await to_incident(pilot)
        await pilot.pause()
        keys = {k.key: k for k in screen.query_one(Footer).query(FooterKey)}
        for key in ("f1", "f2", "f9", "ctrl+q", "ctrl+p"):
            assert key in keys, key
            region = keys[key].region
            assert region.width > 0 and region.right <= 80, (key, region)
        assert "f3" not in keys and "f8" not in keys  # in F1 and the palette instead
        assert screen.query_one(ConsoleLog).size.height >= 8
        await pilot.press(*"ack", "enter")
        await wait_for(pilot, lambda: screen.session.acked_at is not None)
        await pilot.press("f6")
        dialog = app.screen
        assert isinstance(dialog, DiagnosisDialog)
        dialog.query_one("#part", Select).value = "queue:payments"
        dialog.query_one("#mechanism", Select).value = "poison-message"
        dialog.query_one("#notes", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen)
        clock = str(screen.query_one(ClockBar).render())
        assert "cause: queue:payments poison-message" in clock and len(clock) <= 80
        assert "T+" in clock and "payments-stuck" in clock


@sync
async def test_the_footer_shows_every_key_when_wide() -> None:
    app = new_app()
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await to_incident(pilot)
        await pilot.pause()
        keys = {k.key for k in screen.query_one(Footer).query(FooterKey)}
        assert {"f1", "f2", "f3", "f5", "f6", "f7", "f8", "f9", "ctrl+o", "ctrl+q"} <= keys


@sync
async def test_the_declare_dialog_is_used_by_keys_alone_and_enter_declares() -> None:
    """Nothing is chosen until the player chooses: enter on the notes says what is missing.
    Then enter opens a list, down and enter choose, tab moves on, and enter on the notes line
    declares what the two lists show."""
    app = new_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await to_incident(pilot)
        await pilot.press("f6")
        dialog = app.screen
        assert isinstance(dialog, DiagnosisDialog)
        part, mechanism = dialog.query_one("#part", Select), dialog.query_one("#mechanism", Select)
        assert dialog.focused is part and part.is_blank() and mechanism.is_blank()
        dialog.query_one("#notes", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog and screen.session.diagnosis is None
        assert "Choose a part and a mechanism first" in str(
            dialog.query_one("#missing", Static).render()
        )
        part.focus()
        await pilot.press("enter", "down", "enter", "tab", "enter", "down", "down", "enter")
        await pilot.pause()
        assert not part.is_blank() and not mechanism.is_blank()
        await pilot.press("tab", *"saw it", "enter")
        await wait_for(pilot, lambda: app.screen is screen)
        d = screen.session.diagnosis
        assert d is not None
        assert (d.part, d.mechanism, d.notes) == (part.value, mechanism.value, "saw it")


@sync
async def test_mechanisms_are_not_cut_at_160_columns() -> None:
    app = new_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await to_incident(pilot)
        await pilot.press("f6")
        dialog = app.screen
        mechanism = dialog.query_one("#mechanism", Select)
        mechanism.focus()
        await pilot.press("enter")
        await pilot.pause()
        options = mechanism.query_one(OptionList)
        shown = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        for m, text in MECHANISMS.items():
            assert f"{m}: {text}" in shown
        lines = options.render_lines(options.region.reset_offset)
        for line in lines:
            assert "…" not in line.text


@pytest.mark.parametrize("key", ["f6", "f7", "f9", "f1"])
@sync
async def test_the_clock_stops_while_a_dialog_is_open(key: str) -> None:
    app = new_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await to_incident(pilot)
        screen.pacer.paused = False
        await pilot.press(key)
        assert app.screen is not screen
        assert screen.pacer.held and screen.pacer.due(1.0) == 0
        now = screen.session.now
        await pilot.pause(0.3)
        assert screen.session.now == now
        assert "HELD" in str(screen.query_one(ClockBar).render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and not screen.pacer.held and not screen.pacer.paused


@sync
async def test_under_pressure_the_clock_runs_while_a_dialog_is_open() -> None:
    app = new_app(pressure=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await to_incident(pilot)
        screen.pacer.paused = False
        await pilot.press("f7")
        assert isinstance(app.screen, StatusUpdateDialog)
        assert not screen.pacer.held and screen.pacer.due(1.0) == 1


@sync
async def test_help_wraps_to_80_columns() -> None:
    app = new_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await to_incident(pilot)
        await pilot.press("f1")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        await pilot.pause()
        logs = help_screen.query_one("#help-logs")
        text = str(logs.render())
        assert "case-insensitive substring of the whole line" in text
        # wrapped, not cut: it takes more rows than it has lines, and fits the screen's width
        assert logs.size.height > text.count("\n") + 1 and logs.region.right <= 80


@sync
async def test_the_palette_speaks_of_one_simulated_second() -> None:
    app = new_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await to_incident(pilot)
        helps = [c.help for c in screen.system_commands()]
        assert "1 simulated second per second" in helps
        assert "5 simulated seconds per second" in helps
