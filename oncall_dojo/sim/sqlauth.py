"""The SQL console's authorizer: what a player's statement may touch, judged as it compiles.

Allowed (everything else is refused):

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
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from oncall_dojo.sim.sqltext import (
    ONLY_APP_DB,
    READ_WORDS,
    SCHEMA_WORDS,
    TRANSACTIONS_MSG,
    Checked,
)

__all__ = ["SCHEMA_TABLES", "TABLE_FUNCS", "Auth", "Gate"]

SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema"})
_PRAGMA_FUNCS = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
TABLE_FUNCS = frozenset({"json_each", "json_tree"} | {f"pragma_{p}" for p in _PRAGMA_FUNCS})
WARM_UP = tuple(
    [f"SELECT 1 FROM {name}('[]') LIMIT 0" for name in ("json_each", "json_tree")]
    + [f"SELECT 1 FROM pragma_{p}('') LIMIT 0" for p in sorted(_PRAGMA_FUNCS)]
)
"""Table functions are set up on first use by an internal write to sqlite_schema; doing that
under the sandbox's own authority keeps the player's authorizer free of such exceptions."""
_FUNCS_LIST = "available: " + ", ".join(sorted(TABLE_FUNCS))
_ESCAPE_FUNCS = frozenset({"load_extension", "fts3_tokenizer"})
_RANDOM_FUNCS = frozenset(
    {"random", "randomblob", "current_date", "current_time", "current_timestamp"}
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


@dataclass
class Auth:
    """What the authorizer saw while one statement compiled."""

    refusal: str | None = None
    writes: set[str] = field(default_factory=set)
    schema: bool = False
    table_funcs: set[str] = field(default_factory=set)


@dataclass
class Gate:
    """The authorizer of one sandbox connection; `trusted` lets the sandbox's own statements by."""

    writable: frozenset[str]
    allow_schema: bool
    trusted: bool = True
    current: Checked = field(default_factory=lambda: Checked("", "", ""))
    auth: Auth = field(default_factory=Auth)
    tables: frozenset[str] = frozenset()

    def begin(self, checked: Checked) -> None:
        self.auth = Auth()
        self.current = checked

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
    ) -> int:
        if self.trusted:
            return A.SQLITE_OK
        try:
            refusal = self._judge(action, arg1, arg2, db, src)
        except Exception:  # a bug here must deny, never allow
            refusal = "refused: not allowed in the console"
        if refusal is None:
            return A.SQLITE_OK
        if self.auth.refusal is None:
            self.auth.refusal = refusal
        return A.SQLITE_DENY

    def _judge(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
    ) -> str | None:
        """None when allowed, else the refusal in words."""
        cur = self.current
        schema_ctx = self.allow_schema and cur.verb in SCHEMA_WORDS
        if action in (A.SQLITE_SELECT, A.SQLITE_RECURSIVE):
            return None
        if action == A.SQLITE_READ:
            table, column = arg1 or "", arg2
            if table in TABLE_FUNCS and db in (None, "main"):
                self.auth.table_funcs.add(table)
                return None
            if db is None and column == "":
                # A table used without reading a column (count(*)): a table of main, a CTE
                # or a subquery. Nothing of SQLite's own is reachable this way.
                special = table.startswith(("sqlite_", "pragma_")) or table == "dbstat"
                if table in self.tables or not special:
                    return None
                return f"refused: {table} cannot be read from the console"
            if db == "temp" and table == "sqlite_temp_master" and schema_ctx:
                return None  # ALTER TABLE looks through the (empty) temp schema too
            if db != "main":
                return f"refused: only the application database can be read, not {db!r}"
            if table in self.tables:
                return None
            return f"refused: {table} cannot be read from the console"
        if action in _WRITE_ACTIONS:
            table = arg1 or ""
            if table in SCHEMA_TABLES or table == "sqlite_temp_master":
                if schema_ctx and db == "main" and table in SCHEMA_TABLES:
                    return None  # the schema change's own bookkeeping
                if schema_ctx and db == "temp" and action == A.SQLITE_UPDATE:
                    return None  # ALTER TABLE ... RENAME rewrites references in temp too
                if cur.verb in SCHEMA_WORDS and not self.allow_schema:
                    return (
                        f"refused: schema changes ({cur.phrase}) are not allowed in this incident"
                    )
                if cur.verb in SCHEMA_WORDS:
                    return f"refused: {cur.phrase} is not allowed in the console"
                if cur.verb in READ_WORDS:  # a table function's set-up writes the schema
                    return f"refused: that table function is not available in the console ({_FUNCS_LIST})"
                return f"refused: table {table} is read-only in this incident"
            if src is not None:
                return f"refused: the statement would fire trigger {src}, which the console does not run"
            if db == "main" and table in self.writable:
                self.auth.writes.add(table)
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
            return TRANSACTIONS_MSG
        if action == A.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if f"pragma_{name}" in self.auth.table_funcs and name in _PRAGMA_FUNCS:
                if db in (None, "main"):
                    return None
                return f"refused: pragma_{name} can only look at the application database (main)"
            return "refused: PRAGMA is not allowed in the console"
        if action in _SCHEMA_ACTIONS:
            where = arg1 if action == A.SQLITE_ALTER_TABLE else db
            word = _ACTION_WORDS[action]
            if schema_ctx and where == "main":
                self.auth.schema = True
                return None
            if self.allow_schema:
                return f"refused: {word} is allowed on the application database only"
            return f"refused: schema changes ({word}) are not allowed in this incident"
        if action == A.SQLITE_REINDEX and schema_ctx and db == "main":
            return None  # CREATE INDEX fills the new index
        if action in (A.SQLITE_ATTACH, A.SQLITE_DETACH):
            return f"refused: {_ACTION_WORDS[action]} {ONLY_APP_DB}"
        word = _ACTION_WORDS.get(action, f"operation {action}")
        if action in _TRIGGER_ACTIONS:
            return f"refused: {word} is not allowed in the console"
        if word.startswith(("CREATE", "DROP", "ALTER")) and not self.allow_schema:
            return f"refused: schema changes ({word}) are not allowed in this incident"
        return f"refused: {word} is not allowed in the console"
