"""Commands on the application database and on business records: SQL, refunds, notices.

Ids for refunds and notices come from a read-only query through the player's
own SQL sandbox: the scripts work from what the application database shows. The
refunds, notices and commits themselves are verbs of `sim.ops`.
"""

from __future__ import annotations

import re

from oncall_dojo.game.grammar import Evidence, Reply, command, need, whole
from oncall_dojo.game.session import Session
from oncall_dojo.sim import ops
from oncall_dojo.sim.data.appdb import AppDb
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.sqlsandbox import Cancelled, SqlError, render_table
from oncall_dojo.sim.text import count


@command(
    "refund duplicates",
    "act",
    "refund duplicates",
    "Refund every charge beyond the first per order at the provider.",
)
def _refund(s: Session, args: list[str], by: str) -> Reply:
    if s.system.app is not None:
        # the refund script works from what the application database shows
        ids = _select_ids(
            s,
            "SELECT id FROM payments p WHERE status = 'succeeded'"
            " AND id NOT IN (SELECT min(id) FROM payments WHERE status = 'succeeded' GROUP BY order_id)"
            " AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id)",
        )
        if not ids:
            raise Refusal("the payments table shows no second charge for any order")
        return _refund_payments(s, ids, "duplicate charge", by), None
    n = ops.refund_duplicate_charges(s.system, by)
    return f"Refunded {count(n, 'duplicate charge')}.", None


def _app(s: Session) -> AppDb:
    app = s.system.app
    if app is None:
        raise Refusal("this incident has no application database to query")
    return app


def _select_ids(s: Session, sql: str, what: str = "id") -> list[int]:
    """Whole-number ids a read-only query returns (first column), through the player's sandbox."""
    app = _app(s)
    try:
        res = app.selector().run(sql)
    except Cancelled:
        raise  # the player cancelled it: nothing was done, nothing is recorded
    except SqlError as exc:
        raise Refusal(str(exc)) from None
    if res.truncated:
        raise Refusal(
            f"the query returns {res.total_rows:,} rows; narrow it (at most {len(res.rows)})"
        )
    ids = []
    for row in res.rows:
        if not row or not isinstance(row[0], int):
            raise Refusal(f"the first column must be a whole-number {what}, got {row[:1]!r}")
        ids.append(row[0])
    return sorted(set(ids))


def _refund_payments(s: Session, ids: list[int], reason: str, by: str) -> str:
    n, cents, skipped = ops.refund_payments(s.system, ids, reason, by)
    out = f"Refunded {count(n, 'payment')} at the provider (${cents / 100:,.2f}); each refund is booked in refunds and the ledger."
    if skipped:
        out += f" Skipped {len(skipped)} (not found, not succeeded or already refunded)."
    return out


@command(
    "refund",
    "act",
    "refund PAYMENT_ID... | refund query SELECT id FROM payments ...",
    "Refund payments at the provider (by id, or every id a query returns) and book the refunds.",
)
def _refund_some(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "refund PAYMENT_ID... | refund query SELECT ... | refund duplicates")
    if args[0] == "query":
        need(args, 2, "refund query SELECT id FROM payments WHERE ...")
        ids = _select_ids(s, args[1], "payment id")
    else:
        ids = [whole(a, "payment id", 1) for a in args]
    return _refund_payments(s, ids, "duplicate charge", by), None


@command(
    "notify query",
    "act",
    "notify query SELECT customer_id FROM ...",
    "Email an apology and explanation to every customer a query returns.",
)
def _notify(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "notify query SELECT customer_id FROM ...")
    n = ops.notify(s.system, _select_ids(s, args[0], "customer id"), by)
    return f"Sent an apology to {count(n, 'customer')}.", None


def _sql_evidence(sql: str) -> Evidence:
    m = re.search(r"\b(?:from|join|update|into)\s+([A-Za-z_][A-Za-z0-9_]*)", sql, re.IGNORECASE)
    return Evidence("sql", m.group(1).lower() if m else None)


@command(
    "sql",
    "investigate",
    "sql STATEMENT",
    "Run SQL on the application database. Reads show rows; a write is previewed (rows changed per"
    " table) until `sql commit`.",
    ("table",),
    evidence="sql",
)
def _sql(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "sql STATEMENT (e.g. sql SELECT count(*) FROM orders)")
    app = _app(s)
    try:
        res = app.console().run(args[0])
    except Cancelled:
        raise  # the player cancelled it: nothing was done, nothing is recorded
    except SqlError as exc:
        raise Refusal(str(exc)) from None
    return render_table(res), _sql_evidence(args[0])


@command("sql commit", "act", "sql commit", "Apply the previewed SQL writes, in one transaction.")
def _sql_commit(s: Session, args: list[str], by: str) -> Reply:
    app = _app(s)
    sandbox = app.console()
    if not sandbox.pending():
        raise Refusal(
            "no previewed write to commit; run an UPDATE, INSERT or DELETE with `sql` first"
        )
    try:
        statements, changed = ops.commit_sql(s.system, by)
    except Cancelled:
        raise  # the previewed writes are still pending
    except SqlError as exc:
        raise Refusal(f"nothing was changed: {exc}") from None
    return f"Committed {count(statements, 'statement')}: {changed} changed.", None


@command("sql rollback", "meta", "sql rollback", "Discard the previewed SQL writes.")
def _sql_rollback(s: Session, args: list[str], by: str) -> Reply:
    n = _app(s).console().discard()
    if not n:
        raise Refusal("no previewed write to discard")
    return f"Discarded {count(n, 'previewed statement')}; nothing was changed.", None


@command(
    "sql pending", "meta", "sql pending", "Show the previewed SQL writes waiting for `sql commit`."
)
def _sql_pending(s: Session, args: list[str], by: str) -> Reply:
    pending = _app(s).console().pending()
    if not pending:
        return "No previewed writes.", None
    return "\n".join(f"{i}. {q}" for i, q in enumerate(pending, 1)), None
