"""Several processes writing to one database at once (a team on one host): every row arrives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from oncall_dojo.store import Store

WRITER = r"""
import sys
from oncall_dojo.store import Store
from oncall_dojo.store.records import score_fields

worker, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    st = Store.open()  # every session opens afresh, as separate `dojo` commands do
    start = {"incident": "drill", "incident_version": 1, "seed": i, "mode": "play",
             "player": f"player{worker}", "game_version": "test", "page_tick": 100, "think_s": 10}
    head = st.begin(start, 100, session_id=f"w{worker}-{i:03d}")
    for k in range(1, 6):
        st.append(head, "command", 100 + 10 * k, 10 * k, {"command": f"cmd {k}", "kind": "investigate"})
    fin = {"score": (worker * 31 + i) % 101, "grade": "C", "resolved": True,
           "result": {"breakdown": [], "impact": {}, "times": {"resolved": 60}}}
    st.append(head, "finished", 3700, 3600, fin, score_fields(start, fin))
    st.close()
print("done", worker)
"""

WORKERS, SESSIONS, EVENTS = 4, 25, 7


def test_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "DOJO_HOME": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(w), str(SESSIONS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(WORKERS)
    ]
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()
        assert b"done" in out
        assert b"locked" not in err and b"BUSY" not in err.upper()
    st = Store.open(tmp_path / "dojo.db")
    try:
        assert st.integrity() == "ok"
        rows = st.history()
        assert len(rows) == WORKERS * SESSIONS
        assert {r["session"] for r in rows} == {
            f"w{w}-{i:03d}" for w in range(WORKERS) for i in range(SESSIONS)
        }
        count = st.c.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        assert count == WORKERS * SESSIONS * EVENTS
        assert st.c.conn.execute("SELECT count(*) FROM scores").fetchone()[0] == WORKERS * SESSIONS
        assert st.c.conn.execute("SELECT count(*) FROM players").fetchone()[0] == WORKERS
        for r in rows:
            assert st.verify(r["session"]) == [], r["session"]
        board = st.leaderboard("drill", 1)
        assert [b["player"] for b in board] and len(board) == WORKERS
    finally:
        st.close()
