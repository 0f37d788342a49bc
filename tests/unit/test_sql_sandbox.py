"""The SQL console's sandbox: escapes and abuse are refused or stopped, legitimate SQL works.

Each abuse case runs against a small application database beside a stand-in for the
game's own database, and afterwards both files (and the directory holding them) are
byte-for-byte what they were.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from oncall_dojo.sim import sqlrender, sqlsandbox
from oncall_dojo.sim.sqlsandbox import COUNT_CAP, QueryResult, Sandbox, SqlError, render_table

WRITABLE = ("payments", "refunds", "ledger_entries")

SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, country TEXT NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, total_cents INTEGER,
                     currency TEXT, status TEXT NOT NULL);
CREATE TABLE payments (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, amount_cents INTEGER NOT NULL,
                       status TEXT NOT NULL, idempotency_key TEXT);
CREATE TABLE refunds (id INTEGER PRIMARY KEY, payment_id INTEGER NOT NULL, amount_cents INTEGER NOT NULL);
CREATE TABLE ledger_entries (id INTEGER PRIMARY KEY, order_id INTEGER, kind TEXT NOT NULL,
                             amount_cents INTEGER NOT NULL);
CREATE UNIQUE INDEX payments_key ON payments(idempotency_key);
CREATE INDEX orders_customer ON orders(customer_id);
INSERT INTO customers VALUES
  (1, 'Ada Lovelace', 'ada@example.com', 'GB'), (2, 'Bo Diddley', NULL, 'US'),
  (3, 'Chi Chi', 'chi@example.com', 'US'), (4, 'Dee Dee', 'dee@example.com', 'DE'),
  (5, 'Ed Edd', 'ed@example.com', 'FR');
INSERT INTO orders VALUES
  (1, 1, 1000, 'GBP', 'paid'), (2, 1, 2500, 'GBP', 'paid'), (3, 2, 700, 'USD', 'paid'),
  (4, 3, 150, 'USD', 'refunded'), (5, 3, 9900, NULL, 'paid'), (6, 4, 4200, 'EUR', 'paid'),
  (7, 5, 1250, 'EUR', 'pending'), (8, 5, 300, 'EUR', 'paid');
INSERT INTO payments VALUES
  (1, 1, 1000, 'succeeded', 'k1'), (2, 1, 1000, 'succeeded', 'k1-retry'), (3, 2, 2500, 'succeeded', 'k2'),
  (4, 3, 700, 'succeeded', 'k3'), (5, 3, 700, 'succeeded', 'k3-retry'), (6, 4, 150, 'succeeded', 'k4'),
  (7, 5, 9900, 'succeeded', 'k5'), (8, 6, 4200, 'succeeded', 'k6'), (9, 8, 300, 'failed', 'k8');
INSERT INTO refunds VALUES (1, 6, 150);
INSERT INTO ledger_entries VALUES
  (1, 1, 'charge', 1000), (2, 1, 'charge', 1000), (3, 2, 'charge', 2500), (4, 3, 'charge', 700),
  (5, 3, 'charge', 700), (6, 4, 'charge', 150), (7, 4, 'refund', -150), (8, 5, 'charge', 9900),
  (9, 6, 'charge', 4200);
"""

RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def make_app_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.commit()
    conn.close()
    return path


def make_game_db(path: Path) -> Path:
    """A stand-in for the game's own store: scores, sessions, the incident's answers."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE players (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE scores (player_id INTEGER, incident TEXT, points INTEGER);
        CREATE TABLE answers (incident TEXT, root_cause TEXT);
        INSERT INTO players VALUES (1, 'tester');
        INSERT INTO scores VALUES (1, 'duplicate-charges', 87);
        INSERT INTO answers VALUES ('duplicate-charges', 'retry without idempotency key');
        """
    )
    conn.commit()
    conn.close()
    return path


def digest(folder: Path) -> dict[str, str]:
    """Every file in `folder` with the sha256 of its bytes."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def dbs(tmp_path: Path) -> tuple[Path, Path]:
    """(application database, game database), side by side in one folder."""
    return make_app_db(tmp_path / "app.db"), make_game_db(tmp_path / "game.db")


@pytest.fixture
def app(dbs: tuple[Path, Path]) -> Path:
    return dbs[0]


@pytest.fixture
def sb(app: Path) -> Iterator[Sandbox]:
    box = Sandbox(app, writable=WRITABLE)
    yield box
    box.close()


def refused(box: Sandbox, sql: str) -> str:
    with pytest.raises(SqlError) as info:
        box.run(sql)
    message = info.value.message
    assert "Traceback" not in message and "sqlite3." not in message
    return message


# ------------------------------------------------------------------ abuse corpus
def corpus(tmp: Path) -> list[tuple[str, str]]:
    """(statement, words the refusal must contain)."""
    game = tmp / "game.db"
    stolen = tmp / "stolen.db"
    attach = "refused: ATTACH is not allowed"
    pragma = "refused: PRAGMA is not allowed"
    tx = "`sql commit`"
    schema = "refused: schema changes"
    stopped = "stopped: the query ran past its budget of 5,000,000 steps"
    too_big = "stopped: a value would be larger than the limit of 250,000 bytes"
    replay = "the game replays your SQL exactly"
    return [
        # reaching the game's database
        (f"ATTACH DATABASE '{game}' AS g", attach),
        (f"attach '{game}' as g", attach),
        (f"ATTACH 'file:{game}?mode=rw' AS g", attach),
        (f"ATTACH 'file:{game}?mode=ro&immutable=1' AS g", attach),
        (f"/* looks harmless */ ATTACH '{game}' AS g", attach),
        (f"-- comment\n  ATTACH '{game}' AS g", attach),
        ("DETACH DATABASE main", "refused: DETACH is not allowed"),
        (f"VACUUM INTO '{stolen}'", "refused: VACUUM is not allowed"),
        ("VACUUM", "refused: VACUUM is not allowed"),
        # PRAGMA in every form
        ("PRAGMA writable_schema=1", pragma),
        ("PRAGMA writable_schema=ON", pragma),
        ("pragma journal_mode=OFF", pragma),
        ("PRAGMA main.user_version = 7", pragma),
        ("PRAGMA database_list", pragma),
        ("PRAGMA table_info(orders)", pragma),
        ("SELECT * FROM pragma_database_list", "table function is not available"),
        ("SELECT * FROM pragma_compile_options", "table function is not available"),
        ("SELECT * FROM pragma_table_info('sqlite_temp_master', 'temp')", "application database"),
        ("SELECT count(*) FROM pragma_index_list('orders', 'temp')", "application database"),
        ("SELECT * FROM dbstat", "table function is not available"),
        ("SELECT sql FROM sqlite_stmt", "table function is not available"),
        # extensions
        ("SELECT load_extension('x')", "refused: load_extension() is not allowed"),
        ("SELECT LOAD_EXTENSION('/tmp/evil.so', 'sqlite3_evil_init')", "load_extension()"),
        ("SELECT fts3_tokenizer('simple')", "refused: fts3_tokenizer() is not allowed"),
        # other databases' schemas
        ("SELECT * FROM temp.sqlite_master", "only the application database can be read"),
        ("SELECT sql FROM temp.sqlite_schema", "only the application database can be read"),
        ("SELECT * FROM sqlite_temp_master", "only the application database can be read"),
        ("SELECT count(*) FROM sqlite_temp_master", "refused: sqlite_temp_master cannot be read"),
        ("SELECT * FROM g.sqlite_master", "g.sqlite_master"),
        # triggers and schema changes
        (
            "CREATE TRIGGER t AFTER INSERT ON payments BEGIN DELETE FROM customers; END",
            "refused: CREATE TRIGGER is not allowed",
        ),
        (
            "create temp trigger t after insert on payments begin select 1; end",
            "refused: CREATE TRIGGER is not allowed",
        ),
        ("CREATE TABLE loot (x)", schema),
        ("CREATE TABLE loot AS SELECT * FROM customers", schema),
        ("DROP TABLE customers", schema),
        ("DROP INDEX payments_key", schema),
        ("ALTER TABLE orders ADD COLUMN note TEXT", schema),
        ("ALTER TABLE orders RENAME TO orders_old", schema),
        ("CREATE INDEX i ON orders(status)", schema),
        ("CREATE VIEW v AS SELECT 1", schema),
        ("CREATE TEMP TABLE scratch (x)", schema),
        ("CREATE VIRTUAL TABLE f USING fts5(x)", schema),
        ("ANALYZE", "refused: ANALYZE is not allowed"),
        ("REINDEX", "refused: REINDEX is not allowed"),
        # runaway and huge
        (RUNAWAY, stopped),
        (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
            "SELECT max(x) FROM c WHERE x % 7 = 3",
            stopped,
        ),
        (
            "SELECT count(*) FROM orders a, orders b, orders c, orders d, orders e, orders f, orders g, orders h",
            stopped,
        ),
        ("SELECT zeroblob(2000000000)", too_big),
        ("SELECT length(zeroblob(2000000000))", too_big),
        ("SELECT replace(printf('%.*c', 900000, 'a'), 'a', 'ab')", too_big),
        ("SELECT group_concat(printf('%.*c', 600000, 'a')) FROM orders", too_big),
        ("SELECT randomblob(2000000000)", "refused: randomblob is not allowed"),
        (
            "SELECT " + "1 + " * 3000 + "1",
            "refused: the statement is 12,008 characters; the limit is 10,000",
        ),
        ("SELECT " + "(" * 400 + "1" + ")" * 400, "parser stack overflow"),
        ("SELECT 1" + " + 1" * 300, "Expression tree is too large (maximum depth 200)"),
        # more than one statement
        ("SELECT 1; DROP TABLE customers", "refused: one statement at a time"),
        ("SELECT 1; SELECT 2;", "refused: one statement at a time"),
        (f"SELECT 1;ATTACH '{game}' AS g", "refused: one statement at a time"),
        ("; SELECT 1", "refused: one statement at a time"),
        # transactions typed by the player
        ("BEGIN", tx),
        ("BEGIN IMMEDIATE TRANSACTION", tx),
        ("COMMIT", tx),
        ("END", tx),
        ("ROLLBACK", tx),
        ("SAVEPOINT s1", tx),
        ("RELEASE s1", tx),
        # writes where they are not allowed
        (
            "UPDATE customers SET email = NULL",
            "refused: table customers is read-only in this incident",
        ),
        ("DELETE FROM orders", "refused: table orders is read-only in this incident"),
        ("INSERT INTO customers VALUES (9, 'x', NULL, 'US')", "table customers is read-only"),
        ("REPLACE INTO orders VALUES (1, 1, 0, 'GBP', 'paid')", "table orders is read-only"),
        ("WITH x AS (SELECT 1) UPDATE customers SET name = 'z'", "table customers is read-only"),
        ("UPDATE sqlite_master SET sql = 'x'", "table sqlite_master may not be modified"),
        (
            "INSERT INTO sqlite_master VALUES ('table', 'x', 'x', 0, 'CREATE TABLE x(y)')",
            "read-only",
        ),
        ("INSERT INTO payments SELECT * FROM temp.sqlite_master", "only the application database"),
        # things that would not replay the same
        ("SELECT random()", replay),
        ("SELECT * FROM orders ORDER BY random() LIMIT 2", replay),
        ("SELECT current_timestamp", replay),
        ("SELECT date('now')", "'now' reads the real clock"),
        ("SELECT datetime('2024-01-01', 'localtime')", "'localtime' reads the real clock"),
        ("SELECT julianday()", "julianday() without a time value"),
        ("SELECT strftime('%s')", "strftime() without a time value"),
        (
            "UPDATE payments SET status = 'x' WHERE unixepoch() > 0",
            "unixepoch() without a time value",
        ),
    ]


CORPUS = corpus(Path("/CORPUS"))  # only for the ids; each test builds its own with real paths


@pytest.mark.parametrize("index", range(len(CORPUS)), ids=[c[0][:50] for c in CORPUS])
def test_abuse_is_refused_and_changes_nothing(tmp_path: Path, index: int) -> None:
    app = make_app_db(tmp_path / "app.db")
    make_game_db(tmp_path / "game.db")
    sql, words = corpus(tmp_path)[index]
    before, content = digest(tmp_path), dump(app)
    box = Sandbox(app, writable=WRITABLE)
    try:
        message = refused(box, sql)
        assert words in message, message
        assert box.pending() == []
        # the console still works afterwards, and holds no transaction
        assert box.run("SELECT count(*) FROM customers").rows == [(5,)]
    finally:
        box.close()
    assert digest(tmp_path) == before  # no file added, none changed (game database included)
    assert dump(app) == content


def test_the_authorizer_and_limits_hold_without_the_text_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keyword checks only improve messages: SQLite's own gates refuse the same things."""
    app = make_app_db(tmp_path / "app.db")
    game = make_game_db(tmp_path / "game.db")
    before = digest(tmp_path)
    box = Sandbox(app, writable=WRITABLE)

    def bare(sql: str) -> sqlsandbox._Checked:
        head = sql.split()[0].upper()
        return sqlsandbox._Checked(sql.strip(), head, head)

    monkeypatch.setattr(box, "_check", bare)
    attempts = [
        f"ATTACH '{game}' AS g",
        f"ATTACH 'file:{game}?mode=rw' AS g",
        f"VACUUM INTO '{tmp_path / 'stolen.db'}'",
        "VACUUM",
        "DETACH main",
        "PRAGMA writable_schema=1",
        "PRAGMA table_info(orders)",
        "BEGIN",
        "SAVEPOINT x",
        "CREATE TRIGGER t AFTER INSERT ON payments BEGIN DELETE FROM customers; END",
        "CREATE TABLE loot(x)",
        "ANALYZE",
        "SELECT load_extension('x')",
    ]
    try:
        for sql in attempts:
            with pytest.raises(SqlError):
                box.run(sql)
        assert box.run("EXPLAIN SELECT 1").columns  # EXPLAIN of a read is fine
    finally:
        box.close()
    assert digest(tmp_path) == before


def test_explain_goes_through_the_authorizer(sb: Sandbox) -> None:
    assert "refused: ATTACH" in refused(sb, "EXPLAIN ATTACH 'x.db' AS x")
    assert "refused: PRAGMA" in refused(sb, "EXPLAIN PRAGMA writable_schema=1")
    assert "read-only" in refused(sb, "EXPLAIN DELETE FROM customers")
    plan = sb.run("EXPLAIN QUERY PLAN SELECT * FROM orders WHERE customer_id = 1")
    assert plan.kind == "read" and any("orders_customer" in str(r) for r in plan.rows)
    assert sb.run("EXPLAIN DELETE FROM payments").kind == "read"
    assert sb.pending() == []


def test_runaway_is_stopped_the_same_way_every_time(sb: Sandbox) -> None:
    first = refused(sb, RUNAWAY)
    assert first == refused(sb, RUNAWAY)
    assert first.startswith("stopped: the query ran past its budget of 5,000,000 steps")


def test_a_cancel_from_another_thread_stops_a_slow_statement(sb: Sandbox) -> None:
    slow = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT count(*) FROM c WHERE length(hex(zeroblob(100000 + x % 2))) > 0"
    )
    outcome: list[BaseException | QueryResult] = []

    def work() -> None:
        try:
            outcome.append(sb.run(slow))
        except BaseException as e:
            outcome.append(e)

    t = threading.Thread(target=work)
    t.start()
    while t.is_alive():  # keep asking: the run clears a cancel that arrives before it starts
        sb.interrupt()
        t.join(0.05)
    assert isinstance(outcome[0], SqlError)
    assert outcome[0].message.startswith("stopped: cancelled")
    assert sb.run("SELECT count(*) FROM orders").rows == [(8,)]


def test_a_cancel_that_lands_in_the_statements_set_up_is_told_as_a_cancel(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interrupt can stop the sandbox's own warm-up of the table functions, which SQLite
    reports as that step's failure; the player asked to cancel, and is told so."""
    real = sb._internal

    def interrupted(sql: str) -> list[tuple[object, ...]]:
        if "json_each" in sql:
            sb.interrupt()
            raise sqlite3.OperationalError("vtable constructor failed: json_each")
        return real(sql)

    monkeypatch.setattr(sb, "_internal", interrupted)
    assert refused(sb, "SELECT count(*) FROM orders").startswith("stopped: cancelled")
    monkeypatch.setattr(sb, "_internal", real)
    assert sb.run("SELECT count(*) FROM orders").rows == [(8,)]


# ------------------------------------------------------------------ legitimate SQL
def test_joins_aggregates_and_count_star(sb: Sandbox) -> None:
    r = sb.run("SELECT count(*) FROM orders")
    assert (r.columns, r.rows, r.total_rows, r.kind, r.changes) == (
        ["count(*)"],
        [(8,)],
        1,
        "read",
        {},
    )
    r = sb.run(
        "SELECT c.name, count(*) AS n, sum(o.total_cents) AS cents FROM customers c "
        "JOIN orders o ON o.customer_id = c.id GROUP BY c.id HAVING count(*) > 1 ORDER BY c.id"
    )
    assert r.columns == ["name", "n", "cents"]
    assert r.rows == [("Ada Lovelace", 2, 3500), ("Chi Chi", 2, 10050), ("Ed Edd", 2, 1550)]
    r = sb.run(
        "SELECT order_id, count(*) FROM payments WHERE status = 'succeeded' "
        "GROUP BY order_id HAVING count(*) > 1 ORDER BY order_id"
    )
    assert r.rows == [(1, 2), (3, 2)]
    r = sb.run("SELECT count(*) FROM customers WHERE email IS NULL")
    assert r.rows == [(1,)]
    r = sb.run("SELECT count(*) FROM (SELECT DISTINCT currency FROM orders)")
    assert r.rows == [(4,)]
    r = sb.run(
        "SELECT o.id FROM orders o LEFT JOIN payments p ON p.order_id = o.id WHERE p.id IS NULL"
    )
    assert r.rows == [(7,)]


def test_window_functions(sb: Sandbox) -> None:
    r = sb.run(
        "SELECT id, order_id, row_number() OVER (PARTITION BY order_id ORDER BY id) AS n, "
        "sum(amount_cents) OVER (ORDER BY id) AS running FROM payments WHERE order_id IN (1, 3) ORDER BY id"
    )
    assert r.rows == [(1, 1, 1, 1000), (2, 1, 2, 2000), (4, 3, 1, 2700), (5, 3, 2, 3400)]
    r = sb.run(
        "SELECT id FROM (SELECT id, rank() OVER (PARTITION BY order_id ORDER BY id) AS r FROM payments) "
        "WHERE r > 1"
    )
    assert r.rows == [(2,), (5,)]


def test_with_recursive_and_ctes(sb: Sandbox) -> None:
    r = sb.run(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5) SELECT x FROM c"
    )
    assert r.rows == [(1,), (2,), (3,), (4,), (5,)]
    r = sb.run(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100) SELECT count(*) FROM c"
    )
    assert r.rows == [(100,)]
    r = sb.run(
        "WITH big AS (SELECT * FROM orders WHERE total_cents > 2000) SELECT count(*) FROM big"
    )
    assert r.rows == [(3,)]


def test_schema_is_readable_and_table_functions_work(sb: Sandbox) -> None:
    r = sb.run("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
    assert [n for (n,) in r.rows] == [
        "customers",
        "ledger_entries",
        "orders",
        "payments",
        "refunds",
    ]
    assert sb.run("SELECT count(*) FROM sqlite_master").rows == [(7,)]
    r = sb.run("SELECT name, type FROM pragma_table_info('orders')")
    assert r.rows[:2] == [("id", "INTEGER"), ("customer_id", "INTEGER")]
    assert sb.run("SELECT count(*) FROM pragma_table_info('payments')").rows == [(5,)]
    assert sb.run("SELECT name FROM pragma_index_list('payments')").rows == [("payments_key",)]
    assert sb.run("SELECT value FROM json_each('[3, 4]')").rows == [(3,), (4,)]
    assert sb.run("SELECT datetime('2024-05-01 12:00:00', '+1 day')").rows == [
        ("2024-05-02 12:00:00",)
    ]


def test_the_literal_now_is_refused_even_in_a_comparison(sb: Sandbox) -> None:
    assert "'now'" in refused(sb, "SELECT 1 WHERE 'x' = 'now'")
    assert sb.run("SELECT 'nowhere', \"now\" FROM (SELECT 1 AS now)").rows == [("nowhere", 1)]


def test_update_is_previewed_then_committed(app: Path, sb: Sandbox) -> None:
    content = dump(app)
    sql = "UPDATE payments SET status = 'refunded' WHERE idempotency_key LIKE '%-retry'"
    r = sb.run(sql)
    assert (r.kind, r.changes, r.rows, r.committed) == ("write", {"payments": 2}, [], False)
    assert sb.pending() == [sql]
    assert dump(app) == content  # a preview changes nothing
    # later statements see the pending change, as inside a transaction
    r = sb.run("SELECT id FROM payments WHERE status = 'refunded' ORDER BY id")
    assert r.rows == [(2,), (5,)]
    assert rows(app, "SELECT count(*) FROM payments WHERE status = 'refunded'") == [(0,)]
    done = sb.commit()
    assert (done.kind, done.committed, done.changes) == ("write", True, {"payments": 2})
    assert done.rows == [(sql, 2)]
    assert sb.pending() == []
    assert rows(app, "SELECT id FROM payments WHERE status = 'refunded' ORDER BY id") == [
        (2,),
        (5,),
    ]


def test_delete_is_previewed_then_discarded(app: Path, sb: Sandbox) -> None:
    content = dump(app)
    r = sb.run("DELETE FROM ledger_entries WHERE id IN (2, 5);")
    assert r.changes == {"ledger_entries": 2}
    assert sb.pending() == ["DELETE FROM ledger_entries WHERE id IN (2, 5)"]
    assert sb.run("SELECT count(*) FROM ledger_entries").rows == [(7,)]
    assert sb.discard() == 1
    assert sb.pending() == []
    assert sb.run("SELECT count(*) FROM ledger_entries").rows == [(9,)]
    assert dump(app) == content
    assert sb.discard() == 0


def test_several_pending_statements_commit_together_with_counts_per_table(
    app: Path, sb: Sandbox
) -> None:
    sb.run("DELETE FROM payments WHERE idempotency_key LIKE '%-retry'")
    sb.run(
        "INSERT INTO refunds (payment_id, amount_cents) "
        "SELECT id, amount_cents FROM payments WHERE order_id = 8"
    )
    sb.run("DELETE FROM ledger_entries WHERE id IN (2, 5)")
    r = sb.run("UPDATE ledger_entries SET amount_cents = amount_cents WHERE kind = 'charge'")
    assert r.changes == {"ledger_entries": 6}  # sees the pending delete
    done = sb.commit()
    assert done.changes == {"payments": 2, "refunds": 1, "ledger_entries": 8}
    assert [n for _, n in done.rows] == [2, 1, 2, 6]
    assert rows(app, "SELECT count(*) FROM payments") == [(7,)]
    assert rows(app, "SELECT payment_id, amount_cents FROM refunds ORDER BY id") == [
        (6, 150),
        (9, 300),
    ]
    assert rows(app, "SELECT count(*) FROM ledger_entries") == [(7,)]


def test_insert_select_and_returning(app: Path, sb: Sandbox) -> None:
    r = sb.run(
        "INSERT INTO ledger_entries (order_id, kind, amount_cents) "
        "SELECT order_id, 'refund', -amount_cents FROM payments WHERE idempotency_key LIKE '%-retry' "
        "RETURNING order_id, kind, amount_cents"
    )
    assert r.kind == "write" and r.changes == {"ledger_entries": 2}
    assert r.columns == ["order_id", "kind", "amount_cents"]
    assert r.rows == [(1, "refund", -1000), (3, "refund", -700)]
    assert sb.commit().changes == {"ledger_entries": 2}
    assert rows(app, "SELECT count(*) FROM ledger_entries WHERE kind = 'refund'") == [(3,)]


def test_a_write_that_matches_nothing_is_still_a_write(app: Path, sb: Sandbox) -> None:
    r = sb.run("DELETE FROM payments WHERE id > 1000")
    assert (r.kind, r.changes) == ("write", {"payments": 0})
    assert "no rows would change in payments" in render_table(r)


def test_a_failing_commit_keeps_nothing(app: Path, sb: Sandbox) -> None:
    content = dump(app)
    sb.run("UPDATE payments SET status = 'void' WHERE id = 9")
    sb.run("INSERT INTO payments VALUES (10, 7, 1250, 'succeeded', 'k7')")
    # the simulation takes that key in the meantime, through its own connection
    conn = sqlite3.connect(app)
    conn.execute("INSERT INTO payments VALUES (11, 7, 1250, 'succeeded', 'k7')")
    conn.commit()
    conn.close()
    after_sim = dump(app)
    assert after_sim != content
    with pytest.raises(SqlError) as info:
        sb.commit()
    message = info.value.message
    assert message.startswith("commit failed at statement 2 of 2, nothing was changed")
    assert "UNIQUE constraint failed: payments.idempotency_key" in message
    assert sb.pending() == []
    assert dump(app) == after_sim  # the first statement was rolled back too


def test_a_pending_statement_that_no_longer_runs_is_reported(app: Path, sb: Sandbox) -> None:
    sb.run("INSERT INTO payments VALUES (10, 7, 1250, 'succeeded', 'k7')")
    conn = sqlite3.connect(app)
    conn.execute("INSERT INTO payments VALUES (11, 7, 1250, 'succeeded', 'k7')")
    conn.commit()
    conn.close()
    message = refused(sb, "SELECT 1")
    assert message.startswith("pending statement 1 no longer runs (UNIQUE constraint failed")
    assert "`sql rollback`" in message
    assert sb.discard() == 1
    assert sb.run("SELECT 1").rows == [(1,)]


def test_nothing_to_commit(sb: Sandbox) -> None:
    r = sb.commit()
    assert (r.committed, r.changes, r.rows) == (True, {}, [])
    assert render_table(r).endswith("nothing to commit: no write is pending")


def test_no_transaction_is_held_between_calls(app: Path, sb: Sandbox) -> None:
    sb.run("SELECT * FROM orders")
    sb.run("UPDATE payments SET status = 'x' WHERE id = 1")
    refused(sb, RUNAWAY)
    refused(sb, "UPDATE customers SET name = 'x'")
    other = sqlite3.connect(app, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # would fail with "database is locked" otherwise
        other.execute("INSERT INTO orders VALUES (9, 1, 5, 'GBP', 'paid')")
        other.execute("COMMIT")
    finally:
        other.close()
    assert sb.run("SELECT count(*) FROM orders").rows == [(9,)]
    assert sb.commit().changes == {"payments": 1}


def test_the_simulations_writes_in_wal_mode_are_seen(tmp_path: Path) -> None:
    app = make_app_db(tmp_path / "app.db")
    sim = sqlite3.connect(app, isolation_level=None, check_same_thread=False)
    sim.execute("PRAGMA journal_mode=WAL")
    with Sandbox(app, writable=WRITABLE) as box:
        for i in range(3):
            sim.execute("BEGIN IMMEDIATE")
            sim.execute(f"INSERT INTO payments VALUES ({20 + i}, 7, 1, 'succeeded', 'w{i}')")
            sim.execute("COMMIT")
            # 9 rows, the simulation's new ones, minus the ones whose deletion is pending
            assert box.run("SELECT count(*) FROM payments").rows == [(10,)]
            box.run(f"DELETE FROM payments WHERE id = {20 + i}")
        assert box.commit().changes == {"payments": 3}
    assert sim.execute("SELECT count(*) FROM payments").fetchall() == [(9,)]
    sim.close()


def test_schema_changes_when_the_incident_allows_them(app: Path) -> None:
    with Sandbox(app, writable=("payments",), allow_schema=True) as box:
        r = box.run("CREATE INDEX payments_status ON payments(status)")
        assert (r.kind, r.changes) == ("write", {})
        assert "preview: schema change" in render_table(r)
        box.run("ALTER TABLE payments ADD COLUMN note TEXT")
        box.run("CREATE TABLE payments_backup AS SELECT * FROM payments")
        assert box.run("SELECT count(*) FROM payments_backup").rows == [(9,)]  # sees pending
        box.run("UPDATE payments SET note = 'duplicate' WHERE idempotency_key LIKE '%-retry'")
        assert "DROP TABLE is not allowed" in refused(box, "DROP TABLE payments_backup")
        assert "CREATE VIEW is not allowed" in refused(box, "CREATE VIEW v AS SELECT 1")
        assert "CREATE TRIGGER" in refused(
            box, "CREATE TRIGGER t AFTER DELETE ON payments BEGIN SELECT 1; END"
        )
        assert "CREATE TEMP TABLE is not allowed" in refused(box, "CREATE TEMP TABLE z(x)")
        assert "read-only" in refused(box, "INSERT INTO payments_backup SELECT * FROM payments")
        assert rows(app, "SELECT count(*) FROM sqlite_schema") == [(7,)]
        done = box.commit()
        assert done.changes == {"payments": 2}
        assert [n for _, n in done.rows] == [None, None, None, 2]
        box.run("DROP INDEX payments_status")
        box.run("ALTER TABLE payments RENAME COLUMN note TO memo")
        box.commit()
    names = {n for (n,) in rows(app, "SELECT name FROM sqlite_schema")}
    assert "payments_backup" in names and "payments_status" not in names
    assert rows(app, "SELECT count(*) FROM payments WHERE memo = 'duplicate'") == [(2,)]


def test_row_limits_and_count_cap(app: Path) -> None:
    with Sandbox(app, max_rows=3) as box:
        r = box.run("SELECT id FROM payments ORDER BY id")
        assert (r.rows, r.total_rows, r.truncated, r.total_capped) == (
            [(1,), (2,), (3,)],
            9,
            True,
            False,
        )
        assert render_table(r).endswith("3 of 9 rows shown")
        r = box.run(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
        )
        assert (len(r.rows), r.total_rows, r.total_capped) == (3, COUNT_CAP, True)
        assert render_table(r).endswith("3 of 100,000+ rows shown")


def test_stop_point_of_a_runaway_stream_is_deterministic(tmp_path: Path) -> None:
    """Past the rows shown, the budget only stops the counting, at the same row every time."""
    a = make_app_db(tmp_path / "a.db")
    b = tmp_path / "b.db"
    shutil.copyfile(a, b)
    sql = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT x, (SELECT count(*) FROM orders WHERE customer_id = x % 5) FROM c"
    )
    results = []
    for path in (a, b, a):
        with Sandbox(path, step_budget=300_000, max_rows=10) as box:
            results.append(box.run(sql))
    first = results[0]
    assert first.total_capped and 10 < first.total_rows < COUNT_CAP
    assert first.steps > 300_000
    assert all(r == first for r in results)
    with Sandbox(a, step_budget=300_000, max_rows=COUNT_CAP) as box:
        message = refused(box, sql)  # the rows to show were not complete: an error
    assert message.startswith("stopped: the query ran past its budget of 300,000 steps")


def test_same_statements_same_results(tmp_path: Path) -> None:
    a = make_app_db(tmp_path / "a.db")
    b = tmp_path / "b.db"
    shutil.copyfile(a, b)
    script = [
        "SELECT * FROM orders ORDER BY id",
        "SELECT customer_id, sum(total_cents) FROM orders GROUP BY customer_id",
        "UPDATE payments SET status = 'void' WHERE idempotency_key LIKE '%-retry'",
        "SELECT id, status, row_number() OVER (ORDER BY amount_cents DESC, id) FROM payments",
        RUNAWAY,
        "DELETE FROM ledger_entries WHERE amount_cents < 0",
    ]

    def play(path: Path) -> list[object]:
        out: list[object] = []
        with Sandbox(path, writable=WRITABLE) as box:
            for sql in script:
                try:
                    out.append(box.run(sql))
                except SqlError as e:
                    out.append(e.message)
            out.append(box.commit())
        out.append(dump(path))
        return out

    assert play(a) == play(b)


# ------------------------------------------------------------------ errors in words
def test_errors_in_words(sb: Sandbox) -> None:
    assert refused(sb, "SELECT * FROM nope") == "no such table: nope"
    assert refused(sb, "SELECT * FORM orders") == 'near "FORM": syntax error'
    assert refused(sb, "SELECT nope FROM orders") == "no such column: nope"
    assert refused(sb, "") == "nothing to run: type a SQL statement"
    assert refused(sb, "  -- just a comment\n ;") == "nothing to run: type a SQL statement"
    assert "parameters" in refused(sb, "SELECT * FROM orders WHERE id = ?")
    assert "parameters" in refused(sb, "SELECT * FROM orders WHERE id = :id")
    assert refused(sb, "INSERT INTO payments VALUES (1, 1, 1, 'x', 'y')") == (
        "UNIQUE constraint failed: payments.id"
    )
    assert sb.pending() == []


def test_trailing_semicolon_and_comments_are_fine(sb: Sandbox) -> None:
    assert sb.run("SELECT 1;").rows == [(1,)]
    assert sb.run("SELECT 2 ; -- done\n").rows == [(2,)]
    assert sb.run("/* first */ SELECT 3 /* last */;;  ").rows == [(3,)]
    assert sb.run('SELECT \';\' AS semi, "a;b" FROM (SELECT 1 AS "a;b") -- ; not a split').rows == [
        (";", 1)
    ]


def test_construction_checks(tmp_path: Path, app: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(FileNotFoundError):
        Sandbox(missing)
    assert not missing.exists()
    with pytest.raises(ValueError):
        Sandbox(app, writable=["sqlite_master"])
    box = Sandbox(app)
    box.close()
    box.close()
    with pytest.raises(SqlError, match="closed"):
        box.run("SELECT 1")


def test_the_module_imports_no_tui_or_store_library() -> None:
    probe = (
        "import sys, oncall_dojo.sim.sqlsandbox; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'textual', 'sqlite_utils'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ rendering
def result(columns: list[str], data: list[tuple[object, ...]], **kw: object) -> QueryResult:
    base: dict[str, object] = {
        "total_rows": len(data),
        "truncated": False,
        "changes": {},
        "kind": "read",
    }
    base.update(kw)
    return QueryResult(columns, data, **base)  # type: ignore[arg-type]


def test_render_table_aligns_and_shows_null() -> None:
    text = render_table(
        result(["id", "name", "cents"], [(1, "Ada", 1000), (22, None, 5), (3, "Bo", None)])
    )
    assert text.splitlines() == [
        "id | name | cents",
        "---+------+------",
        " 1 | Ada  |  1000",
        "22 | NULL |     5",
        " 3 | Bo   |  NULL",
        "3 rows",
    ]
    assert render_table(result(["n"], [(1,)])).endswith("\n1 row")
    assert render_table(result(["n"], [])).splitlines() == ["n", "-", "0 rows"]


def test_render_table_shows_every_control_character_as_an_escape() -> None:
    """A value a player wrote (`UPDATE ... SET note = char(27) || '[2J'`) is shown, never acted
    on: C0, DEL, C1 (\\x9b is CSI on some terminals), line separators and bidi overrides."""
    value = "a\x1b[2J\x07\x7f\x9b\x85\u2028\u202eb"
    text = render_table(result(["note"], [(value,)]))
    assert text.splitlines()[2] == "a\\x1b[2J\\x07\\x7f\\x9b\\x85\\u2028\\u202eb"
    assert all(c.isprintable() or c == "\n" for c in text)


def test_render_table_fits_the_width_and_truncates_with_an_ellipsis() -> None:
    long = "x" * 300
    r = result(["a", "b", "c"], [(long, "short", 1.5), ("é漢字\tz\n", b"\x00\xff", 2.0)])
    text = render_table(r, width=60)
    lines = text.splitlines()
    assert all(sqlrender._width(line) <= 60 for line in lines)
    assert "…" in lines[2]
    assert "\\t" in lines[3] and "\\n" in lines[3] and "x'00ff'" in lines[3]
    narrow = render_table(result([f"col{i}" for i in range(30)], [tuple(range(30))]), width=40)
    assert all(sqlrender._width(line) <= 40 for line in narrow.splitlines())


def test_render_table_footers() -> None:
    big = result(["x"], [(1,)] * 200, total_rows=12_345, truncated=True)
    assert render_table(big).endswith("200 of 12,345 rows shown")
    capped = result(["x"], [(1,)] * 200, total_rows=COUNT_CAP, truncated=True, total_capped=True)
    assert render_table(capped).endswith("200 of 100,000+ rows shown")
    write = result([], [], total_rows=0, changes={"orders": 14}, kind="write")
    assert render_table(write) == (
        "preview: 14 rows would change in orders; `sql commit` to apply, `sql rollback` to discard"
    )
    one = result([], [], total_rows=0, changes={"orders": 1}, kind="write")
    assert render_table(one).startswith("preview: 1 row would change in orders;")
    done = result(
        ["statement", "rows changed"],
        [("DELETE ...", 14), ("UPDATE ...", 3)],
        changes={"orders": 14, "payments": 3},
        kind="write",
        committed=True,
    )
    assert render_table(done).endswith("committed: rows changed in orders (14), payments (3)")
