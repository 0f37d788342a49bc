"""Rows a database failover loses: written on the old primary after the replay position of the
replica promoted in its place.

The application database (`appdb`) calls these with its connection. Rows are placed in time by
their timestamp column (`LOST_BY_TIME`); order items go with their order. The rows are removed
from the application database only: the truth keeps them (customers did place those orders and
were charged), so scoring measures what is still missing at the end, and a row put back by hand
no longer counts.
"""

from __future__ import annotations

import sqlite3

LOST_BY_TIME = {
    "orders": "created_at",
    "payments": "created_at",
    "refunds": "created_at",
    "ledger_entries": "created_at",
    "shipments": "created_at",
    "email_sends": "sent_at",
    "credits": "created_at",
    "schema_migrations": "applied_at",
}
"""The tables a failover can lose rows of, with the column that says when a row was written
(order items go with their order; customers and products are not written during play)."""


def lose_since(
    c: sqlite3.Connection, wanted: set[str], at: str, share: float, lost: dict[str, set[int]]
) -> dict[str, int]:
    """Remove the rows of `wanted` tables written after timestamp `at`, and the last `share` of
    those written at `at`; record them in `lost`. Returns the rows removed, by table."""
    gone: dict[str, list[int]] = {}
    for table, col in LOST_BY_TIME.items():
        if table not in wanted and not (table == "orders" and "order_items" in wanted):
            continue
        same = [
            r[0]
            for r in c.execute(
                f"SELECT rowid FROM main.{table} WHERE {col} = ? ORDER BY rowid", (at,)
            )
        ]
        later = c.execute(f"SELECT rowid FROM main.{table} WHERE {col} > ? ORDER BY rowid", (at,))
        gone[table] = same[len(same) - round(len(same) * share) :] + [r[0] for r in later]
    if "order_items" in wanted and gone.get("orders"):
        marks = ",".join("?" * len(gone["orders"]))
        gone["order_items"] = [
            r[0]
            for r in c.execute(
                f"SELECT id FROM main.order_items WHERE order_id IN ({marks}) ORDER BY id",
                gone["orders"],
            )
        ]
    if "orders" not in wanted:
        gone.pop("orders", None)
    out: dict[str, int] = {}
    c.execute("BEGIN")
    for table, ids in gone.items():
        if ids:
            c.executemany(f"DELETE FROM main.{table} WHERE rowid = ?", [(i,) for i in ids])
            lost.setdefault(table, set()).update(ids)
            out[table] = len(ids)
    c.execute("COMMIT")
    return out


def still_missing(c: sqlite3.Connection, lost: dict[str, set[int]]) -> dict[str, int]:
    """Of the rows in `lost`, how many are still missing, by table."""
    out: dict[str, int] = {}
    for table, ids in sorted(lost.items()):
        have = {r[0] for r in c.execute(f"SELECT rowid FROM main.{table}") if r[0] in ids}
        if n := len(ids - have):
            out[table] = n
    return out
