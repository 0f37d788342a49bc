"""The schema, as sqlite-utils migrations. Never edit a released migration: add one.

Every released schema version has a fixture under tests/store/fixtures/
(`schema_vN.sql`) so the upgrade path from it is tested.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

APPLICATION_ID = 0x446F6A6F
"""`PRAGMA application_id` of an oncall-dojo database ("Dojo")."""
MIGRATION_SET = "oncall_dojo"

migrations = Migrations(MIGRATION_SET)

_SESSION_NOT_NULL = {
    "player_id",
    "incident",
    "incident_version",
    "seed",
    "mode",
    "game_version",
    "started_at",
    "last_seq",
    "last_at",
    "head_hash",
    "origin",
}
_SCORE_NOT_NULL = {
    "player_id",
    "incident",
    "incident_version",
    "seed",
    "mode",
    "score",
    "grade",
    "resolved",
    "breakdown",
    "impact",
    "times",
    "finished_at",
}


@migrations()
def m001_initial(db: Database) -> None:
    """Players, sessions, the append-only hash-chained event log, scores."""
    db.table("players").create(
        {"id": int, "name": str, "created_at": str},
        pk="id",
        not_null={"name", "created_at"},
    )
    db.table("players").create_index(["name"], unique=True)
    db.table("sessions").create(
        {
            "id": str,
            "player_id": int,
            "incident": str,
            "incident_version": int,
            "seed": int,
            "mode": str,
            "game_version": str,
            "started_at": str,
            "ended_at": str,
            "outcome": str,
            "last_seq": int,
            "last_at": int,
            "head_hash": str,
            "origin": str,
        },
        pk="id",
        foreign_keys=[("player_id", "players", "id")],
        not_null=_SESSION_NOT_NULL,
    )
    db.table("sessions").create_index(["player_id", "started_at"])
    db.table("sessions").create_index(["incident", "incident_version"])
    db.table("events").create(
        {
            "session_id": str,
            "seq": int,
            "type": str,
            "tick": int,
            "at": int,
            "wall": str,
            "data": str,
            "prev_hash": str,
            "hash": str,
        },
        pk=("session_id", "seq"),
        foreign_keys=[("session_id", "sessions", "id")],
        not_null={"session_id", "seq", "type", "tick", "at", "wall", "data", "prev_hash", "hash"},
    )
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER events_append_only_{verb.lower()} BEFORE {verb} ON events "
            "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
        )
    db.table("scores").create(
        {
            "session_id": str,
            "player_id": int,
            "incident": str,
            "incident_version": int,
            "seed": int,
            "mode": str,
            "score": int,
            "grade": str,
            "resolved": int,
            "breakdown": str,
            "impact": str,
            "times": str,
            "finished_at": str,
        },
        pk="session_id",
        foreign_keys=[("session_id", "sessions", "id"), ("player_id", "players", "id")],
        not_null=_SCORE_NOT_NULL,
    )
    db.table("scores").create_index(["incident", "incident_version", "score"])


@migrations()
def m002_event_player(db: Database) -> None:
    """Who each event is by: `events.player`, and the index to read one player's events.

    Since team games, a command event's data carries its `player` (inside the hash). The
    column repeats it for queries; it is outside the hash, so the chains recorded before
    this migration still verify. Their command events were all played by the session's own
    player, whose name the column takes; other events take the `player` their data names."""
    db.execute("ALTER TABLE events ADD COLUMN player TEXT")
    db.execute("DROP TRIGGER events_append_only_update")
    db.execute(
        "UPDATE events SET player = CASE WHEN type = 'command' THEN (SELECT p.name FROM "
        "sessions s JOIN players p ON p.id = s.player_id WHERE s.id = events.session_id) "
        "WHEN json_valid(data) AND json_type(data, '$.player') = 'text' "
        "THEN json_extract(data, '$.player') END"
    )
    db.execute(
        "CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
    )
    db.execute("CREATE INDEX idx_events_session_player ON events (session_id, player)")


@migrations()
def m003_interviews(db: Database) -> None:
    """Interview records (`dojo interview`), and deleting a session's record on request.

    - `loops`: a hiring loop fixes the incident, its version, the digest of its file and the
      seed, so every candidate of the loop gets the same exercise.
    - `interviews`: one row per interview session: the candidate's name, the loop, the
      interviewers' marks (rubric lines, the diagnosis in the candidate's words) as JSON. The
      marks are given during or after the exercise, so they live beside the chain, not in it.
    - `tombstones`: what is left of a session deleted on request (`dojo interview delete`):
      its id, when, how many events and the head of its chain; never a name or an event.
      The events of a session may be deleted only once its tombstone exists."""
    db.table("loops").create(
        {
            "name": str,
            "incident": str,
            "incident_version": int,
            "incident_sha256": str,
            "seed": int,
            "minutes": int,
            "created_at": str,
        },
        pk="name",
        not_null={"incident", "incident_version", "incident_sha256", "seed", "created_at"},
    )
    db.table("interviews").create(
        {
            "session_id": str,
            "candidate": str,
            "loop": str,
            "interviewer": str,
            "marks": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="session_id",
        not_null={"interviewer", "marks", "created_at", "updated_at"},
    )
    db.table("interviews").create_index(["candidate"])
    db.table("interviews").create_index(["loop"])
    db.table("tombstones").create(
        {
            "session_id": str,
            "deleted_at": str,
            "mode": str,
            "events": int,
            "head_hash": str,
            "reason": str,
        },
        pk="session_id",
        not_null={"deleted_at", "mode", "events", "head_hash", "reason"},
    )
    db.execute("DROP TRIGGER events_append_only_delete")
    db.execute(
        "CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events "
        "WHEN NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.session_id = OLD.session_id) "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
    )
