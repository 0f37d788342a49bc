"""Property tests (hypothesis) of hostile input: random bytes and YAML documents for `validate`,
random console lines for a recorded session, random SQL from a grammar for the sandbox.

The only outcomes allowed are a result or a refusal in words (a located one for files):
never an exception of another kind, never a traceback. The examples are derived from the
test's name (`derandomize`), so a run is repeatable, and nothing is kept between runs.
Statements and files run under the game's own limits; a guard thread fails a statement
that has not returned at all within 30 s (no test measures time).
"""

from __future__ import annotations

import shlex
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncall_dojo.game.commands import COMMANDS
from oncall_dojo.game.grammar import _shell_words
from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.sqlsandbox import QueryResult, Sandbox, SqlError
from oncall_dojo.store import Recorder, Store
from oncall_dojo.store.events import verify_chain

Dojo = Callable[..., tuple[int, str, str]]

PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
GUARD_S = 30.0


# ------------------------------------------------------------------ words
@settings(PROPERTY, max_examples=400)
@given(st.text(alphabet=" \t\n\"'\\ab=-\xe9\x00", max_size=30))
def test_a_line_splits_into_the_words_a_shell_gives(text: str) -> None:
    try:
        want: Any = shlex.split(text)
    except ValueError as e:
        want = str(e)
    try:
        got: Any = _shell_words(text)
    except ValueError as e:
        got = str(e)
    assert got == want


# ------------------------------------------------------------------ incident files
def located(path: Path, code: int, err: str) -> None:
    assert code == 1, err
    lines = err.splitlines()
    assert lines and all(line.startswith(f"{path}:") for line in lines), err


@settings(PROPERTY, max_examples=30)
@given(data=st.binary(max_size=3000))
def test_validate_of_random_bytes_gives_located_errors(
    data: bytes, dojo: Dojo, tmp_path: Path
) -> None:
    path = tmp_path / "random.yaml"
    path.write_bytes(data)
    code, _, err = dojo("validate", str(path))
    if code == 0:  # only a document that really is an incident passes
        raise AssertionError(f"random bytes validated: {data!r}")
    located(path, code, err)


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
KEYS = st.sampled_from(
    ["id", "title", "version", "system", "faults", "page", "playthroughs", "vary", "hints", "at"]
) | st.text(max_size=8)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)


@settings(PROPERTY, max_examples=30)
@given(doc=DOCUMENTS)
def test_validate_of_random_yaml_documents_gives_located_errors(
    doc: Any, dojo: Dojo, tmp_path: Path
) -> None:
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    code, _, err = dojo("validate", str(path))
    located(path, code, err)


# ------------------------------------------------------------------ console lines, recorded
NAMES = sorted(n for n in COMMANDS if n not in ("resolve", "quit"))
WORD = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]) | st.sampled_from("\x1b\x00\r\n\t\"'\\"),
    max_size=12,
) | st.sampled_from(["payments", "billing", "top", "5m", "level=warn", "--", "*", "orders"])
LINES = st.builds(
    lambda name, words: " ".join([name, *words]), st.sampled_from(NAMES), st.lists(WORD, max_size=4)
) | st.text(max_size=40)


@pytest.fixture(scope="module")
def recorded(
    poison: Incident, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Session, Recorder, Store]]:
    store = Store.open(tmp_path_factory.mktemp("props") / "dojo.db")
    session = Session(poison, 3)
    log = Recorder(store, "fuzz", "play")
    log.started(session, 10)
    yield session, log, store
    store.close()


@PROPERTY
@given(lines=st.lists(LINES, min_size=1, max_size=6))
def test_random_console_lines_are_answered_and_recorded(
    lines: list[str], recorded: tuple[Session, Recorder, Store]
) -> None:
    session, log, store = recorded
    for line in lines:
        entry = perform(session, line)
        assert entry.kind in ("investigate", "act", "meta", "refused"), entry
        assert isinstance(entry.output, str)
    assert log.keeping, log.broken
    assert log.session_id is not None
    assert verify_chain(store.events(log.session_id)) == []


# ------------------------------------------------------------------ SQL from a grammar
COLUMNS = ["id", "customer_id", "currency", "'x'", "NULL", "1", "-1", "2147483648", "x'00ff'"]
NUMBERS = st.sampled_from(
    ["0", "1", "3", "255", "1000", "250001", "999999", "2147483646", "4294967296", "-2000000000"]
)
FORMATS = st.sampled_from(["'%.*c'", "'%*d'", "'%s'", "'%.2000000000c'", "'%-*c'", "'%q'", "'%w'"])


def expressions() -> st.SearchStrategy[str]:
    leaf = st.sampled_from(COLUMNS) | NUMBERS

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        two = st.tuples(inner, inner)
        return (
            st.builds(lambda f, n, e: f"printf({f}, {n}, {e})", FORMATS, NUMBERS, inner)
            | st.builds(lambda f, n, e: f"format({f}, {n}, {e})", FORMATS, NUMBERS, inner)
            | st.builds(
                lambda fn, e: f"{fn}({e})",
                st.sampled_from(
                    [
                        "upper",
                        "lower",
                        "length",
                        "hex",
                        "quote",
                        "zeroblob",
                        "unicode",
                        "abs",
                        "typeof",
                    ]
                ),
                inner,
            )
            | two.map(lambda ab: f"replace({ab[0]}, {ab[1]}, 'y')")
            | two.map(lambda ab: f"instr({ab[0]}, {ab[1]})")
            | two.map(lambda ab: f"({ab[0]} LIKE '%' || {ab[1]})")
            | two.map(lambda ab: f"({ab[0]} GLOB '*' || {ab[1]})")
            | two.map(lambda ab: f"({ab[0]} || {ab[1]})")
            | two.map(lambda ab: f"substr({ab[0]}, {ab[1]})")
        )

    return st.recursive(leaf, grow, max_leaves=6)


STATEMENTS = (
    st.builds(
        lambda e, frm, where: f"SELECT {e}{frm}{where}",
        expressions(),
        st.sampled_from(["", " FROM orders", " FROM orders a, orders b"]),
        st.sampled_from(["", " WHERE id < 10", " ORDER BY 1 DESC LIMIT 3"]),
    )
    | st.builds(
        lambda e, w: f"UPDATE orders SET currency = {e}{w}",
        expressions(),
        st.sampled_from(["", " WHERE id < 100"]),
    )
    | st.builds(
        lambda e: (
            f"WITH RECURSIVE c(x, s) AS (SELECT 1, {e} UNION ALL SELECT x + 1, s FROM c "
            "WHERE x < 100000) SELECT count(*), max(length(s)) FROM c"
        ),
        expressions(),
    )
)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    db = tmp_path_factory.mktemp("sql") / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, currency TEXT)")
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, 'USD')", [(i, i % 97) for i in range(1, 501)]
    )
    conn.commit()
    conn.close()
    with Sandbox(db, writable=["orders"]) as b:
        yield b


@PROPERTY
@given(sql=STATEMENTS)
def test_random_sql_gives_a_result_or_a_message(sql: str, box: Sandbox) -> None:
    got: list[object] = []

    def work() -> None:
        try:
            got.append(box.run(sql))
        except SqlError as e:
            got.append(e.message)
        except BaseException as e:  # reported below, with the statement
            got.append(e)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(GUARD_S)
    if t.is_alive():
        box.interrupt()
        t.join(GUARD_S)
        pytest.fail(f"still running after {GUARD_S:.0f} s: {sql}")
    (outcome,) = got
    box.discard()  # previewed writes are dropped: each example starts from the same data
    if isinstance(outcome, str):
        assert outcome.strip() and "Traceback" not in outcome, sql
    else:
        assert isinstance(outcome, QueryResult), (sql, outcome)
    assert box.run("SELECT count(*) FROM orders").rows == [(500,)]
