"""A team game over real sockets on 127.0.0.1: players, a facilitator and observers; roles,
attribution, the record, and a replay that gives the same score."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from netkit import join, link_of, serve_game

from oncall_dojo.game.play import finish
from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.store import Store
from oncall_dojo.store.events import TEAM_MODE, canonical
from oncall_dojo.store.replay import compare_results, rebuild


def test_a_team_plays_one_game_in_order_attributed_and_recorded(
    poison: Incident, tmp_path: Path
) -> None:
    store = Store.open(tmp_path / "dojo.db")

    async def game() -> tuple[str, p.Finished, list[str]]:
        served = await serve_game(poison, store)
        host = served.host
        clock = asyncio.create_task(host.run(interval=0.02))
        cmdr = await join(link_of(served, "commander"), "cara")
        ops1 = await join(link_of(served, "operations", 0), "omar")
        ops2 = await join(link_of(served, "operations", 1), "olga")
        comms = await join(link_of(served, "communications"), "cody")
        watcher = await join(link_of(served, "observer"), "wanda")
        fac = await join(link_of(served, "facilitator"), "fac")  # the host's own seat
        everyone = [cmdr, ops1, ops2, comms, watcher, fac]

        assert (await cmdr.command("ack")).kind == "act"
        reply = await ops1.command("queue payments")
        assert reply.kind == "investigate" and "payments" in reply.output
        # every other client sees the line, attributed, without its output
        for other in everyone:
            line = await other.wait_for(
                lambda m: isinstance(m, p.Line) and m.command == "queue payments"
            )
            assert line.player == "omar" and line.seq == reply.seq
        # roles: observers cannot act, operations cannot declare, comms posts updates
        refused = await watcher.command("alerts")
        assert refused.kind == "refused" and "observer" in refused.output
        assert (await ops2.command("resolve")).kind == "refused"
        assert (await ops2.command("wait 5m")).kind == "refused"
        upd = await comms.command("update Payments are delayed; we are on it, next update soon")
        assert upd.kind == "act"
        # outputs on demand
        await watcher.client.send(p.Fetch(seq=reply.seq))
        out = await watcher.wait_for(lambda m: isinstance(m, p.Output))
        assert out.output == reply.output
        # talk, and the commander hands over (recorded)
        await ops2.client.send(p.Say(text="I think the payments consumer is stuck"))
        await cmdr.wait_for(lambda m: isinstance(m, p.Said) and m.player == "olga")
        handed = await cmdr.command("handover olga")
        assert "olga" in handed.output
        await ops2.wait_for(lambda m: isinstance(m, p.Welcome) and m.role == "commander")
        # the former commander's powers changed too: a fresh welcome tells their client
        await cmdr.wait_for(lambda m: isinstance(m, p.Welcome) and m.role == "operations")
        assert (await cmdr.command("resolve")).kind == "refused"  # cara is operations now
        # the facilitator: a hint for everyone, a private note nobody else sees
        await fac.client.send(p.Facilitate(action="note", arg="cara handed over early"))
        await fac.client.send(p.Facilitate(action="hint"))
        await watcher.wait_for(
            lambda m: isinstance(m, p.Said) and m.text.startswith("Hint released")
        )
        await fac.wait_for(lambda m: isinstance(m, p.Said) and m.kind == "note")
        # the same system, the same time for all: the clock reaches everyone
        for c in everyone:
            await c.wait_for(lambda m: isinstance(m, p.Clock) and m.at > 0)
        assert (await ops2.command("restart billing")).kind == "act"
        change = host.session.system.changes[-1]
        assert (change.target, change.author) == ("billing", "olga")  # the change is hers
        done = await ops2.command("resolve")
        assert done.kind == "act"
        result = await asyncio.wait_for(clock, 60)
        for c in everyone:
            fin = await c.wait_for(lambda m: isinstance(m, p.Finished))
            assert fin.score == result.score
        notes_seen = [
            f for c in everyone if c is not fac for f in c.frames if "handed over early" in f
        ]
        assert notes_seen == []
        sid = host.recorder.session_id
        for c in everyone:
            await c.close()
        await served.server.stop()
        return sid, result, [f for f in cmdr.frames]

    sid, result, _ = asyncio.run(asyncio.wait_for(game(), 120))
    # one team session: verifies, attributes every command, replays to the same score
    assert store.verify(sid) == []
    row = store.session(sid)
    assert row["mode"] == TEAM_MODE and row["score"] == result.score
    events = store.events(sid)
    commands = [e for e in events if e.type == "command"]
    assert [(e.data["player"], e.data["command"]) for e in commands] == [
        ("cara", "ack"),
        ("omar", "queue payments"),
        ("cody", "update Payments are delayed; we are on it, next update soon"),
        ("fac", "hint take"),
        ("olga", "restart billing"),
        ("olga", "resolve"),
    ]
    roles = [(e.data["player"], e.data["role"]) for e in events if e.type == "role"]
    assert roles == [("cara", "operations"), ("olga", "commander")]
    rows = store.c.conn.execute(
        "SELECT player FROM events WHERE session_id = ? AND type = 'command' ORDER BY seq", [sid]
    ).fetchall()
    assert [r[0] for r in rows] == [e.data["player"] for e in commands]
    rb = rebuild(poison, events)
    assert rb.mismatches == []
    replayed = finish(rb.session)
    assert rb.finished is not None
    recorded = rb.finished["result"]
    assert compare_results(recorded, json.loads(canonical(replayed.to_json()))) == []
    assert replayed.score == result.score
    store.close()
