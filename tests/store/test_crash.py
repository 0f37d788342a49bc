"""Crash safety: kill -9 a game at chosen points of its progress, then check the file and
resume to the same score.

A seeded harness starts `dojo play` in a subprocess and feeds it the game one line
at a time, watching the record grow. It SIGKILLs the process at a point chosen in
the game's own progress: either once the record holds input event N (the process
waits for its next line), or right after line N is handed over, while the process
reads, plays and records it. After each kill it checks: the file passes
`PRAGMA integrity_check`, the session's chain verifies, the record holds every
input event acknowledged before the kill, and everything the dead process
acknowledged (each prompt it printed) is in the record. Then it resumes with
`dojo play --resume`, feeding only the lines the record has not consumed, and kills
again, until a run is allowed to finish. The final score must equal an
uninterrupted game's. Which checks run does not depend on the machine's speed.
"""

from __future__ import annotations

import io
import os
import random
import re
import signal
import sqlite3
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


def start(args: list[str], env: dict[str, str], tmp: Path) -> subprocess.Popen[bytes]:
    tmp.mkdir(parents=True, exist_ok=True)
    with (tmp / "stdout.txt").open("wb") as out, (tmp / "stderr.txt").open("wb") as err:
        return subprocess.Popen([sys.executable, "-m", "oncall_dojo", *args],
                                stdin=subprocess.PIPE, stdout=out, stderr=err, env=env)  # fmt: skip


def recorded_inputs(db: Path) -> int:
    """Input events in the newest session's record, read as another process would (-1 while
    the file cannot be read yet)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return -1
    try:
        row = conn.execute(
            "SELECT count(*) FROM events WHERE type IN ('command', 'wait', 'quit') AND session_id ="
            " (SELECT id FROM sessions ORDER BY started_at DESC, rowid DESC LIMIT 1)"
        ).fetchone()
        return int(row[0])
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


def feed(p: subprocess.Popen[bytes], line: str) -> None:
    assert p.stdin is not None
    p.stdin.write(line.encode() + b"\n")
    p.stdin.flush()


def until_recorded(p: subprocess.Popen[bytes], db: Path, want: int, stderr: Path) -> None:
    for _ in range(24_000):  # bounded: 120 s
        if recorded_inputs(db) >= want:
            return
        assert p.poll() is None, (p.returncode, want, stderr.read_text(errors="replace"))
        time.sleep(0.005)
    raise AssertionError(f"the record never reached {want} input events")


def check_after_kill(db: Path, inc: Incident, printed: str, at_least: int) -> int:
    """Check the file after a kill; returns how many input events the record holds."""
    st = Store.open(db)
    try:
        assert st.integrity() == "ok"
        rows = st.history()
        assert rows, "input was acknowledged but the session was not recorded"
        sid = rows[0]["session"]
        events = st.events(sid)
        assert verify_chain(events) == []
        assert st.verify(sid) == []
        consumed = sum(e.type in INPUT_EVENTS for e in events)
        assert consumed >= at_least, (consumed, at_least)
        prompts = [int(m.group(1)) * 60 + int(m.group(2)) for m in PROMPT.finditer(printed)]
        if rows[0]["ended_at"] is None:
            # every prompt the dead process showed was acknowledged: the record reaches that far
            assert prompts, printed
            where = rebuild(inc, events).session.now
            assert where >= prompts[-1], (where, prompts[-1])
            assert consumed >= len(prompts) - 1 - printed.count("dojo> \n")
        return consumed
    finally:
        st.close()


def play_with_kills(tmp: Path, inc: Incident, seed: int, rng: random.Random, kills: int) -> int:
    env = {**os.environ, "DOJO_HOME": str(tmp), "DOJO_PLAYER": "crasher", "PYTHONUNBUFFERED": "1"}
    db = tmp / "dojo.db"
    consumed, sid, checked = 0, None, []
    for attempt in range(kills + 1):
        args = ["play", inc.id, "--seed", str(seed)] if sid is None else ["play", "--resume", sid]
        p = start(args, env, tmp / f"run{attempt}")
        lines = PLAY_LINES[consumed:]
        if attempt == kills:  # the last run plays to the end
            for line in lines:
                feed(p, line)
            assert p.stdin is not None
            p.stdin.close()
            assert p.wait(120) == 0, (tmp / f"run{attempt}" / "stderr.txt").read_text()
            break
        n = rng.randrange(1, len(lines) - kills + attempt)  # leave a line for each later run
        inside = rng.random() < 0.5
        for i, line in enumerate(lines[:n], 1):
            feed(p, line)
            if i < n or not inside:
                until_recorded(p, db, consumed + i, tmp / f"run{attempt}" / "stderr.txt")
        p.send_signal(signal.SIGKILL)  # between lines, or while line n is being played
        assert p.wait(120) == -signal.SIGKILL
        printed = (tmp / f"run{attempt}" / "stdout.txt").read_text(encoding="utf-8")
        now = check_after_kill(db, inc, printed, consumed + n - inside)
        checked.append((n, inside, now - consumed))
        consumed = now
        st = Store.open(db)
        sid = st.history()[0]["session"]
        st.close()
    st = Store.open(db)
    row = st.history()[0]
    st.close()
    assert row["ended_at"] is not None
    assert len(checked) == kills, checked
    return int(row["score"])


def test_killed_games_resume_to_the_same_score(tmp_path: Path, poison: Incident) -> None:
    rng = random.Random(20240607)
    for seed in (11, 12):
        want = uninterrupted_score(poison, seed)
        got = play_with_kills(tmp_path / f"seed{seed}", poison, seed, rng, kills=3)
        assert got == want, f"seed {seed}: resumed game scored {got}, uninterrupted {want}"
