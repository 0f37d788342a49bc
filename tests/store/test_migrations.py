"""Schema migrations: from empty, from every released schema version, and atomic when one fails.

Each released schema version N keeps two fixtures written when it was released by
`tests/store/write_fixtures.py` (never edit an old one): `fixtures/schema_vN.sql`,
and `fixtures/game_vN.sql`, the rows of a whole game recorded by the code of that
version. Opening a database built from them must end at the current schema,
identical to one built from empty, with the game's record intact.

While there is one schema version, the "upgrade" from v1 runs no migration: those
cases check that a database written at the current version opens unchanged, with
its game. They test an upgrade the day a second version and its fixtures land.
"""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database, Migrations
from storekit import dump_file

from oncall_dojo.game.console import run_console
from oncall_dojo.incident.model import Incident
from oncall_dojo.store import Recorder, Store, StoreUnusable, schema
from oncall_dojo.store.db import connect, names_of
from oncall_dojo.store.events import GENESIS, Event
from oncall_dojo.store.replay import rebuild

FIXTURES = Path(__file__).parent / "fixtures"
CURRENT = len(names_of(schema.migrations))


def fixture_versions(kind: str) -> list[int]:
    return sorted(
        int(m.group(1))
        for p in FIXTURES.glob(f"{kind}_v*.sql")
        if (m := re.match(rf"{kind}_v(\d+)\.sql", p.name))
    )


def fresh(tmp_path: Path, name: str = "fresh.db") -> str:
    c = connect(tmp_path / name)
    c.close()
    return dump_file(tmp_path / name)


def test_empty_database_migrates_to_the_current_schema(tmp_path: Path) -> None:
    c = connect(tmp_path / "a.db")
    assert c.schema_version() == CURRENT
    assert c.conn.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
    assert c.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"players", "sessions", "events", "scores"} <= set(c.db.table_names())
    c.close()
    current = FIXTURES / f"schema_v{CURRENT}.sql"
    assert current.exists(), (
        f"schema version {CURRENT} has no fixture; write it with tests/store/write_fixtures.py"
    )
    assert dump_file(tmp_path / "a.db") == current.read_text(encoding="utf-8"), (
        "the schema changed without a new migration and fixture: add a migration, never edit a released one"
    )


def test_every_schema_version_has_its_fixtures() -> None:
    """The parametrised upgrades below cover versions 1 to the current one, none left out."""
    assert fixture_versions("schema") == list(range(1, CURRENT + 1))
    assert fixture_versions("game") == list(range(1, CURRENT + 1))


def test_a_second_open_changes_nothing(tmp_path: Path) -> None:
    before = fresh(tmp_path)
    connect(tmp_path / "fresh.db").close()
    assert dump_file(tmp_path / "fresh.db") == before


def build(tmp_path: Path, version: int, *parts: str) -> Path:
    db = tmp_path / f"v{version}.db"
    conn = sqlite3.connect(db)
    for part in parts:
        conn.executescript((FIXTURES / f"{part}_v{version}.sql").read_text(encoding="utf-8"))
    conn.close()
    return db


@pytest.mark.parametrize("version", range(1, CURRENT + 1))
def test_every_released_schema_upgrades_to_the_current_one(tmp_path: Path, version: int) -> None:
    db = build(tmp_path, version, "schema")
    c = connect(db)
    assert c.schema_version() == CURRENT
    c.close()
    assert dump_file(db) == fresh(tmp_path)


@pytest.mark.parametrize("version", range(1, CURRENT + 1))
def test_a_game_recorded_at_every_released_version_survives_the_upgrade(
    tmp_path: Path, version: int
) -> None:
    db = build(tmp_path, version, "schema", "game")
    old = sqlite3.connect(db)
    events_before = old.execute("SELECT count(*) FROM events").fetchone()[0]
    old.close()
    st = Store.open(db)
    try:
        assert st.integrity() == "ok"
        (row,) = st.history()
        sid = row["session"]
        assert row["ended_at"] is not None and row["score"] is not None
        assert st.verify(sid) == []
        assert len(st.events(sid)) == events_before > 10
        assert st.score_row(sid) is not None
    finally:
        st.close()
    assert dump_file(db) == fresh(tmp_path)


def failing_set(fail_at: int) -> Migrations:
    """Our migrations up to `fail_at`, then one that changes the schema and fails halfway."""
    m = Migrations(schema.MIGRATION_SET)
    for mig in schema.migrations._migrations[:fail_at]:
        m(name=mig.name)(mig.fn)

    @m(name="m999_breaks_halfway")
    def breaks(db: Database) -> None:
        db.table("extra").create({"id": int}, pk="id")
        db.execute("ALTER TABLE sessions ADD COLUMN note TEXT")
        raise RuntimeError("disk on fire")

    return m


def test_a_migration_that_fails_halfway_leaves_the_schema_unchanged(tmp_path: Path) -> None:
    before = fresh(tmp_path)
    with pytest.raises(StoreUnusable, match=r"disk on fire.*left unchanged"):
        connect(tmp_path / "fresh.db", failing_set(CURRENT))
    assert dump_file(tmp_path / "fresh.db") == before


def test_a_failing_first_migration_leaves_an_empty_file_empty(tmp_path: Path) -> None:
    with pytest.raises(StoreUnusable, match="left unchanged"):
        connect(tmp_path / "new.db", failing_set(0))
    conn = sqlite3.connect(tmp_path / "new.db")
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0
    conn.close()


# ------------------------------------------------------------------ files that are not ours to touch
def test_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    fresh(tmp_path)
    db = tmp_path / "fresh.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {CURRENT + 1}")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(
        StoreUnusable, match=rf"schema version {CURRENT + 1}.*newer oncall-dojo.*upgrade"
    ) as exc:
        connect(db)
    assert str(db) in str(exc.value)
    assert db.read_bytes() == before


def test_an_unknown_applied_migration_is_refused(tmp_path: Path) -> None:
    fresh(tmp_path)
    db = tmp_path / "fresh.db"
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, 'm002_future', 'x')",
        [schema.MIGRATION_SET],
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreUnusable, match="m002_future"):
        connect(db)


def test_someone_elses_sqlite_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "theirs.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE recipes (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreUnusable, match="not oncall-dojo's") as exc:
        connect(db)
    assert str(db) in str(exc.value)
    assert db.read_bytes() == before


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "dojo.db"
    db.write_text("these are my notes, not a database\n" * 50, encoding="utf-8")
    before = db.read_bytes()
    with pytest.raises(StoreUnusable, match="not an SQLite database"):
        connect(db)
    assert db.read_bytes() == before
    assert not (tmp_path / "dojo.db-wal").exists()


def test_a_corrupt_database_is_refused_with_what_to_do(tmp_path: Path) -> None:
    fresh(tmp_path)
    db = tmp_path / "fresh.db"
    data = bytearray(db.read_bytes())
    page = 4096 if len(data) > 8192 else 1024
    data[100:page] = b"\xff" * (page - 100)  # the schema page, after the header
    db.write_bytes(bytes(data))
    with pytest.raises(StoreUnusable, match=r"damaged.*Move the file aside") as exc:
        connect(db)
    assert str(db) in str(exc.value)


# ------------------------------------------------------------------ m002: the player of each event
def _v1_database_with_an_old_chain(tmp_path: Path, poison: Incident) -> tuple[Path, str]:
    """A schema-v1 database holding a chain recorded before commands carried their player:
    played now, then each command's `player` taken out of its data and the chain sealed again,
    exactly as the old recorder wrote it."""
    rec = Store.open(tmp_path / "now.db")
    log = Recorder(rec, "alice", "play")
    lines = "ack\nqueue payments\nrestart payments\nresolve\n"
    run_console(poison, 7, [], out=io.StringIO(), inp=io.StringIO(lines), log=log)
    sid = log.session_id
    assert sid is not None
    events, prev = [], GENESIS
    for ev in rec.events(sid):
        data = {k: v for k, v in ev.data.items() if not (ev.type == "command" and k == "player")}
        sealed = Event(ev.session_id, ev.seq, ev.type, ev.tick, ev.at, ev.wall, data).sealed(prev)
        events.append(sealed)
        prev = sealed.hash
    sessions = [dict(r) for r in rec.c.db.query("SELECT * FROM sessions")]
    scores = [dict(r) for r in rec.c.db.query("SELECT * FROM scores")]
    rec.close()
    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)
    conn.executescript((FIXTURES / "schema_v1.sql").read_text(encoding="utf-8"))
    conn.execute("INSERT INTO players (id, name, created_at) VALUES (1, 'alice', 'x')")
    for row in sessions:
        row.update(player_id=1, head_hash=events[-1].hash)
        conn.execute(
            f"INSERT INTO sessions ({','.join(row)}) VALUES ({','.join('?' * len(row))})",
            list(row.values()),
        )
    for row in scores:
        row.update(player_id=1)
        conn.execute(
            f"INSERT INTO scores ({','.join(row)}) VALUES ({','.join('?' * len(row))})",
            list(row.values()),
        )
    for ev in events:
        r = ev.to_row()
        r.pop("player")
        conn.execute(
            f"INSERT INTO events ({','.join(r)}) VALUES ({','.join('?' * len(r))})",
            list(r.values()),
        )
    conn.commit()
    conn.close()
    return db, sid


def test_chains_recorded_before_players_were_recorded_still_verify_after_the_upgrade(
    tmp_path: Path, poison: Incident
) -> None:
    db, sid = _v1_database_with_an_old_chain(tmp_path, poison)
    st = Store.open(db)
    assert st.c.schema_version() == CURRENT
    assert st.verify(sid) == []
    rows = st.c.conn.execute(
        "SELECT type, player FROM events WHERE session_id = ? ORDER BY seq", [sid]
    ).fetchall()
    assert [p for t, p in rows if t == "command"] == ["alice"] * 4  # the session's own player
    assert rows[0] == ("start", "alice")
    # the events are still append-only after the trigger was put back
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        st.c.conn.execute("UPDATE events SET player = 'mallory'")
    # and replaying the old chain gives the same outputs
    assert rebuild(poison, st.events(sid)).mismatches == []
    st.close()
