"""The SQL console's sandbox: a player's SQL against the application database, and nothing else.

The connection opens only the application database file. Every statement is
compiled under an allow-list authorizer, runs under SQLite limits, and is
stopped by a step budget counted in VM instructions (never wall-clock time, so a
replay stops at the same row). Writes are previewed: run inside a transaction,
measured (rows changed per table) and rolled back, then kept as pending until
the player commits them (all re-run in one transaction) or discards them. No
transaction is ever held open between calls, because the simulation writes the
same file through its own connection between player commands.

What the authorizer allows (everything else is refused):

- SELECT, WITH RECURSIVE, and calls to built-in functions except a deny list:
  `load_extension` and `fts3_tokenizer` (escape hatches), and `random`,
  `randomblob`, `current_date`, `current_time`, `current_timestamp` (their
  results differ on every run, so a replay would not match).
- Reading the tables and views of `main` (plus `sqlite_schema` /
  `sqlite_master` of `main`), `json_each` / `json_tree`, and a few read-only
  introspection table functions on `main`: `pragma_table_info`,
  `pragma_table_xinfo`, `pragma_index_list`, `pragma_index_info`,
  `pragma_index_xinfo` and `pragma_foreign_key_list`. They can only ever see
  `main`: nothing can be attached, and asking them about `temp` is refused.
  `count(*)` asks to read its table with no column and no database name; that
  is allowed for the tables of `main`, CTEs and subqueries, not for SQLite's
  own tables or other table functions.
- INSERT / UPDATE / DELETE on the tables listed in `writable`, in `main`, from
  the player's statement itself (a write coming from a trigger is refused).
- With `allow_schema`: CREATE TABLE, CREATE INDEX, DROP INDEX and ALTER TABLE
  on `main`. DROP TABLE, views, triggers, virtual tables and anything temporary
  stay refused even then.

Always refused: ATTACH / DETACH (and so VACUUM, which attaches), every PRAGMA
statement, CREATE TRIGGER, ANALYZE, REINDEX, transaction statements typed by the
player (the console manages transactions: `sql commit` / `sql rollback`), and
reading any database other than `main` (`temp` included). The wall clock is
refused too: the literals 'now' and 'localtime', and the date and time
functions called without a time value.

Limits: no attached databases, values up to `max_value_bytes`, statements up to
`max_sql_chars`, bounded expression depth, compound selects, LIKE patterns and
program size. The step budget bounds the number of VM instructions, not the work
a single built-in function does on a large value: `max_value_bytes` bounds that, and
`Sandbox.interrupt()` lets the caller stop such a statement from another thread.

Only the standard library's sqlite3 is used here.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["QueryResult", "Sandbox", "SqlError", "render_table"]

COUNT_CAP = 100_000
"""Rows of a read are counted up to this many; past it the total is shown as "100,000+"."""
_PROGRESS_EVERY = 1_000
"""VM instructions between two calls of the progress handler (the budget's granularity)."""
_MAX_KEPT_BYTES = 16 * 1024 * 1024
"""Text and blob bytes kept in the rows of one result; later rows are counted, not kept."""
_FETCH = 512

_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema"})
_PRAGMA_FUNCS = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
_TABLE_FUNCS = frozenset({"json_each", "json_tree"} | {f"pragma_{p}" for p in _PRAGMA_FUNCS})
_WARM_UP = tuple(
    [f"SELECT 1 FROM {name}('[]') LIMIT 0" for name in ("json_each", "json_tree")]
    + [f"SELECT 1 FROM pragma_{p}('') LIMIT 0" for p in sorted(_PRAGMA_FUNCS)]
)
"""Table functions are set up on first use by an internal write to sqlite_schema; doing that
under the sandbox's own authority keeps the player's authorizer free of such exceptions."""

_ESCAPE_FUNCS = frozenset({"load_extension", "fts3_tokenizer"})
_RANDOM_FUNCS = frozenset(
    {"random", "randomblob", "current_date", "current_time", "current_timestamp"}
)
_CLOCK_FUNCS = frozenset({"date", "time", "datetime", "julianday", "unixepoch", "timediff"})
_CLOCK_WORDS = frozenset({"now", "localtime"})

_TRANSACTION_WORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})
_SCHEMA_WORDS = frozenset({"CREATE", "ALTER", "DROP"})
_OBJECT_WORDS = frozenset({"TABLE", "INDEX", "VIEW", "TRIGGER", "COLUMN"})
_READ_WORDS = frozenset({"SELECT", "WITH", "VALUES", "EXPLAIN"})
_FUNCS_LIST = "available: " + ", ".join(sorted(_TABLE_FUNCS))
_ONLY_APP_DB = "is not allowed in the console: it reaches only the application database"

_TRANSACTIONS_MSG = (
    "refused: the console manages transactions itself: a write is previewed first, "
    "then `sql commit` applies it and `sql rollback` discards it"
)

A = sqlite3
_ACTION_WORDS: dict[int, str] = {
    A.SQLITE_CREATE_INDEX: "CREATE INDEX",
    A.SQLITE_CREATE_TABLE: "CREATE TABLE",
    A.SQLITE_CREATE_TEMP_INDEX: "CREATE TEMP INDEX",
    A.SQLITE_CREATE_TEMP_TABLE: "CREATE TEMP TABLE",
    A.SQLITE_CREATE_TEMP_TRIGGER: "CREATE TRIGGER",
    A.SQLITE_CREATE_TEMP_VIEW: "CREATE TEMP VIEW",
    A.SQLITE_CREATE_TRIGGER: "CREATE TRIGGER",
    A.SQLITE_CREATE_VIEW: "CREATE VIEW",
    A.SQLITE_DROP_INDEX: "DROP INDEX",
    A.SQLITE_DROP_TABLE: "DROP TABLE",
    A.SQLITE_DROP_TEMP_INDEX: "DROP INDEX",
    A.SQLITE_DROP_TEMP_TABLE: "DROP TABLE",
    A.SQLITE_DROP_TEMP_TRIGGER: "DROP TRIGGER",
    A.SQLITE_DROP_TEMP_VIEW: "DROP VIEW",
    A.SQLITE_DROP_TRIGGER: "DROP TRIGGER",
    A.SQLITE_DROP_VIEW: "DROP VIEW",
    A.SQLITE_ALTER_TABLE: "ALTER TABLE",
    A.SQLITE_REINDEX: "REINDEX",
    A.SQLITE_ANALYZE: "ANALYZE",
    A.SQLITE_CREATE_VTABLE: "CREATE VIRTUAL TABLE",
    A.SQLITE_DROP_VTABLE: "DROP TABLE",
    A.SQLITE_ATTACH: "ATTACH",
    A.SQLITE_DETACH: "DETACH",
    A.SQLITE_PRAGMA: "PRAGMA",
}
_SCHEMA_ACTIONS = frozenset(
    {A.SQLITE_CREATE_TABLE, A.SQLITE_CREATE_INDEX, A.SQLITE_DROP_INDEX, A.SQLITE_ALTER_TABLE}
)
_WRITE_ACTIONS = frozenset({A.SQLITE_INSERT, A.SQLITE_UPDATE, A.SQLITE_DELETE})
_TRIGGER_ACTIONS = frozenset(
    {
        A.SQLITE_CREATE_TRIGGER,
        A.SQLITE_CREATE_TEMP_TRIGGER,
        A.SQLITE_DROP_TRIGGER,
        A.SQLITE_DROP_TEMP_TRIGGER,
    }
)


class SqlError(Exception):
    """A statement refused, stopped or failed; the message is in plain words for the player.

    Messages start with "refused:" (not allowed in the console), "stopped:" (a limit was
    reached while running) or are SQLite's own (e.g. `no such table: x`). Nothing was
    changed in the application database.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class QueryResult:
    """What one statement (or one commit) produced."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    """At most `max_rows` rows, exactly as SQLite returned them."""
    total_rows: int
    """Rows the statement produced, counted up to `COUNT_CAP` (see `total_capped`)."""
    truncated: bool
    """Fewer rows are kept than were produced."""
    changes: dict[str, int]
    """For writes: rows changed per table (a preview's would-be changes); {} for reads."""
    kind: str
    """Either "read", or "write" (a write's preview, or a commit)."""
    total_capped: bool = False
    """Counting stopped (at `COUNT_CAP` rows or at the step budget): `total_rows` is a floor."""
    committed: bool = False
    """The result of `Sandbox.commit`: `changes` were really made."""
    steps: int = 0
    """VM instructions used, in units of the progress handler's period; deterministic."""


@dataclass
class _Tok:
    kind: str  # "word" | "string" | "ident" | "semi" | "punct"
    text: str
    start: int
    end: int


@dataclass
class _Checked:
    statement: str
    """The statement, without the semicolon that ends it and anything after that."""
    head: str
    """The first keyword, upper-cased ("" when the statement starts with a symbol)."""
    phrase: str
    """The opening keywords of a schema statement ("CREATE UNIQUE INDEX"), else the head."""

    @property
    def explain(self) -> bool:
        return self.head == "EXPLAIN"


@dataclass
class _Auth:
    """What the authorizer saw while one statement compiled."""

    refusal: str | None = None
    writes: set[str] = field(default_factory=set)
    schema: bool = False
    table_funcs: set[str] = field(default_factory=set)


@dataclass
class _Outcome:
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    total: int = 0
    capped: bool = False
    truncated: bool = False
    steps: int = 0
    auth: _Auth = field(default_factory=_Auth)


class Sandbox:
    """A player's window onto the application database: one statement at a time, previewed writes."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        writable: Iterable[str] = (),
        allow_schema: bool = False,
        max_sql_chars: int = 10_000,
        max_value_bytes: int = 1_000_000,
        step_budget: int = 5_000_000,
        max_rows: int = 200,
    ) -> None:
        full = os.path.abspath(os.fspath(path))  # absolute, so never taken for a file: URI
        if not os.path.isfile(full):
            raise FileNotFoundError(f"no application database at {full}")
        self.writable = frozenset(writable)
        for name in self.writable:
            if name.lower().startswith("sqlite_"):
                raise ValueError(f"{name} is an SQLite internal table and cannot be writable")
        self.allow_schema = allow_schema
        self.max_sql_chars = max_sql_chars
        self.max_value_bytes = max_value_bytes
        self.step_budget = step_budget
        self.max_rows = max_rows
        self._pending: list[_Checked] = []
        self._lock = threading.RLock()
        self._trusted = True
        self._auth = _Auth()
        self._current = _Checked("", "", "")
        self._tables: frozenset[str] = frozenset()
        self._steps = 0
        self._stopped = False
        self._cancel = threading.Event()
        self._cancelled = False

        conn = sqlite3.connect(
            full, isolation_level=None, check_same_thread=False, cached_statements=0
        )
        self._conn: sqlite3.Connection | None = conn
        try:
            if hasattr(conn, "enable_load_extension"):
                conn.enable_load_extension(False)
            conn.execute("PRAGMA foreign_keys=OFF")  # so one statement changes exactly one table
            conn.execute("PRAGMA trusted_schema=OFF")
            conn.setlimit(A.SQLITE_LIMIT_ATTACHED, 0)
            conn.setlimit(A.SQLITE_LIMIT_LENGTH, max_value_bytes)
            # SQLite counts bytes (up to 4 per character) and "EXPLAIN " is prepended to classify.
            conn.setlimit(A.SQLITE_LIMIT_SQL_LENGTH, 4 * max_sql_chars + 64)
            conn.setlimit(A.SQLITE_LIMIT_EXPR_DEPTH, 200)
            conn.setlimit(A.SQLITE_LIMIT_COMPOUND_SELECT, 100)
            conn.setlimit(A.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1_000)
            conn.setlimit(A.SQLITE_LIMIT_VDBE_OP, 250_000)
            conn.setlimit(A.SQLITE_LIMIT_TRIGGER_DEPTH, 1)
            conn.setlimit(A.SQLITE_LIMIT_WORKER_THREADS, 0)
            conn.set_authorizer(self._authorize)
            conn.set_progress_handler(self._progress, _PROGRESS_EVERY)
        except BaseException:
            conn.close()
            raise
        self._trusted = False

    # ------------------------------------------------------------------ API
    def run(self, sql: str) -> QueryResult:
        """Run one statement: a read returns rows; a write is previewed and kept as pending.

        Pending statements are applied first (and rolled back with the rest), so a run
        sees the database as a commit would leave it, as inside a real transaction.
        """
        with self._lock:
            self._cancel.clear()
            checked = self._check(sql)
            self._begin(checked)
            conn = self._open()
            try:
                if self._pending:
                    self._internal("BEGIN IMMEDIATE")
                    self._replay()
                self._prepare_context()
                kind = "read"
                if not checked.explain:
                    auth = self._compile(checked)
                    if auth.writes or auth.schema:
                        kind = "write"
                if not conn.in_transaction:
                    self._internal("BEGIN IMMEDIATE" if kind == "write" else "BEGIN")
                before = conn.total_changes
                out = self._execute(checked, read=kind == "read")
                changes = self._changes(out.auth, conn.total_changes - before)
                if kind == "write":
                    self._pending.append(checked)
                else:
                    changes = {}
                return QueryResult(
                    out.columns,
                    out.rows,
                    out.total,
                    out.truncated,
                    changes,
                    kind,
                    total_capped=out.capped,
                    steps=out.steps,
                )
            except sqlite3.Error as e:
                raise SqlError(self._words(e)) from None
            finally:
                self._end()

    def pending(self) -> list[str]:
        """Write statements previewed and not yet committed or discarded, oldest first."""
        with self._lock:
            return [p.statement for p in self._pending]

    def commit(self) -> QueryResult:
        """Re-run every pending statement in one transaction and keep the result.

        Returns the rows changed per table (`changes`) and one row per statement
        (statement, rows changed). On any error everything is rolled back, the
        pending statements are dropped and SqlError is raised.
        """
        with self._lock:
            self._cancel.clear()
            self._begin(_Checked("", "", ""))
            self._open()
            todo, self._pending = self._pending, []
            columns = ["statement", "rows changed"]
            if not todo:
                return QueryResult(columns, [], 0, False, {}, "write", committed=True)
            changes: dict[str, int] = {}
            rows: list[tuple[Any, ...]] = []
            steps = 0
            try:
                self._internal("BEGIN IMMEDIATE")
                for i, p in enumerate(todo, 1):
                    try:
                        per, used = self._run_pending(p)
                    except SqlError as e:
                        raise SqlError(
                            f"commit failed at statement {i} of {len(todo)}, "
                            f"nothing was changed: {e.message}"
                        ) from None
                    steps += used
                    for table, count in per.items():
                        changes[table] = changes.get(table, 0) + count
                    rows.append((p.statement, sum(per.values()) if per else None))
                self._internal("COMMIT")
            except sqlite3.Error as e:
                raise SqlError(f"commit failed, nothing was changed: {self._words(e)}") from None
            finally:
                self._end()
            return QueryResult(
                columns, rows, len(rows), False, changes, "write", committed=True, steps=steps
            )

    def interrupt(self) -> None:
        """Stop the statement running now, from another thread (a player's cancel key).

        The statement ends with SqlError("stopped: cancelled ...") and changes nothing. The
        step budget alone keeps replays deterministic; this is for a statement whose steps
        are few but slow (built-in functions over values near `max_value_bytes`).
        """
        self._cancel.set()

    def discard(self) -> int:
        """Drop the pending statements; returns how many there were."""
        with self._lock:
            n = len(self._pending)
            self._pending = []
            return n

    def close(self) -> None:
        """Close the connection; pending statements are dropped. Safe to call twice."""
        with self._lock:
            conn, self._conn = self._conn, None
            self._pending = []
            if conn is not None:
                self._trusted = True
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                conn.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- checking
    def _check(self, sql: str) -> _Checked:
        """Refusals that need only the text, in better words than the authorizer's."""
        if len(sql) > self.max_sql_chars:
            raise SqlError(
                f"refused: the statement is {len(sql):,} characters; "
                f"the limit is {self.max_sql_chars:,}"
            )
        toks = _tokens(sql)
        if not any(t.kind != "semi" for t in toks):
            raise SqlError("nothing to run: type a SQL statement")
        end = next((i for i, t in enumerate(toks) if t.kind == "semi"), len(toks))
        body = toks[:end]
        if not body:
            raise SqlError("refused: one statement at a time (this text starts with ';')")
        words = [t.text.upper() for t in body[:4] if t.kind == "word"]
        head = body[0].text.upper() if body[0].kind == "word" else ""
        phrase = head
        if head in _SCHEMA_WORDS:
            for w in words[1:]:
                phrase += " " + w
                if w in _OBJECT_WORDS:
                    break
        if head == "CREATE" and "TRIGGER" in words[:3]:
            raise SqlError("refused: CREATE TRIGGER is not allowed in the console")
        if head in _TRANSACTION_WORDS:
            raise SqlError(_TRANSACTIONS_MSG)
        if head == "PRAGMA":
            raise SqlError(
                "refused: PRAGMA is not allowed in the console "
                "(to list a table's columns: SELECT * FROM pragma_table_info('orders'))"
            )
        if head in {"ATTACH", "DETACH"}:
            raise SqlError(f"refused: {head} {_ONLY_APP_DB}")
        if head in {"VACUUM", "ANALYZE", "REINDEX"}:
            raise SqlError(f"refused: {head} is not allowed in the console")
        rest = [t for t in toks[end:] if t.kind != "semi"]
        if rest:
            second = sql[rest[0].start :].strip().splitlines()[0][:40]
            raise SqlError(f"refused: one statement at a time (a second one starts at {second!r})")
        _check_clock(body)
        statement = sql[: toks[end].start] if end < len(toks) else sql
        return _Checked(statement.strip(), head, phrase)

    # ------------------------------------------------------------ execution
    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise SqlError("the SQL console is closed")
        return self._conn

    def _internal(self, sql: str) -> list[tuple[Any, ...]]:
        """A statement of the sandbox itself (not the player's), so not judged or counted."""
        conn = self._open()
        self._trusted = True
        try:
            return conn.execute(sql).fetchall()
        finally:
            self._trusted = False

    def _prepare_context(self) -> None:
        """Set up the table functions and take the list of readable tables."""
        for sql in _WARM_UP:
            self._internal(sql)
        names = self._internal(
            "SELECT name FROM main.sqlite_schema WHERE type IN ('table', 'view')"
        )
        self._tables = frozenset(str(r[0]) for r in names) | _SCHEMA_TABLES

    def _begin(self, checked: _Checked) -> None:
        self._auth = _Auth()
        self._current = checked
        self._steps = 0
        self._stopped = False
        self._cancelled = False

    def _compile(self, checked: _Checked) -> _Auth:
        """Compile without running (EXPLAIN) to learn what the statement would do."""
        conn = self._open()
        self._begin(checked)
        try:
            conn.execute("EXPLAIN " + checked.statement).close()
        except (sqlite3.Error, sqlite3.Warning) as e:
            raise SqlError(self._words(e)) from None
        except (ValueError, OverflowError, MemoryError) as e:
            raise SqlError(f"error: {e}") from None
        return self._auth

    def _execute(self, checked: _Checked, *, read: bool) -> _Outcome:
        """Run the statement; a read is counted up to COUNT_CAP, a write runs to its end."""
        conn = self._open()
        self._begin(checked)
        out = _Outcome()
        kept_bytes = 0
        cur: sqlite3.Cursor | None = None
        try:
            cur = conn.execute(checked.statement)
            out.columns = [d[0] for d in cur.description or ()]
            while not out.capped:
                try:
                    batch = cur.fetchmany(_FETCH)
                except sqlite3.Error:
                    if read and self._stopped and len(out.rows) >= self.max_rows:
                        out.capped = True  # the rows shown are complete; only the count stopped
                        break
                    raise
                if not batch:
                    break
                for row in batch:
                    if read and out.total == COUNT_CAP:
                        out.capped = True
                        break
                    out.total += 1
                    if len(out.rows) < self.max_rows and kept_bytes <= _MAX_KEPT_BYTES:
                        out.rows.append(row)
                        kept_bytes += sum(len(v) for v in row if isinstance(v, str | bytes))
        except (sqlite3.Error, sqlite3.Warning) as e:
            raise SqlError(self._words(e)) from None
        except (ValueError, OverflowError) as e:
            raise SqlError(f"error: {e}") from None
        except MemoryError:
            raise SqlError("stopped: the query ran out of memory") from None
        finally:
            if cur is not None:
                cur.close()
        out.truncated = len(out.rows) < out.total or out.capped
        out.steps = self._steps
        out.auth = self._auth
        return out

    def _run_pending(self, p: _Checked) -> tuple[dict[str, int], int]:
        conn = self._open()
        self._prepare_context()
        before = conn.total_changes
        out = self._execute(p, read=False)
        return self._changes(out.auth, conn.total_changes - before), out.steps

    def _replay(self) -> None:
        """Apply the pending statements inside the caller's transaction."""
        for i, p in enumerate(self._pending, 1):
            try:
                self._run_pending(p)
            except SqlError as e:
                raise SqlError(
                    f"pending statement {i} no longer runs ({e.message}); "
                    "`sql rollback` discards the pending statements"
                ) from None

    @staticmethod
    def _changes(auth: _Auth, n: int) -> dict[str, int]:
        if not auth.writes:
            return {}
        # A statement writes one table: no triggers, no foreign key actions.
        return {min(auth.writes): n}

    def _end(self) -> None:
        """Never leave a transaction open between calls."""
        conn = self._conn
        if conn is not None and conn.in_transaction:
            self._internal("ROLLBACK")

    def _words(self, e: Exception) -> str:
        name = getattr(e, "sqlite_errorname", "")
        text = str(e)
        if self._auth.refusal:  # a denial always ends in an error, whatever its text
            return self._auth.refusal
        if self._cancelled:
            return "stopped: cancelled before it finished; nothing was changed"
        if self._stopped or name == "SQLITE_INTERRUPT" or text == "interrupted":
            return (
                f"stopped: the query ran past its budget of {self.step_budget:,} steps; "
                "narrow it with WHERE or LIMIT"
            )
        if name == "SQLITE_TOOBIG" or "too big" in text:
            return (
                f"stopped: a value would be larger than the limit of {self.max_value_bytes:,} bytes"
            )
        if name.startswith("SQLITE_BUSY") or "database is locked" in text:
            return "the application database is busy; try again"
        if "not authorized" in text:
            return "refused: not allowed in the console"
        if "one statement at a time" in text:
            return "refused: one statement at a time"
        if "binding" in text.lower():
            return (
                "refused: parameters (?, :name) cannot be bound in the console; "
                "write the values in the statement"
            )
        if text.startswith("Could not decode"):
            return "a text value is not valid UTF-8; select hex(column) to see its bytes"
        if "too many attached" in text:
            return f"refused: ATTACH {_ONLY_APP_DB}"
        return text

    # ----------------------------------------------------------- callbacks
    def _progress(self) -> int:
        if self._trusted:
            return 0
        if self._cancel.is_set():
            self._cancelled = True
            return 1
        self._steps += _PROGRESS_EVERY
        if self._steps > self.step_budget:
            self._stopped = True
            return 1
        return 0

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
    ) -> int:
        if self._trusted:
            return A.SQLITE_OK
        try:
            refusal = self._judge(action, arg1, arg2, db, src)
        except Exception:  # a bug here must deny, never allow
            refusal = "refused: not allowed in the console"
        if refusal is None:
            return A.SQLITE_OK
        if self._auth.refusal is None:
            self._auth.refusal = refusal
        return A.SQLITE_DENY

    def _judge(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
    ) -> str | None:
        """None when allowed, else the refusal in words."""
        cur = self._current
        schema_ctx = self.allow_schema and cur.head in _SCHEMA_WORDS
        if action in (A.SQLITE_SELECT, A.SQLITE_RECURSIVE):
            return None
        if action == A.SQLITE_READ:
            table, column = arg1 or "", arg2
            if table in _TABLE_FUNCS and db in (None, "main"):
                self._auth.table_funcs.add(table)
                return None
            if db is None and column == "":
                # A table used without reading a column (count(*)): a table of main, a CTE
                # or a subquery. Nothing of SQLite's own is reachable this way.
                special = table.startswith(("sqlite_", "pragma_")) or table == "dbstat"
                if table in self._tables or not special:
                    return None
                return f"refused: {table} cannot be read from the console"
            if db == "temp" and table == "sqlite_temp_master" and schema_ctx:
                return None  # ALTER TABLE looks through the (empty) temp schema too
            if db != "main":
                return f"refused: only the application database can be read, not {db!r}"
            if table in self._tables:
                return None
            return f"refused: {table} cannot be read from the console"
        if action in _WRITE_ACTIONS:
            table = arg1 or ""
            if table in _SCHEMA_TABLES or table == "sqlite_temp_master":
                if schema_ctx and db == "main" and table in _SCHEMA_TABLES:
                    return None  # the schema change's own bookkeeping
                if schema_ctx and db == "temp" and action == A.SQLITE_UPDATE:
                    return None  # ALTER TABLE ... RENAME rewrites references in temp too
                if cur.head in _SCHEMA_WORDS and not self.allow_schema:
                    return (
                        f"refused: schema changes ({cur.phrase}) are not allowed in this incident"
                    )
                if cur.head in _SCHEMA_WORDS:
                    return f"refused: {cur.phrase} is not allowed in the console"
                if cur.head in _READ_WORDS:  # a table function's set-up writes the schema
                    return f"refused: that table function is not available in the console ({_FUNCS_LIST})"
                return f"refused: table {table} is read-only in this incident"
            if src is not None:
                return f"refused: the statement would fire trigger {src}, which the console does not run"
            if db == "main" and table in self.writable:
                self._auth.writes.add(table)
                return None
            if db != "main":
                return f"refused: only the application database can be changed, not {db!r}"
            return f"refused: table {table} is read-only in this incident"
        if action == A.SQLITE_FUNCTION:
            name = (arg2 or "").lower()
            if name in _ESCAPE_FUNCS:
                return f"refused: {name}() is not allowed in the console"
            if name in _RANDOM_FUNCS:
                return (
                    f"refused: {name} is not allowed: the game replays your SQL exactly, "
                    "so a statement must give the same result every time"
                )
            return None
        if action in (A.SQLITE_TRANSACTION, A.SQLITE_SAVEPOINT):
            return _TRANSACTIONS_MSG
        if action == A.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if f"pragma_{name}" in self._auth.table_funcs and name in _PRAGMA_FUNCS:
                if db in (None, "main"):
                    return None
                return f"refused: pragma_{name} can only look at the application database (main)"
            return "refused: PRAGMA is not allowed in the console"
        if action in _SCHEMA_ACTIONS:
            where = arg1 if action == A.SQLITE_ALTER_TABLE else db
            word = _ACTION_WORDS[action]
            if schema_ctx and where == "main":
                self._auth.schema = True
                return None
            if self.allow_schema:
                return f"refused: {word} is allowed on the application database only"
            return f"refused: schema changes ({word}) are not allowed in this incident"
        if action == A.SQLITE_REINDEX and schema_ctx and db == "main":
            return None  # CREATE INDEX fills the new index
        if action in (A.SQLITE_ATTACH, A.SQLITE_DETACH):
            return f"refused: {_ACTION_WORDS[action]} {_ONLY_APP_DB}"
        word = _ACTION_WORDS.get(action, f"operation {action}")
        if action in _TRIGGER_ACTIONS:
            return f"refused: {word} is not allowed in the console"
        if word.startswith(("CREATE", "DROP", "ALTER")) and not self.allow_schema:
            return f"refused: schema changes ({word}) are not allowed in this incident"
        return f"refused: {word} is not allowed in the console"


# ---------------------------------------------------------------- the lexer
def _tokens(sql: str) -> list[_Tok]:
    """SQLite's lexical structure, enough to find statement ends, keywords and literals."""
    out: list[_Tok] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c in "'\"`":
            j = i + 1
            while True:
                j = sql.find(c, j)
                if j < 0:
                    j = n
                    break
                if sql.startswith(c + c, j):
                    j += 2
                    continue
                j += 1
                break
            kind = "string" if c == "'" else "ident"
            out.append(_Tok(kind, sql[i + 1 : j - 1].replace(c + c, c), i, j))
            i = j
        elif c == "[":
            j = sql.find("]", i)
            j = n if j < 0 else j + 1
            out.append(_Tok("ident", sql[i + 1 : j - 1], i, j))
            i = j
        elif c == ";":
            out.append(_Tok("semi", c, i, i + 1))
            i += 1
        elif c.isalnum() or c in "_$" or ord(c) > 127:
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] in "_$" or ord(sql[j]) > 127):
                j += 1
            out.append(_Tok("word", sql[i:j], i, j))
            i = j
        else:
            out.append(_Tok("punct", c, i, i + 1))
            i += 1
    return out


def _check_clock(toks: list[_Tok]) -> None:
    """Refuse reads of the real clock: a replay of the same SQL must give the same rows."""
    msg = (
        "refused: {what} reads the real clock or time zone; the game replays your SQL exactly, "
        "so use a fixed timestamp such as '2024-05-01 12:00:00'"
    )
    for k, t in enumerate(toks):
        if t.kind == "string" and t.text.strip().lower() in _CLOCK_WORDS:
            raise SqlError(msg.format(what=repr(t.text)))
        if (
            t.kind == "word"
            and t.text.lower() in (_CLOCK_FUNCS | {"strftime"})
            and k + 1 < len(toks)
            and toks[k + 1].text == "("
        ):
            args = _count_args(toks, k + 1)
            needed = 2 if t.text.lower() == "strftime" else 1
            if args is not None and args < needed:
                raise SqlError(msg.format(what=f"{t.text.lower()}() without a time value"))


def _count_args(toks: list[_Tok], open_at: int) -> int | None:
    """How many arguments the call whose "(" is at `open_at` has; None if it is not closed."""
    depth = 0
    commas = 0
    empty = True
    for t in toks[open_at:]:
        if t.kind == "punct" and t.text == "(":
            depth += 1
            if depth > 1:
                empty = False
        elif t.kind == "punct" and t.text == ")":
            depth -= 1
            if depth == 0:
                return 0 if empty else commas + 1
        else:
            empty = False
            if depth == 1 and t.kind == "punct" and t.text == ",":
                commas += 1
    return None


# ------------------------------------------------------------- rendering
def _width(s: str) -> int:
    w = 0
    for ch in s:
        if unicodedata.combining(ch):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


def _clip(s: str, width: int) -> str:
    """`s` cut to `width` display columns, ending in "…" when cut."""
    if _width(s) <= width:
        return s
    if width <= 0:
        return ""
    out: list[str] = []
    used = 0
    for ch in s:
        w = (
            0
            if unicodedata.combining(ch)
            else (2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1)
        )
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


_CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {9: "\\t", 10: "\\n", 13: "\\r", 127: "\\x7f"}


def _cell(v: object, limit: int = 1_000) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bytes):
        head = v[:64].hex()
        return f"x'{head}…'" if len(v) > 64 else f"x'{head}'"
    if isinstance(v, float):
        return repr(v)
    s = str(v)
    if len(s) > limit:
        s = s[:limit] + "…"
    return s.translate(_CONTROL)


def _plural(n: int, word: str = "row") -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _footer(r: QueryResult) -> str:
    if r.committed:
        if not r.total_rows:
            return "nothing to commit: no write is pending"
        return "committed: " + _change_words(r.changes, "changed", "no rows changed")
    if r.kind == "write":
        after = "; `sql commit` to apply, `sql rollback` to discard"
        if not r.changes:
            return "preview: schema change" + after
        return (
            "preview: " + _change_words(r.changes, "would change", "no rows would change") + after
        )
    total = f"{r.total_rows:,}+" if r.total_capped else f"{r.total_rows:,}"
    if r.truncated or r.total_capped:
        return f"{len(r.rows):,} of {total} rows shown"
    return _plural(r.total_rows)


def _change_words(changes: dict[str, int], verb: str, none: str) -> str:
    items = sorted(changes.items())
    if len(items) == 1:
        table, n = items[0]
        return f"{none} in {table}" if n == 0 else f"{_plural(n)} {verb} in {table}"
    if not any(n for _, n in items):
        return none
    return f"rows {verb} in " + ", ".join(f"{t} ({n:,})" for t, n in items)


def render_table(result: QueryResult, width: int = 120) -> str:
    """A plain-text table of `result` (psql style) at most `width` columns wide, then a summary line."""
    lines: list[str] = []
    if result.columns:
        cols = result.columns
        cells = [[_cell(v) for v in row] for row in result.rows]
        numeric = [
            bool(result.rows)
            and all(
                row[i] is None or (isinstance(row[i], int | float) and not isinstance(row[i], bool))
                for row in result.rows
            )
            for i in range(len(cols))
        ]
        natural = [max([_width(c)] + [_width(row[i]) for row in cells]) for i, c in enumerate(cols)]
        room = max(width - 3 * (len(cols) - 1), len(cols))
        widths = _fit(natural, room)

        def line(values: list[str]) -> str:
            parts = []
            for i, v in enumerate(values):
                v = _clip(v, widths[i])
                pad = " " * (widths[i] - _width(v))
                parts.append(pad + v if numeric[i] else v + pad)
            return _clip(" | ".join(parts).rstrip(), width)

        lines.append(line(list(cols)))
        lines.append(_clip("-+-".join("-" * w for w in widths), width))
        lines.extend(line(row) for row in cells)
    lines.append(_footer(result))
    return "\n".join(lines)


def _fit(natural: list[int], room: int) -> list[int]:
    """Column widths: natural ones if they fit, else the widest ones cut down to a common cap."""
    if sum(natural) <= room:
        return natural
    lo, hi = 1, max(natural)
    while lo < hi:  # the largest cap whose total fits
        mid = (lo + hi + 1) // 2
        if sum(min(w, mid) for w in natural) <= room:
            lo = mid
        else:
            hi = mid - 1
    return [min(w, max(lo, 1)) for w in natural]
