"""`escalate` in a team game over 127.0.0.1: naming a player pages that player (the team reads it
as talk, the player is told directly); naming a team brings in their on-call, whom everyone
hears join; the recorded game replays with the join made again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from netkit import join, link_of, serve_game

from oncall_dojo.game.escalation import JOIN_S
from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.store import Store
from oncall_dojo.store.replay import rebuild


def test_escalate_pages_a_player_or_brings_in_a_team(poison: Incident, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "dojo.db")

    async def game() -> str:
        served = await serve_game(poison, store, seed=1)
        host = served.host
        host.pause("fac")
        cmdr = await join(link_of(served, "commander"), "cara")
        ops = await join(link_of(served, "operations"), "omar")
        reply = await cmdr.command("escalate omar look at billing please")
        assert (reply.kind, reply.output) == ("meta", "Paged omar.")
        told = await ops.wait_for(lambda m: isinstance(m, p.Said) and m.kind == "notice"
                                  and "cara paged you" in m.text)  # fmt: skip
        assert told.text == "cara paged you: look at billing please"
        said = await cmdr.wait_for(lambda m: isinstance(m, p.Said) and m.player == "cara")
        assert said.text == "paged omar: look at billing please"
        reply = await cmdr.command("escalate billing restart billing")
        assert reply.kind == "act" and "billing on-call joins the call" in reply.output
        host.session.advance(JOIN_S)
        heard = await ops.wait_for(lambda m: isinstance(m, p.Said) and "billing on-call:" in m.text)
        assert heard.kind == "notice" and "ran `restart billing`" in heard.text
        host.end("fac")
        await host.finish()
        for pl in (cmdr, ops):
            await pl.close()
        await served.server.stop()
        sid = host.recorder.session_id if host.recorder else None
        assert sid is not None
        return sid

    sid = asyncio.run(game())
    events = store.events(sid)
    assert store.verify(sid) == []
    rb = rebuild(poison, events)
    assert rb.mismatches == []
    assert [e.player for e in rb.session.entries] == ["cara", "billing on-call"]
    store.close()
