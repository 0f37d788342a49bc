"""`dojo join`: a client of a hosted team game, reconnecting by itself.

`Client` connects to a join link, says hello, hands every validated message to
`on_message`, and, when the connection drops (the host restarted, the network blinked),
reconnects with backoff; the host's `welcome` then catches it up. `run_console` is the
line mode (`dojo join --console`) for scripts, tests and plain terminals.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit

import aiohttp

from oncall_dojo.net import protocol as p
from oncall_dojo.net.roles import powers_text
from oncall_dojo.sim.text import clean

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0


class JoinError(Exception):
    """The host refused us, or the link cannot be used; the text says why."""


@dataclass(frozen=True)
class Link:
    ws_url: str
    token: str
    tls: bool


def parse_link(url: str) -> Link:
    """`http(s)://HOST:PORT/join/TOKEN` (as `dojo host` prints it) as a websocket URL and token."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise JoinError(f"not a join link: {url!r} (expected http://HOST:PORT/join/TOKEN)")
    segs = [s for s in parts.path.split("/") if s]
    if len(segs) != 2 or segs[0] != "join":
        raise JoinError(f"not a join link: {url!r} (expected http://HOST:PORT/join/TOKEN)")
    tls = parts.scheme in ("https", "wss")
    return Link(f"{'wss' if tls else 'ws'}://{parts.netloc}/ws", segs[1], tls)


class Client:
    """One player's connection to a host."""

    def __init__(
        self,
        url: str,
        name: str,
        on_message: Callable[[Any], None],
        *,
        ssl_context: ssl.SSLContext | bool | None = None,
        retry_for: float = 120.0,
        on_frame: Callable[[str], None] | None = None,
        unix_socket: str | None = None,
        seat: str = "",
    ) -> None:
        self.link = parse_link(url)
        self.seat = seat
        """The host's seat key, for a seat process the host started (`net.replica`)."""
        self.unix_socket = unix_socket
        """Connect through this Unix socket instead (a browser page's app on the host's own
        machine: plain websocket, the token still required)."""
        self.on_frame = on_frame
        """Called with every raw frame received, before it is decoded (tests read the bytes)."""
        self.name = name
        self.on_message = on_message
        self.ssl_context = ssl_context
        self.retry_for = retry_for
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.connected = asyncio.Event()
        self.finished = False
        self.closing = False
        self.connects = 0
        self.received_bytes = 0
        self._next_id = 0

    async def send(self, msg: p._Msg) -> bool:
        """Send one message; False when not connected right now."""
        ws = self.ws
        if ws is None or ws.closed:
            return False
        try:
            await ws.send_str(p.encode(msg))
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            return False
        return True

    async def command(self, text: str) -> int | None:
        self._next_id += 1
        ok = await self.send(p.Cmd(id=self._next_id, text=text))
        return self._next_id if ok else None

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            await self.ws.close()

    async def run(self) -> None:
        """Stay connected until the game is over, we close, or the host refuses us
        (JoinError); reconnect with backoff for up to `retry_for` seconds of failures."""
        delay, failing_since = RETRY_FIRST_S, None
        loop = asyncio.get_running_loop()
        connector = None if self.unix_socket is None else aiohttp.UnixConnector(self.unix_socket)
        async with aiohttp.ClientSession(connector=connector) as http:
            while not self.closing:
                try:
                    await self._session(http)
                    failing_since, delay = None, RETRY_FIRST_S
                except aiohttp.ClientConnectorCertificateError as exc:
                    raise JoinError(
                        f"the host's TLS certificate is not trusted ({exc.certificate_error}); "
                        "if the host uses its own certificate, pass it with --cafile"
                    ) from None
                except aiohttp.WSServerHandshakeError as exc:
                    if exc.status in (400, 403, 404):
                        raise JoinError(
                            f"the host does not serve a game there ({exc.status})"
                        ) from None
                    if failing_since is None:
                        failing_since = loop.time()
                    if loop.time() - failing_since > self.retry_for:
                        raise JoinError(f"cannot join: {exc.status} {exc.message}") from None
                except (aiohttp.ClientError, ConnectionError, OSError, TimeoutError) as exc:
                    if failing_since is None:
                        failing_since = loop.time()
                    if loop.time() - failing_since > self.retry_for:
                        raise JoinError(f"cannot reach the host: {exc}") from None
                if self.finished or self.closing:
                    return
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(RETRY_MAX_S, delay * 2)

    async def _session(self, http: aiohttp.ClientSession) -> None:
        ssl_arg: Any = self.ssl_context if self.ssl_context is not None else True
        url = self.link.ws_url
        if self.unix_socket is not None:
            url, ssl_arg = "ws://localhost/ws", False
        async with http.ws_connect(
            url, ssl=ssl_arg, heartbeat=20.0, max_msg_size=0, autoping=True
        ) as ws:
            self.ws = ws
            hello = p.Hello(token=self.link.token, name=self.name, seat=self.seat)
            await ws.send_str(p.encode(hello))
            self.connects += 1
            try:
                async for raw in ws:
                    if raw.type != aiohttp.WSMsgType.TEXT:
                        continue
                    self.received_bytes += len(raw.data.encode("utf-8"))
                    if self.on_frame is not None:
                        self.on_frame(raw.data)
                    try:
                        msg = p.decode_host(raw.data)
                    except p.BadMessage:
                        continue  # a message this client does not know (a newer host): skip it
                    if isinstance(msg, p.Welcome):
                        self.connected.set()
                    if isinstance(msg, p.Error) and msg.fatal:
                        raise JoinError(msg.text)
                    if isinstance(msg, p.Finished):
                        self.finished = True
                    self.on_message(msg)
            finally:
                self.ws = None
                self.connected.clear()


# -- the line console -------------------------------------------------------------------------
def mmss(at: int) -> str:
    return f"{at // 60:02d}:{at % 60:02d}"


class ConsoleView:
    """Prints what the host sends as lines (the team feed, replies, talk, the clock's state)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.you = ""
        self.seen = -1
        self.said_seen = 0
        self.paused: bool | None = None

    def __call__(self, msg: Any) -> None:
        w = self.out.write
        match msg:
            case p.Welcome():
                first = not self.you
                self.you = msg.you
                if first:
                    w(f"\n=== {msg.game.title} ===  (team game; you are {msg.you}, {msg.role})\n\n")
                    w(msg.game.briefing + "\n")
                    w(f"\n*** PAGE *** {msg.game.page}\n")
                    if msg.game.page_text:
                        w(msg.game.page_text + "\n")
                    w(f"Your powers: {powers_text(msg.powers)}\n")
                    if msg.secret is not None:
                        w(f"(facilitator) root cause: {msg.secret['root_cause']}\n")
                else:
                    w(f"(reconnected; you are {msg.role})\n")
                for line in msg.feed:
                    self._line(line)
                for said in msg.said[self.said_seen :]:
                    self._said(said)
                self.said_seen = len(msg.said)
            case p.Line():
                self._line(msg)
            case p.Reply():
                if msg.output:
                    prefix = "  ! " if msg.kind == "refused" else ""
                    w(prefix + msg.output + "\n")
            case p.Output():
                w(f"[line {msg.seq}]\n{msg.output}\n")
            case p.Said():
                self.said_seen += 1
                self._said(msg)
            case p.Clock():
                if msg.paused != self.paused and self.paused is not None:
                    w("*** paused ***\n" if msg.paused else "*** resumed ***\n")
                self.paused = msg.paused
            case p.Roster():
                pass
            case p.Finished():
                w(
                    f"\nScore {msg.score}/100, grade {msg.grade}{'' if msg.resolved else '  [NOT RESOLVED]'}\n"
                )
                for it in msg.items:
                    detail = f": {it['detail']}" if "detail" in it else ""
                    w(f"  {it['points']:6.1f} {it['title']}{detail}\n")
            case p.Error():
                w(f"  ! {msg.text}\n")
        self.out.flush()

    def _line(self, line: p.Line) -> None:
        if line.seq <= self.seen:
            return
        self.seen = line.seq
        mark = "!" if line.kind == "refused" else ">"
        self.out.write(f"[{mmss(line.at)}] {line.player} {mark} {line.command}\n")

    def _said(self, said: p.Said) -> None:
        who = said.player or "***"
        tag = {"say": "says", "note": "notes", "notice": ""}[said.kind]
        self.out.write(f"[{mmss(said.at)}] {who} {tag}: {said.text}\n".replace("  ", " "))


FACILITATOR_WORDS = ("pause", "resume", "speed", "hint", "end", "note", "role")


def to_message(text: str) -> p._Msg | None:
    """A typed console line as a message: `/pause`, `/speed 20`, `/show 3`, `/who`... are team
    and facilitator actions; anything else is a command (say, note and handover included).
    Bytes that were not UTF-8 arrive as U+FFFD, as at the solo console."""
    text = clean(text)
    if text.startswith("/"):
        word, _, arg = text[1:].partition(" ")
        if word in FACILITATOR_WORDS:
            return p.Facilitate(action=word, arg=arg.strip())
        if word == "show" and arg.strip().isdigit():
            return p.Fetch(seq=int(arg.strip()))
        if word == "look":
            return p.Look(what=arg.strip()[:100])
        return None
    return p.Cmd(id=0, text=text)


async def run_console(
    url: str, name: str, inp: TextIO = sys.stdin, out: TextIO = sys.stdout, **kw: Any
) -> int:
    """`dojo join --console`: lines from `inp` go to the host, everything back is printed.
    Returns 0 when the game finished or input ended, 2 when the host refused us."""
    view = ConsoleView(out)
    client = Client(url, name, view, **kw)
    task = asyncio.create_task(client.run())
    loop = asyncio.get_running_loop()
    try:
        while not task.done():
            line = await loop.run_in_executor(None, inp.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text in ("quit", "exit"):
                break
            if text == "/who":
                continue
            msg = to_message(text)
            if msg is None:
                out.write(f"  ! no such team action: {text}\n")
                continue
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(client.connected.wait(), 30)
            if isinstance(msg, p.Cmd):
                ok = await client.command(msg.text)
            else:
                ok = await client.send(msg)
            if not ok:
                out.write("  ! not connected to the host right now (reconnecting); try again\n")
            out.flush()
        if not task.done() and not client.finished:
            await asyncio.sleep(0.3)  # the last replies
        await client.close()
        await task
    except JoinError as exc:
        print(f"dojo: {exc}", file=sys.stderr)
        return 2
    return 0
