"""The SQL console's limits: a statement that would cost too much ends in a "stopped:" message.

Each case is a statement that once ran for seconds or minutes, or took gigabytes. None of
these tests measures time: a runaway must end with the limit's refusal, and a guard fails
the test if the call has not returned at all within 30 s.
"""

from __future__ import annotations

import sqlite3
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from oncall_dojo.sim.sqlguard import Watch, cpu_clock
from oncall_dojo.sim.sqlsandbox import QueryResult, Sandbox, SqlError

GUARD_S = 30.0


def make_db(path: Path, orders: int = 2_000, wal: bool = False) -> Path:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, currency TEXT)")
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, 'USD')", [(i, i % 97) for i in range(1, orders + 1)]
    )
    conn.commit()
    conn.close()
    return path


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_db(tmp_path / "app.db")


@pytest.fixture
def box(db: Path) -> Iterator[Sandbox]:
    with Sandbox(db, writable=["orders"]) as b:
        yield b


def outcome(box: Sandbox, sql: str, commit: bool = False) -> QueryResult | str:
    """The result or the refusal's words; fails if the call has not returned in GUARD_S."""
    got: list[QueryResult | str] = []

    def work() -> None:
        try:
            got.append(box.commit() if commit else box.run(sql))
        except SqlError as e:
            got.append(e.message)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(GUARD_S)
    if t.is_alive():
        box.interrupt()
        t.join(GUARD_S)
        pytest.fail(f"still running after {GUARD_S:.0f} s: {sql}")
    return got[0]


def stopped(box: Sandbox, sql: str) -> str:
    got = outcome(box, sql)
    assert isinstance(got, str), got
    assert got.startswith("stopped:"), got
    return got


TOO_BIG = "stopped: a value would be larger than the limit of 250,000 bytes"


@pytest.mark.parametrize(
    "sql",
    [
        # a slow function once per row: 6.7 s a row before
        "SELECT length(printf('%.*c', 1000000000 + id, 'x')) FROM orders",
        # a width near 2^31 ran 5-16 s and returned NULL
        "SELECT printf('%.*c', 2147483646, 'x')",
        "SELECT format('%.*c', '2147483646', 'x')",
        "SELECT printf('%.*c', 4294967296 + 2000000000, 'x')",  # what a C int keeps of it
        "SELECT printf('%.2000000000c', 'x')",
        "SELECT printf('%-*c', -2000000000, 'x')",
        # 1.1 GB and 19.6 s
        "SELECT upper(printf('%.*c',999999,'x')) FROM orders a, orders b",
    ],
)
def test_a_huge_printf_width_is_refused_before_it_runs(box: Sandbox, sql: str) -> None:
    assert stopped(box, sql).startswith(TOO_BIG)


def test_searches_whose_work_grows_with_both_lengths_are_refused(box: Sandbox) -> None:
    a, b = "printf('%.*c', 200000, 'a')", "printf('%.*c', 100000, 'a') || 'b'"
    for sql in (
        f"SELECT instr({a}, {b})",
        f"SELECT replace({a}, {b}, 'x')",
        f"SELECT trim({a}, {b})",
        f"SELECT ltrim({a}, {b})",
        f"SELECT rtrim({a}, {b})",
    ):
        assert "would take too long" in stopped(box, sql)
    # within bounds they are SQLite's own functions
    r = box.run(
        "SELECT instr('abc', 'c'), replace('aXa', 'X', 'b'), trim('xxaxx', 'x'), printf('%5.2f|%-3d|', 3.14159, 7)"
    )
    assert r.rows == [(3, "aba", "a", " 3.14|7  |")]
    assert box.run("SELECT printf(NULL), printf('%.*c', 3, 'x'), format('%d%%', 5)").rows == [
        (None, "xxx", "5%")
    ]


def test_patterns_whose_work_grows_with_both_lengths_are_refused(box: Sandbox) -> None:
    """`%aaa...b` against 'aaa...' tries the pattern at every character: with the longest
    pattern allowed (1,000 bytes) one call on a 250,000-byte value took about 0.8 s, which
    the deadline cannot cut short, and a query makes one call a row."""
    value, pat = "printf('%.*c', 200000, 'a')", "printf('%.*c', 900, 'a') || 'b'"
    for sql in (
        f"SELECT {value} LIKE '%' || {pat}",
        f"SELECT {value} LIKE '%' || {pat} ESCAPE '!'",
        f"SELECT {value} GLOB '*' || {pat}",
        f"SELECT like('%' || {pat}, {value})",
        f"SELECT count(*) FROM orders WHERE {value} || currency NOT LIKE '%' || {pat}",
    ):
        message = stopped(box, sql)
        assert "would take too long" in message, message
        assert "(902 by 200,00" in message, message
    # within bounds they are SQLite's own: case-insensitive LIKE, case-sensitive GLOB, ESCAPE
    r = box.run(
        "SELECT 'Abc' LIKE 'a%', 'Abc' GLOB 'a*', 'a%c' LIKE 'a!%c' ESCAPE '!', 'abc' GLOB '[a-b]?c'"
    )
    assert r.rows == [(1, 0, 1, 1)]
    assert box.run("SELECT count(*) FROM orders WHERE currency LIKE 'us%'").rows == [(2_000,)]
    # and the pattern's own limit still holds
    assert "pattern too complex" in outcome(box, "SELECT 'a' LIKE printf('%.*c', 1001, '%')")


def test_a_statement_past_its_deadline_is_interrupted(box: Sandbox) -> None:
    """Few VM steps, each copying 200 KB: the step budget is far off, the deadline stops it."""
    sql = (
        "WITH RECURSIVE c(x, s) AS (SELECT 1, printf('%.*c', 200000, 'x') "
        "UNION ALL SELECT x + 1, s FROM c WHERE x < 1000000) "
        "SELECT count(*) FROM c WHERE length(s) > 0"
    )
    message = stopped(box, sql)
    assert message.startswith("stopped: the statement ran past its deadline of 2 s"), message
    assert box.run("SELECT count(*) FROM orders").rows == [(2_000,)]


def test_the_deadline_holds_without_a_step_budget(db: Path) -> None:
    with Sandbox(db, step_budget=None, deadline_s=0.2) as box:
        message = stopped(
            box,
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
        )
    assert message.startswith("stopped: the statement ran past its deadline of 0.2 s")


def test_rows_are_read_one_at_a_time_and_the_bytes_read_are_capped(box: Sandbox) -> None:
    """2,000 x 2,000 rows of 200 KB each: rows are kept up to 16 MB, counted up to 64 MB."""
    tracemalloc.start()
    try:
        got = outcome(box, "SELECT upper(printf('%.*c', 200000, 'x')) FROM orders a, orders b")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(got, QueryResult)
    assert got.total_capped and got.truncated
    assert 0 < len(got.rows) < got.total_rows < 2_000 * 2_000
    assert sum(len(r[0]) for r in got.rows) <= 16 * 2**20 + 200_000
    assert peak < 64 * 2**20  # rows are dropped as they are counted, never held 512 at a time


def test_one_row_is_capped(box: Sandbox) -> None:
    cols = ", ".join(f"printf('%.*c', 200000, '{c}')" for c in "abcdef")
    assert "stopped: a row of 1,200,0" in stopped(box, f"SELECT {cols}")
    assert outcome(box, "SELECT " + ", ".join(["1"] * 101)) == "refused: at most 100 columns"


@pytest.mark.parametrize("wal", [False, True])
def test_a_write_that_grows_the_database_too_much_is_stopped(tmp_path: Path, wal: bool) -> None:
    """UPDATE ... printf('%.*c', 900000, ...) once wrote 868 MB to preview and 1.7 GB to commit."""
    db = make_db(tmp_path / "app.db", wal=wal)
    before = dump(db)
    with Sandbox(db, writable=["orders"], max_growth_bytes=8 * 2**20) as box:
        message = stopped(box, "UPDATE orders SET currency = printf('%.*c', 240000, 'x')")
        assert message.startswith("stopped: the change would add more than 8 MB"), message
        assert box.pending() == []
        # a write within the allowance is still previewed and committed
        ok = outcome(box, "UPDATE orders SET currency = printf('%.*c', 1000, 'x') WHERE id <= 100")
        assert isinstance(ok, QueryResult) and ok.changes == {"orders": 100}
        done = outcome(box, "", commit=True)
        assert isinstance(done, QueryResult) and done.changes == {"orders": 100}
    after = dump(db)
    assert [line for line in after if "xxx" not in line] == [
        line
        for line in before
        if "'USD'" not in line or int(line.split("(")[1].split(",")[0]) > 100
    ]
    total = sum(f.stat().st_size for f in tmp_path.iterdir())
    assert total < 64 * 2**20


def test_pending_writes_count_towards_the_transaction(tmp_path: Path) -> None:
    """Each preview alone fits; together they would not, so the commit is stopped."""
    db = make_db(tmp_path / "app.db")
    with Sandbox(db, writable=["orders"], max_growth_bytes=6 * 2**20) as box:
        half = "UPDATE orders SET currency = printf('%.*c', 5000, '{c}') WHERE id % 2 = {r}"
        assert isinstance(outcome(box, half.format(c="a", r=0)), QueryResult)
        got = outcome(box, half.format(c="b", r=1))
        assert isinstance(got, str) and "would add more than 6 MB" in got
        assert len(box.pending()) == 1


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        (
            "EXPLAIN CREATE TRIGGER t AFTER INSERT ON orders BEGIN DELETE FROM orders; END",
            "refused: CREATE TRIGGER is not allowed in the console",
        ),
        (
            "EXPLAIN QUERY PLAN CREATE TEMP TRIGGER t AFTER INSERT ON orders BEGIN SELECT 1; END",
            "refused: CREATE TRIGGER is not allowed in the console",
        ),
        ("EXPLAIN DROP TABLE orders", "refused: schema changes (DROP TABLE) are not allowed"),
        ("EXPLAIN PRAGMA table_info(orders)", "refused: PRAGMA is not allowed"),
        ("EXPLAIN BEGIN", "refused: the console manages transactions itself"),
    ],
)
def test_explain_of_a_refused_statement_names_what_is_refused(
    box: Sandbox, sql: str, words: str
) -> None:
    got = outcome(box, sql)
    assert isinstance(got, str) and got.startswith(words), got


def test_explain_drop_table_with_schema_changes_allowed(db: Path) -> None:
    with Sandbox(db, allow_schema=True) as box:
        got = outcome(box, "EXPLAIN DROP TABLE orders")
    assert got == "refused: DROP TABLE is not allowed in the console"


class _Conn:
    """Stands in for the connection: records the interrupt."""

    def __init__(self) -> None:
        self.interrupted = False

    def interrupt(self) -> None:
        self.interrupted = True


@pytest.mark.skipif(cpu_clock() is None, reason="this platform gives no thread CPU clock")
def test_the_deadline_counts_the_statements_own_cpu_time_not_the_machines_load() -> None:
    """A statement that waits (its thread not running, as on a machine busy with other work)
    is not stopped, however long the wait; one that works past the deadline is."""
    import time

    waiting = _Conn()
    with Watch(waiting, 0.1) as watch:  # type: ignore[arg-type]
        time.sleep(0.6)  # six deadlines of wall time, no CPU time
    assert not waiting.interrupted and watch.reason is None

    working = _Conn()
    spent = time.thread_time()  # before the watch starts its own clock, so never later than it
    with Watch(working, 0.1) as watch:  # type: ignore[arg-type]
        while not working.interrupted and time.thread_time() - spent < 30:
            pass  # the work of a heavy statement
    assert working.interrupted and watch.reason == "deadline"
    assert time.thread_time() - spent >= 0.1
