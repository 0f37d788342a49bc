"""Injects in a team game over real sockets on 127.0.0.1: the facilitator fires them, the team
hears of them (a fault only through its symptoms), an absent player is refused, stakeholders
are answered, and the recorded game replays to the same score."""

from __future__ import annotations

import asyncio
from pathlib import Path

from netkit import join, link_of, serve_game

from oncall_dojo.game.play import finish
from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.store import Store
from oncall_dojo.store.replay import compare_results, rebuild


def test_injects_reach_the_team_and_replay(poison: Incident, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "dojo.db")

    async def game() -> str:
        served = await serve_game(poison, store)
        host = served.host
        cmdr = await join(link_of(served, "commander"), "cara")
        ops = await join(link_of(served, "operations"), "omar")
        fac = await join(link_of(served, "facilitator"), "fac")
        await fac.client.send(
            p.Facilitate(action="inject", arg='ask "VP Sales" "Is checkout down?"')
        )
        said = await ops.wait_for(lambda m: isinstance(m, p.Said) and "VP Sales" in m.text)
        assert said.kind == "notice" and "answer with `answer TEXT`" in said.text
        n = len(cmdr.messages)
        await fac.client.send(p.Facilitate(action="inject", arg="provider-slows"))
        await fac.client.send(p.Facilitate(action="inject", arg="away omar 120"))
        away = await cmdr.wait_for(
            lambda m: isinstance(m, p.Said) and "omar is unavailable" in m.text, since=n
        )
        # the fault inject said nothing to the team: only the absence came after the message
        assert not any(
            isinstance(m, p.Said) and "provider" in m.text.lower() for m in cmdr.messages[n:]
        ), away
        refused = await ops.command("queue payments")
        assert refused.kind == "refused" and "omar is unavailable until" in refused.output
        answer = await cmdr.command(
            'answer "Checkout works; card charges are delayed, nothing is lost"'
        )
        assert answer.kind == "act" and "VP Sales" in answer.output
        # a player cannot fire injects
        await ops.client.send(p.Facilitate(action="inject", arg="customer-post"))
        err = await ops.wait_for(lambda m: isinstance(m, p.Error))
        assert "facilitator" in err.text
        assert [r["key"] for r in host.session.injected] == ["ask-1", "provider-slows", "away-3"]
        host.end("fac")
        await host.finish()
        for pl in (cmdr, ops, fac):
            await pl.close()
        await served.server.stop()
        sid = host.recorder.session_id if host.recorder else None
        assert sid is not None
        return sid

    sid = asyncio.run(game())
    events = store.events(sid)
    assert [e.data["key"] for e in events if e.type == "inject"] == [
        "ask-1",
        "provider-slows",
        "away-3",
    ]
    assert store.verify(sid) == []
    rb = rebuild(poison, events)
    assert rb.mismatches == [] and rb.finished is not None
    assert compare_results(rb.finished["result"], finish(rb.session).to_json()) == []
    store.close()
