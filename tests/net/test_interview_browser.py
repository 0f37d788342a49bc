"""An interview with the candidate in a real headless chromium page (textual-serve) and the
interviewer acting on the host. The candidate plays, tries the command palette, the SQL
console and paths typed at the console, and reaches no shell and no file; nothing the page
is sent while the exercise runs carries the answer or the interviewer's notes; the nudge
and the released hint show on the page. Every wait is bounded, no timing is asserted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from test_sealed import SEED, leaks
from webkit import CHROMIUM, WAIT_S, need_chromium, open_page

from oncall_dojo.incident.model import Incident
from oncall_dojo.net.hosting import close_game, open_game
from oncall_dojo.net.interview import new_interview
from oncall_dojo.store import Store

pytestmark = pytest.mark.browser

PRIVATE = "candidate went for the database first"
TRIES = (
    "sql SELECT readfile('/etc/passwd')",
    "sql ATTACH DATABASE '/etc/passwd' AS x",
    "sql SELECT load_extension('/lib/x86_64-linux-gnu/libc.so.6')",
    "sql PRAGMA database_list",
    "logs /etc/passwd",
    "runbook ../../../../etc/passwd",
    "cat /etc/passwd",
    "!sh -c id",
    "$(id)",
    "`id`",
)
FILE_TEXT = ("root:x:0:0", "/bin/bash", "/usr/sbin/nologin", "uid=", "gid=", "daemon:x:")
"""What /etc/passwd or `id` would have shown, had anything reached a file or a shell."""


async def played(page: Any, host: Any, line: str) -> None:
    """Type a line at the candidate's console, key by key, and wait until the host has it."""
    before = len(host.feed)
    await page.page.focus(".xterm-helper-textarea")
    await page.page.keyboard.type(line, delay=15)
    await page.page.keyboard.press("Enter")
    end = asyncio.get_running_loop().time() + WAIT_S
    while len(host.feed) <= before:
        if asyncio.get_running_loop().time() > end:
            raise AssertionError(f"the host never got {line!r}; feed: {host.feed[-3:]}")
        await asyncio.sleep(0.05)


def test_a_candidate_in_a_browser_reaches_no_shell_and_no_answer(
    poison: Incident, tmp_path: Path
) -> None:
    need_chromium()
    from playwright.async_api import async_playwright

    inc = poison.for_seed(SEED)
    store = Store.open(tmp_path / "dojo.db")

    async def game() -> None:
        host = new_interview(poison.for_seed(SEED), SEED, host_name="ivy", store=store, minutes=30)
        served = await open_game(host, "127.0.0.1", 0, web=True)
        try:
            await play(served, host)
        finally:
            await close_game(served)

    async def play(served: Any, host: Any) -> None:
        page_url = next(url for role, url in served.browser_links if role == "candidate")
        clock = asyncio.create_task(host.run(interval=0.05))
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                cam = await open_page(browser, page_url + "?as=cam")
                await cam.wait_text("Ops console", "Interview exercise")
                await cam.type_line("alerts")
                await cam.wait_text("Active alerts:")
                # the command palette: none in the candidate's app (the word goes to the console)
                await cam.page.keyboard.press("Control+p")
                await played(cam, host, "shell")
                for line in TRIES:
                    await played(cam, host, line)
                assert {ln.command for ln in host.feed} >= {"shell", *TRIES}
                await cam.type_line("say done trying")
                await cam.wait_text("done trying")
                # the interviewer's side: a private note, a nudge, a hint
                host.note("ivy", PRIVATE)
                host.nudge("ivy", "What are you looking for in the queue?")
                host.release_hint("ivy")
                await cam.wait_text("What are you looking for in the queue?", "Hint 1")
                await cam.type_line("hint take")
                await cam.wait_text("may not hint")
                running = len(cam.parts)
                text = cam.text
                for needle in FILE_TEXT:
                    assert needle not in text, needle
                assert PRIVATE not in text
                for part in cam.parts[:running]:
                    assert leaks(part, inc) == [], part[:300]
                assert leaks(text, inc) == []
                host.end("ivy")
                await asyncio.wait_for(clock, WAIT_S)
                await cam.page.close()
            finally:
                await browser.close()
        # the record has what the candidate typed, attributed, and nothing ran outside it
        sid = host.recorder.session_id
        typed = [e.data["command"] for e in store.events(sid) if e.type == "command"]
        assert set(TRIES) <= set(typed)
        assert not (tmp_path / "x").exists()

    asyncio.run(asyncio.wait_for(game(), 240))
