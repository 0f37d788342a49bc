"""Helpers shared by the store tests (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable
from pathlib import Path

PLAY_LINES = [
    "ack", "queue payments", "workers billing", "logs billing level=warn", "wait 2m",
    "dlq move payments top", "restart billing", "wait 5m", 'update "Card charges are delayed; investigating"',
    "diagnose queue:payments poison-message", "wait 10m", "deploy billing v2.8.4", "wait 5m", "dlq replay payments",
    "wait 3m", "resolve",
]  # fmt: skip
"""A decent response at the console, with waits (every line is one the console records)."""


def fixed_clock() -> Callable[[], str]:
    """Wall time that moves one second per call, from a fixed instant."""
    n = itertools.count()

    def now() -> str:
        i = next(n)
        return f"2025-01-02T03:{i // 60 % 60:02d}:{i % 60:02d}Z"

    return now


Record = Callable[..., str]


def dump_schema(conn: sqlite3.Connection) -> str:
    """A database's schema as an SQL script that recreates it (tables, indexes, triggers, versions)."""
    lines = [f"PRAGMA application_id = {conn.execute('PRAGMA application_id').fetchone()[0]};",
             f"PRAGMA user_version = {conn.execute('PRAGMA user_version').fetchone()[0]};"]  # fmt: skip
    order = {"table": 0, "index": 1, "trigger": 2, "view": 3}
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    for _type, _name, sql in sorted(rows, key=lambda r: (order.get(r[0], 9), r[1])):
        lines.append(f"{sql};")
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = '_sqlite_migrations'").fetchone():
        for set_, name in conn.execute(
            "SELECT migration_set, name FROM _sqlite_migrations ORDER BY id"
        ):
            lines.append(
                f"INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('{set_}', '{name}', 'fixture');"
            )
    return "\n".join(lines) + "\n"


def dump_file(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return dump_schema(conn)
    finally:
        conn.close()
