"""A host killed with SIGKILL and started again with `dojo host --resume` continues the
game; the clients reconnect by themselves and catch up; the record verifies and replays."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from netkit import WAIT_S, free_port, join, spawn_dojo, stop

from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.net.hosting import new_game, resume_game
from oncall_dojo.net.roles import parse_spec
from oncall_dojo.store import Store


def start_host(*args: str) -> tuple[subprocess.Popen[str], dict[str, list[str]], str]:
    """`dojo host ARGS` in a subprocess; waits (bounded) for its links and session id."""
    proc, lines = spawn_dojo(
        ["host", *args, "--player", "fac", "--no-console"],
        lambda line: line.startswith("Players join with"),
    )
    links: dict[str, list[str]] = {}
    sid = ""
    for line in lines:
        if m := re.search(r"\(session (\w+)\)", line):
            sid = m.group(1)
        if m := re.match(r"\s+(\w+)\s+(http://\S+)", line):
            links.setdefault(m.group(1), []).append(m.group(2))
    return proc, links, sid


def test_a_killed_host_resumes_and_the_clients_reconnect_by_themselves(
    run_dojo: object, tmp_path: Path
) -> None:
    port = free_port()
    listen = f"127.0.0.1:{port}"
    first, links, sid = start_host(
        "payments-stuck", "--seed", "48213", "--listen", listen, "--speed", "5", "--linger", "1"
    )
    second: subprocess.Popen[str] | None = None
    try:

        async def play() -> tuple[float, int]:
            nonlocal second
            cara = await join(links["commander"][0], "cara")
            omar = await join(links["operations"][0], "omar")
            assert (await cara.command("ack")).kind == "act"
            queued = await omar.command("queue payments")
            await cara.client.send(p.Say(text="omar, what does the queue say?"))
            await omar.wait_for(lambda m: isinstance(m, p.Said) and m.player == "cara")
            handed = await cara.command("handover omar")
            assert "omar" in handed.output
            await asyncio.sleep(1.5)  # the record's clock is checkpointed every second
            before = {c.client.name: len(c.messages) for c in (cara, omar)}
            # the team feed as the first host sent it: each change, in order, with its player
            fed = [m.model_dump() for m in cara.messages if isinstance(m, p.Line)]
            assert [(f["player"], f["command"]) for f in fed] == [
                ("cara", "ack"),
                ("omar", "queue payments"),
            ]
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=WAIT_S)
            second, _, sid2 = start_host("--resume", "--listen", listen, "--linger", "1")
            assert sid2 == sid
            # both clients come back by themselves, caught up: the feed, the talk, the roles
            for c in (cara, omar):
                w = await c.wait_for(
                    lambda m: isinstance(m, p.Welcome), timeout=60, since=before[c.client.name]
                )
                assert [line.model_dump() for line in w.feed] == fed  # the resumed host's
                assert any(s.text == "omar, what does the queue say?" for s in w.said)
            assert omar.client.connects == 2
            w = await omar.wait_for(lambda m: isinstance(m, p.Welcome) and m.role == "commander")
            assert w.you == "omar"
            await omar.client.send(p.Fetch(seq=queued.seq))
            out = await omar.wait_for(lambda m: isinstance(m, p.Output))
            assert out.output == queued.output
            assert (await cara.command("resolve")).kind == "refused"  # cara handed over
            assert (await omar.command("restart billing")).kind == "act"
            assert (await omar.command("resolve")).kind == "act"
            fin = await omar.wait_for(lambda m: isinstance(m, p.Finished), timeout=60)
            await cara.wait_for(lambda m: isinstance(m, p.Finished))
            for c in (cara, omar):
                await c.close()
            return fin.score, cara.client.connects

        score, _ = asyncio.run(asyncio.wait_for(play(), 180))
        assert second is not None
        assert second.wait(timeout=60) == 0
    finally:
        stop(first, second)
    store = Store.open(Path(os.environ["DOJO_HOME"]) / "dojo.db")
    assert store.verify(sid) == []
    events = store.events(sid)
    assert store.session(sid)["score"] == score
    assert [e.data["player"] for e in events if e.type == "command"] == [
        "cara",
        "omar",
        "omar",
        "omar",
    ]
    store.close()
    for cmd in ("verify", "replay"):
        proc = subprocess.run(
            [sys.executable, "-m", "oncall_dojo", cmd, sid],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "same" in proc.stdout or "identical" in proc.stdout, proc.stdout


def test_the_resumed_host_has_the_same_changes_in_the_same_order_by_the_same_players(
    poison: Incident, tmp_path: Path
) -> None:
    """What `dojo host --resume` rebuilds from the record (`resume_game`) holds the original
    host's changes: every command and inject, in the host's order, each with its player (and
    tick, and a digest of its output), and the team feed as the players saw it."""
    store = Store.open(tmp_path / "dojo.db")
    seats, roles = parse_spec("commander,operations*2,observer")
    host = new_game(poison.for_seed(48213), 48213, seats, roles, host_name="fac", store=store)
    for seat, name in zip(host.seats[1:], ["cara", "omar", "otto", "olga"], strict=True):
        assert seat.token is not None
        host.join(seat.token, name)
    plays = [
        (10, "cara", "ack"),
        (25, "omar", "queue payments"),
        (25, "otto", "workers"),  # the same second: the host's order decides
        (40, "olga", "restart billing"),  # an observer: refused, and kept as such
        (70, "omar", "logs --level error"),
        (95, "cara", "handover omar"),
        (120, "omar", "restart billing"),
    ]
    for at, name, text in plays:
        host.session.advance_to(at)
        host.command(name, text)
        if at == 70:
            host.facilitate("fac", "inject", "provider-slows")
    host.session.advance_to(150)
    host.say("cara", "handing over")
    original = [s.model_dump() for s in host.seatfeed.steps]
    feed = [line.model_dump() for line in host.feed]
    assert [(s["kind"], s["player"], s["command"]) for s in original] == [
        ("command", "cara", "ack"),
        ("command", "omar", "queue payments"),
        ("command", "otto", "workers"),
        ("command", "omar", "logs --level error"),
        ("inject", "", ""),
        ("command", "omar", "restart billing"),
    ]  # an act refused by role changes nothing; a handover is the team's, not the system's
    assert original[4]["data"]["by"] == "fac"
    store.close()  # the host is gone (its record is all that is left)

    again = Store.open(tmp_path / "dojo.db")
    try:
        sid = host.recorder.session_id
        assert sid is not None
        resumed = resume_game(again, sid, lambda ident: poison)
        assert [s.model_dump() for s in resumed.seatfeed.steps] == original
        assert [line.model_dump() for line in resumed.feed] == feed
        assert resumed.members["omar"].role == "commander"  # the handover, too
    finally:
        again.close()
