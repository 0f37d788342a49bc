"""A second interviewer who joins with `dojo join` (the interviewer link) gets the
interviewer's console, relayed to their terminal as a player's seat screen is
(`net.relay`): the candidate's commands with their outputs, the panes they open, their
thinking aloud, the cause and the reference, the key metrics charted with the candidate's
actions. What the second interviewer types (note, nudge, hint, pause, resume, mark, end)
is done by the host in their name. On 127.0.0.1; every wait is bounded."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from netkit import WAIT_S, join
from test_relay import Screen, shows
from test_sealed import SEED, leaks

from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.net.hosting import close_game, open_game
from oncall_dojo.net.interview import new_interview
from oncall_dojo.net.relay import Relay
from oncall_dojo.store import Store
from oncall_dojo.store import interviews as records

NOTE = "kim: reads before acting, good"


def test_a_second_interviewer_gets_the_interviewers_console(
    poison: Incident, tmp_path: Path
) -> None:
    store = Store.open(tmp_path / "dojo.db")
    inc = poison.for_seed(SEED)

    async def game() -> None:
        host = new_interview(inc, SEED, host_name="ivy", store=store, minutes=30, speed=5)
        served = await open_game(host, "127.0.0.1", 0)
        clock = asyncio.create_task(host.run(interval=0.05))
        links = [link for role, link, _ in served.links if role == "interviewer"]
        cand_link = next(link for role, link, _ in served.links if role == "candidate")
        keys_r, keys_w = os.pipe()
        out = Screen()
        relay = Relay(links[1], "kim", keys_r, out, lambda: (160, 100))
        task = asyncio.create_task(relay.run())

        async def typed(line: str) -> None:
            os.write(keys_w, line.encode() + b"\r")

        try:
            await shows(out, r"Only you see this")
            await shows(out, r"Root cause:")
            await shows(out, r"Reference timeline")
            await shows(out, r"Key metrics, page to now")
            await shows(out, r"Time box: \d+ min")
            assert "Ops console" not in out.text()  # not the player's screen
            cand = await join(cand_link, "cam")
            await shows(out, r"cam\s+candidate")
            for text in ("alerts", "say the payments queue keeps growing", "queue payments"):
                assert (await cand.command(text)).kind != "refused"
            await cand.client.send(p.Look(what="logs: billing level=warn"))
            # the candidate's commands with their outputs, the thinking aloud, the panes
            await shows(out, r"cam > alerts")
            await shows(out, r"Active alerts")
            await shows(out, r"cam say: the payments queue keeps growing")
            await shows(out, r"depth [\d,]+\s+oldest")
            await shows(out, r"\] logs: billing level=warn")
            # the second interviewer's actions, done by the host in their name
            await typed(f"note {NOTE}")
            await asyncio.wait_for(_until(lambda: host.notes), WAIT_S)
            assert [(by, text) for _, by, text in host.notes] == [("kim", NOTE)]
            await shows(out, r"\[\d\d:\d\d\] kim note: kim: reads before acting, good")
            await typed("nudge What would you check next?")
            said = await cand.wait_for(lambda m: isinstance(m, p.Said) and "asks:" in m.text)
            assert said.text == "kim asks: What would you check next?"
            await typed("pause")
            await asyncio.wait_for(_until(lambda: host.paused), WAIT_S)
            await shows(out, r"PAUSED")
            await typed("resume")
            await asyncio.wait_for(_until(lambda: not host.paused), WAIT_S)
            await typed("hint")
            hint = await cand.wait_for(
                lambda m: isinstance(m, p.Said) and "Hint released" in m.text
            )
            assert hint.text.startswith("Hint released by kim: Hint 1")
            await typed("mark safety 3 parked before restarting")
            await shows(out, r"marked Safety of actions: 3")
            await typed("extend 99999")
            await shows(out, r"! extend N: N is a number|! extend by 1 to \d+ minutes")
            # the candidate acts: the action is marked on the charts and listed
            restart = await cand.command("restart billing")
            assert restart.kind == "act"
            at = f"{restart_at(host) // 60:02d}:{restart_at(host) % 60:02d}"
            await shows(out, rf"1 {at} restart billing\s+\(cam\)")
            await typed("end")
            await asyncio.wait_for(clock, WAIT_S)
            await shows(out, r"Finished: \d+(\.\d+)?/100")
            # nothing private ever reached the candidate
            sent = "".join(cand.frames)
            assert leaks(sent, inc) == [] and NOTE not in sent and '"sheet"' not in sent
            await cand.close()
        finally:
            clock.cancel()
            await close_game(served)
            await asyncio.wait_for(task, WAIT_S)
            os.close(keys_r)
            os.close(keys_w)
        # the record keeps each action with who did it
        sid = host.recorder.session_id if host.recorder else None
        assert sid is not None
        acts = [
            (e.data["action"], e.data["player"])
            for e in store.events(sid)
            if e.type == "facilitator" and e.data.get("player") == "kim"
        ]
        assert [a for a, _ in acts] == ["note", "nudge", "pause", "resume", "end"]
        hints = [e for e in store.events(sid) if e.type == "command" and e.data["name"] == "hint"]
        assert [e.data["player"] for e in hints] == ["kim"]
        assert records.marks(store, sid)["lines"]["safety"] == {
            "mark": 3,
            "note": "parked before restarting",
            "by": "kim",
        }

    try:
        asyncio.run(asyncio.wait_for(game(), 240))
    finally:
        store.close()


def restart_at(host: object) -> int:
    entries = host.session.entries  # type: ignore[attr-defined]
    return next(e.at for e in entries if e.command == "restart billing")


async def _until(cond: object) -> None:
    while not cond():  # type: ignore[operator]
        await asyncio.sleep(0.02)
