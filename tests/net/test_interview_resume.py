"""An interview host killed with SIGKILL and started again with `dojo interview --resume`
continues the interview: the candidate and the second interviewer reconnect by
themselves and catch up, the time box goes on from where the game's clock stood (with the
time added before), and the record stays one interview that verifies. Real processes on
127.0.0.1; every wait is bounded."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from netkit import WAIT_S, free_port, join, spawn_dojo, stop

from oncall_dojo.net import protocol as p
from oncall_dojo.store import Store
from oncall_dojo.store import interviews as records


def start_interview(*args: str) -> tuple[subprocess.Popen[str], str, str, str]:
    """`dojo interview ARGS` in a subprocess; waits (bounded) for its links and session id.
    Returns the process, the session id, the candidate's link and the second interviewer's."""
    proc, lines = spawn_dojo(
        [
            *("interview", *args),
            *("--player", "ivy", "--no-console", "--no-web", "--linger", "1"),
        ],
        lambda line: line.startswith("Interviewer console:"),
    )
    sid = cand = other = ""
    for line in lines:
        if m := re.search(r"\(session (\w+)\)", line):
            sid = m.group(1)
        if m := re.match(r"\s+terminal:\s+dojo join (\S+)", line):
            cand = m.group(1)
        elif m := re.match(r"\s+dojo join (\S+)", line):
            other = m.group(1)
    start_interview.printed = "".join(lines)  # type: ignore[attr-defined]
    return proc, sid, cand, other


def test_a_killed_interview_host_resumes_and_the_time_box_goes_on(poison_path: Path) -> None:
    port = free_port()
    listen = f"127.0.0.1:{port}"
    first, sid, cand_link, kim_link = start_interview(
        "payments-stuck", "--seed", "48213", "--minutes", "1", "--listen", listen, "--speed", "20"
    )
    second: subprocess.Popen[str] | None = None
    try:

        async def play() -> tuple[int, int]:
            nonlocal second
            kim = await join(kim_link, "kim")
            # the clock stops while the candidate looks around (the host keeps it paused)
            assert (await kim.command("pause")).kind == "meta"
            cam = await join(cand_link, "cam")
            for text in ("alerts", "queue payments", "say one message keeps failing"):
                assert (await cam.command(text)).kind != "refused"
            extended = await kim.command("extend 1")
            assert "extended by 1 min" in extended.output
            sheet = await kim.wait_for(lambda m: isinstance(m, p.Sheet) and m.deadline == 120)
            assert sheet.deadline == 120
            await kim.command("note cam read the queue first")
            before_at = (await kim.wait_for(lambda m: isinstance(m, p.Clock) and m.paused)).at
            counts = {"cam": len(cam.messages), "kim": len(kim.messages)}
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=WAIT_S)
            second, sid2, cand2, _ = start_interview("--resume", "--listen", listen)
            assert sid2 == sid and cand2 == cand_link
            printed = start_interview.printed  # type: ignore[attr-defined]
            assert f"Resumed at {before_at // 60:02d}:{before_at % 60:02d} of play (paused)" in (
                printed
            )
            assert "Time box: 2 minutes of play" in printed and "--as cam" in printed
            # both come back by themselves and catch up: the feed, the talk, the sheet
            w = await cam.wait_for(lambda m: isinstance(m, p.Welcome), 60, counts["cam"])
            assert [ln.command for ln in w.feed] == ["alerts", "queue payments"]
            assert w.secret is None and w.clock.at == before_at and w.clock.paused
            w = await kim.wait_for(lambda m: isinstance(m, p.Welcome), 60, counts["kim"])
            assert w.secret is not None
            sheet = p.Sheet.model_validate(w.secret["interview"])
            assert sheet.deadline == 120
            assert [n[1:] for n in sheet.notes] == [("kim", "cam read the queue first")]
            assert cam.client.connects == 2 and kim.client.connects == 2
            # the clock runs again: the time box ends at its deadline, the extension kept
            assert (await kim.command("resume")).kind == "meta"
            up = await cam.wait_for(
                lambda m: isinstance(m, p.Said) and m.text.startswith("Time is up"), 90
            )
            fin = await cam.wait_for(lambda m: isinstance(m, p.Finished), 90)
            assert fin.grade != "-"
            for c in (cam, kim):
                await c.close()
            return before_at, up.at

        before_at, up_at = asyncio.run(asyncio.wait_for(play(), 200))
        assert second is not None
        assert second.wait(timeout=60) == 0
    finally:
        stop(first, second)
    assert up_at == 120 and before_at < 120
    store = Store.open(Path(os.environ["DOJO_HOME"]) / "dojo.db")
    try:
        assert store.verify(sid) == []
        rows = records.interviews(store)
        assert [(r["session"], r["candidate"]) for r in rows] == [(sid, "cam")]  # one interview
        events = store.events(sid)
        acts = [
            (e.data.get("action"), e.data.get("player")) for e in events if e.type == "facilitator"
        ]
        assert ("extend", "kim") in acts and ("time-up", "") in acts
        assert acts.count(("away", "cam")) == 1 and acts.count(("back", "cam")) == 1
        up = next(e for e in events if e.type == "facilitator" and e.data["action"] == "time-up")
        assert up.at == 120
        assert [e.data["command"] for e in events if e.type == "command"] == [
            "alerts",
            "queue payments",
        ]
    finally:
        store.close()
    proc = subprocess.run(
        [sys.executable, "-m", "oncall_dojo", "interview", "scorecard", "cam", "--format", "md"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # the restart cut the candidate off once; the clock was paused, so no time was lost
    assert "- Disconnects: 1, time lost 00:00" in proc.stdout
