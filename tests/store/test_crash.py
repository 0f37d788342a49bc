"""Crash safety: kill -9 a game at random moments, then check the file and resume to the same score.

A seeded harness starts `dojo play` in a subprocess with the whole game on its
stdin, SIGKILLs it after a random delay, and checks: the file passes
`PRAGMA integrity_check`, the session's chain verifies, and everything the dead
process acknowledged (each prompt it printed) is in the record. Then it resumes
with `dojo play --resume`, feeding only the lines the record has not consumed,
and kills again, until a run is allowed to finish. The final score must equal an
uninterrupted game's.
"""

from __future__ import annotations

import io
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from storekit import PLAY_LINES

from oncall_dojo.game.console import run_console
from oncall_dojo.incident.model import Incident
from oncall_dojo.store import Store
from oncall_dojo.store.events import verify_chain
from oncall_dojo.store.replay import rebuild

PROMPT = re.compile(r"\[(\d+):(\d{2})\] dojo> ")
SCORE = re.compile(r"payments-stuck \(seed \d+\): (\d+)/100")
INPUT_EVENTS = ("command", "wait", "quit")


def uninterrupted_score(inc: Incident, seed: int) -> int:
    out = io.StringIO()
    run_console(inc, seed, [], out=out, inp=io.StringIO("\n".join(PLAY_LINES) + "\n"))
    m = SCORE.search(out.getvalue())
    assert m, out.getvalue()
    return int(m.group(1))


def start(
    args: list[str], lines: list[str], env: dict[str, str], tmp: Path
) -> subprocess.Popen[bytes]:
    tmp.mkdir(parents=True, exist_ok=True)
    feed = tmp / "stdin.txt"
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with feed.open("rb") as f:
        return subprocess.Popen([sys.executable, "-m", "oncall_dojo", *args], stdin=f,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip


def check_after_kill(db: Path, inc: Incident, printed: str) -> None:
    st = Store.open(db)
    try:
        assert st.integrity() == "ok"
        rows = st.history()
        if not rows:
            assert not PROMPT.search(printed), "a prompt was shown but the session was not recorded"
            return
        sid = rows[0]["session"]
        events = st.events(sid)
        assert verify_chain(events) == []
        assert st.verify(sid) == []
        prompts = [int(m.group(1)) * 60 + int(m.group(2)) for m in PROMPT.finditer(printed)]
        if prompts and rows[0]["ended_at"] is None:
            # every prompt the dead process showed was acknowledged: the record reaches that far
            where = rebuild(inc, events).session.now
            assert where >= prompts[-1], (where, prompts[-1])
            consumed = sum(e.type in INPUT_EVENTS for e in events)
            assert consumed >= len(prompts) - 1 - printed.count("dojo> \n")
    finally:
        st.close()


def play_with_kills(tmp: Path, inc: Incident, seed: int, rng: random.Random, kills: int) -> int:
    env = {**os.environ, "DOJO_HOME": str(tmp), "DOJO_PLAYER": "crasher", "PYTHONUNBUFFERED": "0"}
    db = tmp / "dojo.db"
    done = 0
    for attempt in range(kills + 1):
        sid = None
        if db.exists():
            st = Store.open(db)
            rows = st.history()
            if rows:
                sid = rows[0]["session"]
                consumed = sum(e.type in INPUT_EVENTS for e in st.events(sid))
                if rows[0]["ended_at"] is not None:
                    score = int(rows[0]["score"])
                    st.close()
                    return score
            st.close()
        if sid is None:
            p = start(["play", inc.id, "--seed", str(seed)], PLAY_LINES, env, tmp)
        else:
            p = start(["play", "--resume", sid], PLAY_LINES[consumed:], env, tmp)
        if attempt < kills:
            time.sleep(rng.uniform(0.3, 1.8))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                done += 1
        out, err = p.communicate(timeout=120)
        assert p.returncode in (0, -signal.SIGKILL), err.decode()
        check_after_kill(db, inc, out.decode())
    st = Store.open(db)
    row = st.history()[0]
    st.close()
    assert row["ended_at"] is not None and done > 0
    return int(row["score"])


def test_killed_games_resume_to_the_same_score(tmp_path: Path, poison: Incident) -> None:
    rng = random.Random(20240607)
    for seed in (11, 12):
        want = uninterrupted_score(poison, seed)
        got = play_with_kills(tmp_path / f"seed{seed}", poison, seed, rng, kills=3)
        assert got == want, f"seed {seed}: resumed game scored {got}, uninterrupted {want}"
