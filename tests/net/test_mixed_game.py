"""One game day as players really join it: two terminals relayed by `dojo join`
(`net.relay`, as in test_relay) and one browser page in headless chromium (Playwright, as in
test_browser) play one game on 127.0.0.1. Each sends a command, each sees the others'; the
host's record then verifies (`dojo verify`) and holds each command with its player. The game
is not played to its end (measuring the outcome is tested elsewhere and costs seconds here).
Every wait is bounded, and no timing is asserted."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from netkit import link_of, serve_game
from test_relay import Screen, shows
from test_sealed import SEED, leaks
from webkit import CHROMIUM, WAIT_S, need_chromium, open_page

from oncall_dojo.incident.model import Incident
from oncall_dojo.net.hosting import close_game
from oncall_dojo.net.relay import Relay
from oncall_dojo.store import Store

pytestmark = pytest.mark.browser


def test_two_relayed_terminals_and_a_browser_page_play_one_game(
    poison: Incident, run_dojo: Any
) -> None:
    need_chromium()
    from playwright.async_api import async_playwright

    inc = poison.for_seed(SEED)
    store = Store.open(Path(os.environ["DOJO_HOME"]) / "dojo.db")
    pipes: list[int] = []

    def terminal(served: Any, role: str, name: str) -> tuple[Relay, Screen, int]:
        keys_r, keys_w = os.pipe()
        pipes.extend((keys_r, keys_w))
        out = Screen()
        return Relay(link_of(served, role), name, keys_r, out, lambda: (120, 40)), out, keys_w

    async def game() -> str:
        served = await serve_game(inc, store, seed=SEED, speed=2, web=True)
        sid = served.host.recorder.session_id
        assert sid is not None
        clock = asyncio.create_task(served.host.run(interval=0.05))
        cara, cara_out, cara_keys = terminal(served, "commander", "cara")
        omar, omar_out, omar_keys = terminal(served, "operations", "omar")
        relays = [asyncio.create_task(r.run()) for r in (cara, omar)]
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                )
                try:
                    page_url = [u for r, u in served.browser_links if r == "operations"][1]
                    lena = await open_page(browser, page_url + "?as=lena")
                    await shows(cara_out, r"Your powers: act, declare")
                    await shows(omar_out, r"Your powers: act, investigate")
                    await lena.wait_text("Your powers: act, investigate", "Ops console")

                    os.write(cara_keys, b"ack\r")
                    await shows(cara_out, r"> ack")
                    await shows(omar_out, r"cara: > ack")  # a teammate's line, dimmed
                    await lena.wait_text("cara: > ack")

                    os.write(omar_keys, b"queue payments\r")
                    await shows(omar_out, r"queue payments \(charge\)")  # the output, to omar
                    await shows(cara_out, r"omar: > queue payments")
                    await lena.wait_text("omar: > queue payments")

                    await lena.type_line("workers")
                    await lena.wait_text("> workers")
                    for out in (cara_out, omar_out):
                        await shows(out, r"lena: > workers")

                    for text in (cara_out.text(), omar_out.text(), lena.text):
                        assert leaks(text, inc) == []
                    await lena.page.close()
                finally:
                    await browser.close()
        finally:
            clock.cancel()
            await close_game(served)
        for task in relays:  # the host stopped: each relay ends
            assert "host stopped" in await asyncio.wait_for(task, WAIT_S)
        return sid

    try:
        sid = asyncio.run(asyncio.wait_for(game(), 300))
    finally:
        for fd in pipes:
            os.close(fd)
    # the host's record: one session, verified, each command with the player who typed it
    done = run_dojo("verify", sid)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"session {sid}: ok".encode() in done.stdout
    commands = [
        (e.data["player"], e.data["command"]) for e in store.events(sid) if e.type == "command"
    ]
    assert commands == [("cara", "ack"), ("omar", "queue payments"), ("lena", "workers")]
    store.close()
