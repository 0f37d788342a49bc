"""`db locks` in the full-screen game, typed at the console."""

from __future__ import annotations

from oncall_dojo.tui.widgets.console import ConsoleLog

from .helpers import command, new_app, sync, to_incident


@sync
async def test_db_locks_at_the_console() -> None:
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
