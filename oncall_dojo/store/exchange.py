"""Export sessions as JSON and import them elsewhere, so a team can merge results.

An export carries each session's full event log. Import trusts nothing else: the
chain is verified, the session and score rows are derived from the events, and
importing the same file twice changes nothing. A session that already exists is
left alone if it is the same, extended if the import continues it, and reported
as a conflict otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncall_dojo.incident.yamlload import bad_utf8, read_limited
from oncall_dojo.store.events import Event, verify_chain
from oncall_dojo.store.records import Store, derive_score, derive_session

FORMAT = "oncall-dojo/sessions"
FORMAT_VERSION = 1
MAX_IMPORT_BYTES = 32 * 1024 * 1024
"""Largest export file read (hundreds of sessions; a session is tens of kilobytes)."""


class ImportFileError(ValueError):
    """The file is not an export this version can read."""


def export(store: Store, ids: list[str]) -> dict[str, Any]:
    sessions = []
    for sid in ids:
        row = store.session(sid)
        sessions.append(
            {
                "id": sid,
                "player": row["player"],
                "incident": row["incident"],
                "incident_version": row["incident_version"],
                "seed": row["seed"],
                "mode": row["mode"],
                "score": row["score"],
                "grade": row["grade"],
                "events": [e.to_json() for e in store.events(sid)],
            }
        )
    return {"format": FORMAT, "version": FORMAT_VERSION, "sessions": sessions}


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """(session id, why)"""

    @property
    def ok(self) -> bool:
        return not self.rejected


def read_export(path: Path) -> dict[str, Any]:
    try:
        raw = read_limited(path, MAX_IMPORT_BYTES)
    except (OSError, ValueError) as exc:  # devices and pipes are refused, not read
        raise ImportFileError(f"{path}: cannot read ({exc})") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line, col, msg = bad_utf8(raw, exc)
        raise ImportFileError(f"{path}:{line}:{col}: {msg}; nothing was imported") from None
    except (ValueError, RecursionError) as exc:
        raise ImportFileError(f"{path}: not JSON ({exc})") from None
    if (
        not isinstance(doc, dict)
        or doc.get("format") != FORMAT
        or not isinstance(doc.get("sessions"), list)
    ):
        raise ImportFileError(f'{path}: not an oncall-dojo export (expected "format": "{FORMAT}")')
    if doc.get("version") != FORMAT_VERSION:
        raise ImportFileError(
            f"{path}: export format version {doc.get('version')}; this oncall-dojo reads {FORMAT_VERSION}"
        )
    return doc


def import_sessions(store: Store, doc: dict[str, Any]) -> ImportReport:
    rep = ImportReport()
    for i, entry in enumerate(doc["sessions"]):
        sid = str(entry.get("id", f"#{i}")) if isinstance(entry, dict) else f"#{i}"
        try:
            events = [Event.from_json(e) for e in entry["events"]]
        except (KeyError, TypeError, ValueError) as exc:
            rep.rejected.append((sid, f"malformed event ({exc!r})"))
            continue
        if any(e.session_id != sid for e in events):
            rep.rejected.append((sid, "events belong to another session"))
            continue
        if _deleted(store, sid):
            rep.rejected.append((sid, "it was deleted here on request (a tombstone keeps its id)"))
            continue
        problems = verify_chain(events)
        if problems:
            rep.rejected.append((sid, f"its chain does not verify: {problems[0].message}"))
            continue
        _merge(store, sid, events, rep)
    return rep


def _deleted(store: Store, sid: str) -> bool:
    with store.guard():
        row = store.c.conn.execute("SELECT 1 FROM tombstones WHERE session_id = ?", [sid])
        return row.fetchone() is not None


def _merge(store: Store, sid: str, events: list[Event], rep: ImportReport) -> None:
    derived = derive_session(events)
    player = str(derived.pop("player"))
    score = derive_score(events)
    with store.guard(), store.c.write() as db:
        have = [
            r[0]
            for r in db.execute("SELECT hash FROM events WHERE session_id = ? ORDER BY seq", [sid])
        ]
        theirs = [e.hash for e in events]
        if have and theirs[: len(have)] != have:
            if have[: len(theirs)] == theirs:
                rep.present.append(sid)
            else:
                rep.rejected.append((sid, "a different session with this id is already here"))
            return
        if len(have) == len(theirs):
            rep.present.append(sid)
            return
        pid = store.player_id(db, player)
        if have:
            db.table("sessions").update(sid, {k: v for k, v in derived.items() if k != "id"})
        else:
            db.table("sessions").insert({**derived, "player_id": pid, "origin": "imported"})
        db.table("events").insert_all([e.to_row() for e in events[len(have) :]])
        if score is not None:
            db.table("scores").insert({**score, "player_id": pid}, replace=True)
        (rep.extended if have else rep.added).append(sid)
