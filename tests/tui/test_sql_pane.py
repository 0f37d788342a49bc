"""The Data pane: SQL on the application database from the TUI, recorded like any command."""

from __future__ import annotations

from textual.widgets import Button, Input, Static, TabbedContent

from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.packs import bundled_dir

from .helpers import new_app, sync, to_incident


def _result(screen) -> str:  # type: ignore[no-untyped-def]
    return str(screen.query_one("#sql-result", Static).render())


@sync
async def test_sql_in_the_data_pane_previews_commits_and_equals_the_headless_run() -> None:
    app = new_app("orders-missing-currency", 1)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await to_incident(pilot)
        assert screen.panes() == ["logs", "metrics", "map", "changes", "runbooks", "data"]
        commands = [c.title for c in app.get_system_commands(screen)]
        assert "Open data" in commands  # the palette opens every pane this incident has
        screen.query_one(TabbedContent).active = "data"
        await pilot.pause()
        inp = screen.query_one("#sql-input", Input)
        assert inp.has_focus
        inp.value = "SELECT count(*) FROM orders WHERE currency IS NULL"
        await pilot.press("enter")
        await pilot.pause()
        assert "1 row" in _result(screen) and inp.value == ""
        inp.value = "DELETE FROM payments"
        await pilot.press("enter")
        await pilot.pause()
        assert "read-only" in _result(screen)
        commit = screen.query_one("#sql-commit", Button)
        assert commit.disabled
        inp.value = "UPDATE orders SET currency = 'EUR' WHERE id <= 3"
        await pilot.press("enter")
        await pilot.pause()
        assert "3 rows would change in orders" in _result(screen)
        assert not commit.disabled
        await pilot.click("#sql-commit")
        await pilot.pause()
        assert "3 in orders" in _result(screen) and commit.disabled
        # ↑ brings the last statement back
        inp.focus()
        await pilot.press("up")
        assert inp.value.startswith("UPDATE orders")
        s = screen.session
        commands = [(e.at, e.command) for e in s.entries]
        assert [c for _, c in commands][-4:] == [
            "sql SELECT count(*) FROM orders WHERE currency IS NULL",
            "sql DELETE FROM payments",
            "sql UPDATE orders SET currency = 'EUR' WHERE id <= 3",
            "sql commit",
        ]
        assert s.system.app is not None
        tui_rows = s.system.app.fingerprint()
    inc = load_checked(bundled_dir() / "orders-missing-currency.yaml").for_seed(1)
    headless = Session(inc, 1)
    for at, text in commands:
        headless.advance_to(at)
        perform(headless, text)
    assert headless.system.app is not None
    assert headless.system.app.fingerprint() == tui_rows


@sync
async def test_an_incident_without_an_application_database_has_no_data_pane() -> None:
    app = new_app("payments-stuck", 1)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await to_incident(pilot)
        assert not screen.query("#sql-pane")
        assert "no application database" in perform(screen.session, "sql SELECT 1").output


@sync
async def test_sql_results_are_shown_as_they_are_never_read_as_markup() -> None:
    app = new_app("orders-missing-currency", 1)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await to_incident(pilot)
        screen.query_one(TabbedContent).active = "data"
        await pilot.pause()
        inp = screen.query_one("#sql-input", Input)
        inp.value = "SELECT 'C:\\[red]x [b]y' AS path"
        await pilot.press("enter")
        await pilot.pause()
        assert "C:\\[red]x [b]y" in _result(screen)
