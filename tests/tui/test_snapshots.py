"""How the screens look at 80x24 and 160x50: fixed seed, clock paused, no wall-clock text.

Update the pictures with `pytest tests/tui --snapshot-update` after a deliberate change.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from oncall_dojo.incident.model import Incident
from oncall_dojo.net.hosting import Served, close_game, new_game, open_game
from oncall_dojo.net.roles import parse_spec
from oncall_dojo.tui.player_app import PlayerApp
from oncall_dojo.tui.screens.briefing import BriefingScreen
from oncall_dojo.tui.screens.picker import PickerScreen
from oncall_dojo.tui.screens.team_incident import TeamIncidentScreen
from oncall_dojo.tui.widgets.team import TeamPane

from .helpers import command, new_app, text_of, to_debrief, to_incident, wait_for

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


class RemoteHost:
    """A team game served on 127.0.0.1 from a thread of its own (its own event loop), as a
    host on another machine would be: the app under test reaches it only over the network."""

    def __init__(self, incident: Incident) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        seats, roles = parse_spec("commander,operations*2,observer")
        host = new_game(incident, 11, seats, roles, host_name="fac", store=None, speed=1.0)
        self.served: Served = self.call(open_game(host, "127.0.0.1", 0))
        self.host = host

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def do(self, fn: Any, *args: Any) -> Any:
        """Call one of the host's methods in the host's thread."""

        async def run() -> Any:
            return fn(*args)

        return self.call(run())

    def link(self, role: str) -> str:
        return next(lk for r, lk, _ in self.served.links if r == role)

    def close(self) -> None:
        self.call(close_game(self.served))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


@pytest.mark.parametrize("size", SIZES)
def test_team_incident_screen(
    snap_compare: SnapCompare, size: tuple[int, int], poison: Incident
) -> None:
    """A remote player's seat (a browser page's or a relayed terminal's app): the solo screen
    over the replica, a teammate's command dimmed in the console beside the player's own,
    and the Team tab: the roster (who looks at what), everyone's commands, a `say` line."""
    remote = RemoteHost(poison)
    host = remote.host
    cara = next(s.token for s in host.seats if s.role == "commander")
    remote.do(host.join, cara, "cara")
    remote.do(host.session.advance, 30)
    remote.do(host.command, "cara", "queue payments")
    app = PlayerApp(remote.link("operations"), "omar", seat=host.seatfeed.key)

    async def ready(pilot: Pilot[None]) -> None:
        await wait_for(pilot, lambda: isinstance(app.screen, TeamIncidentScreen), 60)
        screen = app.screen
        assert isinstance(screen, TeamIncidentScreen)
        await wait_for(pilot, lambda: screen.is_mounted and bool(screen.query("#team-pane")))
        await command(pilot, "alerts")
        await wait_for(pilot, lambda: len(screen.session.entries) == 2)
        remote.do(host.look, "cara", "logs billing")
        remote.do(host.say, "cara", "omar, the payments queue is stuck")
        team = screen.query_one(TeamPane)
        feed = team.query_one("#team-feed", OptionList)
        await wait_for(  # in the feed while its tab is closed
            pilot,
            lambda: (
                len(team.lines) == 2
                and any(
                    "stuck" in str(feed.get_option_at_index(i).prompt)
                    for i in range(feed.option_count)
                )
            ),
        )
        await pilot.press("f10")
        await wait_for(pilot, lambda: "looking at team" in text_of(screen, "#team-roster"))
        # the tab opens on the newest lines (at 80x24 the feed shows only the last)
        await wait_for(
            pilot,
            lambda: feed.scroll_y == feed.max_scroll_y and (size[1] > 24 or feed.scroll_y > 0),
        )
        await pilot.pause()
        for inp in screen.query(Input):
            inp.cursor_blink = False
        await pilot.pause()

    try:
        assert snap_compare(app, terminal_size=size, run_before=ready)
    finally:
        remote.close()
