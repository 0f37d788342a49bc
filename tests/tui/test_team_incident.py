"""A seat process's app (`PlayerApp` with the host's seat key) against a game served on
127.0.0.1: it shows the solo incident screen over a replica of the host's game, sends what
the player does to the host (which checks the role and orders it), shows it when the host
has played it, follows the host's clock, shows teammates in the team tab, and ends with the
team's marks when the host finishes."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from textual.widgets import Input, RichLog, TabbedContent

from oncall_dojo.incident.model import Incident
from oncall_dojo.net.hosting import Served, close_game, new_game, open_game
from oncall_dojo.net.interview import new_interview
from oncall_dojo.net.replica import Progress, Replica, state_digest
from oncall_dojo.net.roles import parse_spec
from oncall_dojo.tui.player_app import PlayerApp
from oncall_dojo.tui.screens.joining import JoiningScreen
from oncall_dojo.tui.screens.team_incident import TeamIncidentScreen, TeamOver
from oncall_dojo.tui.widgets.console import OpsConsole
from oncall_dojo.tui.widgets.metrics import MetricsPane
from oncall_dojo.tui.widgets.team import TeamPane

from .helpers import sync, text_of, wait_for


async def served_game(incident: Incident, speed: float = 5.0) -> Served:
    seats, roles = parse_spec("commander,operations*2,observer")
    host = new_game(incident, 11, seats, roles, host_name="fac", store=None, speed=speed)
    return await open_game(host, "127.0.0.1", 0)


def link(served: Served, role: str, nth: int = 0) -> str:
    return [lk for r, lk, _ in served.links if r == role][nth]


def console_text(screen: TeamIncidentScreen) -> str:
    log = screen.query_one(OpsConsole).query_one(RichLog)
    return "\n".join("".join(seg.text for seg in strip) for strip in log.lines)


async def typed(pilot: Any, screen: TeamIncidentScreen, line: str) -> None:
    inp = screen.query_one("#command")
    inp.focus()
    inp.value = line  # type: ignore[attr-defined]
    await pilot.press("enter")
    await pilot.pause()


@sync
async def test_a_seat_plays_the_incident_screen_against_the_host(poison: Incident) -> None:
    served = await served_game(poison)
    host = served.host
    clock = asyncio.create_task(host.run(interval=0.05))
    omar_token = next(s.token for s in host.seats if s.role == "operations")
    assert omar_token is not None
    app = PlayerApp(link(served, "operations"), "omar", seat=host.seatfeed.key)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, TeamIncidentScreen), 60)
            screen = app.screen
            assert isinstance(screen, TeamIncidentScreen)
            # the host's clock drives the screen
            at = screen.session.now
            await wait_for(pilot, lambda: screen.session.now >= at + 5)
            await pilot.press("f2")  # the host keeps time: no local pause
            await pilot.pause()
            assert not screen.pacer.paused

            # a console line goes to the host, is played there, then shows here
            await typed(pilot, screen, "alerts")
            await wait_for(pilot, lambda: any(e.command == "alerts" for e in host.session.entries))
            await wait_for(pilot, lambda: "Active alerts" in console_text(screen))
            played = next(e for e in host.session.entries if e.command == "alerts")
            assert played.player == "omar"

            # a view's request: the chart shows once the host has played `metrics NAME`
            screen.show_pane("metrics")
            await pilot.pause()
            pane = screen.query_one(MetricsPane)
            pane.post_message(MetricsPane.SeriesChosen("queue_depth"))
            await wait_for(
                pilot, lambda: any(e.command == "metrics queue_depth" for e in host.session.entries)
            )
            await wait_for(
                pilot,
                lambda: any(e.command == "metrics queue_depth" for e in screen.session.entries),
            )
            # the host knows what omar looks at
            await wait_for(pilot, lambda: host.members["omar"].looking == "metrics")

            # a teammate's command and talk reach the team tab
            cara_token = next(s.token for s in host.seats if s.role == "commander")
            assert cara_token is not None
            host.join(cara_token, "cara")
            host.command("cara", "queues")
            host.say("cara", "omar, the payments queue")
            await pilot.press("f10")
            await pilot.pause()
            assert screen.query_one(TabbedContent).active == "team"
            team = screen.query_one(TeamPane)
            await wait_for(pilot, lambda: any(ln["command"] == "queues" for ln in team.lines))
            # teammates' commands sit dimmed in the console, without their output
            await wait_for(pilot, lambda: "cara: > queues" in console_text(screen))

            # an act this role may not do is refused by the host, and said so here
            await typed(pilot, screen, "resolve")
            await wait_for(pilot, lambda: "may not declare" in console_text(screen))
            assert host.session.declared_resolved_at is None

            # replica and host agree
            host.pause("fac")  # the facilitator pauses: everyone's clock stops where the host's is
            now = host.session.now
            await wait_for(pilot, lambda: screen.pacer.paused and screen.session.now == now)
            assert state_digest(screen.session) == state_digest(host.session)
            assert screen.pacer.paused
            host.resume("fac")

            # the commander resolves: play is over, the host's marks come
            host.command("cara", "resolve")
            await wait_for(pilot, lambda: isinstance(app.screen, TeamOver), 60)
            await asyncio.wait_for(clock, 120)
            await wait_for(pilot, lambda: screen.result is not None, 60)
            await pilot.pause(0.2)
            over = app.screen
            assert isinstance(over, TeamOver)
            shown = str(over.query_one("#team-over").render())
            assert "Score" in shown and "grade" in shown
    finally:
        clock.cancel()
        await close_game(served)


@sync
async def test_a_seat_still_joining_says_so_and_keeps_the_keys_typed_meanwhile(
    poison: Incident, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seat's view of the game is built slowly (held after its first change, as on a busy
    machine): the screen says it is joining and how far it is; keys typed then are kept and
    reach the ops console, in order, once it opens (an Entered line runs, the rest waits)."""
    served = await served_game(poison)
    host = served.host
    cara_token = next(s.token for s in host.seats if s.role == "commander")
    assert cara_token is not None
    host.join(cara_token, "cara")
    host.session.advance(40)
    host.command("cara", "queues")
    host.session.advance(40)
    host.command("cara", "ack")

    held, go_on = threading.Event(), threading.Event()
    build = Replica.build.__func__  # type: ignore[attr-defined]

    def slow_build(
        cls: type[Replica], start: Any, at: int = 0, progress: Progress | None = None
    ) -> Replica:
        def told(done: int, total: int, now: int, target: int) -> None:
            assert progress is not None
            progress(done, total, now, target)
            if done == 1 and not go_on.is_set():
                held.set()
                assert go_on.wait(60), "the test never let the build go on"

        return build(cls, start, at, told)

    monkeypatch.setattr(Replica, "build", classmethod(slow_build))
    app = PlayerApp(link(served, "operations"), "omar", seat=host.seatfeed.key)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, held.is_set, 60)
            joining = app.screen
            assert isinstance(joining, JoiningScreen)
            await wait_for(pilot, lambda: "1 of 2 changes" in text_of(joining, "#join-state"))
            assert text_of(joining, "#join-state").startswith(
                "joining: building your view of the game, 1 of 2 changes\n(the game so far: "
            )
            await pilot.press(*"alerts", "enter", *"workerx", "backspace", "s")
            assert text_of(joining, "#join-keys") == "Typed so far: alerts⏎ workers"
            await pilot.press("f10")  # not typing: not kept, and said so
            assert "f10 was not kept" in text_of(joining, "#join-keys")
            await pilot.pause(0.2)
            assert [e.command for e in host.session.entries] == ["queues", "ack"]  # kept here

            go_on.set()
            await wait_for(pilot, lambda: isinstance(app.screen, TeamIncidentScreen), 60)
            screen = app.screen
            assert isinstance(screen, TeamIncidentScreen)
            await wait_for(pilot, lambda: screen.is_mounted and bool(screen.query("#team-pane")))
            await wait_for(
                pilot,
                lambda: any(
                    e.command == "alerts" and e.player == "omar" for e in host.session.entries
                ),
            )
            await wait_for(pilot, lambda: "Active alerts" in console_text(screen))
            line = screen.query_one("#command", Input)
            await wait_for(pilot, lambda: line.value == "workers")
            assert line.has_focus
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: (
                    [e.command for e in host.session.entries if e.player == "omar"]
                    == ["alerts", "workers"]
                ),
            )
    finally:
        go_on.set()
        await close_game(served)


@sync
async def test_a_notice_sent_to_a_seat_before_its_welcome_reaches_its_console(
    poison: Incident,
) -> None:
    """The interview's banner is sent to the candidate's connection alone, just before the
    welcome: the seat keeps it while it joins and its console shows it (it is in no
    welcome, so nothing else would bring it back)."""

    host = new_interview(poison.for_seed(11), 11, host_name="ivy", store=None, minutes=30)
    served = await open_game(host, "127.0.0.1", 0)
    app = PlayerApp(link(served, "candidate"), "cam", seat=host.seatfeed.key)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, TeamIncidentScreen), 60)
            screen = app.screen
            assert isinstance(screen, TeamIncidentScreen)
            await wait_for(pilot, lambda: screen.is_mounted and bool(screen.query("#team-pane")))
            await wait_for(
                pilot, lambda: "*** Interview exercise: you have 30 minutes" in console_text(screen)
            )
            assert console_text(screen).count("Interview exercise") == 1
    finally:
        await close_game(served)
