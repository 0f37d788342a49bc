"""The CLI over the store: history, leaderboard, replay, export/import, resume, and faults."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from storekit import PLAY_LINES, Record

from oncall_dojo.incident.model import Incident
from oncall_dojo.store import Store

Dojo = Callable[..., tuple[int, str, str]]


def play_cli(
    monkeypatch: pytest.MonkeyPatch,
    dojo: Dojo,
    lines: list[str],
    *args: str,
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    return dojo("play", *args)


def test_history_and_leaderboard_json(
    home: Path, store: Store, record: Record, dojo: Dojo, poison: Incident
) -> None:
    assert dojo("history", "--json")[1].strip() == "[]"
    a1 = record(["ack", "quit"], seed=3, player="alice")
    a2 = record(PLAY_LINES, seed=3, player="alice")
    b1 = record(["ack", "purge payments", "quit"], seed=3, player="bob")
    code, out, _ = dojo("run", "payments-stuck", "--reference", "--record", "--player", "carol")
    assert code == 0
    code, out, _ = dojo("history", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 4
    assert {r["session"] for r in rows} >= {a1, a2, b1}
    assert {r["player"] for r in rows} == {"alice", "bob", "carol"}
    assert all(r["ended_at"] and r["score"] is not None for r in rows)
    assert json.loads(dojo("history", "--json", "--player", "bob")[1])[0]["session"] == b1
    code, out, _ = dojo("leaderboard", "payments-stuck", "--json")
    board = json.loads(out)
    assert (
        code == 0 and board["incident"] == "payments-stuck" and board["version"] == poison.version
    )
    assert [r["player"] for r in board["rows"]] == [
        "alice",
        "bob",
    ]  # best per player; headless runs unranked
    assert board["rows"][0]["session"] == a2 and board["rows"][0]["sessions"] == 2
    assert board["rows"][0]["score"] >= board["rows"][1]["score"]
    assert (
        json.loads(dojo("leaderboard", "payments-stuck", "--version", "1", "--json")[1])["rows"]
        == []
    )
    code, out, _ = dojo("leaderboard")
    assert f"payments-stuck (version {poison.version}" in out and "alice" in out


def test_the_leaderboard_ranks_only_scores_whose_record_verifies(
    home: Path, store: Store, record: Record, dojo: Dojo
) -> None:
    alice = record(PLAY_LINES, seed=3, player="alice")
    bob_low = record(["ack", "purge payments", "quit"], seed=3, player="bob")
    bob_high = record(["ack", "purge payments", "quit"], seed=4, player="bob")
    conn = sqlite3.connect(store.path, isolation_level=None)
    conn.execute("UPDATE scores SET score = 100, grade = 'A' WHERE session_id = ?", [bob_high])
    conn.close()
    code, out, _ = dojo("leaderboard", "payments-stuck", "--json")
    board = json.loads(out)
    assert code == 0
    # bob's tampered 100 is left out, with the reason; his other session still ranks
    assert [(r["player"], r["session"]) for r in board["rows"]] == [
        ("alice", alice),
        ("bob", bob_low),
    ]
    assert [r["session"] for r in board["left_out"]] == [bob_high]
    assert "the score was edited" in board["left_out"][0]["problem"]
    code, out, _ = dojo("leaderboard", "payments-stuck")
    assert f"left out: session {bob_high} does not verify" in out
    assert out.index("alice") < out.index(f"left out: session {bob_high}")


def test_replay_confirms_the_score_and_catches_a_changed_incident(home: Path, tmp_path: Path, poison_path: Path,
                                                                 dojo: Dojo) -> None:  # fmt: skip
    mine = tmp_path / "mine"
    mine.mkdir()
    drill = mine / "my-poison.yaml"
    drill.write_text(
        poison_path.read_text(encoding="utf-8").replace(
            "id: payments-stuck\naliases: [poison-payments]\n", "id: my-poison\n", 1
        ),
        encoding="utf-8",
    )
    code, _, err = dojo(
        "run",
        "my-poison",
        "--reference",
        "--record",
        "--seed",
        "4",
        "--incidents",
        str(mine),
    )
    sid = err.split("recorded as session ")[1].split()[0]
    code, out, _ = dojo("replay", sid, "--incidents", str(mine))
    assert code == 0 and "same outputs and the same score" in out
    drill.write_text(
        drill.read_text(encoding="utf-8").replace("acknowledge_s: 180", "acknowledge_s: 5", 1),
        encoding="utf-8",
    )
    code, out, _ = dojo("replay", sid, "--incidents", str(mine))
    assert code == 1 and "DIFFERS" in out and "Time to acknowledge" in out


def test_export_import_merges_and_is_idempotent(home: Path, tmp_path: Path, store: Store, record: Record,
                                                dojo: Dojo, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    sids = [record(["ack", "quit"], seed=s, player="alice") for s in (1, 2)]
    code, out, _ = dojo("export", *sids)
    assert code == 0
    dump = tmp_path / "alice.json"
    dump.write_text(out, encoding="utf-8")
    monkeypatch.setenv("DOJO_HOME", str(tmp_path / "other-machine"))
    code, out, _ = dojo("import", str(dump))
    assert code == 0 and "2 added" in out
    code, out, _ = dojo("import", str(dump))
    assert code == 0 and "0 added, 0 extended, 2 already here" in out
    other = Store.open()
    assert sorted(r["session"] for r in other.history()) == sorted(sids)
    assert all(other.verify(s) == [] for s in sids)
    other.close()
    doc = json.loads(dump.read_text(encoding="utf-8"))
    doc["sessions"][0]["events"][1]["tick"] += 1
    doc["sessions"][0]["id"] = doc["sessions"][0]["events"][0]["session"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.setenv("DOJO_HOME", str(tmp_path / "third"))
    code, out, _ = dojo("import", str(bad))
    assert (
        code == 1
        and "1 added" in out
        and f"rejected {sids[0]}: its chain does not verify: event 1" in out
    )
    (tmp_path / "junk.json").write_text("{}", encoding="utf-8")
    code, _, err = dojo("import", str(tmp_path / "junk.json"))
    assert code == 2 and "not an oncall-dojo export" in err


def test_resume_of_a_finished_session_shows_its_debrief_and_refuses_missing_ones(
    home: Path, monkeypatch: pytest.MonkeyPatch, dojo: Dojo
) -> None:
    code, out, _ = play_cli(
        monkeypatch,
        dojo,
        [*PLAY_LINES[:6], "quit"],
        "payments-stuck",
        "--seed",
        "9",
        "--player",
        "dana",
    )
    assert code == 0 and "Recording as session" in out  # `quit` ends (and finishes) the game
    st = Store.open()
    sid = st.history()[0]["session"]
    assert st.history()[0]["ended_at"] is not None
    score = st.history()[0]["score"]
    events = len(st.events(sid))
    st.close()
    code, out, _ = dojo("play", "--resume", sid)
    assert code == 0 and f"{score}/100" in out and f"session {sid} is over" in out
    assert "dojo>" not in out  # never live play again
    st = Store.open()
    assert len(st.events(sid)) == events and st.verify(sid) == []
    st.close()
    code, _, err = dojo("play", "--resume", "--player", "nobody")
    assert code == 2 and "no unfinished session" in err


def test_a_database_that_is_not_ours_stops_play_with_exit_2(home: Path, dojo: Dojo) -> None:
    home.mkdir(parents=True)
    (home / "dojo.db").write_text("not a database at all " * 100, encoding="utf-8")
    code, _, err = dojo("run", "payments-stuck", "--record")
    assert code == 2 and str(home / "dojo.db") in err and "not an SQLite database" in err
    code, _, err = dojo("history")
    assert code == 2 and "not an SQLite database" in err


def test_an_unwritable_location_warns_the_game_plays_and_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         dojo: Dojo) -> None:  # fmt: skip
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("DOJO_HOME", str(blocker / "dojo"))
    code, out, err = dojo("run", "payments-stuck", "--reference", "--record")
    assert code == 1 and "/100, grade" in out  # the outcome is shown; exit 1: it is not kept
    assert "results were not kept" in err and "cannot create the folder" in err
    code, out, err = play_cli(monkeypatch, dojo, ["ack", "quit"], "payments-stuck", "--seed", "2")
    assert code == 1 and "Results will not be kept" in out and "grade" in out
    assert "results were not kept" in err


def test_a_full_disk_mid_game_warns_once_and_the_game_goes_on(
    home: Path, poison: Incident, capsys: pytest.CaptureFixture[str]
) -> None:
    from oncall_dojo.game.console import run_console
    from oncall_dojo.store import Recorder

    st = Store.open()
    pages = st.c.conn.execute("PRAGMA page_count").fetchone()[0]
    st.c.conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    warnings: list[str] = []
    log = Recorder(st, "erin", "play", warn=warnings.append)
    out = io.StringIO()
    lines = [
        "ack",
        "logs billing",
        "queue payments",
        "workers billing",
        "logs billing level=warn",
        "wait 10m",
        "quit",
    ]
    assert (
        run_console(poison, 3, [], out=out, inp=io.StringIO("\n".join(lines) + "\n"), log=log) == 0
    )
    assert "grade" in out.getvalue()
    assert (
        len(warnings) == 1
        and "disk is full" in warnings[0]
        and "results will not be kept" in warnings[0]
    )
    sid = log.session_id
    assert sid is not None
    st.c.conn.execute("PRAGMA max_page_count = 1000000")
    assert st.verify(sid) == []  # what was written before the disk filled is intact
    assert st.integrity() == "ok"
    st.close()


def test_resume_after_a_cut_replays_to_the_recorded_tick(
    home: Path, monkeypatch: pytest.MonkeyPatch, dojo: Dojo
) -> None:
    """An unfinished session (as kill -9 leaves it) resumes where it stood, then finishes like an uninterrupted game."""
    from oncall_dojo.game.console import THINK_S
    from oncall_dojo.game.play import perform
    from oncall_dojo.game.session import Session
    from oncall_dojo.incident.loader import load_incident
    from oncall_dojo.incident.packs import find
    from oncall_dojo.store import Recorder
    from oncall_dojo.store.replay import rebuild

    st = Store.open()
    log = Recorder(st, "finn", "play")
    inc = load_incident(find("payments-stuck"))
    s = Session(inc, 9)
    log.started(s, THINK_S)
    for cmd in PLAY_LINES[:3]:
        log.checkpoint()
        perform(s, cmd)
        s.advance(THINK_S)
    log.checkpoint()
    sid = log.session_id
    assert sid is not None
    rb = rebuild(inc, st.events(sid))
    assert rb.session.now == s.now and not rb.mismatches
    st.close()
    code, out, _ = play_cli(monkeypatch, dojo, PLAY_LINES[3:], "--resume", "--player", "finn")
    assert (
        code == 0 and f"resumed at {s.now // 60:02d}:{s.now % 60:02d}" in out and "So far:" in out
    )
    _, out2, _ = play_cli(
        monkeypatch, dojo, PLAY_LINES, "payments-stuck", "--seed", "9", "--no-record"
    )
    score = [ln for ln in out2.splitlines() if ln.startswith("payments-stuck (seed 9)")]
    assert score and score[0] in out
    st = Store.open()
    assert st.session(sid)["ended_at"] is not None and st.verify(sid) == []
    st.close()
