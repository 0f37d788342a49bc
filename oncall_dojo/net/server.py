"""The aiohttp server around a `Host`: one websocket per client, validated and limited.

- `GET /ws`: the game. The first frame must be `hello` within `HELLO_TIMEOUT_S`; every
  frame after it is validated (`protocol.decode_client`) and rate-limited per connection.
  A bad frame gets an `error` back; too many bad frames, a flood, a frame over
  `MAX_FRAME_BYTES` or a full send queue (a client that stopped reading) drops that client,
  never the host: the host never waits on a client, and each client's frames are written
  by its own task from a bounded queue.
- `GET /join/TOKEN`: a page saying how to join (the link a host prints).
- `GET /health`: `ok`, for a reverse proxy's checks.

It listens on the loopback address unless told otherwise; TLS with a certificate and key.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from oncall_dojo.net import protocol as p
from oncall_dojo.net.host import Host, Refused

HELLO_TIMEOUT_S = 5.0
SEND_QUEUE = 1024
"""Frames waiting for one client; a client this far behind is dropped (it can reconnect)."""
SEND_TIMEOUT_S = 10.0
MAX_CLIENTS = 256


@dataclass
class Limits:
    """Per-connection limits."""

    rate: float = 20.0
    """Frames per second a client may send on average..."""
    burst: float = 40.0
    """...and at once."""
    max_dropped: int = 200
    """Frames over the rate before the client is dropped as a flood."""
    max_bad: int = 20
    """Invalid frames before the client is dropped."""


@dataclass(eq=False)
class Connection:
    """One client's socket: a bounded send queue drained by its own writer task."""

    ws: web.WebSocketResponse
    transport: asyncio.Transport | None = None
    name: str = ""
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(SEND_QUEUE))
    closed: bool = False
    reason: str = ""
    sent_bytes: int = 0

    def send(self, frame: str) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.abort("too far behind (not reading); reconnect to catch up")

    def abort(self, reason: str) -> None:
        """Drop the connection now, without a closing handshake the client would not read."""
        self.close(reason)
        if self.transport is not None:
            self.transport.abort()

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed, self.reason = True, reason
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)

    async def write_loop(self) -> None:
        while True:
            frame = await self.queue.get()
            if frame is None:
                break
            try:
                await asyncio.wait_for(self.ws.send_str(frame), SEND_TIMEOUT_S)
            except (TimeoutError, ConnectionError, RuntimeError):
                self.abort("not reading")
                return
            self.sent_bytes += len(frame.encode("utf-8"))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(message=self.reason.encode()[:120]), 2.0)


class Bucket:
    """A token bucket: `take()` is False when the client is over its rate."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.tokens = limits.burst
        self.last = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.limits.burst, self.tokens + (now - self.last) * self.limits.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Server:
    """Serves one host's game until it is stopped."""

    def __init__(
        self,
        host: Host,
        limits: Limits | None = None,
        max_clients: int = MAX_CLIENTS,
        extra_routes: Callable[[web.Application], None] | None = None,
    ):
        self.host = host
        self.extra_routes = extra_routes
        """Adds more routes to the same app (the browser pages of `dojo host --web`)."""
        self.web_path: Callable[[str], str] | None = None
        """`token -> path` of a seat's browser page, when browsers are served."""
        self.limits = limits or Limits()
        self.max_clients = max_clients
        self.connections: set[Connection] = set()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.scheme = "http"
        self.address = "127.0.0.1"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=p.MAX_FRAME_BYTES)
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/join/{token}", self._join_page)
        app.router.add_get("/health", self._health)
        if self.extra_routes is not None:
            self.extra_routes(app)
        return app

    async def start(
        self,
        address: str = "127.0.0.1",
        port: int = 8765,
        ssl_context: ssl.SSLContext | None = None,
        unix_path: str | None = None,
    ) -> None:
        """Listen on `address:port`, and also on the Unix socket `unix_path` when given (the
        host's own browser-page processes connect there: no TLS or address to get right)."""
        self.runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, address, port, ssl_context=ssl_context, reuse_address=True)
        await site.start()
        if unix_path is not None:
            await web.UnixSite(self.runner, unix_path).start()
        server = site._server  # the port the OS picked when asked for 0
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        self.address = address
        self.scheme = "https" if ssl_context is not None else "http"

    async def stop(self) -> None:
        for c in list(self.connections):
            c.close("the host stopped")
        await asyncio.sleep(0)
        if self.runner is not None:
            await self.runner.cleanup()

    def link(self, token: str) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{host}:{self.port}/join/{token}"

    def browser_link(self, token: str) -> str | None:
        """The seat's page for a browser, when browsers are served (`dojo host --web`)."""
        if self.web_path is None:
            return None
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{host}:{self.port}{self.web_path(token)}"

    @property
    def sent_bytes(self) -> int:
        return sum(c.sent_bytes for c in self.connections)

    # -- routes ---------------------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _join_page(self, request: web.Request) -> web.Response:
        text = (
            "This is an oncall-dojo team game. Join it from a terminal with\n\n"
            f"    dojo join {request.url} --as YOUR-NAME\n"
        )
        if self.web_path is not None:
            token = request.match_info["token"]
            if any(s.admits(token) and s.role != "facilitator" for s in self.host.seats):
                page = request.url.with_path(self.web_path(token)).with_query(None)
                text += f"\nor in a browser, by opening\n\n    {page}\n"
        return web.Response(text=text, headers={"Cache-Control": "no-store"})

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if len(self.connections) >= self.max_clients:
            return web.Response(status=503, text="the game is full\n")
        ws = web.WebSocketResponse(max_msg_size=p.MAX_FRAME_BYTES, heartbeat=20.0, compress=False)
        await ws.prepare(request)
        conn = Connection(ws, request.transport)
        self.connections.add(conn)
        writer = asyncio.create_task(conn.write_loop())
        try:
            name = await self._hello(ws, conn)
            if name is not None:
                conn.name = name
                await self._serve(ws, conn)
        finally:
            if conn.name:
                self.host.leave(conn.name, conn)
            conn.close(conn.reason or "bye")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, SEND_TIMEOUT_S)
            writer.cancel()
            self.connections.discard(conn)
        return ws

    def _error(self, conn: Connection, code: str, text: str, fatal: bool = False) -> None:
        conn.send(p.encode(p.Error(code=code, text=text, fatal=fatal)))
        if fatal:
            conn.close(text)

    async def _hello(self, ws: web.WebSocketResponse, conn: Connection) -> str | None:
        try:
            msg = await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT_S)
        except TimeoutError:
            self._error(conn, "timeout", f"no hello within {HELLO_TIMEOUT_S:g}s", fatal=True)
            return None
        if msg.type != WSMsgType.TEXT:
            self._error(conn, "bad", "the first frame must be a hello (text)", fatal=True)
            return None
        try:
            hello = p.decode_client(msg.data)
        except p.BadMessage as exc:
            self._error(conn, "bad", f"not a hello: {exc}", fatal=True)
            return None
        if not isinstance(hello, p.Hello):
            self._error(conn, "bad", "the first frame must be a hello", fatal=True)
            return None
        try:
            welcome = self.host.join(hello.token, hello.name, conn, hello.seat)
        except Refused as exc:
            self._error(conn, "refused", str(exc), fatal=True)
            return None
        conn.send(p.encode(welcome))
        if self.host.result_message is not None:
            conn.send(p.encode(self.host.result_message))
        return welcome.you

    async def _serve(self, ws: web.WebSocketResponse, conn: Connection) -> None:
        bucket, dropped, bad = Bucket(self.limits), 0, 0
        async for msg in ws:
            if conn.closed:
                break
            if msg.type != WSMsgType.TEXT:
                bad += 1
                self._error(conn, "bad", "frames are JSON text", fatal=bad > self.limits.max_bad)
                continue
            if not bucket.take():
                dropped += 1
                if dropped > self.limits.max_dropped:
                    self._error(conn, "flood", "too many messages; disconnected", fatal=True)
                elif dropped == 1 or dropped % 50 == 0:
                    self._error(conn, "rate", "slow down: messages over the rate are dropped")
                continue
            try:
                m = p.decode_client(msg.data)
            except p.BadMessage as exc:
                bad += 1
                self._error(conn, "bad", str(exc), fatal=bad > self.limits.max_bad)
                continue
            self._dispatch(conn, m)
        if ws.close_code is not None and ws.close_code >= 1002 and not conn.reason:
            conn.reason = f"closed ({ws.close_code})"

    def _dispatch(self, conn: Connection, m: Any) -> None:
        host, name = self.host, conn.name
        try:
            match m:
                case p.Cmd():
                    reply = host.command(name, m.text, m.id)
                    if reply.seq < 0:  # not played (refused by role, or a team word): to the sender
                        conn.send(p.encode(reply))
                case p.Say():
                    host.say(name, m.text)
                case p.Look():
                    host.look(name, m.what)
                case p.Fetch():
                    conn.send(p.encode(host.output(m.seq)))
                case p.Facilitate():
                    out = host.facilitate(name, m.action, m.arg)
                    conn.send(
                        p.encode(
                            p.Said(
                                at=host.session.now,
                                player="",
                                text=f"{m.action}: {out}",
                                kind="notice",
                            )
                        )
                    )
                case p.Ping():
                    conn.send(p.encode(p.Pong()))
                case p.Hello():
                    self._error(conn, "bad", "already joined")
        except Refused as exc:
            self._error(conn, "refused", str(exc))


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server TLS context from a PEM certificate (chain) and its key."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
