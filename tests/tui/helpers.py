"""Driving the app in tests: wait for a condition, get to the incident screen, type commands."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from rich.text import Text
from textual.dom import DOMNode
from textual.pilot import Pilot
from textual.widgets import Input, Static

from oncall_dojo.tui.app import DojoApp
from oncall_dojo.tui.screens.briefing import BriefingScreen
from oncall_dojo.tui.screens.debrief import DebriefScreen
from oncall_dojo.tui.screens.incident import IncidentScreen


async def wait_for(pilot: Pilot[None], cond: Callable[[], bool], timeout: float = 30.0) -> None:
    waited = 0.0
    while not cond():
        if waited > timeout:
            raise AssertionError(f"timed out waiting for {cond}")
        await pilot.pause(0.05)
        waited += 0.05


async def to_incident(pilot: Pilot[None]) -> IncidentScreen:
    app = pilot.app
    await wait_for(
        pilot, lambda: isinstance(app.screen, BriefingScreen) and app.screen.session is not None
    )
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, IncidentScreen))
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, IncidentScreen)
    return screen


async def command(pilot: Pilot[None], text: str) -> None:
    """Enter a line at the ops console (a `wait` it starts runs to its end)."""
    screen = pilot.app.screen
    inp = screen.query_one("#command")
    inp.focus()
    inp.value = text  # type: ignore[attr-defined]
    await pilot.press("enter")
    await wait_for(pilot, lambda: not getattr(screen, "waiting", False))


async def to_debrief(pilot: Pilot[None], with_comparison: bool = True) -> DebriefScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, DebriefScreen), timeout=60)
    screen = app.screen
    assert isinstance(screen, DebriefScreen)
    if with_comparison:
        await wait_for(pilot, lambda: bool(screen.others), timeout=60)
    await pilot.pause()
    return screen


def new_app(incident: str | None = "payments-stuck", seed: int | None = 1, **kw: object) -> DojoApp:
    return DojoApp(incident, seed, start_paused=True, **kw)  # type: ignore[arg-type]


def sync(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body with asyncio (no pytest async plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


def text_of(node: DOMNode, sel: str) -> str:
    """The plain text of the Static `sel` under `node`."""
    content = node.query_one(sel, Static).content
    return content.plain if isinstance(content, Text) else str(content)


async def typed(pilot: Pilot[None], line: str) -> None:
    """Type `line` at the host console's line (`#fac-line`) and press enter."""
    inp = pilot.app.screen.query_one("#fac-line", Input)
    inp.focus()
    inp.value = line
    await pilot.press("enter")
    await pilot.pause()
