"""`dojo interview` as a user runs it: the links it prints, a loop that gives every
candidate the same exercise, a changed incident file refused under a loop, the warm-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from oncall_dojo.store import Store
from oncall_dojo.store import interviews as records

FAST = ("--listen", "127.0.0.1:0", "--no-console", "--minutes", "1", "--speed", "120")


def probe_incident(repo_root: Path, folder: Path) -> Path:
    """A copy of a bundled incident under its own id, in a private folder."""
    text = (repo_root / "incidents" / "payments-stuck.yaml").read_text(encoding="utf-8")
    text = text.replace("id: payments-stuck", "id: loop-probe", 1)
    text = text.replace("aliases: [poison-payments]\n", "", 1)
    folder.mkdir()
    path = folder / "loop-probe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run(dojo: Any, *args: str) -> tuple[int, str, str]:
    return dojo("interview", *args, *FAST, "--linger", "0")  # type: ignore[no-any-return]


def test_a_loop_gives_every_candidate_the_same_exercise(
    dojo: Any, repo_root: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pack"
    path = probe_incident(repo_root, folder)
    code, out, err = run(dojo, "loop-probe", "--loop", "backend", "--incidents", str(folder))
    assert code == 0, err
    assert re.search(r"browser: +http://127\.0\.0\.1:\d+/play/\S+", out), out
    assert re.search(r"terminal: +dojo join http://127\.0\.0\.1:\d+/join/\S+ --as NAME", out)
    assert "Another interviewer:" in out and "Outcome " in out
    # the second candidate of the loop: no incident named, the loop knows it
    code, out, err = run(dojo, "--loop", "backend", "--incidents", str(folder))
    assert code == 0, err
    store = Store.open()
    rows = records.interviews(store, loop="backend")
    assert len(rows) == 2
    starts = [store.events(r["session"])[0].data for r in rows]
    assert starts[0]["seed"] == starts[1]["seed"]
    assert starts[0]["incident_digest"] == starts[1]["incident_digest"]
    assert {s["interview"]["loop"] for s in starts} == {"backend"}
    # a seed cannot be chosen under a loop, and a changed file is refused, clearly
    code, _, err = run(dojo, "--loop", "backend", "--seed", "4", "--incidents", str(folder))
    assert code == 2 and "--seed and --loop" in err
    path.write_text(path.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    code, _, err = run(dojo, "--loop", "backend", "--incidents", str(folder))
    assert code == 2 and "changed since loop 'backend' began" in err, err
    assert len(records.interviews(store, loop="backend")) == 2
    store.close()


def test_the_warm_up_is_neither_scored_nor_recorded(dojo: Any) -> None:
    code, out, err = run(dojo, "warmup")
    assert code == 0, err
    assert "Warm-up (not scored, not recorded)" in out and "Outcome" not in out
    code, out, _ = dojo("interview", "list")
    assert "No interviews recorded yet" in out
