"""`dojo report SESSION` as a player runs it: games played by `dojo play --console` in their
own processes, then the command's Markdown and JSON read back against the store's record
(the same report the library builds from the recorded events), and its refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from oncall_dojo.game.markdown import render
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.packs import bundled_dir
from oncall_dojo.sim.text import json_safe, shown
from oncall_dojo.store import Store
from oncall_dojo.store.report import build

LINES = [
    "ack",
    "queue payments",
    "dlq move payments top",
    "restart billing",
    "wait 5m",
    "resolve",
]


def dojo(home: Path, *args: str, stdin: str = "") -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "oncall_dojo", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "DOJO_HOME": str(home), "DOJO_PLAYER": "ann"},
        timeout=300,
        check=False,
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


def test_the_report_command_reads_a_played_game_back_from_the_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, _, err = dojo(
        home, "play", "payments-stuck", "--console", "--seed", "2", stdin="\n".join(LINES) + "\n"
    )
    assert code == 0, err
    code, _, err = dojo(home, "play", "payments-stuck", "--console", "--seed", "3", stdin="ack\n")
    assert code == 0, err  # the input ended first: left unfinished
    code, out, _ = dojo(home, "history", "--json")
    rows = json.loads(out)
    done = next(r for r in rows if r["seed"] == 2)
    cut = next(r for r in rows if r["seed"] == 3)
    sid = done["session"]

    code, md, err = dojo(home, "report", sid)
    assert code == 0, err
    code, js, err = dojo(home, "report", sid[:6], "--format", "json")  # a prefix is enough
    assert code == 0, err

    store = Store.open(home / "dojo.db")
    try:
        want = build(
            store.session(sid),
            store.events(sid),
            load_checked(bundled_dir() / "payments-stuck.yaml"),
        )
    finally:
        store.close()
    assert md == shown(render(want), keep_lines=True)
    assert js == json_safe(json.dumps(want, indent=2, ensure_ascii=False)) + "\n"

    rep = json.loads(js)
    assert rep["outcome"] == {"score": done["score"], "grade": done["grade"], "resolved": True}
    assert {k: rep["session"][k] for k in ("id", "player", "incident", "seed")} == {
        "id": sid,
        "player": "ann",
        "incident": "payments-stuck",
        "seed": 2,
    }
    acts = [e["text"] for e in rep["timeline"] if e["kind"] == "act"]
    assert acts == ["ack", "dlq move payments top", "restart billing", "resolve"]
    assert f"{done['score']}/100" in md and "| Player | ann |" in md and f"`{sid}`" in md

    code, out, err = dojo(home, "report", cut["session"])
    assert (code, out) == (2, "")
    assert err == (
        f"dojo: session {cut['session']} has not finished; "
        f"resume it with `dojo play --resume {cut['session']}`\n"
    )
    code, out, err = dojo(home, "report", "nosuch")
    assert (code, out) == (2, "") and err.startswith("dojo: no session 'nosuch' in ")
