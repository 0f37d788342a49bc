"""Opening the game's database: where it lives, WAL, immediate write transactions, migrations.

Writes go through `Connection.write()`: `BEGIN IMMEDIATE` takes the write lock up
front (a deferred transaction that later upgrades to a write fails with BUSY no
matter the busy timeout), waits up to `BUSY_TIMEOUT_S` for it, and retries a few
times before giving up, so a team writing to one file at once never sees BUSY.
The driver runs with `isolation_level=None`; transactions are ours, and
sqlite-utils nests its own `atomic()` blocks inside them as savepoints.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database, Migrations

from oncall_dojo.store import schema
from oncall_dojo.store.errors import (
    StoreUnavailable,
    StoreUnusable,
    classify,
    code_of,
    is_busy,
)

_CANTOPEN, _READONLY = 14, 8

DB_NAME = "dojo.db"
BUSY_TIMEOUT_S = 10.0
LOCK_ATTEMPTS = 6
SQLITE_MAGIC = b"SQLite format 3\x00"


def default_path() -> Path:
    """`$DOJO_HOME/dojo.db`, else the user data directory (platformdirs)."""
    home = os.environ.get("DOJO_HOME")
    if home:
        return Path(home).expanduser() / DB_NAME
    from platformdirs import user_data_path

    return user_data_path("oncall-dojo", appauthor=False) / DB_NAME


class Connection:
    """One connection to the database file, checked and migrated."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self.db = Database(conn, execute_plugins=False)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def write(self) -> Iterator[Database]:
        """One write transaction, committed on success, rolled back on error."""
        for attempt in range(LOCK_ATTEMPTS):
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or attempt == LOCK_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        try:
            yield self.db
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    @contextmanager
    def read(self) -> Iterator[Database]:
        """A consistent snapshot for several reads."""
        self.conn.execute("BEGIN")
        try:
            yield self.db
        finally:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])


def _check_header(path: Path) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreUnavailable(path, f"cannot read the database ({exc})") from exc
    if size == 0:
        return
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreUnavailable(path, f"cannot read the database ({exc})") from exc
    if head != SQLITE_MAGIC:
        raise StoreUnusable(
            path,
            "this file is not an SQLite database, so it is not oncall-dojo's. It was left "
            "untouched: move it aside, or set DOJO_HOME to another folder.",
        )


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]


def _state(conn: sqlite3.Connection) -> tuple[int, int, list[str]]:
    app = int(conn.execute("PRAGMA application_id").fetchone()[0])
    ver = int(conn.execute("PRAGMA user_version").fetchone()[0])
    return app, ver, _tables(conn)


def _check_ours(path: Path, app: int, ver: int, tables: list[str], known: int) -> None:
    if app != schema.APPLICATION_ID and tables:
        raise StoreUnusable(
            path,
            "this is an SQLite database but not oncall-dojo's (it has other tables). It was "
            "left untouched: set DOJO_HOME to another folder, or move the file aside.",
        )
    if ver > known:
        raise StoreUnusable(
            path,
            f"this database has schema version {ver}, written by a newer oncall-dojo (this one "
            f"knows up to {known}). It was left untouched: upgrade oncall-dojo "
            "(pip install -U oncall-dojo), or set DOJO_HOME to use another folder.",
        )


def names_of(migrations: Migrations) -> list[str]:
    """The migrations of a set, in order (schema version N = the first N applied)."""
    return [m.name for m in migrations._migrations]


def _check_applied(c: Connection, migrations: Migrations) -> None:
    names = names_of(migrations)
    unknown = [m.name for m in migrations.applied(c.db) if m.name not in names]
    if unknown:
        raise StoreUnusable(
            c.path,
            f"this database has migrations this oncall-dojo does not know ({', '.join(unknown)}); "
            "it was written by a newer version. It was left untouched: upgrade oncall-dojo, "
            "or set DOJO_HOME to use another folder.",
        )


def migrate(c: Connection, migrations: Migrations = schema.migrations) -> int:
    """Apply pending migrations in one immediate transaction: all of them or none.

    Returns the schema version after. Each migration also runs in its own savepoint
    (sqlite-utils' `atomic()`), and a failure rolls everything back, so a failed
    upgrade leaves the file exactly as it was.
    """
    known = len(names_of(migrations))
    with c.write() as db:
        app, ver, tables = _state(c.conn)  # again, under the lock: another process may have won
        _check_ours(c.path, app, ver, tables, known)
        _check_applied(c, migrations)
        if not migrations.pending(db) and ver == known:
            return ver
        try:
            migrations.apply(db)
        except Exception as exc:
            known_fault = classify(exc, c.path) if isinstance(exc, sqlite3.Error) else None
            raise known_fault or StoreUnusable(
                c.path,
                f"upgrading the database to schema version {known} failed ({exc!r}); it was left "
                "unchanged. Please report this with the message above.",
            ) from exc
        c.conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        c.conn.execute(f"PRAGMA user_version = {known}")
        return known


def connect(path: Path | None = None, migrations: Migrations = schema.migrations) -> Connection:
    """Open (creating if needed), check and migrate the database. Raises StoreError."""
    path = path or default_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(path, f"cannot create the folder {path.parent} ({exc})") from exc
    _check_header(path)
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise classify(exc, path) or StoreUnavailable(path, f"cannot open ({exc})") from exc
    c = Connection(path, conn)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        with c.read():  # one snapshot: another process may be creating the schema right now
            app, ver, tables = _state(conn)
        known = len(names_of(migrations))
        _check_ours(path, app, ver, tables, known)
        _journal_wal(conn)
        conn.execute("PRAGMA synchronous = FULL")
        if app == schema.APPLICATION_ID:
            _check_applied(c, migrations)
        if app != schema.APPLICATION_ID or ver < known:
            migrate(c, migrations)
    except sqlite3.Error as exc:
        conn.close()
        raise classify(exc, path) or StoreUnavailable(
            path, f"cannot use the database ({exc})"
        ) from exc
    except BaseException:
        conn.close()
        raise
    return c


def connect_readonly(path: Path, migrations: Migrations = schema.migrations) -> Connection:
    """Open an existing, current database for reading only: nothing is written or created.

    Works in a folder that cannot be written: when SQLite cannot create its shared-memory
    file there, the file is opened as immutable (nothing can be writing to it either). A
    database that needs an upgrade (or is empty) is opened the normal way, which migrates it.
    Raises StoreError.
    """
    _check_header(path)
    uri = path.resolve().as_uri()
    last: sqlite3.Error | None = None
    for query in ("?mode=ro", "?mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(
                uri + query, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None
            )
        except sqlite3.Error as exc:
            last = exc
            continue
        c = Connection(path, conn)
        try:
            with c.read():
                app, ver, tables = _state(conn)
        except sqlite3.Error as exc:
            conn.close()
            last = exc
            if classify(exc, path) is not None and code_of(exc) not in (_CANTOPEN, _READONLY):
                break  # damaged, not merely unwritable: say so below
            continue
        known = len(names_of(migrations))
        _check_ours(path, app, ver, tables, known)
        if app == schema.APPLICATION_ID and ver == known:
            return c
        conn.close()
        return connect(path, migrations)
    assert last is not None
    raise classify(last, path) or StoreUnavailable(path, f"cannot read ({last})") from last


def _journal_wal(conn: sqlite3.Connection) -> None:
    for attempt in range(LOCK_ATTEMPTS):
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or attempt == LOCK_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
