"""Hostile clients against a live host on 127.0.0.1: bad tokens, garbage, binary frames,
huge frames, floods, a client that never says hello, one that stops reading, half-sent
HTTP requests (slowloris). Each is refused or dropped with a reason, and through all of it
an honest player keeps playing."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import pytest
from netkit import WAIT_S, join, link_of, serve_game

from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.net.client import JoinError, parse_link
from oncall_dojo.net.server import Limits


async def raw_ws(link: str, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    return await session.ws_connect(parse_link(link).ws_url, max_msg_size=0)


async def frames_until_closed(ws: aiohttp.ClientWebSocketResponse) -> list[object]:
    out: list[object] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(WAIT_S):
            async for m in ws:
                if m.type == aiohttp.WSMsgType.TEXT:
                    out.append(p.decode_host(m.data))
    return out


def hello(link: str, name: str) -> str:
    return p.encode(p.Hello(token=parse_link(link).token, name=name))


def test_tokens_a_wrong_one_and_one_already_taken_are_refused(poison: Incident) -> None:
    async def go() -> None:
        served = await serve_game(poison, None)
        link = link_of(served, "operations")
        omar = await join(link, "omar")
        wrong = link.rsplit("/", 1)[0] + "/not-a-token"
        for bad_link, name, why in (
            (wrong, "eve", "wrong token"),
            (link, "eve", "already used by omar"),
            (link_of(served, "commander"), "omar", "taken"),
        ):
            with pytest.raises(JoinError, match=why):
                await join(bad_link, name, retry_for=1)
        # the same player with the same link reconnects (two terminals even)
        again = await join(link, "omar")
        assert (await again.command("alerts")).kind == "investigate"
        await omar.wait_for(lambda m: isinstance(m, p.Reply) and m.kind == "investigate")
        for c in (omar, again):
            await c.close()
        await served.server.stop()

    asyncio.run(asyncio.wait_for(go(), 60))


def test_garbage_floods_huge_frames_and_stalls_drop_only_that_client(poison: Incident) -> None:
    async def go() -> None:
        served = await serve_game(poison, None, limits=Limits(max_dropped=50, max_bad=5))
        server = served.server
        honest = await join(link_of(served, "operations", 0), "omar")
        async with aiohttp.ClientSession() as http:
            # no hello at all: closed after the hello timeout, with the reason
            silent = await raw_ws(link_of(served, "observer"), http)
            # garbage before hello
            junk = await raw_ws(link_of(served, "observer"), http)
            await junk.send_str("{not json")
            got = await frames_until_closed(junk)
            assert isinstance(got[-1], p.Error) and got[-1].fatal
            # a seated client that sends garbage, binary and oversized frames
            bad = await raw_ws(link_of(served, "operations", 1), http)
            await bad.send_str(hello(link_of(served, "operations", 1), "mallory"))
            for frame in ('{"v":1,"t":"cmd"}', '{"v":2,"t":"ping"}', "[]", '{"t":"hello"}', "\x00"):
                await bad.send_str(frame)
            await bad.send_bytes(b"\x00\x01")
            got = await frames_until_closed(bad)
            errors = [m for m in got if isinstance(m, p.Error)]
            assert errors[0].code == "bad" and errors[-1].fatal
            assert any("v:" in e.text or "Input should be 1" in e.text for e in errors)
            # a frame over the limit closes the connection
            huge = await raw_ws(link_of(served, "operations", 2), http)
            await huge.send_str(hello(link_of(served, "operations", 2), "hugo"))
            await huge.send_str(
                json.dumps({"v": 1, "t": "say", "text": "x" * (p.MAX_FRAME_BYTES * 4)})
            )
            await frames_until_closed(huge)
            assert huge.closed and huge.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
            # a flood: dropped over the rate, then disconnected
            flood = await raw_ws(link_of(served, "scribe"), http)
            await flood.send_str(hello(link_of(served, "scribe"), "flo"))
            for _ in range(400):
                await flood.send_str(p.encode(p.Ping()))
            got = await frames_until_closed(flood)
            codes = [m.code for m in got if isinstance(m, p.Error)]
            assert "rate" in codes and codes[-1] == "flood"
            pongs = sum(isinstance(m, p.Pong) for m in got)
            assert 0 < pongs < 400
            # the honest player was never disturbed
            reply = await honest.command("queue payments")
            assert reply.kind == "investigate"
            await frames_until_closed(silent)
            assert silent.closed
        assert served.host.members["omar"].online
        assert not served.host.members["mallory"].online
        await honest.close()
        await served.server.stop()
        assert server.connections == set()

    asyncio.run(asyncio.wait_for(go(), 90))


def test_a_client_that_stops_reading_is_dropped_and_the_host_keeps_time(poison: Incident) -> None:
    async def go() -> None:
        served = await serve_game(poison, None, speed=60, limits=Limits(rate=10_000, burst=10_000))
        clock = asyncio.create_task(served.host.run(interval=0.01))
        honest = await join(link_of(served, "operations", 0), "omar")
        link = link_of(served, "operations", 1)
        # a raw socket that says hello and then never reads a byte
        _reader, writer = await asyncio.open_connection("127.0.0.1", served.server.port)
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        writer.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        payload = hello(link, "stalled").encode()
        header = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + b"\0\0\0\0"
        writer.write(header + payload)
        await writer.drain()
        # meanwhile the team talks a lot: the stalled socket's buffers fill, then its queue
        loop = asyncio.get_running_loop()
        end = loop.time() + 60
        text = "status: " + "x" * (p.MAX_TEXT - 20)
        sent = 0

        def echoed() -> int:
            return sum(isinstance(m, p.Said) and m.player == "omar" for m in honest.messages)

        while served.host.members.get("stalled") is None or served.host.members["stalled"].online:
            assert loop.time() < end, "the stalled client was never dropped"
            for _ in range(20):
                await honest.client.send(p.Say(text=text))
            sent += 20
            # the honest client reads its own copies before talking on: only the stalled one lags
            while echoed() < sent:
                assert loop.time() < end, "the honest client's own lines never came back"
                await asyncio.sleep(0.002)
        assert (await honest.command("queues")).kind == "investigate"
        assert honest.client.connects == 1  # the honest player was never dropped
        before = served.host.session.now
        await honest.wait_for(lambda m: isinstance(m, p.Clock) and m.at > before)
        writer.close()
        served.host.end("fac")
        await asyncio.wait_for(clock, 60)
        await honest.close()
        await served.server.stop()

    asyncio.run(asyncio.wait_for(go(), 90))


def test_half_sent_requests_do_not_hold_up_the_game(poison: Incident) -> None:
    async def go() -> None:
        served = await serve_game(poison, None)
        honest = await join(link_of(served, "operations", 0), "omar")
        slow = []
        for _ in range(50):  # slowloris: open, send part of a request line, never finish
            _r, w = await asyncio.open_connection("127.0.0.1", served.server.port)
            w.write(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(w)
        for w in slow:
            await w.drain()
        reply = await honest.command("alerts")
        assert reply.kind == "investigate"
        late = await join(link_of(served, "commander"), "cara")  # new players still get in
        assert (await late.command("ack")).kind == "act"
        for w in slow:
            w.close()
        for c in (honest, late):
            await c.close()
        await served.server.stop()

    asyncio.run(asyncio.wait_for(go(), 60))
