"""The SQL console's sandbox: a player's SQL against the application database, and nothing else.

The connection opens only the application database file. Every statement is
compiled under an allow-list authorizer (`sqlauth`), runs under SQLite limits,
and is stopped by a step budget counted in VM instructions (so a replay stops at
the same row) and by the guards of `sqlguard`: a deadline (the statement's own CPU time) enforced
with `Connection.interrupt()` from a timer thread, a cap on what a transaction
may add to the database files, and guarded versions of the few built-ins whose
one call can run long. Writes are previewed: run inside a transaction, measured
(rows changed per table) and rolled back, then kept as pending until the player
commits them (all re-run in one transaction) or discards them. No transaction is
ever held open between calls, because the simulation writes the same file
through its own connection between player commands.

Always refused: ATTACH / DETACH (and so VACUUM, which attaches), every PRAGMA
statement, CREATE TRIGGER, ANALYZE, REINDEX, transaction statements typed by the
player (the console manages transactions: `sql commit` / `sql rollback`), and
reading any database other than `main` (`temp` included). The wall clock is
refused too: the literals 'now' and 'localtime', and the date and time
functions called without a time value.

Limits (each stops the statement with a "stopped:" message and changes nothing):
statements up to `max_sql_chars`; values up to `max_value_bytes`; rows up to
`max_row_bytes` and at most 100 columns; rows kept for display up to
`max_rows` and 16 MB, rows read (counted) up to `COUNT_CAP` and
`max_read_bytes` (past those the count is a floor); a transaction's growth of the files up to `max_growth_bytes`;
each statement's run time up to `deadline_s` seconds; bounded expression depth,
compound selects, LIKE patterns and program size.

Only the standard library's sqlite3 is used here.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from oncall_dojo.sim.errors import InvariantFailed
from oncall_dojo.sim.sqlauth import SCHEMA_TABLES, WARM_UP, Auth, Gate
from oncall_dojo.sim.sqlguard import Guarded, Watch, size_of
from oncall_dojo.sim.sqlrender import COUNT_CAP, QueryResult, render_table
from oncall_dojo.sim.sqltext import Cancelled, Checked, SqlError, check

__all__ = [
    "COUNT_CAP",
    "Cancelled",
    "QueryResult",
    "Sandbox",
    "SqlError",
    "count_rows",
    "render_table",
]

_Checked = Checked  # the name the tests and older callers know
_PROGRESS_EVERY = 1_000
"""VM instructions between two calls of the progress handler (the budget's granularity)."""
_MAX_KEPT_BYTES = 16 * 1024 * 1024
"""Text and blob bytes kept in the rows of one result; later rows are counted, not kept."""
_MAX_COLUMNS = 100
A = sqlite3
CANCELLED = "stopped: cancelled before it finished; nothing was changed"


@dataclass
class _Outcome:
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    total: int = 0
    capped: bool = False
    truncated: bool = False
    steps: int = 0
    auth: Auth = field(default_factory=Auth)


def _row_bytes(row: tuple[Any, ...]) -> int:
    return sum(len(v) if isinstance(v, str | bytes) else 8 for v in row)


class Sandbox:
    """A player's window onto the application database: one statement at a time, previewed writes."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        writable: Iterable[str] = (),
        allow_schema: bool = False,
        max_sql_chars: int = 10_000,
        max_value_bytes: int = 250_000,
        max_row_bytes: int = 1_000_000,
        max_read_bytes: int = 64 * 1024 * 1024,
        max_growth_bytes: int = 32 * 1024 * 1024,
        step_budget: int | None = 5_000_000,
        deadline_s: float | None = 2.0,
        max_rows: int = 200,
        cancel: threading.Event | None = None,
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
        self.max_row_bytes = max_row_bytes
        self.max_read_bytes = max_read_bytes
        self.max_growth_bytes = max_growth_bytes
        self.step_budget = step_budget
        self.deadline_s = deadline_s
        self.max_rows = max_rows
        self._files = (full, full + "-wal", full + "-journal")
        self._baseline = 0
        self._pending: list[Checked] = []
        self._lock = threading.RLock()
        self._gate = Gate(self.writable, allow_schema)
        self._steps = 0
        self._stopped = False
        self._why: str | None = None
        self._cancel = cancel if cancel is not None else threading.Event()
        """Set by `interrupt`. A sandbox's own is cleared when a statement starts; one given by
        the caller stays set until the caller clears it, so a cancel that comes just before the
        statement starts still stops it (`run` and `commit` then refuse to start)."""
        self._own_cancel = cancel is None
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
            conn.setlimit(A.SQLITE_LIMIT_COLUMN, _MAX_COLUMNS)
            conn.setlimit(A.SQLITE_LIMIT_EXPR_DEPTH, 200)
            conn.setlimit(A.SQLITE_LIMIT_COMPOUND_SELECT, 100)
            conn.setlimit(A.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1_000)
            conn.setlimit(A.SQLITE_LIMIT_VDBE_OP, 250_000)
            conn.setlimit(A.SQLITE_LIMIT_TRIGGER_DEPTH, 1)
            conn.setlimit(A.SQLITE_LIMIT_WORKER_THREADS, 0)
            self._guard = Guarded(conn, max_value_bytes)
            conn.set_authorizer(self._gate)
            conn.set_progress_handler(self._progress, _PROGRESS_EVERY)
        except BaseException:
            conn.close()
            raise
        self._gate.trusted = False

    # ------------------------------------------------------------------ API
    def run(self, sql: str) -> QueryResult:
        """Run one statement: a read returns rows; a write is previewed and kept as pending.

        Pending statements are applied first (and rolled back with the rest), so a run
        sees the database as a commit would leave it, as inside a real transaction.
        """
        with self._lock:
            self._start()
            checked = check(sql, self.max_sql_chars)
            self._begin(checked)
            conn = self._open()
            self._baseline = size_of(self._files)
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
                raise self._failed(e) from None
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
            self._start()
            self._begin(Checked("", "", ""))
            self._open()
            self._baseline = size_of(self._files)
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
                    except Cancelled:
                        raise
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
            except Cancelled:
                self._pending = todo  # cancelled, not failed: the previews wait as they were
                raise
            except sqlite3.Error as e:
                if self._is_cancel(e):
                    self._pending = todo
                    raise self._failed(e) from None
                raise SqlError(f"commit failed, nothing was changed: {self._words(e)}") from None
            finally:
                self._end()
            return QueryResult(
                columns, rows, len(rows), False, changes, "write", committed=True, steps=steps
            )

    def _start(self) -> None:
        if self._own_cancel:
            self._cancel.clear()
        elif self._cancel.is_set():
            raise Cancelled(CANCELLED)

    def interrupt(self) -> None:
        """Stop the statement running now, from another thread or a signal handler (a
        player's cancel key).

        The statement ends with `Cancelled` ("stopped: cancelled ...") and changes nothing;
        previewed writes stay pending. With no statement running it does nothing: the next
        `run` or `commit` starts afresh.
        """
        self._cancel.set()
        conn = self._conn
        if conn is not None:
            conn.interrupt()

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
                self._gate.trusted = True
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                conn.close()
                self._guard.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- checking
    def _check(self, sql: str) -> Checked:
        return check(sql, self.max_sql_chars)

    # ------------------------------------------------------------ execution
    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise SqlError("the SQL console is closed")
        return self._conn

    def _internal(self, sql: str) -> list[tuple[Any, ...]]:
        """A statement of the sandbox itself (not the player's), so not judged or counted."""
        conn = self._open()
        self._gate.trusted = True
        try:
            return conn.execute(sql).fetchall()
        finally:
            self._gate.trusted = False

    def _prepare_context(self) -> None:
        """Set up the table functions and take the list of readable tables."""
        for sql in WARM_UP:
            self._internal(sql)
        names = self._internal(
            "SELECT name FROM main.sqlite_schema WHERE type IN ('table', 'view')"
        )
        self._gate.tables = frozenset(str(r[0]) for r in names) | SCHEMA_TABLES

    def _begin(self, checked: Checked) -> None:
        self._gate.begin(checked)
        self._guard.reset()
        self._steps = 0
        self._stopped = False
        self._cancelled = False
        self._why = None

    def _watch(self) -> Watch:
        return Watch(
            self._open(), self.deadline_s, self._files, self._baseline, self.max_growth_bytes
        )

    def _compile(self, checked: Checked) -> Auth:
        """Compile without running (EXPLAIN) to learn what the statement would do."""
        conn = self._open()
        self._begin(checked)
        watch = self._watch()
        try:
            with watch:
                conn.execute("EXPLAIN " + checked.statement).close()
        except (sqlite3.Error, sqlite3.Warning) as e:
            self._why = watch.reason
            raise self._failed(e) from None
        except (ValueError, OverflowError, MemoryError) as e:
            raise SqlError(f"error: {e}") from None
        return self._gate.auth

    def _execute(self, checked: Checked, *, read: bool) -> _Outcome:
        """Run the statement; a read is counted up to COUNT_CAP, a write runs to its end."""
        conn = self._open()
        self._begin(checked)
        out = _Outcome()
        kept_bytes = read_bytes = 0
        cur: sqlite3.Cursor | None = None
        watch = self._watch()
        try:
            with watch:
                cur = conn.execute(checked.statement)
                out.columns = [d[0] for d in cur.description or ()]
                while True:
                    try:
                        row = cur.fetchone()  # one at a time: a row may be a megabyte
                    except sqlite3.Error:
                        if read and self._stopped and len(out.rows) >= self.max_rows:
                            out.capped = True  # the rows shown are complete; only the count stopped
                            break
                        raise
                    if row is None:
                        break
                    if read and out.total == COUNT_CAP:
                        out.capped = True
                        break
                    size = _row_bytes(row)
                    if size > self.max_row_bytes:
                        raise SqlError(
                            f"stopped: a row of {size:,} bytes is over the limit of "
                            f"{self.max_row_bytes:,}; select fewer or shorter columns"
                        )
                    read_bytes += size
                    if read and read_bytes > self.max_read_bytes:
                        out.capped = True  # rows are kept only up to 16 MB: the count stops here
                        break
                    out.total += 1
                    if len(out.rows) < self.max_rows and kept_bytes <= _MAX_KEPT_BYTES:
                        out.rows.append(row)
                        kept_bytes += size
                    del row
            if size_of(self._files) - self._baseline > self.max_growth_bytes:
                self._why = "growth"  # a write too quick for the watch to see it grow
                raise SqlError(self._words(sqlite3.OperationalError("interrupted")))
        except (sqlite3.Error, sqlite3.Warning) as e:
            self._why = watch.reason
            raise self._failed(e) from None
        except (ValueError, OverflowError) as e:
            raise SqlError(f"error: {e}") from None
        except MemoryError:
            raise SqlError("stopped: the query ran out of memory") from None
        finally:
            if cur is not None:
                cur.close()
        out.truncated = len(out.rows) < out.total or out.capped
        out.steps = self._steps
        out.auth = self._gate.auth
        return out

    def _run_pending(self, p: Checked) -> tuple[dict[str, int], int]:
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
            except Cancelled:
                raise
            except SqlError as e:
                raise SqlError(
                    f"pending statement {i} no longer runs ({e.message}); "
                    "`sql rollback` discards the pending statements"
                ) from None

    @staticmethod
    def _changes(auth: Auth, n: int) -> dict[str, int]:
        if not auth.writes:
            return {}
        # A statement writes one table: no triggers, no foreign key actions.
        return {min(auth.writes): n}

    def _end(self) -> None:
        """Never leave a transaction open between calls."""
        conn = self._conn
        if conn is not None and conn.in_transaction:
            self._internal("ROLLBACK")

    def _is_cancel(self, e: Exception) -> bool:
        """A cancel asked for while the statement ran. The interrupt can land in the sandbox's
        own set-up of the statement (the table functions' warm-up), where SQLite reports it
        as that step's failure ("vtable constructor failed: json_each"), not as an interrupt."""
        return self._cancelled or self._cancel.is_set()

    def _failed(self, e: Exception) -> SqlError:
        """The error to raise for `e`: `Cancelled` when the player cancelled the statement."""
        if self._is_cancel(e) and not self._gate.auth.refusal and not self._guard.refusal:
            return Cancelled(CANCELLED)
        return SqlError(self._words(e))

    def _words(self, e: Exception) -> str:
        name = getattr(e, "sqlite_errorname", "")
        text = str(e)
        if self._gate.auth.refusal:  # a denial always ends in an error, whatever its text
            return self._gate.auth.refusal
        if self._guard.refusal:
            return self._guard.refusal
        if self._is_cancel(e):
            return CANCELLED
        if self._why == "deadline":
            return (
                f"stopped: the statement ran past its deadline of {self.deadline_s:g} s; "
                "narrow it with WHERE or LIMIT, or work on shorter values"
            )
        if self._why == "growth":
            return (
                f"stopped: the change would add more than {self.max_growth_bytes // 2**20:,} MB "
                "to the database; change fewer rows at a time or write shorter values"
            )
        if self._stopped or name == "SQLITE_INTERRUPT" or text == "interrupted":
            return (
                f"stopped: the query ran past its budget of {self.step_budget or 0:,} steps; "
                "narrow it with WHERE or LIMIT"
            )
        if name == "SQLITE_TOOBIG" or "too big" in text:
            return (
                f"stopped: a value would be larger than the limit of {self.max_value_bytes:,} bytes"
            )
        if "too many columns" in text:
            return f"refused: at most {_MAX_COLUMNS} columns"
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
            return "refused: ATTACH is not allowed in the console: it reaches only the application database"
        return text

    # ----------------------------------------------------------- callbacks
    def _progress(self) -> int:
        if self._gate.trusted:
            return 0
        if self._cancel.is_set():
            self._cancelled = True
            return 1
        self._steps += _PROGRESS_EVERY
        if self.step_budget is not None and self._steps > self.step_budget:
            self._stopped = True
            return 1
        return 0


def count_rows(box: Sandbox, sql: str) -> int:
    """How many rows a read-only query returns (an invariant's violations), under `box`'s limits.

    Raises InvariantFailed when the query fails, is refused or runs past the deadline.
    """
    body = sql.strip().rstrip(";").strip()
    try:
        res = box.run(f"SELECT count(*) FROM (\n{body}\n)")
    except SqlError as e:
        raise InvariantFailed(sql, e.message) from None
    if res.kind != "read" or not res.rows:
        raise InvariantFailed(sql, "not a query")
    return int(res.rows[0][0] or 0)
