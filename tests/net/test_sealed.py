"""Sealed answers: every frame a player's client receives, checked for what must stay on
the host (the root cause and the causes' reasons, the playthroughs, faults, vary choices,
the seed, the incident file). The facilitator's frames are the control: they do carry the
answer, so the check would notice it."""

from __future__ import annotations

import asyncio
import re

from netkit import join, link_of, serve_game

from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p

SEED = 48213


def secrets_of(inc: Incident) -> list[str]:
    """Text only the incident file holds (first 40 characters of each piece, at least 20)."""
    rc = inc.root_cause
    pieces = [rc.explanation, rc.answer.text, inc.source, inc.playthroughs.reference.why]
    pieces += [h.why_not for h in rc.red_herrings]
    pieces += [h.why for h in inc.playthroughs.harmful]
    pieces += [inc.playthroughs.reference.name, *[h.name for h in inc.playthroughs.harmful]]
    out = [x.strip()[:40] for x in pieces if len(x.strip()) >= 20]
    return sorted(set(out))


def leaks(frame: str, inc: Incident) -> list[str]:
    found = [s for s in secrets_of(inc) if s in frame]
    if re.search(rf"(?<![0-9]){SEED}(?![0-9])", frame):
        found.append("the seed")
    for key in ("root_cause", "explanation", "playthroughs", "faults", "vary", "why_not"):
        if f'"{key}"' in frame:
            found.append(f"the key {key}")
    if '"secret":{' in frame:
        found.append("a secret")
    for fault in inc.for_seed(SEED).faults:
        if f'"{fault.kind}"' in frame or f"kind: {fault.kind}" in frame:
            found.append(f"the fault {fault.kind}")
    return found


def test_no_frame_sent_to_a_player_carries_the_answer(poison: Incident) -> None:
    inc = poison.for_seed(SEED)

    async def game() -> tuple[dict[str, list[str]], list[str]]:
        served = await serve_game(poison, None, seed=SEED, speed=30)
        clock = asyncio.create_task(served.host.run(interval=0.02))
        cmdr = await join(link_of(served, "commander"), "cara")
        ops = await join(link_of(served, "operations"), "omar")
        fac = await join(link_of(served, "facilitator"), "fac")
        for text in (
            "help",
            "causes",
            "alerts",
            "map",
            "queues",
            "queue payments",
            "messages payments",
            "workers",
            "deploys",
            "logs --level error",
            "metrics",
            "runbook",
            "jobs",
            "flags",
            "db",
            "hint",
        ):
            await ops.command(text)
        await fac.client.send(p.Facilitate(action="hint"))
        await fac.client.send(p.Facilitate(action="note", arg="they looked at the right queue"))
        await cmdr.command("ack")
        await cmdr.command("diagnose workers:mailer bad-release")
        late = await join(link_of(served, "observer"), "lena")  # catches up from the welcome
        await ops.command("restart billing")
        await cmdr.command("resolve")
        await asyncio.wait_for(clock, 60)
        for c in (cmdr, ops, late, fac):
            await c.wait_for(lambda m: isinstance(m, p.Finished))
            await c.close()
        await served.server.stop()
        return {"cara": cmdr.frames, "omar": ops.frames, "lena": late.frames}, fac.frames

    players, facilitator = asyncio.run(asyncio.wait_for(game(), 120))
    for name, frames in players.items():
        assert len(frames) > (3 if name == "lena" else 20)
        assert any(f.startswith('{"v":1,"t":"welcome"') for f in frames)
        for frame in frames:
            assert leaks(frame, inc) == [], (name, frame[:300])
    # the control: the facilitator's welcome carries the answer, and the check sees it
    assert any(leaks(f, inc) for f in facilitator)
    assert any("they looked at the right queue" in f for f in facilitator)
    assert not any("they looked at the right queue" in f for fs in players.values() for f in fs)
