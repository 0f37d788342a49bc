"""`db queries` and `db locks` in the full-screen game: typed at the console, and the map's
postgres row opening the sessions."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from oncall_dojo.tui.widgets.console import ConsoleLog

from .helpers import command, new_app, sync, to_incident, wait_for


@sync
async def test_db_locks_at_the_console_and_the_sessions_from_the_map() -> None:
    app = new_app("api-timeouts-db-idle", 1)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await to_incident(pilot)
        analytics, migration = screen.session.system.db.backends
        await command(pilot, "db locks")
        log = screen.query_one(ConsoleLog)
        text = "\n".join(str(line.text) for line in log.lines)
        assert f"{analytics.pid} metabase  holds AccessShareLock on orders" in text
        assert f"└─ {migration.pid} migrate  waits for AccessExclusiveLock on orders" in text
        assert "API connections wait for AccessShareLock on orders" in text
        # the map's postgres row opens every session with what it waits for
        screen.show_pane("map")
        await pilot.pause()
        table = screen.query_one("#map-pane DataTable", DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("postgres"))
        await pilot.press("enter")
        detail = screen.query_one("#map-detail", Static)
        await wait_for(pilot, lambda: "[db queries]" in str(detail.render()))
        shown = str(detail.render())
        assert "26 sessions: 2 long-running queries, 24 API connections (pool 24/24)" in shown
        assert f"Lock, behind {migration.pid}" in shown
