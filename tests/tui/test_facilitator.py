"""The facilitator console and the team pane, driven by Pilot over a real host (no network: the
players act through the host's API as the server would), and their looks at two sizes."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from oncall_dojo.incident.model import Incident
from oncall_dojo.net.host import Host
from oncall_dojo.net.hosting import new_game
from oncall_dojo.net.roles import parse_spec
from oncall_dojo.tui.host_app import HostApp
from oncall_dojo.tui.screens.debrief import DebriefScreen
from oncall_dojo.tui.screens.facilitator import FacilitatorScreen
from oncall_dojo.tui.screens.links import LinksScreen
from oncall_dojo.tui.widgets.timeline import TimelineChart

from .helpers import sync, text_of, typed, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]


def game(incident: Incident) -> Host:
    seats, roles = parse_spec("commander,operations*2,observer")
    host = new_game(incident, 7, seats, roles, host_name="fac", store=None, speed=1.0)
    for seat, name in zip(host.seats[1:], ["cara", "omar", "otto", "olga"], strict=False):
        assert seat.token is not None
        host.join(seat.token, name)
    return host


def feed_text(screen: FacilitatorScreen) -> str:
    feed = screen.query_one("#team-feed", OptionList)
    return "\n".join(str(feed.get_option_at_index(i).prompt) for i in range(feed.option_count))


@sync
async def test_the_console_shows_the_team_and_flags_conflicts(poison: Incident) -> None:
    host = game(poison)
    app = HostApp(host, "fac")
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FacilitatorScreen))
        screen = app.screen
        assert isinstance(screen, FacilitatorScreen)
        assert "cara" in text_of(screen, "#team-roster") and "commander" in text_of(
            screen, "#team-roster"
        )
        host.session.advance(30)
        host.command("cara", "queue payments")
        host.command("omar", "restart billing")
        host.session.advance(20)
        host.command("olga", "restart billing")  # an observer: refused, no conflict
        host.command("cara", "restart billing")
        host.look("omar", "logs billing")
        host.say("omar", "I take billing")
        await pilot.pause()
        feed = feed_text(screen)
        assert "cara > queue payments" in feed and "omar > restart billing" in feed
        assert "olga >" not in feed and "olga !" not in feed  # refused by role: not in the feed
        assert feed.count("⚠ conflict") == 1
        assert "cara ran `restart billing` 20s after omar ran `restart billing`" in feed
        assert "omar: I take billing" in feed
        assert "looking at logs billing" in text_of(screen, "#team-roster")
        # outputs on demand: select cara's first line
        opts = screen.query_one("#team-feed", OptionList)
        idx = next(
            i for i in range(opts.option_count) if opts.get_option_at_index(i).id == "line-0"
        )
        opts.focus()
        opts.highlighted = idx
        await pilot.press("enter")
        await pilot.pause()
        assert "cara > queue payments" in text_of(screen, "#team-output")
        assert "payments" in text_of(screen, "#team-output").split("\n", 1)[1]
        # the answer sheet and the injects are the facilitator's
        assert "Root cause: queue:payments poison-message: " in text_of(screen, "#fac-answer")
        assert "finance-asks-eta" in text_of(screen, "#fac-injects") and "ready" in text_of(
            screen, "#fac-injects"
        )


@sync
async def test_the_facilitators_actions_reach_the_host(poison: Incident) -> None:
    host = game(poison)
    heard: list[Any] = []
    host.listeners.append(lambda m, a: heard.append(m))
    app = HostApp(host, "fac")
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FacilitatorScreen))
        screen = app.screen
        assert isinstance(screen, FacilitatorScreen)
        await pilot.press("f5")
        assert host.paused and "PAUSED" in text_of(screen, "#fac-clock")
        await typed(pilot, "speed 5")
        await typed(pilot, "resume")
        assert not host.paused and host.speed == 5.0 and "5x" in text_of(screen, "#fac-clock")
        await typed(pilot, "note the commander has not assigned billing")
        assert "the commander has not assigned billing" in text_of(screen, "#fac-notes")
        await typed(pilot, "inject customer-post")
        assert "fired customer-post" in text_of(screen, "#fac-said")
        assert "customer-post" in text_of(screen, "#fac-injects") and "fired" in text_of(
            screen, "#fac-injects"
        )
        assert "@sam_shops" in feed_text(screen)
        await typed(pilot, "inject fault meteor")
        assert "no fault kind 'meteor'" in text_of(screen, "#fac-said")
        await typed(pilot, "hint")
        assert "Hint 1" in text_of(screen, "#fac-said") and host.session.hints_taken == [0]
        await typed(pilot, "dance")
        assert "not a facilitator action: dance" in text_of(screen, "#fac-said")
        # typing reaches the facilitator's line even when the feed has the focus
        screen.query_one("#team-feed", OptionList).focus()
        await pilot.press("e", "n", "d")
        await pilot.pause()
        assert screen.query_one("#fac-line", Input).value == "end"
        await pilot.press("enter")
        await pilot.pause()
        assert host.finishing
    assert [r["key"] for r in host.session.injected] == ["customer-post"]


@pytest.mark.parametrize("size", SIZES)
def test_facilitator_console_looks(
    snap_compare: Any, poison: Incident, size: tuple[int, int]
) -> None:
    host = game(poison)
    host.session.advance(40)
    host.command("cara", "ack")
    host.command("omar", "queue payments")
    host.command("omar", "restart billing")
    host.session.advance(15)
    host.command("cara", "restart billing")
    host.say("cara", "omar, billing is yours")
    host.inject("fac", "finance-asks-eta")
    host.note("fac", "two restarts within a minute")
    host.pause("fac")

    async def ready(pilot: Pilot[None]) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, FacilitatorScreen))
        for inp in pilot.app.screen.query(Input):
            inp.cursor_blink = False  # a blinking cursor would differ between pictures
        await pilot.pause()

    assert snap_compare(HostApp(host, "fac"), terminal_size=size, run_before=ready)


@sync
async def test_the_console_lists_the_browser_pages_when_browsers_are_served(
    poison: Incident,
) -> None:
    host = game(poison)
    links = [(s.role, f"http://127.0.0.1:1/join/{s.token}", s.player) for s in host.seats]
    pages = [(s.role, f"http://127.0.0.1:1/play/{s.token}") for s in host.seats[1:]]
    app = HostApp(host, "fac", links=links, pages=pages)
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FacilitatorScreen))
        screen = app.screen
        assert isinstance(screen, FacilitatorScreen)
        shown = text_of(screen, "#fac-links")
        assert "Browser pages" in shown
        for _role, page in pages:
            assert page in shown
        assert f"/play/{host.seats[0].token}" not in shown  # never the facilitator's seat


@sync
async def test_a_game_day_ends_on_the_team_debrief(poison: Incident) -> None:
    """The host measures the outcome in its own task, started before the console (as `dojo
    host` serves the game), so outside the app's context: the console still turns to the team
    debrief, each player's actions on a row of their own, and stays until the facilitator
    leaves."""
    host = game(poison)
    app = HostApp(host, "fac")
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FacilitatorScreen))
        facilitator = app.screen
        assert isinstance(facilitator, FacilitatorScreen)
        host.session.advance(30)
        host.command("cara", "ack")
        host.command("omar", "dlq move payments top")
        host.session.advance(10)
        host.command("cara", "restart billing")
        host.end("fac")
        served = asyncio.get_running_loop().create_task(
            host.finish(), context=contextvars.Context()
        )
        finished = await served
        await wait_for(pilot, lambda: isinstance(app.screen, DebriefScreen), timeout=120)
        debrief = app.screen
        assert isinstance(debrief, DebriefScreen) and debrief.team
        assert debrief.result.score == finished.score
        await wait_for(pilot, lambda: bool(debrief.others), timeout=600)
        compare = debrief.query_one("#compare", Static).render()
        assert str(compare).startswith(f"Team {finished.score:g} ({finished.grade})")
        chart = debrief.query_one(TimelineChart).render().plain
        assert "cara" in chart and "omar" in chart
        # the console below still hears the game
        assert "Finished:" in text_of(facilitator, "#fac-said")
        assert app.is_running
    assert app._exception is None


def rendered(widget: Any) -> list[str]:
    """The lines a widget draws, as text (its whole content area)."""

    w, h = widget.size
    return [strip.text.rstrip() for strip in widget.render_lines(Region(0, 0, w, h))]


@sync
async def test_the_join_links_can_be_copied_whole_at_80x24(poison: Incident) -> None:
    """At 80 columns the side panel is too narrow for a link: there each link is cut (…),
    never wrapped into pieces; F8 (or `links` at the line) shows every link whole, on a line
    of its own from the first column, and Esc goes back."""

    host = game(poison)
    links = [(s.role, f"http://127.0.0.1:18766/join/{s.token}", s.player) for s in host.seats]
    pages = [(s.role, f"http://127.0.0.1:18766/play/{s.token}") for s in host.seats[1:]]
    urls = [link for _r, link, _w in links[1:]] + [page for _r, page in pages]
    assert all(len(u) == 60 for u in urls)
    app = HostApp(host, "fac", links=links, pages=pages)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FacilitatorScreen))
        console = app.screen
        side = rendered(console.query_one("#fac-links"))
        assert "F8: whole links, to copy" in side
        cut = [line for line in side if "http" in line]
        assert len(cut) == len(urls)
        for line, url in zip(cut, urls, strict=True):
            assert line.endswith("…") and url.startswith(line[:-1])  # cut, not wrapped
        for line in side:  # no piece of a link on a line of its own (the wrapped rest)
            assert not any(line and line in url and not url.startswith(line) for url in urls)

        for opening in ("f8", "links"):
            if opening == "f8":
                await pilot.press("f8")
            else:
                await typed(pilot, "links")
            await wait_for(pilot, lambda: isinstance(app.screen, LinksScreen))
            shown = app.screen.query_one("#links-text")
            assert shown.region.x == 0
            lines = rendered(shown)
            for url in urls:
                assert url in lines, url  # whole, alone on its line, from the first column
            assert "commander (taken by cara)" in lines
            assert f"/join/{host.seats[0].token}" not in "\n".join(lines)  # not the facilitator's
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is console)
