"""Helpers for the browser tests: Debian's chromium driven by Playwright, and the text a page
was sent. textual-serve draws the screen on a canvas, so what a page shows is read from the
websocket frames it receives (the terminal's output), with the escape sequences taken out."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM = os.environ.get("DOJO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
WAIT_S = 60.0
"""The longest a browser test waits for one thing to show."""

_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: cursor moves, colours, modes
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
    r"|\x1b[PX^_][^\x1b]*\x1b\\"  # DCS and friends
    r"|\x1b[@-Z\\-_]"  # two-byte escapes
)


def need_chromium() -> None:
    """Skip, saying why, when there is no browser to drive (a CI run turns the skip into a
    failure: see the `browser` marker in tests/conftest.py)."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"Playwright is not installed ({exc}); pip install playwright")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium, or set DOJO_CHROMIUM)")


def screen_text(payload: Any) -> str:
    """A frame's text with the terminal's escape sequences removed."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    return _ESCAPES.sub("", text)


@dataclass
class Page:
    """A browser page on a seat's link, keeping everything its websockets received."""

    page: Any
    frames: list[Any] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    """Each frame's text, as it came."""

    def received(self, payload: Any) -> None:
        self.frames.append(payload)
        self.parts.append(screen_text(payload))

    @property
    def text(self) -> str:
        return "".join(self.parts)

    async def wait_text(self, *needles: str, timeout: float = WAIT_S) -> None:
        """Until every needle has appeared in what the page was sent (bounded)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            text = self.text
            missing = [n for n in needles if n not in text]
            if not missing:
                return
            if loop.time() > end:
                if os.environ.get("DOJO_PAGE_DUMP"):
                    with open(os.environ["DOJO_PAGE_DUMP"], "a", encoding="utf-8") as f:
                        f.write(text)
                raise AssertionError(
                    f"the page never showed {missing!r} within {timeout}s; it last showed: "
                    f"{text[-600:]!r}"
                )
            await asyncio.sleep(0.05)

    async def type_line(self, text: str) -> None:
        """Type a line at the app's console, as a player at the keyboard."""
        await self.page.focus(".xterm-helper-textarea")
        await self.page.keyboard.type(text)
        await self.page.keyboard.press("Enter")


async def open_page(browser: Any, url: str) -> Page:
    page = await browser.new_page(viewport={"width": 1400, "height": 800})
    # the page asks for a web font from the internet: refused, the tests stay on 127.0.0.1
    await page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    seen = Page(page)

    def on_frame(payload: Any) -> None:
        seen.received(payload)

    def on_socket(ws: Any) -> None:
        ws.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    await page.goto(url, timeout=WAIT_S * 1000)
    return seen
