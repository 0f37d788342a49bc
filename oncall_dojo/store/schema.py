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
