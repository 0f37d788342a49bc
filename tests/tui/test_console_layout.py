"""The console's new lines repaint the console, not the whole screen's layout."""

from __future__ import annotations

from typing import Any

from oncall_dojo.tui.widgets.console import ConsoleLog, OpsConsole

from .helpers import new_app, sync, to_incident


@sync
async def test_a_console_line_does_not_lay_out_the_screen_again() -> None:
    app = new_app()
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await to_incident(pilot)
        console = screen.query_one(OpsConsole)
        log = screen.query_one(ConsoleLog)
        await pilot.pause()
        layouts: list[int] = []
        real = screen._refresh_layout

        def counted(*args: Any, **kwargs: Any) -> Any:
            layouts.append(1)
            return real(*args, **kwargs)

        screen._refresh_layout = counted  # type: ignore[method-assign]
        for i in range(60):  # from a few lines to more than the console shows
            console.note(f"line {i}")
            if i % 10 == 0:
                await pilot.pause()
        await pilot.pause(0.05)
        assert layouts == []
        # the console still keeps to its newest line, with its scrollbar in step
        assert log.virtual_size.height == len(log.lines)
        assert log.scroll_y == log.max_scroll_y > 0
        bar = log.vertical_scrollbar
        assert (bar.window_virtual_size, bar.position) == (log.virtual_size.height, log.scroll_y)
        assert "line 59" in str(log.lines[-1].text)
        # the probe sees a layout when one is asked for
        log.refresh(layout=True)
        await pilot.pause(0.05)
        assert layouts
