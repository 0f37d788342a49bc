"""Write the store's fixtures; never run by the tests (the test run fails if UPDATE_GOLDEN is set).

    .venv/bin/python tests/store/write_fixtures.py

- `fixtures/schema_vN.sql` and `fixtures/game_vN.sql` for the current schema version N, if
  they are missing: the schema, and a game recorded by this code at that version. A released
  version's files are never rewritten (the migration tests upgrade each of them).
- `tests/fixtures/reports/*`: the report goldens, rewritten; review the diff before committing.
"""

from __future__ import annotations

import io
import sqlite3
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from storekit import PLAY_LINES, dump_file, fixed_clock  # noqa: E402

from oncall_dojo.game.console import run_console  # noqa: E402
from oncall_dojo.game.validate import load_checked  # noqa: E402
from oncall_dojo.incident.packs import bundled_dir  # noqa: E402
from oncall_dojo.store import Recorder, Store, schema  # noqa: E402
from oncall_dojo.store.db import names_of  # noqa: E402

FIXTURES = HERE / "fixtures"
GAME_TABLES = ("players", "sessions", "events", "scores")
GAME_SESSION = "0000fixture0game"


def record_game(db: Path) -> str:
    """A whole game (PLAY_LINES, seed 5) recorded into `db` with a fixed clock and id."""
    store = Store.open(db, clock=fixed_clock())
    try:
        log = Recorder(store, "fixture", "play", session_id=GAME_SESSION)
        inc = load_checked(bundled_dir() / "payments-stuck.yaml")
        inp = io.StringIO("\n".join(PLAY_LINES) + "\n")
        run_console(inc, 5, [], out=io.StringIO(), inp=inp, log=log)
        assert log.keeping and log.session_id == GAME_SESSION, log.broken
    finally:
        store.close()
    return GAME_SESSION


def game_rows(db: Path) -> str:
    """The rows of the game tables as SQL inserts (schema left out: schema_vN.sql holds it)."""
    conn = sqlite3.connect(db)
    try:
        prefixes = tuple(f'INSERT INTO "{t}"' for t in GAME_TABLES)
        return "".join(f"{line}\n" for line in conn.iterdump() if line.startswith(prefixes))
    finally:
        conn.close()


def write_version_fixtures() -> list[Path]:
    version = len(names_of(schema.migrations))
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "dojo.db"
        record_game(db)
        for name, text in (
            (f"schema_v{version}.sql", dump_file(db)),
            (f"game_v{version}.sql", game_rows(db)),
        ):
            path = FIXTURES / name
            if not path.exists():
                path.write_text(text, encoding="utf-8")
                written.append(path)
    return written


def write_report_goldens() -> list[Path]:
    from test_report_golden import write_all

    return write_all()


def main() -> int:
    for path in [*write_version_fixtures(), *write_report_goldens()]:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
