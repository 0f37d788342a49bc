"""Each player's seat's screen, drawn by an app process on the host's machine: relayed to a
terminal by `dojo join` (`net.relay`), and with `dojo host --web` as a browser page
through textual-serve, so a player with nothing installed joins by opening a link.

Routes, added to the game's own aiohttp server (one port for terminals and browsers):

- `GET /play/TOKEN/ws` and `/play/TOKEN/ws/NAME`: the screen's websocket (textual-serve's
  browser protocol). It starts one app process, `python -m oncall_dojo join --from-env`,
  which joins the game as a player with that seat's token and the host's seat key, over a
  private Unix socket (or the loopback link). The token, key and name reach the process
  through its environment, never its command line. One process per seat: a second screen
  for the same seat replaces the first. Always served.
- With `--web`: `GET /play/TOKEN` (optionally `?as=NAME`), the page (textual-serve's
  terminal in the browser), and `GET /static/...`, its script, styles and fonts.
A token that is not one of the game's seats, or the facilitator's, gets 404.

What a browser can do is what the app offers: the solo incident screen over a replica of
the host's game (`net.replica`), with the team pane. The app process runs on the host's
machine and holds the incident there: only the screen it draws reaches the browser. It has
no command palette, and the browser side here accepts only keystrokes, resizes and focus
changes: no file deliveries, no links opened, no downloads route.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import textual_serve
from aiohttp import WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

from oncall_dojo.net import protocol as p
from oncall_dojo.net.host import Host
from oncall_dojo.sim.text import clean

log = logging.getLogger("oncall_dojo.web")

ENV_LINK = "DOJO_JOIN_LINK"
"""The seat's join link (carrying its token), for the app process."""
ENV_SOCKET = "DOJO_JOIN_SOCKET"
"""The host's private Unix socket, when it has one (the app connects there)."""
ENV_NAME = "DOJO_WEB_NAME"
"""The player's name from the page's `?as=NAME`, when given (otherwise the app asks)."""
ENV_SEAT = "DOJO_SEAT_KEY"
"""The host's seat key: the app joins as a seat process and keeps a replica of the game
(`net.replica`), to show the solo incident screen."""

MAX_BROWSER_FRAME = 64 * 1024
"""The largest frame a page may send (keystrokes and resizes are tiny)."""
MIN_SIZE, MAX_SIZE = 10, 500
"""Terminal columns and rows a page may ask for."""

_PACKAGE = Path(textual_serve.__file__).resolve().parent
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_PACKAGE / "templates"), autoescape=True
)
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


def player_name(text: str) -> str:
    """A name from a URL as the game would take it: cleaned, trimmed, at most MAX_NAME."""
    return clean(text).strip()[: p.MAX_NAME].strip()


def _size(text: str | None, default: int) -> int:
    try:
        return max(MIN_SIZE, min(MAX_SIZE, int(text or default)))
    except ValueError:
        return default


class PlayerService(AppService):
    """One page's app process: textual-serve's service with the seat in its environment,
    and nothing the app asks of the browser beyond drawing (no files, no links)."""

    def __init__(self, command: str, env: dict[str, str], **kw: Any) -> None:
        super().__init__(command, **kw)
        self.extra_env = env

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        env = super()._build_environment(width, height)
        for key in (ENV_LINK, ENV_SOCKET, ENV_NAME, ENV_SEAT):
            env.pop(key, None)
        env.update(self.extra_env)
        return env

    async def on_meta(self, data: bytes) -> None:
        with contextlib.suppress(ValueError, AttributeError):
            if json.loads(data).get("type") == "exit":
                await self.remote_close()
        # open_url and deliver_file_* are not passed on: the player's app uses neither


@dataclass
class WebPlay:
    """The browser side of one hosted game."""

    host: Host
    link: Any
    """`token -> join link` (the server's)."""
    socket_path: str | None = None
    log_path: str | None = None
    """Where the app processes' stderr goes (it must not reach the host's terminal)."""
    screens: dict[int, web.WebSocketResponse] = field(default_factory=dict)
    """The screen (a page's or a relayed terminal's websocket) currently served per seat."""
    downloads: DownloadManager = field(default_factory=DownloadManager)
    pages: bool = True
    """Serve the browser pages (`dojo host --web`); the screens' websockets are always served
    (a terminal's `dojo join` relays them)."""

    @property
    def command(self) -> str:
        # exec: the app is the host's own child, so it can tell when the host is gone
        cmd = f"exec {shlex.quote(sys.executable)} -m oncall_dojo join --from-env"
        if self.log_path:
            cmd += f" 2>>{shlex.quote(self.log_path)}"
        return cmd

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/play/{token}/ws", self._socket)
        app.router.add_get("/play/{token}/ws/{name}", self._socket)
        if self.pages:
            app.router.add_get("/play/{token}", self._page)
            app.router.add_static("/static", _PACKAGE / "static", show_index=False)

    def page_path(self, token: str) -> str:
        return f"/play/{token}"

    def _seat(self, token: str) -> Any:
        seat = next((s for s in self.host.seats if s.admits(token)), None)
        if seat is None or seat.role == "facilitator":
            raise web.HTTPNotFound(
                text="This is not a player's link of this game; ask the host for yours.\n",
                headers=_HEADERS,
            )
        return seat

    async def _page(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        self._seat(token)
        secure = request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"
        ws_url = f"{'wss' if secure else 'ws'}://{request.host}/play/{quote(token, safe='')}/ws"
        name = player_name(request.query.get("as", ""))
        if name:
            ws_url += "/" + quote(name, safe="")
        html = _TEMPLATES.get_template("app_index.html").render(
            font_size=_size(request.query.get("fontsize"), 16),
            app_websocket_url=ws_url,
            config={"static": {"url": "/static/"}},
            application={"name": f"oncall-dojo: {self.host.session.incident.title}"},
            ping_url="",
        )
        return web.Response(text=html, content_type="text/html", headers=_HEADERS)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        seat = self._seat(token)
        name = player_name(request.match_info.get("name", ""))
        ws = web.WebSocketResponse(heartbeat=15, max_msg_size=MAX_BROWSER_FRAME)
        await ws.prepare(request)
        old = self.screens.get(seat.index)
        if old is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old.close(message=b"opened in another page"), 5)
        self.screens[seat.index] = ws
        env = {ENV_LINK: self.link(token), ENV_SEAT: self.host.seatfeed.key}
        if self.socket_path:
            env[ENV_SOCKET] = self.socket_path
        if name:
            env[ENV_NAME] = name
        service = PlayerService(
            self.command,
            env,
            write_bytes=ws.send_bytes,
            write_str=ws.send_str,
            close=ws.close,
            download_manager=self.downloads,
        )
        started = False
        try:
            await service.start(
                _size(request.query.get("width"), 80), _size(request.query.get("height"), 24)
            )
            started = True
            await self._keys(ws, service)
        except (ConnectionError, RuntimeError, OSError) as exc:
            log.warning("browser page for seat %s: %s", seat.index, exc)
        finally:
            if started:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(service.stop(), 10)
            process = service._process
            if process is not None:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(process.wait(), 10)
                transport = getattr(process, "_transport", None)
                if transport is not None:
                    transport.close()  # its pipes, now: not when collected after the loop
            if self.screens.get(seat.index) is ws:
                del self.screens[seat.index]
            await ws.close()
        return ws

    async def _keys(self, ws: web.WebSocketResponse, service: AppService) -> None:
        """What the page sends: keystrokes, resizes, focus, pings. Anything else is ignored."""
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                envelope = json.loads(msg.data)
            except ValueError:
                continue
            if not isinstance(envelope, list) or not envelope:
                continue
            kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
            if kind == "stdin" and isinstance(data, str):
                await service.send_bytes(data.encode("utf-8", "replace"))
            elif kind == "resize" and isinstance(data, dict):
                await service.set_terminal_size(
                    _size(str(data.get("width")), 80), _size(str(data.get("height")), 24)
                )
            elif kind == "ping":
                await ws.send_json(["pong", data if isinstance(data, str | int) else ""])
            elif kind == "blur":
                await service.blur()
            elif kind == "focus":
                await service.focus()

    async def close(self) -> None:
        for ws in list(self.screens.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(message=b"the host stopped"), 5)
