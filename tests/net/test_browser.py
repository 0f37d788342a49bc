"""Joining from a browser (`dojo host --web`): real headless chromium pages, driven by
Playwright, on a game served on 127.0.0.1. Several pages join (one by typing its name), type
commands, and see each other's and a terminal player's actions; nothing a page is sent
carries the answer; the facilitator's seat is not served to browsers; each page's app
process ends with its page. Every wait is bounded, and no timing is asserted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from netkit import join, link_of, serve_game
from test_sealed import SEED, leaks
from webkit import CHROMIUM, WAIT_S, need_chromium, open_page

from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.net.hosting import close_game

pytestmark = pytest.mark.browser


def page_of(served: object, role: str, nth: int = 0) -> str:
    return [url for r, url in served.browser_links if r == role][nth]  # type: ignore[attr-defined]


def test_browser_players_join_play_and_see_each_other(poison: Incident) -> None:
    need_chromium()
    from playwright.async_api import async_playwright

    inc = poison.for_seed(SEED)

    async def game() -> None:
        served = await serve_game(poison, None, seed=SEED, speed=1, web=True)
        try:
            await play(served)
        finally:
            await close_game(served)

    async def play(served: Any) -> None:
        assert [r for r, _ in served.browser_links] == [
            "commander",
            "operations",
            "operations",
            "operations",
            "communications",
            "scribe",
            "observer",
            "observer",
        ]
        clock = asyncio.create_task(served.host.run(interval=0.05))
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                # the facilitator's seat (the answer sheet) is never a browser page
                fac_token = link_of(served, "facilitator").rsplit("/", 1)[1]
                probe = await browser.new_page()
                resp = await probe.goto(
                    page_of(served, "commander").rsplit("/", 1)[0] + "/" + fac_token
                )
                assert resp is not None and resp.status == 404
                resp = await probe.goto(page_of(served, "commander") + "x")
                assert resp is not None and resp.status == 404
                await probe.close()

                cara = await open_page(browser, page_of(served, "commander") + "?as=cara")
                omar = await open_page(browser, page_of(served, "operations") + "?as=omar")
                lena = await open_page(browser, page_of(served, "observer"))
                # the solo incident screen: the clock bar, the panes, the ops console
                await cara.wait_text("Your powers: act, declare", "Ops console")
                await cara.wait_text("Logs", "Metrics", "Runbooks", "Team")
                await omar.wait_text("Your powers: act, investigate, say")
                await lena.wait_text("Type your name")
                await lena.type_line("lena")
                await lena.wait_text("Your powers: watch only.")
                tom = await join(link_of(served, "operations", 1), "tom")  # a terminal player

                await omar.type_line("alerts")
                await omar.wait_text("> alerts", "Active alerts:")  # the reply, to omar
                for page in (cara, lena):
                    await page.wait_text("omar: > alerts")  # a teammate's line, dimmed
                await cara.type_line("say omar, look at the payments queue")
                for page in (omar, lena):
                    await page.wait_text("omar, look at the payments queue")
                await tom.command("queue payments")
                for page in (cara, omar, lena):
                    await page.wait_text("tom: > queue payments")
                await lena.type_line("restart billing")  # an observer cannot act
                await lena.wait_text("your role (observer) may not act")
                await tom.command("workers")  # after lena's line: the feed has moved past it
                assert not any(
                    isinstance(m, p.Line) and m.player == "lena" for m in tom.messages
                ), "a refused observer's act reached the team feed as played"

                # what only the facilitator sees stays on the host; what all see reaches pages
                served.host.note("fac", "they found the right queue quickly")
                served.host.say("fac", "ten minutes in: status update please")
                for page in (cara, omar, lena):
                    await page.wait_text("status update please")
                served.host.end("fac")
                for page in (cara, omar, lena):
                    await page.wait_text("Score", "grade")
                await asyncio.wait_for(clock, WAIT_S)

                for name, page in (("cara", cara), ("omar", omar), ("lena", lena)):
                    assert len(page.frames) > 20, name
                    text = page.text
                    assert "they found the right queue quickly" not in text, name
                    assert leaks(text, inc) == [], name
                    for part in page.parts:
                        assert leaks(part, inc) == [], (name, part[:300])
                for page in (cara, omar, lena):
                    await page.page.close()
            finally:
                await browser.close()
            await tom.close()
        # each page's app process ended with its page
        end = asyncio.get_running_loop().time() + WAIT_S
        while served.web.screens and asyncio.get_running_loop().time() < end:
            await asyncio.sleep(0.05)
        assert served.web.screens == {}

    asyncio.run(asyncio.wait_for(game(), 240))
