"""Protocol fuzzing (hypothesis): whatever a client sends, the host answers with a valid
message or drops that client, and never fails; the game's invariants hold throughout."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netkit import link_of, serve_game

from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.net.client import parse_link
from oncall_dojo.net.host import Host
from oncall_dojo.net.hosting import Served, new_game
from oncall_dojo.net.roles import ROLES, parse_spec
from oncall_dojo.net.server import Connection, Server

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
TYPES = ["hello", "cmd", "say", "look", "fetch", "facilitate", "ping", "welcome", "", "x"]
near_messages = st.builds(
    lambda t, v, extra: json.dumps({"t": t, "v": v, **extra}),
    st.sampled_from(TYPES),
    st.sampled_from([1, 2, 0, "1", None]),
    st.dictionaries(
        st.sampled_from(["id", "text", "token", "name", "what", "seq", "action", "arg", "zz"]),
        json_values,
        max_size=4,
    ),
)
frames = st.one_of(st.text(max_size=200), near_messages, json_values.map(json.dumps))


@given(frames)
@settings(max_examples=300, deadline=None)
def test_decoding_any_frame_gives_a_message_or_a_one_line_reason(frame: str) -> None:
    try:
        msg = p.decode_client(frame)
    except p.BadMessage as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert p.decode_client(p.encode(msg)) == msg


@given(st.binary(max_size=300))
@settings(max_examples=100, deadline=None)
def test_decoding_any_bytes_gives_a_message_or_a_one_line_reason(data: bytes) -> None:
    try:
        msg = p.decode_client(data)
    except p.BadMessage as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert p.decode_client(p.encode(msg)) == msg


# -- the host under any sequence of valid messages from any member --------------------------
COMMAND_TEXT = st.sampled_from(
    [
        "ack",
        "alerts",
        "queue payments",
        "restart billing",
        "resolve",
        "diagnose poison-message",
        'update "Payments are delayed, we are on it"',
        "wait 5m",
        "hint take",
        "handover omar",
        "handover cara",
        "handover nobody",
        "say hello",
        "note checking",
        "",
        "sql select 1",
        "dlq move payments top",
    ]
) | st.text(max_size=60)
client_messages = st.one_of(
    st.builds(p.Cmd, id=st.integers(0, 1000), text=COMMAND_TEXT),
    st.builds(p.Say, text=st.text(min_size=1, max_size=50)),
    st.builds(p.Look, what=st.text(max_size=30)),
    st.builds(p.Fetch, seq=st.integers(0, 50)),
    st.builds(
        p.Facilitate,
        action=st.sampled_from(["pause", "resume", "speed", "hint", "note", "role", "end"]),
        arg=st.sampled_from(["", "20", "0", "-1", "nan", "omar commander", "cara observer", "x"]),
    ),
    st.builds(p.Ping),
)


class Sink:
    """A connection that keeps what it is sent."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.closed = False

    def send(self, frame: str) -> None:
        self.frames.append(frame)

    def close(self, reason: str) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def seated(poison: Incident) -> Iterator[tuple[Host, dict[str, Sink]]]:
    seats, roles = parse_spec("commander,operations*2,observer")
    host = new_game(poison, 48213, seats, roles, host_name="fac", store=None)
    sinks: dict[str, Sink] = {"fac": Sink()}
    host.members["fac"].peers.append(sinks["fac"])
    for seat, name in zip(host.seats[1:], ["cara", "omar", "olga", "wanda"], strict=True):
        sinks[name] = Sink()
        assert seat.token is not None
        host.join(seat.token, name, sinks[name])
    yield host, sinks


@given(
    st.lists(
        st.tuples(st.sampled_from(["fac", "cara", "omar", "olga", "wanda"]), client_messages),
        max_size=25,
    )
)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_sequence_of_messages_keeps_the_game_consistent(
    seated: tuple[Host, dict[str, Sink]], script: list[tuple[str, Any]]
) -> None:
    host, sinks = seated
    server = Server(host)
    for name, msg in script:
        conn = Connection.__new__(Connection)  # a connection without a socket: frames to the sink
        sink = sinks[name]
        conn.send = sink.send  # type: ignore[method-assign]
        conn.name = name
        server._dispatch(conn, msg)
        host.tick()
    # invariants: the feed is the session's entries in order; at most one commander;
    # every frame any member got is a valid host message
    assert [line.seq for line in host.feed] == list(range(len(host.feed)))
    assert len(host.feed) == len(host.session.entries)
    assert [line.command for line in host.feed] == [e.command for e in host.session.entries]
    assert [line.player for line in host.feed] == [e.player for e in host.session.entries]
    roles = [m.role for m in host.members.values()]
    assert set(roles) <= set(ROLES) and roles.count("commander") <= 1
    assert roles.count("facilitator") == 1 and host.members["fac"].role == "facilitator"
    for sink in sinks.values():
        for frame in sink.frames[-50:]:
            p.decode_host(frame)
        sink.frames.clear()


# -- over a real socket --------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(poison: Incident) -> Iterator[tuple[Served, asyncio.AbstractEventLoop]]:
    """A served game on 127.0.0.1 in its own thread, for the whole module."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Served] = {}

    async def start() -> None:
        box["served"] = await serve_game(poison, None, spec="commander,operations*60")
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    assert ready.wait(60)
    yield box["served"], loop
    asyncio.run_coroutine_threadsafe(box["served"].server.stop(), loop).result(60)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


counter = itertools.count()


@given(st.lists(frames, min_size=1, max_size=30))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_frames_over_a_socket_leave_the_host_serving(
    live: tuple[Served, asyncio.AbstractEventLoop], script: list[str]
) -> None:
    served, _ = live
    seat = next(counter) % 60 + 1
    link = link_of(served, "operations", seat - 1)

    async def go() -> None:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(parse_link(link).ws_url)
            await ws.send_str(p.encode(p.Hello(token=parse_link(link).token, name=f"fuzz{seat}")))
            for frame in script:
                if ws.closed:
                    break
                await ws.send_str(frame)
            if not ws.closed:
                await ws.send_str(p.encode(p.Ping()))
            async with asyncio.timeout(20):
                async for m in ws:
                    assert m.type == aiohttp.WSMsgType.TEXT
                    msg = p.decode_host(m.data)
                    if isinstance(msg, p.Pong) or (isinstance(msg, p.Error) and msg.fatal):
                        break
            await ws.close()
            # and a fresh, honest connection is served at once
            honest = link_of(served, "commander")
            ws2 = await http.ws_connect(parse_link(honest).ws_url)
            await ws2.send_str(p.encode(p.Hello(token=parse_link(honest).token, name="cara")))
            await ws2.send_str(p.encode(p.Ping()))
            got = []
            async with asyncio.timeout(20):
                async for m in ws2:
                    got.append(p.decode_host(m.data))
                    if isinstance(got[-1], p.Pong):
                        break
            assert isinstance(got[0], p.Welcome)
            await ws2.close()

    asyncio.run(go())


def test_a_typed_line_with_bytes_that_were_not_utf8_becomes_a_valid_command() -> None:
    """stdin decoded with surrogateescape gives lone surrogates; the message must still encode."""
    from oncall_dojo.net.client import to_message

    msg = to_message("say hi \udcff\udcfe team")
    assert isinstance(msg, p.Cmd)
    assert msg.text == "say hi \ufffd\ufffd team"
    assert p.decode_client(msg.model_dump_json()) == msg
