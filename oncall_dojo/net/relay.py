"""`dojo join URL --as NAME` in a terminal: relay the seat's incident screen to this terminal.

The player's screen is drawn by a seat process on the host's machine (`net.web`: the app a
browser page gets, with the solo incident screen over a replica of the game). This client
speaks the browser's side of textual-serve at `/play/TOKEN/ws/NAME`: it sends
`["stdin", TEXT]` for keys, `["resize", {"width": W, "height": H}]` when the terminal
changes size and `["ping", N]` now and then, and writes the binary frames it receives (the
terminal output the app drew) to this terminal. The terminal is in raw mode meanwhile and
restored on every way out (see `cli.team`). Nothing of the incident reaches this machine:
only the screen.

A connection that drops without a closing handshake (the host was killed and is
restarting) is tried again for `retry_for` seconds; a closed one (the player left, the
game ended, the seat was opened elsewhere) ends the relay.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import os
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

import aiohttp

from oncall_dojo.net.client import JoinError, parse_link

PING_EVERY_S = 15.0
READ_CHUNK = 4096
RESET = (
    b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l"  # mouse reporting off
    b"\x1b[?2004l\x1b[?1004l"  # bracketed paste and focus reports off
    b"\x1b[?1049l\x1b[?25h\x1b[0m"  # the main screen, the cursor, plain colours
)
"""What puts a terminal back after a full-screen app, whatever state the app left it in."""


def play_url(join_link: str, name: str, width: int, height: int) -> str:
    """The seat's screen websocket for a join link (`http://HOST:PORT/join/TOKEN`)."""
    link = parse_link(join_link)
    base = link.ws_url.removesuffix("/ws")
    query = urlencode({"width": width, "height": height})
    return f"{base}/play/{quote(link.token, safe='')}/ws/{quote(name, safe='')}?{query}"


@dataclass
class Relay:
    """One terminal relayed to its seat's screen (see the module's doc)."""

    url: str
    """The join link."""
    name: str
    stdin_fd: int
    out: BinaryIO
    size: Callable[[], tuple[int, int]]
    """The terminal's (columns, rows) now."""
    ssl_context: ssl.SSLContext | bool | None = None
    retry_for: float = 120.0
    received: int = 0
    """Bytes of screen received (tests and benchmarks)."""
    on_frame: Callable[[bytes], None] | None = None
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    _ended: str = ""

    async def run(self) -> str:
        """Relay until the seat's screen closes; returns why it ended (for the player)."""
        loop = asyncio.get_running_loop()
        delay, failing_since = 0.2, None
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    closed = await self._session(http)
                    if closed:
                        return self._ended or "the game's screen closed"
                    failing_since, delay = None, 0.2
                except aiohttp.WSServerHandshakeError as exc:
                    if exc.status in (400, 403, 404):
                        raise JoinError(
                            f"the host has no screen for this link ({exc.status}); "
                            "is it a player's link of a running game?"
                        ) from None
                    failing_since = failing_since or loop.time()
                except aiohttp.ClientConnectorCertificateError as exc:
                    raise JoinError(
                        f"the host's TLS certificate is not trusted ({exc.certificate_error}); "
                        "if the host uses its own certificate, pass it with --cafile"
                    ) from None
                except (aiohttp.ClientError, ConnectionError, OSError, TimeoutError):
                    failing_since = failing_since or loop.time()
                if failing_since is not None and loop.time() - failing_since > self.retry_for:
                    raise JoinError("cannot reach the host (gave up reconnecting)")
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(5.0, delay * 2)

    async def _session(self, http: aiohttp.ClientSession) -> bool:
        """One connection; True when it was closed on purpose (do not reconnect)."""
        width, height = self.size()
        ssl_arg: Any = self.ssl_context if self.ssl_context is not None else True
        url = play_url(self.url, self.name, width, height)
        loop = asyncio.get_running_loop()
        async with http.ws_connect(url, ssl=ssl_arg, max_msg_size=0, autoping=True) as ws:
            self._ws = ws
            loop.add_reader(self.stdin_fd, self._on_stdin)
            pinger = asyncio.create_task(self._ping(ws))
            why = ""
            try:
                while True:
                    msg = await ws.receive()
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        self._screen(msg.data)
                    elif msg.type == aiohttp.WSMsgType.TEXT:
                        continue  # pongs, and app requests this client does not serve
                    else:
                        if msg.type == aiohttp.WSMsgType.CLOSE:
                            why = str(msg.extra or "")
                        break
            finally:
                loop.remove_reader(self.stdin_fd)
                pinger.cancel()
                self._ws = None
            code = ws.close_code
            if code is not None and code < 1002:
                self._ended = why or "the game's screen closed"
                return True
            return False

    def _screen(self, data: bytes) -> None:
        self.received += len(data)
        if self.on_frame is not None:
            self.on_frame(data)
        self.out.write(data)
        self.out.flush()

    def _on_stdin(self) -> None:
        try:
            data = os.read(self.stdin_fd, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.stdin_fd)
            return  # input ended: the screen stays until the seat closes it
        text = self._decoder.decode(data)
        if text:
            self._send(["stdin", text])

    def resized(self) -> None:
        """The terminal changed size (SIGWINCH)."""
        width, height = self.size()
        self._send(["resize", {"width": width, "height": height}])

    def _send(self, envelope: list[Any]) -> None:
        ws = self._ws
        if ws is not None and not ws.closed:
            task = asyncio.ensure_future(ws.send_str(json.dumps(envelope)))
            task.add_done_callback(_quiet)

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        n = 0
        while not ws.closed:
            await asyncio.sleep(PING_EVERY_S)
            n += 1
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(json.dumps(["ping", str(n)]))


def _quiet(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # a send on a closing socket: the read loop notices the close
