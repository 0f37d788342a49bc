"""Interview records: loops pin the exercise, deletion leaves only a tombstone that verify
reads, and the database refuses to delete a log without one."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path

import pytest

from oncall_dojo.incident.model import Incident
from oncall_dojo.net.interview import new_interview
from oncall_dojo.store import Store
from oncall_dojo.store import interviews as records

CANDIDATE = "Zoltan Quarrie"


def home() -> Path:
    return Path(os.environ["DOJO_HOME"])


def play_interview(poison: Incident, name: str = CANDIDATE, seed: int = 7) -> str:
    """A short interview recorded into $DOJO_HOME: the candidate joins, looks, notes, acts."""
    store = Store.open()
    try:
        host = new_interview(poison.for_seed(seed), seed, host_name="ivy", store=store)
        token = host.seats[1].token
        assert token is not None
        host.join(token, name)
        for line in ("alerts", "queues", "note the queue is growing", "ack"):
            host.command(name, line)
        host.note("ivy", f"{name} read the alerts first")
        host.end("ivy")
        asyncio.run(host.finish())
        sid = host.recorder.session_id
        assert sid is not None
        return sid
    finally:
        store.close()


def test_a_loop_pins_the_file_and_refuses_a_changed_one(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "d.db")
    kw = {"incident": "payments-stuck", "version": 3, "sha256": "a" * 64, "minutes": 45}
    first = records.pin_loop(store, "backend-2026", seed=111, **kw)
    again = records.pin_loop(store, "backend-2026", seed=999, **kw)  # the loop's seed wins
    assert first["seed"] == again["seed"] == 111
    with pytest.raises(records.LoopChanged, match="changed since loop 'backend-2026' began"):
        records.pin_loop(store, "backend-2026", seed=111, **{**kw, "sha256": "b" * 64})
    with pytest.raises(records.LoopChanged, match="plays payments-stuck, not other"):
        records.pin_loop(store, "backend-2026", seed=111, **{**kw, "incident": "other"})


def test_delete_leaves_no_trace_and_verify_reads_the_tombstone(
    poison: Incident, dojo: object
) -> None:
    sid = play_interview(poison)
    other = play_interview(poison, name="Someone Else", seed=8)
    code, out, _ = dojo("interview", "list", "--json")  # type: ignore[operator]
    assert code == 0 and {r["candidate"] for r in json.loads(out)} == {CANDIDATE, "Someone Else"}
    code, out, _ = dojo("interview", "export", CANDIDATE)  # type: ignore[operator]
    doc = json.loads(out)
    code, full, _ = dojo("export", sid)  # type: ignore[operator]
    saved = home().parent / "saved-export.json"
    saved.write_text(full, encoding="utf-8")
    assert [s["id"] for s in doc["sessions"]] == [sid]
    assert any(e["type"] == "say" for e in doc["sessions"][0]["events"])
    code, out, _ = dojo("interview", "delete", CANDIDATE)  # type: ignore[operator]
    assert code == 1 and "--yes" in out  # nothing deleted without --yes
    code, out, _ = dojo("interview", "delete", CANDIDATE, "--yes")  # type: ignore[operator]
    assert code == 0 and f"deleted interview {sid}" in out
    # no trace: not in any table, not in the file's bytes, not in its write-ahead log
    db = home() / "dojo.db"
    conn = sqlite3.connect(db)
    dump = "\n".join(conn.iterdump())
    conn.close()
    assert CANDIDATE not in dump and "Zoltan" not in dump
    for f in (db, db.with_name("dojo.db-wal")):
        if f.exists():
            assert b"Zoltan" not in f.read_bytes(), f
    assert not (home() / "hosts" / f"{sid}.json").exists()
    # verify: every session, the tombstone included, and the deleted one by its id
    code, out, _ = dojo("verify")  # type: ignore[operator]
    assert code == 0, out
    assert f"session {sid}: deleted on request" in out and "tombstone ok" in out
    assert f"session {other}: ok" in out
    code, out, _ = dojo("verify", sid)  # type: ignore[operator]
    assert code == 0 and "tombstone ok" in out
    # with every session deleted, only tombstones are left: verify still passes
    code, _, _ = dojo("interview", "delete", "Someone Else", "--yes")  # type: ignore[operator]
    code, out, err = dojo("verify")  # type: ignore[operator]
    assert code == 0 and out.count("tombstone ok") == 2, out + err
    # an old export of the session is not let back in
    code, out, _ = dojo("import", str(saved))  # type: ignore[operator]
    assert code == 1 and "deleted here on request" in out
    code, out, _ = dojo("interview", "list", "--json")  # type: ignore[operator]
    assert json.loads(out) == []


def test_the_database_refuses_to_delete_a_log_without_a_tombstone(poison: Incident) -> None:
    sid = play_interview(poison)
    conn = sqlite3.connect(home() / "dojo.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events WHERE session_id = ?", [sid])
    conn.close()


def test_verify_fails_a_tombstone_with_rows_left_behind(poison: Incident, dojo: object) -> None:
    sid = play_interview(poison)
    store = Store.open()
    # a tombstone written by hand, with the log still there: verify must not call it deleted
    with store.c.write() as db:
        db.table("tombstones").insert(
            {
                "session_id": sid,
                "deleted_at": "2026-01-01T00:00:00Z",
                "mode": "interview",
                "events": 1,
                "head_hash": "0" * 64,
                "reason": "by hand",
            }
        )
    store.close()
    code, out, _ = dojo("verify", sid)  # type: ignore[operator]
    assert code == 1 and "still in events" in out


def test_interviews_stay_off_the_leaderboard(poison: Incident, dojo: object) -> None:
    play_interview(poison)
    code, out, _ = dojo("leaderboard", "payments-stuck")  # type: ignore[operator]
    assert code == 0 and "No ranked sessions yet" in out


def test_marks_given_at_the_interviewers_console_are_kept(poison: Incident) -> None:
    from oncall_dojo.net.host import Refused

    store = Store.open()
    host = new_interview(poison.for_seed(3), 3, host_name="ivy", store=store)
    sid = host.recorder.session_id
    assert host.facilitate("ivy", "mark", "safety 3 parked, did not purge") == (
        "marked Safety of actions: 3"
    )
    host.command("ivy", "mark words partly named the queue only")
    with pytest.raises(Refused, match="1 to 4, not 9"):
        host.facilitate("ivy", "mark", "safety 9")
    with pytest.raises(Refused, match="no rubric line 'speed'"):
        host.facilitate("ivy", "mark", "speed 2")
    kept = records.marks(store, sid)
    assert kept["lines"]["safety"] == {"mark": 3, "note": "parked, did not purge", "by": "ivy"}
    assert kept["words"]["mark"] == "partly"
    store.close()


def test_a_resumed_interview_is_the_same_interview(poison: Incident) -> None:
    """`resume_interview` (what `dojo interview --resume` runs) rebuilds the interview from
    its record: the feed with each line's player (the host's own hint included), the time
    box with its extension and warnings, the notes, the panes; one interview row."""
    from oncall_dojo.net.interview import resume_interview

    store = Store.open()
    try:
        host = new_interview(poison.for_seed(7), 7, host_name="ivy", store=store, minutes=12)
        token = host.seats[1].token
        assert token is not None
        host.join(token, CANDIDATE)
        host.command(CANDIDATE, "alerts")
        host.look(CANDIDATE, "logs: billing")
        host.session.advance(90)
        host.release_hint("ivy")
        host.extend("ivy", 3)
        host.session.advance(6 * 60)
        host.time_box()  # 15 min box, 7.5 min played: the 10-minute warning is due
        host.note("ivy", "took the hint well")
        host.recorder.checkpoint()
        sid = host.recorder.session_id
        assert sid is not None
        was = (host.session.now, host.deadline, set(host.warned), list(host.feed))
        # the host dies here (nothing more is written); another one resumes from the record
        again = resume_interview(store, sid, lambda ident: poison.for_seed(7))
        assert (again.session.now, again.deadline, again.warned, again.feed) == was
        assert [ln.player for ln in again.feed] == [CANDIDATE, "ivy"]
        assert [n[2] for n in again.notes] == ["took the hint well"]
        assert again.looks == [(0, "logs: billing")]
        assert again.away_since == again.session.now  # the candidate is away until back

        def warnings() -> list[int]:
            return [
                e.data["left_s"]
                for e in store.events(sid)
                if e.type == "facilitator" and e.data.get("action") == "warn"
            ]

        assert warnings() == [600]
        again.time_box()  # the warning given before the host died is not given again
        assert warnings() == [600]
        assert [r["session"] for r in records.interviews(store)] == [sid]
    finally:
        store.close()
