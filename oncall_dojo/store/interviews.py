"""Interview records in the interviewer's database: hiring loops, interviews and their marks,
and deleting a candidate's record on request, leaving a tombstone that `verify` reads.

An interview is a session of mode `interview` (its events are the hash-chained record, as for
any game) plus a row in `interviews` naming the candidate and holding the interviewers' marks.
A loop pins the incident (its version and the SHA-256 of its file) and the seed, so every
candidate of the loop plays the same exercise.

Deleting removes the session's events, its session and score rows and its interview row, in
one transaction, after writing a tombstone: the session id, when, why, how many events there
were and the hash at the head of their chain. The database refuses to delete the events of a
session that has no tombstone (a trigger), so a log cannot vanish without one. `verify`
checks a tombstone honestly: nothing of the session is left behind it. The file is then
vacuumed and its write-ahead log emptied, so the deleted text is not left in free pages.
"""

from __future__ import annotations

import json
from typing import Any

from oncall_dojo.game import scorecard as card
from oncall_dojo.store.errors import SessionNotFound
from oncall_dojo.store.events import INTERVIEW_MODE, Problem, canonical
from oncall_dojo.store.records import Store
from oncall_dojo.store.report import build as build_report

LEFT_BEHIND = ("events", "sessions", "scores", "interviews")
"""The tables a deleted session's rows must be gone from (`sessions` and `interviews` by
their id column)."""


class LoopChanged(Exception):
    """The incident file of a loop changed since the loop began; the text says how."""


def get_loop(store: Store, name: str) -> dict[str, Any] | None:
    with store.guard():
        rows = list(store.c.db.query("SELECT * FROM loops WHERE name = ?", [name]))
    return rows[0] if rows else None


def loops(store: Store) -> list[dict[str, Any]]:
    with store.guard():
        return list(store.c.db.query("SELECT * FROM loops ORDER BY created_at, name"))


def pin_loop(
    store: Store,
    name: str,
    *,
    incident: str,
    version: int,
    sha256: str,
    seed: int,
    minutes: int,
) -> dict[str, Any]:
    """The loop `name`: created with these values if new; if it exists, LoopChanged unless the
    incident, its version and its file's digest are the ones it began with."""
    have = get_loop(store, name)
    if have is None:
        row = {
            "name": name,
            "incident": incident,
            "incident_version": version,
            "incident_sha256": sha256,
            "seed": seed,
            "minutes": minutes,
            "created_at": store.clock(),
        }
        with store.guard(), store.c.write() as db:
            db.table("loops").insert(row, ignore=True)
        return get_loop(store, name) or row
    if have["incident"] != incident:
        raise LoopChanged(
            f"loop {name!r} plays {have['incident']}, not {incident}: every candidate of a loop "
            "gets the same exercise (start another loop for another incident)"
        )
    if have["incident_version"] != version or have["incident_sha256"] != sha256:
        raise LoopChanged(
            f"the incident file of {incident} changed since loop {name!r} began (version "
            f"{have['incident_version']}, file {have['incident_sha256'][:12]}; now version "
            f"{version}, file {sha256[:12]}): its candidates would not get the same exercise. "
            "Restore the file, or start a new loop."
        )
    return have


def add_interview(store: Store, sid: str, interviewer: str, loop: str | None) -> None:
    now = store.clock()
    with store.guard(), store.c.write() as db:
        db.table("interviews").insert(
            {
                "session_id": sid,
                "candidate": None,
                "loop": loop,
                "interviewer": interviewer,
                "marks": "{}",
                "created_at": now,
                "updated_at": now,
            }
        )


def set_candidate(store: Store, sid: str, name: str) -> None:
    with store.guard(), store.c.write() as db:
        db.execute(
            "UPDATE interviews SET candidate = ?, updated_at = ? WHERE session_id = ?",
            [name, store.clock(), sid],
        )


def marks(store: Store, sid: str) -> dict[str, Any]:
    with store.guard():
        row = store.c.conn.execute(
            "SELECT marks FROM interviews WHERE session_id = ?", [sid]
        ).fetchone()
    if row is None:
        raise SessionNotFound(f"session {sid} is not an interview")
    data = json.loads(row[0])
    return data if isinstance(data, dict) else {}


def set_marks(store: Store, sid: str, data: dict[str, Any]) -> None:
    """Replace the interview's marks (rubric lines, the diagnosis in the candidate's words)."""
    with store.guard(), store.c.write() as db:
        cur = db.execute(
            "UPDATE interviews SET marks = ?, updated_at = ? WHERE session_id = ?",
            [canonical(data), store.clock(), sid],
        )
        if cur.rowcount != 1:
            raise SessionNotFound(f"session {sid} is not an interview")


def interviews(
    store: Store, candidate: str | None = None, loop: str | None = None
) -> list[dict[str, Any]]:
    """The interviews (newest first) with their session's incident, state and score."""
    sql = (
        "SELECT i.session_id AS session, i.candidate, i.loop, i.interviewer, i.marks, "
        "s.incident, s.incident_version, s.seed, s.started_at, s.ended_at, s.outcome, "
        "sc.score, sc.grade FROM interviews i JOIN sessions s ON s.id = i.session_id "
        "LEFT JOIN scores sc ON sc.session_id = i.session_id"
    )
    where, params = [], []
    if candidate is not None:
        where.append("(i.candidate = ? OR i.session_id = ?)")
        params += [candidate, candidate]
    if loop is not None:
        where.append("i.loop = ?")
        params.append(loop)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY s.started_at DESC, s.rowid DESC"
    with store.guard():
        rows = list(store.c.db.query(sql, params))
    for r in rows:
        r["marks"] = json.loads(r["marks"])
    return rows


def delete_session(store: Store, sid: str, reason: str) -> dict[str, Any]:
    """Remove session `sid` (events, session, score, interview rows) and leave its tombstone."""
    with store.guard(), store.c.write() as db:
        row = db.execute(
            "SELECT mode, last_seq, head_hash FROM sessions WHERE id = ?", [sid]
        ).fetchone()
        if row is None:
            raise SessionNotFound(f"no session {sid!r} in {store.path}")
        n = db.execute("SELECT count(*) FROM events WHERE session_id = ?", [sid]).fetchone()[0]
        stone = {
            "session_id": sid,
            "deleted_at": store.clock(),
            "mode": row[0],
            "events": int(n),
            "head_hash": row[2],
            "reason": reason,
        }
        db.table("tombstones").insert(stone)
        db.execute("DELETE FROM events WHERE session_id = ?", [sid])
        db.execute("DELETE FROM scores WHERE session_id = ?", [sid])
        db.execute("DELETE FROM interviews WHERE session_id = ?", [sid])
        db.execute("DELETE FROM sessions WHERE id = ?", [sid])
    scrub(store)
    return stone


def scrub(store: Store) -> None:
    """Rewrite the file without the free pages deleted rows leave behind, and empty the
    write-ahead log, so deleted text is gone from the bytes on disk too."""
    with store.guard():
        store.c.conn.execute("VACUUM")
        store.c.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def tombstones(store: Store) -> list[dict[str, Any]]:
    with store.guard():
        return list(store.c.db.query("SELECT * FROM tombstones ORDER BY deleted_at, session_id"))


def tombstone(store: Store, sid: str) -> dict[str, Any] | None:
    with store.guard():
        rows = list(store.c.db.query("SELECT * FROM tombstones WHERE session_id = ?", [sid]))
    return rows[0] if rows else None


def verify_tombstone(store: Store, sid: str) -> list[Problem]:
    """A deleted session verifies when nothing of it is left behind its tombstone."""
    problems = []
    with store.guard():
        for table in LEFT_BEHIND:
            col = "id" if table == "sessions" else "session_id"
            n = store.c.conn.execute(f"SELECT count(*) FROM {table} WHERE {col} = ?", [sid])
            left = int(n.fetchone()[0])
            if left:
                problems.append(
                    Problem(
                        None,
                        f"session {sid} was deleted (tombstone) but {left} row(s) of it are "
                        f"still in {table}",
                    )
                )
    return problems


def scorecard(store: Store, sid: str, inc: Any, loaded: Any) -> dict[str, Any]:
    """The scorecard of interview `sid` (`game.scorecard.build`): its report, its events,
    the rubric (`game.rubric.LoadedRubric`) and marks, and the scores of the loop's
    candidates who were interviewed before this one (names left out)."""
    row = store.session(sid)
    events = store.events(sid)
    rep = build_report(row, events, inc)
    mine = interviews(store, candidate=sid)
    if not mine:
        raise SessionNotFound(f"session {sid} is not an interview")
    me = mine[0]
    peers: list[float] = []
    if me["loop"]:
        # newest first, by start time then by row: those after this one began before it (two
        # interviews started in the same second are told apart by their order of insertion)
        rows = interviews(store, loop=me["loop"])
        mine_at = next(i for i, r in enumerate(rows) if r["session"] == sid)
        peers = [float(r["score"]) for r in rows[mine_at + 1 :] if r["score"] is not None]
    return card.build(
        rep,
        [{"type": e.type, "at": e.at, "data": e.data} for e in events],
        candidate=me["candidate"],
        rubric=loaded.rubric,
        rubric_meta={"sha256": loaded.sha256},
        marks=me["marks"],
        peers=peers,
        loop=me["loop"],
        evidence=[(e.view, e.why.strip()) for e in inc.evidence] if inc is not None else [],
        resources=inc.resources if inc is not None else None,
    )


__all__ = [
    "INTERVIEW_MODE",
    "LoopChanged",
    "add_interview",
    "delete_session",
    "get_loop",
    "interviews",
    "loops",
    "marks",
    "pin_loop",
    "scorecard",
    "scrub",
    "set_candidate",
    "set_marks",
    "tombstone",
    "tombstones",
    "verify_tombstone",
]
