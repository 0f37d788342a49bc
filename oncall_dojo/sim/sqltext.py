"""The SQL console's text checks: refusals that need only the statement's text.

The authorizer (in `sqlauth`) is the real gate; these checks come first only to refuse in
better words, and to cut the text at its one statement. The lexer follows SQLite's lexical
structure closely enough to find statement ends, keywords and literals.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Cancelled", "Checked", "SqlError", "check"]


class SqlError(Exception):
    """A statement refused, stopped or failed; the message is in plain words for the player.

    Messages start with "refused:" (not allowed in the console), "stopped:" (a limit was
    reached while running) or are SQLite's own (e.g. `no such table: x`). Nothing was
    changed in the application database.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Cancelled(SqlError):
    """The player cancelled the statement while it ran (`Sandbox.interrupt`): it changed
    nothing, and previewed writes are kept as they were. Not a refusal of the statement, so
    the callers that turn `SqlError` into a refusal let this one through."""


TRANSACTION_WORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})
SCHEMA_WORDS = frozenset({"CREATE", "ALTER", "DROP"})
_OBJECT_WORDS = frozenset({"TABLE", "INDEX", "VIEW", "TRIGGER", "COLUMN"})
READ_WORDS = frozenset({"SELECT", "WITH", "VALUES", "EXPLAIN"})
ONLY_APP_DB = "is not allowed in the console: it reaches only the application database"
TRANSACTIONS_MSG = (
    "refused: the console manages transactions itself: a write is previewed first, "
    "then `sql commit` applies it and `sql rollback` discards it"
)
_CLOCK_FUNCS = frozenset({"date", "time", "datetime", "julianday", "unixepoch", "timediff"})
_CLOCK_WORDS = frozenset({"now", "localtime"})


@dataclass
class _Tok:
    kind: str  # "word" | "string" | "ident" | "semi" | "punct"
    text: str
    start: int
    end: int


@dataclass
class Checked:
    statement: str
    """The statement, without the semicolon that ends it and anything after that."""
    head: str
    """The first keyword, upper-cased ("" when the statement starts with a symbol)."""
    phrase: str
    """The opening keywords of a schema statement ("CREATE UNIQUE INDEX"), else the verb."""
    inner: str = ""
    """For EXPLAIN [QUERY PLAN] X: the first keyword of X; else empty."""

    @property
    def explain(self) -> bool:
        return self.head == "EXPLAIN"

    @property
    def verb(self) -> str:
        """The first keyword of the statement that would run (EXPLAIN looked through)."""
        return self.inner or self.head


def check(sql: str, max_chars: int) -> Checked:
    """Refusals that need only the text, in better words than the authorizer's."""
    if len(sql) > max_chars:
        raise SqlError(
            f"refused: the statement is {len(sql):,} characters; the limit is {max_chars:,}"
        )
    toks = _tokens(sql)
    if not any(t.kind != "semi" for t in toks):
        raise SqlError("nothing to run: type a SQL statement")
    first_semi = next((i for i, t in enumerate(toks) if t.kind == "semi"), len(toks))
    if first_semi == 0:
        raise SqlError("refused: one statement at a time (this text starts with ';')")
    words = [t.text.upper() for t in toks[: min(8, first_semi)] if t.kind == "word"]
    head = toks[0].text.upper() if toks[0].kind == "word" else ""
    inner = ""
    rest_words = words
    if head == "EXPLAIN":
        rest_words = words[1:]
        if rest_words[:2] == ["QUERY", "PLAN"]:
            rest_words = rest_words[2:]
        inner = rest_words[0] if rest_words else ""
    verb = inner or head
    phrase = verb
    if verb in SCHEMA_WORDS:
        for w in rest_words[1:4]:
            phrase += " " + w
            if w in _OBJECT_WORDS:
                break
    # A trigger's body holds semicolons of its own: refuse it before looking for a second statement.
    if verb == "CREATE" and "TRIGGER" in rest_words[1:4]:
        raise SqlError("refused: CREATE TRIGGER is not allowed in the console")
    if verb in TRANSACTION_WORDS:
        raise SqlError(TRANSACTIONS_MSG)
    if verb == "PRAGMA":
        raise SqlError(
            "refused: PRAGMA is not allowed in the console "
            "(to list a table's columns: SELECT * FROM pragma_table_info('orders'))"
        )
    if verb in {"ATTACH", "DETACH"}:
        raise SqlError(f"refused: {verb} {ONLY_APP_DB}")
    if verb in {"VACUUM", "ANALYZE", "REINDEX"}:
        raise SqlError(f"refused: {verb} is not allowed in the console")
    end = first_semi
    rest = [t for t in toks[end:] if t.kind != "semi"]
    if rest:
        second = sql[rest[0].start :].strip().splitlines()[0][:40]
        raise SqlError(f"refused: one statement at a time (a second one starts at {second!r})")
    _check_clock(toks[:end])
    statement = sql[: toks[end].start] if end < len(toks) else sql
    return Checked(statement.strip(), head, phrase, inner)


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
