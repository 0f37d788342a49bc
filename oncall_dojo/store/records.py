"""Players, sessions, events and scores: writing them and reading them back.

The event log is the record; the `sessions` and `scores` rows are caches derived
from it (`derive_session`, `derive_score`), kept in the same transaction as each
event, and checked against it by `verify`.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from oncall_dojo.sim.text import count
from oncall_dojo.store import lease
from oncall_dojo.store.db import Connection, connect, connect_readonly, default_path
from oncall_dojo.store.errors import (
    SessionNotFound,
    StoreError,
    StoreUnavailable,
    classify,
    missing_schema,
)
from oncall_dojo.store.events import (
    GENESIS,
    INTERVIEW_MODE,
    Event,
    Problem,
    canonical,
    verify_chain,
)

Clock = Callable[[], str]
UNRANKED_MODES = ("run", INTERVIEW_MODE)
"""Scripted headless runs and interview exercises are kept but not ranked."""


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SessionConflict(StoreError):
    """A session's log moved on elsewhere (played in two places at once)."""


@dataclass
class Head:
    """Where a session's log ends: the next event follows it."""

    session_id: str
    seq: int
    hash: str
    at: int = 0


def derive_session(events: list[Event]) -> dict[str, Any]:
    """The `sessions` row (and player name) that a log implies."""
    start, last = events[0], events[-1]
    fin = next((e for e in events if e.type == "finished"), None)
    d = start.data
    outcome = None if fin is None else ("resolved" if fin.data.get("resolved") else "unresolved")
    return {
        "id": start.session_id,
        "player": d.get("player"),
        "incident": d.get("incident"),
        "incident_version": d.get("incident_version"),
        "seed": d.get("seed"),
        "mode": d.get("mode"),
        "game_version": d.get("game_version"),
        "started_at": start.wall,
        "ended_at": None if fin is None else fin.wall,
        "outcome": outcome,
        "last_seq": last.seq,
        "last_at": max(e.at for e in events),
        "head_hash": last.hash,
    }


def score_fields(start: dict[str, Any], finished: dict[str, Any]) -> dict[str, Any]:
    """The `scores` columns implied by a start event's and a finished event's data."""
    res = finished.get("result", {})
    return {
        "incident": start.get("incident"),
        "incident_version": start.get("incident_version"),
        "seed": start.get("seed"),
        "mode": start.get("mode"),
        "score": finished.get("score"),
        "grade": finished.get("grade"),
        "resolved": int(bool(finished.get("resolved"))),
        "breakdown": canonical(res.get("breakdown", [])),
        "impact": canonical(res.get("impact", {})),
        "times": canonical(res.get("times", {})),
    }


def derive_score(events: list[Event]) -> dict[str, Any] | None:
    """The `scores` row a finished log implies (without player_id)."""
    fin = next((e for e in events if e.type == "finished"), None)
    if fin is None:
        return None
    return {
        "session_id": fin.session_id,
        **score_fields(events[0].data, fin.data),
        "finished_at": fin.wall,
    }


class Store:
    """The game's database. Every method raises StoreError for file-level faults."""

    def __init__(self, c: Connection, clock: Clock = utc_now) -> None:
        self.c = c
        self.clock = clock
        self._held: set[str] = set()

    @classmethod
    def open(cls, path: Path | None = None, clock: Clock = utc_now) -> Store:
        return cls(connect(path), clock)

    @property
    def path(self) -> Path:
        return self.c.path

    def close(self) -> None:
        for sid in self._held:
            lease.release(self.path, sid)
        self._held.clear()
        self.c.close()

    @contextmanager
    def guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            err = classify(exc, self.path) or missing_schema(exc, self.path)
            if err is None:
                raise
            raise err from exc

    # -- writing -------------------------------------------------------------------------
    def player_id(self, db: Database, name: str) -> int:
        db.execute(
            "INSERT OR IGNORE INTO players (name, created_at) VALUES (?, ?)", [name, self.clock()]
        )
        return int(db.execute("SELECT id FROM players WHERE name = ?", [name]).fetchone()[0])

    def begin(self, start: dict[str, Any], tick: int, session_id: str | None = None) -> Head:
        """Create a session and its `start` event (data: incident, seed, mode, player, ...)."""
        sid = session_id or uuid.uuid4().hex[:12]
        ev = Event(sid, 0, "start", tick, 0, self.clock(), start).sealed(GENESIS)
        with self.guard(), self.c.write() as db:
            pid = self.player_id(db, str(start["player"]))
            row = derive_session([ev])
            row.pop("player")
            db.table("sessions").insert({**row, "player_id": pid, "origin": "local"})
            db.table("events").insert(ev.to_row())
        self.hold(sid)
        return Head(sid, 0, ev.hash, 0)

    def hold(self, sid: str) -> None:
        """Play `sid` in this process only, until it ends; SessionBusy if another process has it."""
        if lease.hold(self.path, sid):
            self._held.add(sid)

    def resume_head(self, sid: str) -> tuple[Head, list[Event]]:
        """Hold `sid`, then read its events; the head is the last of those very events.

        A head read later could include events another game appended meanwhile, and the
        two games would interleave in one log. SessionBusy if another process plays it."""
        self.hold(sid)
        events = self.events(sid)
        if not events:
            raise SessionNotFound(f"session {sid} has no events")
        last = events[-1]
        return Head(sid, last.seq, last.hash, max(e.at for e in events)), events

    def append(
        self,
        head: Head,
        type_: str,
        tick: int,
        at: int,
        data: dict[str, Any],
        score: dict[str, Any] | None = None,
    ) -> Event:
        """Append one event after `head` (and its score, for `finished`), in one transaction."""
        ev = Event(head.session_id, head.seq + 1, type_, tick, at, self.clock(), data).sealed(
            head.hash
        )
        with self.guard(), self.c.write() as db:
            cur = db.execute(
                "SELECT last_seq, head_hash, player_id FROM sessions WHERE id = ?",
                [head.session_id],
            ).fetchone()
            if cur is None or (cur[0], cur[1]) != (head.seq, head.hash):
                raise SessionConflict(
                    self.path,
                    f"session {head.session_id} was changed elsewhere (is it being played twice?)",
                )
            db.table("events").insert(ev.to_row())
            upd: dict[str, Any] = {
                "last_seq": ev.seq,
                "head_hash": ev.hash,
                "last_at": max(head.at, at),
            }
            if type_ == "finished":
                upd["ended_at"] = ev.wall
                upd["outcome"] = "resolved" if data.get("resolved") else "unresolved"
            db.table("sessions").update(head.session_id, upd)
            if score is not None:
                db.table("scores").insert(
                    {
                        **score,
                        "session_id": head.session_id,
                        "player_id": cur[2],
                        "finished_at": ev.wall,
                    }
                )
        head.seq, head.hash, head.at = ev.seq, ev.hash, max(head.at, at)
        return ev

    # -- reading -------------------------------------------------------------------------
    def resolve(self, ident: str) -> str:
        """A full session id from an id or a unique prefix of one (at least 4 characters)."""
        with self.guard():
            if self.c.conn.execute("SELECT 1 FROM sessions WHERE id = ?", [ident]).fetchone():
                return ident
            if len(ident) < 4:
                raise SessionNotFound(
                    f"no session {ident!r} (give at least 4 characters of its id)"
                )
            like = ident.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = [
                r[0]
                for r in self.c.conn.execute(
                    "SELECT id FROM sessions WHERE id LIKE ? ESCAPE '\\'", [like]
                )
            ]
        if not rows:
            raise SessionNotFound(f"no session {ident!r} in {self.path}")
        if len(rows) > 1:
            raise SessionNotFound(f"{ident!r} matches several sessions: {', '.join(sorted(rows))}")
        return rows[0]

    def session(self, sid: str) -> dict[str, Any]:
        with self.guard():
            rows = list(
                self.c.db.query(
                    "SELECT s.*, p.name AS player, sc.score, sc.grade FROM sessions s JOIN players p ON p.id = s.player_id "
                    "LEFT JOIN scores sc ON sc.session_id = s.id WHERE s.id = ?",
                    [sid],
                )
            )
        if not rows:
            raise SessionNotFound(f"no session {sid!r} in {self.path}")
        return rows[0]

    def events(self, sid: str) -> list[Event]:
        with self.guard():
            rows = self.c.db.query(
                "SELECT * FROM events WHERE session_id = ? ORDER BY seq, rowid", [sid]
            )
            return [Event.from_row(r) for r in rows]

    def score_row(self, sid: str) -> dict[str, Any] | None:
        with self.guard():
            rows = list(self.c.db.query("SELECT * FROM scores WHERE session_id = ?", [sid]))
        return rows[0] if rows else None

    def head(self, sid: str) -> Head:
        row = self.session(sid)
        return Head(sid, row["last_seq"], row["head_hash"], row["last_at"])

    def history(self, player: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT s.id AS session, p.name AS player, s.incident, s.incident_version, s.seed, s.mode, "
            "s.started_at, s.ended_at, s.outcome, s.last_at, sc.score, sc.grade "
            "FROM sessions s JOIN players p ON p.id = s.player_id LEFT JOIN scores sc ON sc.session_id = s.id"
        )
        params: list[Any] = []
        if player is not None:
            sql += " WHERE p.name = ?"
            params.append(player)
        sql += " ORDER BY s.started_at DESC, s.rowid DESC"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        with self.guard():
            return list(self.c.db.query(sql, params))

    def versions(self, incident: str | Sequence[str]) -> list[int]:
        """The versions scored of an incident (given by its names: its id and former ids)."""
        names = [incident] if isinstance(incident, str) else list(incident)
        with self.guard():
            rows = self.c.conn.execute(
                f"SELECT DISTINCT incident_version FROM scores WHERE incident IN ({','.join('?' * len(names))}) ORDER BY 1",
                names,
            )
            return [int(r[0]) for r in rows]

    def ranked_incidents(self) -> list[tuple[str, int]]:
        """(incident, latest version) for every incident with a ranked score."""
        marks = ",".join("?" * len(UNRANKED_MODES))
        with self.guard():
            rows = self.c.conn.execute(
                f"SELECT incident, MAX(incident_version) FROM scores WHERE mode NOT IN ({marks}) GROUP BY incident ORDER BY incident",
                list(UNRANKED_MODES),
            )
            return [(str(r[0]), int(r[1])) for r in rows]

    def leaderboard(self, incident: str | Sequence[str], version: int) -> list[dict[str, Any]]:
        """Each player's best score on one version of an incident (ties: who got there first),
        counting only sessions whose record verifies (`verify`); `incident` may list several
        names (the id and former ids) recorded for it."""
        return self.board(incident, version)[0]

    def board(
        self, incident: str | Sequence[str], version: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(ranked, left out): each player's best verified score, and the scores that would
        have ranked above a player's best but were left out because their record does not
        verify (with the first problem found)."""
        names = [incident] if isinstance(incident, str) else list(incident)
        marks = ",".join("?" * len(UNRANKED_MODES))
        sql = f"""
            SELECT p.name AS player, sc.player_id, sc.score, sc.grade, sc.resolved,
                   json_extract(sc.times, '$.resolved') AS resolved_at,
                   sc.session_id AS session, sc.seed, sc.finished_at,
                   count(*) OVER (PARTITION BY sc.player_id) AS sessions
            FROM scores sc JOIN players p ON p.id = sc.player_id
            WHERE sc.incident IN ({",".join("?" * len(names))}) AND sc.incident_version = ?
              AND sc.mode NOT IN ({marks})
            ORDER BY sc.score DESC, sc.finished_at, sc.session_id"""
        with self.guard():
            rows = list(self.c.db.query(sql, [*names, version, *UNRANKED_MODES]))
        ranked: list[dict[str, Any]] = []
        left_out: list[dict[str, Any]] = []
        placed: set[int] = set()
        for r in rows:
            if r["player_id"] in placed:
                continue
            problems = self.verify(str(r["session"]))
            player_id = r.pop("player_id")
            r["resolved"] = bool(r["resolved"])
            if problems:
                left_out.append({**r, "problem": problems[0].message})
                continue
            placed.add(player_id)
            r["rank"] = len(ranked) + 1
            ranked.append(r)
        return ranked, left_out

    def best_scores(self, player: str) -> dict[tuple[str, int], tuple[int, str]]:
        """A player's best (score, grade) per (incident, version), over played sessions."""
        marks = ",".join("?" * len(UNRANKED_MODES))
        sql = (
            f"SELECT sc.incident, sc.incident_version, MAX(sc.score), sc.grade FROM scores sc "
            f"JOIN players p ON p.id = sc.player_id WHERE p.name = ? AND sc.mode NOT IN ({marks}) "
            f"GROUP BY sc.incident, sc.incident_version"
        )
        with self.guard():
            rows = self.c.conn.execute(sql, [player, *UNRANKED_MODES])
            return {(str(i), int(v)): (int(s), str(g)) for i, v, s, g in rows}

    def unfinished(self, player: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.history(player) if r["ended_at"] is None]

    # -- integrity -----------------------------------------------------------------------
    def verify(self, sid: str) -> list[Problem]:
        """The chain, and the session and score rows against the chain."""
        events = self.events(sid)
        problems = verify_chain(events)
        if not events:
            return problems
        row = self.session(sid)
        derived = derive_session(events)
        if row["last_seq"] > derived["last_seq"]:
            problems.append(
                Problem(
                    derived["last_seq"] + 1,
                    f"the log ends at event {derived['last_seq']} but the session "
                    f"recorded {count(row['last_seq'] + 1, 'event')}: the last events were deleted",
                )
            )
        for key in (
            "player",
            "incident",
            "incident_version",
            "seed",
            "mode",
            "started_at",
            "ended_at",
            "outcome",
            "head_hash",
        ):
            if key == "head_hash" and row["last_seq"] != derived["last_seq"]:
                continue
            if row[key] != derived[key]:
                problems.append(
                    Problem(
                        None,
                        f"the session's {key} reads {row[key]!r} but its events say {derived[key]!r} "
                        "(the session row was edited)",
                    )
                )
        want, have = derive_score(events), self.score_row(sid)
        if (want is None) != (have is None):
            problems.append(
                Problem(
                    None,
                    "the score row does not match the log ("
                    + ("missing" if have is None else "no finished event")
                    + ")",
                )
            )
        elif want is not None and have is not None:
            for key, v in want.items():
                if have[key] != v:
                    problems.append(
                        Problem(
                            None,
                            f"the stored score's {key} reads {have[key]!r} but the finished event "
                            f"says {v!r} (the score was edited)",
                        )
                    )
        return problems

    def integrity(self) -> str:
        """`PRAGMA integrity_check`: "ok", or what SQLite found wrong."""
        with self.guard():
            return "; ".join(str(r[0]) for r in self.c.conn.execute("PRAGMA integrity_check"))


def open_for_reading(path: Path | None = None, *, write: bool = False) -> Store | None:
    """The store, or None when no database exists yet (reading creates nothing).

    Without `write` the file is opened read-only, so reading works in a folder that
    cannot be written."""
    p = path or default_path()
    if not p.exists():
        return None
    return Store.open(p) if write else Store(connect_readonly(p))


def loads_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


__all__ = [
    "Head",
    "SessionConflict",
    "SessionNotFound",
    "Store",
    "StoreUnavailable",
    "derive_score",
    "derive_session",
]
