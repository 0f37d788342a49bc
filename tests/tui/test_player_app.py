"""The player's team client (`dojo join` in a terminal, each browser page of `dojo host --web`),
driven by Pilot against a game served on 127.0.0.1 beside a plain client: what the player
types reaches the team, what the others do shows in the team pane, outputs come on demand,
a taken name is asked for again, and nothing typed or shown opens anything beyond the game."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.command import CommandPalette
from textual.widgets import Input, OptionList, RichLog, Static

from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.net.client import Client
from oncall_dojo.net.hosting import Served, close_game, new_game, open_game
from oncall_dojo.net.roles import parse_spec
from oncall_dojo.tui.player_app import PlayerApp

from .helpers import sync, wait_for


async def served_game(incident: Incident) -> Served:
    seats, roles = parse_spec("commander,operations*2,observer")
    host = new_game(incident, 11, seats, roles, host_name="fac", store=None, speed=1.0)
    return await open_game(host, "127.0.0.1", 0)


def link(served: Served, role: str, nth: int = 0) -> str:
    return [lk for r, lk, _ in served.links if r == role][nth]


def out_text(app: PlayerApp) -> str:
    log = app.query_one("#pl-out", RichLog)
    return "\n".join("".join(seg.text for seg in strip) for strip in log.lines)


def feed_text(app: PlayerApp) -> str:
    feed = app.query_one("#team-feed", OptionList)
    return "\n".join(str(feed.get_option_at_index(i).prompt) for i in range(feed.option_count))


def static_text(app: PlayerApp, sel: str) -> str:
    return str(app.query_one(sel, Static).render())


async def typed(pilot: Any, line: str) -> None:
    inp = pilot.app.query_one("#pl-line", Input)
    inp.focus()
    inp.value = line
    await pilot.press("enter")
    await pilot.pause()


async def other_player(served: Served, role: str, name: str) -> tuple[Client, list[Any]]:
    got: list[Any] = []
    client = Client(link(served, role, 1 if role == "operations" else 0), name, got.append)
    task = asyncio.create_task(client.run())
    await asyncio.wait_for(client.connected.wait(), 20)
    client.task = task  # type: ignore[attr-defined]
    return client, got


@sync
async def test_the_player_plays_and_sees_the_team(poison: Incident) -> None:
    served = await served_game(poison)
    clock = asyncio.create_task(served.host.run(interval=0.05))
    app = PlayerApp(link(served, "commander"), "cara")
    tom = None
    try:
        async with app.run_test(size=(140, 44)) as pilot:
            await wait_for(pilot, lambda: app.role == "commander")
            assert "*** PAGE ***" in out_text(app)
            assert "cara" in static_text(app, "#pl-status")
            tom, tom_got = await other_player(served, "operations", "tom")
            # the roster sent to the others when tom joined shows him online
            await wait_for(pilot, lambda: "● tom" in static_text(app, "#team-roster"))

            await typed(pilot, "alerts")
            await wait_for(pilot, lambda: "Active alerts:" in out_text(app))
            await wait_for(
                pilot,
                lambda: any(isinstance(m, p.Line) and m.player == "cara" for m in tom_got),
            )
            await typed(pilot, "say tom, restart billing please")
            await wait_for(
                pilot,
                lambda: any(isinstance(m, p.Said) and "restart billing" in m.text for m in tom_got),
            )

            await tom.command("queue payments")
            await wait_for(pilot, lambda: "tom > queue payments" in feed_text(app))
            # markup in what another player types is shown as typed, never run
            await tom.command("say [@click=app.quit]click me[/]")
            await wait_for(pilot, lambda: "[@click=app.quit]click me[/]" in feed_text(app))

            # selecting a line of the feed fetches its output from the host
            feed = app.query_one("#team-feed", OptionList)
            index = next(
                i
                for i in range(feed.option_count)
                if "tom > queue payments" in str(feed.get_option_at_index(i).prompt)
            )
            feed.focus()
            feed.highlighted = index
            await pilot.press("enter")
            await wait_for(
                pilot, lambda: "payments" in static_text(app, "#team-output").split("\n", 1)[-1]
            )

            # no command palette (in a browser it would offer more than the game)
            await pilot.press("ctrl+p")
            await pilot.pause()
            assert not any(isinstance(s, CommandPalette) for s in app.screen_stack)
            assert app.is_running

            # handing command over changes this player's powers, and the app says so
            await typed(pilot, "handover tom")
            await wait_for(pilot, lambda: "You are operations now" in out_text(app))
            assert app.role == "operations" and "operations" in static_text(app, "#pl-status")
            assert "reconnected" not in out_text(app)

            served.host.end("fac")
            await wait_for(pilot, lambda: app.result is not None, timeout=60)
            assert "Score" in out_text(app)
            assert "OVER" in static_text(app, "#pl-status")
    finally:
        if tom is not None:
            await tom.close()
        if not served.host.over:
            served.host.end("fac")
        await asyncio.wait_for(clock, 60)
        await close_game(served)


@sync
async def test_the_app_asks_the_name_and_again_when_it_is_taken(poison: Incident) -> None:
    served = await served_game(poison)
    tom, _ = await other_player(served, "operations", "tom")
    app = PlayerApp(link(served, "observer"))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            assert "Type your name" in static_text(app, "#pl-status")
            await typed(pilot, "tom")  # taken by another seat's player
            await wait_for(pilot, lambda: "is taken in this game" in out_text(app))
            assert app.client is None and "Type your name" in static_text(app, "#pl-status")
            await typed(pilot, "lena")
            await wait_for(pilot, lambda: app.role == "observer")
            assert "Your powers: watch only" in out_text(app)
            await typed(pilot, "restart billing")
            await wait_for(pilot, lambda: "your role (observer) may not act" in out_text(app))
    finally:
        await tom.close()
        await close_game(served)
