"""The shop's business data in a real SQLite database, written by the simulated services.

Data incidents turn it on (`system.appdb`). At the start it holds seeded
customers, products and a week of history; from then on the API and the workers
write to it as they run: every order with its items, every charge the provider
made, every ledger entry, shipment label, email and credit. A fault that damages
data does it here, row by row, at the rate the model dictates, and stops when
its cause is gone.

Beside the application database (`main`, a file the player can query through
the SQL console) the writer keeps the true state (`truth`, in memory, never
reachable from the console): the rows as they should have been. Scoring
compares the two, so a repair is judged against what really happened, and an
over-broad UPDATE or DELETE shows up as correct rows damaged.

Everything here is derived from the seed and the model's events, never from the
simulation's random stream, so turning the database on does not change any
other draw.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from oncall_dojo.sim import tempdirs
from oncall_dojo.sim.config import AppDbConfig
from oncall_dojo.sim.data.schema import COMPARED, INDEXES, INSERTS, KEYED, TABLES
from oncall_dojo.sim.data.shop import (
    CARRIERS,
    PRODUCTS,
    Customer,
    Order,
    charge_id,
    corrupt,
    label_id,
    make_customer,
    make_order,
    refund_id,
)
from oncall_dojo.sim.sqlsandbox import Sandbox, count_rows


def _updates_last(op: tuple[str, list[tuple]]) -> bool:
    return not op[0].startswith("INSERT")


class AppDb:
    """Writes the shop's rows to the application database (and the truth) as the model runs."""

    def __init__(
        self,
        cfg: AppDbConfig,
        salt: int,
        start: datetime,
        names: Iterable[str],
    ) -> None:
        self.cfg = cfg
        self.start = start
        self.salt = salt
        """Mixed into every derived value (`SimRandom.derive("appdb")` of the run's seed)."""
        self._tmp: str | None = tempdirs.make("dojo-app-")
        """A folder of its own, removed by `close` (or at exit, on SIGTERM, or after a kill)."""
        self.path = Path(self._tmp) / "app.db"
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("ATTACH DATABASE ':memory:' AS truth")
        self.history = cfg.history_orders
        """Orders placed before the incident; the model's order n is row `history + n`."""
        self._names = list(names) or ["Alex Doe"]
        self._next = {t: 1 for t in TABLES}
        self._ops: defaultdict[str, list[tuple]] = defaultdict(list)
        """Rows waiting to be written, by statement. A flush runs the inserts before the updates (a
        batch of ticks may insert an order and mark it paid); updates of one row commute (the
        status updates are guarded), so their order among themselves does not matter."""
        self._orders: dict[int, Order] = {}
        self._customers: dict[int, Customer] = {}
        self._ts = (0, self.ts_(0))
        self.damaged: dict[str, set[int]] = {t: set() for t in TABLES}
        """Rows a fault wrote wrong or wrote twice, by table (the truth has the right version or none)."""
        self.customers = cfg.customers
        self.parcels = 0
        """Shipment labels bought from carriers (each one costs money)."""
        self.emails_sent: dict[tuple[int, str], int] = {}
        """(customer, campaign) -> emails really sent; nobody can unsend one."""
        self._unmailable: set[int] = set()
        """Customers without an email in the database now: kept here so a job need not query per item."""
        self.harm_ticks: list[int] = []
        """When a customer was charged or emailed again for the same thing (one entry each)."""
        self._first_payment: dict[int, int] = {}
        """order id -> its first payment (any later one for the same order is a duplicate charge)"""
        self._labels: dict[int, int] = {}
        self._credited: dict[tuple[int, str], int] = {}
        self._refunded: set[int] = set()
        self.lost: dict[str, set[int]] = {}  # rows a failover lost, by table (`data.lost`)
        self._console: Sandbox | None = None
        self._selector: Sandbox | None = None
        self._checker: Sandbox | None = None
        self._cancel = threading.Event()
        """The player's cancel key (`interrupt`), shared by the console and selector sandboxes."""
        self._create()
        self._seed_rows()

    # ------------------------------------------------------------------ setup
    def _create(self) -> None:
        c = self.conn
        c.execute("BEGIN")
        for db in ("main", "truth"):
            for name, cols in TABLES.items():
                c.execute(f"CREATE TABLE {db}.{name} ({cols})")
        for ix in INDEXES:  # the truth has none (see INDEXES)
            c.execute(ix.format(db="main"))
        c.execute("COMMIT")

    def ts_(self, t: int) -> str:
        return (self.start + timedelta(seconds=t)).strftime("%Y-%m-%d %H:%M:%S")

    def ts(self, t: int) -> str:
        if self._ts[0] != t:
            self._ts = (t, self.ts_(t))
        return self._ts[1]

    def customer(self, i: int) -> Customer:
        c = self._customers.get(i)
        if c is None:
            c = self._customers[i] = self._make_customer(i)
        return c

    def _make_customer(self, i: int) -> Customer:
        return make_customer(self.salt, self._names, i, self.ts)

    def email_of(self, customer_id: int) -> str:
        return self.customer(customer_id)[1]

    def order(self, n: int) -> Order:
        """The order the model's checkout number n places (deterministic from the seed)."""
        o = self._orders.get(n)
        if o is None:
            o = self._orders[n] = self._make_order(n)
        return o

    def _make_order(self, n: int) -> Order:
        return make_order(self.salt, self.customers, self.history + n)

    def order_id(self, n: int) -> int:
        return self.history + n

    def _seed_rows(self) -> None:
        """Customers, products and a week of settled history (the same in the database and the truth)."""
        c = self.conn
        custs = [self.customer(i) for i in range(1, self.customers + 1)]
        prods = [(i + 1, f"SKU-{1000 + i * 37}", n, p) for i, (n, p) in enumerate(PRODUCTS)]
        orders: list[tuple] = []
        items: list[tuple] = []
        pays: list[tuple] = []
        ledger: list[tuple] = []
        ships: list[tuple] = []
        span = 7 * 86_400
        for k in range(self.history):
            o = self._make_order(k - self.history + 1)  # ids 1..history
            t = -span + (k * span) // max(1, self.history)
            ts = self.ts(t)
            orders.append(
                (
                    o.id,
                    o.customer_id,
                    o.tenant_id,
                    o.total_cents,
                    o.currency,
                    "shipped",
                    ts,
                    self.ts(t + 3600),
                )
            )
            for p, q, u in o.items:
                items.append((None, o.id, p, q, u))
            pid = len(pays) + 1
            pays.append(
                (
                    pid,
                    o.id,
                    o.total_cents,
                    o.currency,
                    "succeeded",
                    charge_id(self.salt, pid),
                    f"ord_{o.id}",
                    ts,
                )
            )
            ledger.append((pid, o.id, pid, None, "charge", o.total_cents, ts))
            ships.append(
                (pid, o.id, CARRIERS[o.id % 4], label_id(self.salt, o.id, 0), self.ts(t + 3600))
            )
        rows: dict[str, list[tuple]] = {
            "customers": custs,
            "products": prods,
            "orders": orders,
            "payments": pays,
            "ledger_entries": ledger,
            "shipments": ships,
        }
        c.execute("BEGIN")
        for db in ("main", "truth"):
            for table, data in rows.items():
                if data:
                    marks = ",".join("?" * len(data[0]))
                    c.executemany(f"INSERT INTO {db}.{table} VALUES ({marks})", data)
            c.executemany(f"INSERT INTO {db}.order_items VALUES (?,?,?,?,?)", items)
            c.execute(
                f"INSERT INTO {db}.schema_migrations VALUES (?, 'add_refund_reason', ?)",
                (self.cfg.schema_version, self.ts(-40 * 86_400)),
            )
        c.execute("COMMIT")
        for table in TABLES:
            if table != "schema_migrations":
                self._next[table] = self._max_id(table) + 1

    def _max_id(self, table: str) -> int:
        row = self.conn.execute(f"SELECT max(rowid) FROM main.{table}").fetchone()
        return int(row[0] or 0)

    def _id(self, table: str) -> int:
        """Next id for a model-written row: never one the player's inserts already took."""
        i = self._next[table]
        self._next[table] = i + 1
        return i

    # ------------------------------------------------------------------ writes
    def _put(self, sql: str, row: tuple) -> None:
        self._ops[sql].append(row)

    def _insert(self, table: str, row: tuple, truth: tuple | bool | None = True) -> None:
        """Insert into the application database, and into the truth (the same row, another one, or none)."""
        into_main, into_truth = INSERTS[table]
        ops = self._ops
        ops[into_main].append(row)
        if truth is True:
            ops[into_truth].append(row)
        elif truth:  # another row (never an empty tuple)
            ops[into_truth].append(truth)

    def _update(self, sql: str, row: tuple) -> None:
        self._put(sql.replace("{db}", "main"), row)
        self._put(sql.replace("{db}", "truth"), row)

    def new_order(self, t: int, n: int, corruption: str | None = None) -> None:
        o = self.order(n)
        ts = self.ts(t)
        good = (o.id, o.customer_id, o.tenant_id, o.total_cents, o.currency, "pending", ts, ts)
        row = good
        if corruption is not None:
            row = corrupt(good, corruption)
            if row != good:
                self.damaged["orders"].add(o.id)
        self._insert("orders", row, good)
        for p, q, u in o.items:
            self._insert("order_items", (self._id("order_items"), o.id, p, q, u))

    def charge(self, t: int, n: int, idempotent: bool, ok: bool) -> int:
        """The provider charged the card for the model's order n: record the payment row."""
        o = self.order(n)
        pid = self._id("payments")
        dup = pid != self._first_payment.setdefault(o.id, pid)
        row = (
            pid,
            o.id,
            o.total_cents,
            o.currency,
            "succeeded" if ok else "timeout",
            charge_id(self.salt, pid) if ok else None,
            f"ord_{o.id}" if idempotent else None,
            self.ts(t),
        )
        if dup:
            self.damaged["payments"].add(pid)
            self.harm_ticks.append(t)
        self._insert("payments", row, not dup)
        return pid

    def ledger_charge(self, t: int, n: int, payment_id: int) -> None:
        o = self.order(n)
        lid = self._id("ledger_entries")
        row = (lid, o.id, payment_id, None, "charge", o.total_cents, self.ts(t))
        self._insert("ledger_entries", row, payment_id == self._first_payment.get(o.id))
        self._update(
            "UPDATE {db}.orders SET status='paid', updated_at=? WHERE id=? AND status='pending'",
            (self.ts(t), o.id),
        )

    def first_payment(self, n: int) -> int:
        return self._first_payment.get(self.order_id(n), 0)

    def has_label(self, n: int) -> bool:
        return self.order_id(n) in self._labels

    def has_email(self, customer_id: int) -> bool:
        """Whether the customer's row, as the database holds it now, has an email (a job needs one)."""
        return customer_id not in self._unmailable

    def set_customer_email(self, customer_id: int, email: str | None) -> None:
        """Source data as it is (in the database and the truth alike)."""
        self._update("UPDATE {db}.customers SET email=? WHERE id=?", (email, customer_id))
        if email is None:
            self._unmailable.add(customer_id)
        else:
            self._unmailable.discard(customer_id)

    def restore_order(self, t: int, n: int) -> None:
        """A repair job rewrites the order from its items (what the truth holds)."""
        o = self.order(n)
        self._put(
            "UPDATE main.orders SET total_cents=?, currency=?, tenant_id=?, updated_at=? WHERE id=?",
            (o.total_cents, o.currency, o.tenant_id, self.ts(t), o.id),
        )
        self._put("UPDATE truth.orders SET updated_at=? WHERE id=?", (self.ts(t), o.id))

    def wrong_orders(self) -> set[int]:
        """Ids of orders whose amount, currency or tenant differ from the truth, or that are gone."""
        self.flush()
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT t.id FROM truth.orders t LEFT JOIN main.orders a ON a.id = t.id WHERE a.id IS NULL"
                " OR a.total_cents IS NOT t.total_cents OR a.currency IS NOT t.currency"
                " OR a.tenant_id IS NOT t.tenant_id"
            )
        }

    def shipment(self, t: int, n: int) -> None:
        """A shipment label bought for the model's order n (a second one for the same order is a duplicate)."""
        o = self.order(n)
        sid = self._id("shipments")
        k = self._labels.get(o.id, 0)
        self._labels[o.id] = k + 1
        self.parcels += 1
        row = (sid, o.id, CARRIERS[o.id % 4], label_id(self.salt, o.id, k), self.ts(t))
        if k:
            self.damaged["shipments"].add(sid)
        self._insert("shipments", row, k == 0)
        if k == 0:
            self._update(
                "UPDATE {db}.orders SET status='shipped', updated_at=? WHERE id=?",
                (self.ts(t), o.id),
            )

    def send_email(self, t: int, customer_id: int, campaign: str, template: str) -> None:
        key = (customer_id, campaign)
        k = self.emails_sent.get(key, 0)
        self.emails_sent[key] = k + 1
        if k and campaign not in ("receipt", "incident-notice"):
            self.harm_ticks.append(t)
        eid = self._id("email_sends")
        row = (eid, customer_id, campaign, template, self.ts(t))
        self._put("INSERT OR IGNORE INTO main.email_sends VALUES (?,?,?,?,?)", row)

    def credit(self, t: int, customer_id: int, campaign: str, cents: int) -> None:
        key = (customer_id, campaign)
        k = self._credited.get(key, 0)
        self._credited[key] = k + 1
        cid = self._id("credits")
        if k:
            self.damaged["credits"].add(cid)
        self._insert("credits", (cid, customer_id, campaign, cents, self.ts(t)), k == 0)

    def migration(self, t: int, version: int, name: str) -> None:
        self._insert("schema_migrations", (version, name, self.ts(t)))

    def refund(
        self, t: int, payment_ids: Iterable[int], reason: str
    ) -> list[tuple[int, int] | None]:
        """Refund payments at the provider and book them, in one transaction; per payment, None if
        there is nothing left to refund, else (order id, cents)."""
        self.flush()
        c = self.conn
        out: list[tuple[int, int] | None] = []
        ts = self.ts(t)
        for payment_id in payment_ids:
            row = c.execute(
                "SELECT order_id, amount_cents FROM main.payments WHERE id=? AND status='succeeded'",
                (payment_id,),
            ).fetchone()
            # refunds booked by this call are not in the table yet: `_refunded` has them
            if row is None or payment_id in self._refunded:
                out.append(None)
                continue
            done = c.execute(
                "SELECT count(*) FROM main.refunds WHERE payment_id=?", (payment_id,)
            ).fetchone()[0]
            if done:
                out.append(None)
                continue
            self._refunded.add(payment_id)
            order_id, cents = int(row[0]), int(row[1])
            rid = self._id("refunds")
            ref = (
                rid,
                payment_id,
                cents,
                reason,
                refund_id(self.salt, rid),
                ts,
            )
            lid = self._id("ledger_entries")
            # the truth never refunds: whether a refund was right is measured at the provider
            self._insert("refunds", ref, None)
            self._insert(
                "ledger_entries", (lid, order_id, payment_id, rid, "refund", -cents, ts), None
            )
            out.append((order_id, cents))
        self.flush()
        return out

    def flush(self) -> None:
        if not self._ops:
            return
        c = self.conn
        c.execute("BEGIN")
        for sql, rows in sorted(self._ops.items(), key=_updates_last):
            c.executemany(sql, rows)
        c.execute("COMMIT")
        self._ops.clear()

    def after_player_write(self) -> None:
        """After the player's SQL: model-written rows continue above anything the player inserted,
        and what the model reads from the rows (customers' emails) is read again."""
        for table in TABLES:
            if table != "schema_migrations":
                self._next[table] = max(self._next[table], self._max_id(table) + 1)
        mailable = {
            r[0] for r in self.conn.execute("SELECT id FROM main.customers WHERE email IS NOT NULL")
        }
        self._unmailable = set(range(1, self.customers + 1)) - mailable

    # ------------------------------------------------------------------ reading
    def scalar(self, sql: str, args: tuple = ()) -> int:
        self.flush()
        row = self.conn.execute(sql, args).fetchone()
        return int(row[0] or 0) if row else 0

    def violations(self, sql: str) -> int:
        """Rows an invariant query returns (each one is a violation), under the console's limits
        and deadline but no step budget; raises InvariantFailed when it cannot run."""
        self.flush()
        if self._checker is None:
            self._checker = Sandbox(self.path, step_budget=None, max_rows=1)
        return count_rows(self._checker, sql)

    def _columns(self, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f"PRAGMA truth.table_info({table})")]

    def collateral(self) -> dict[str, int]:
        """Correct rows (in the truth, never damaged) now missing or changed, per table.

        Rows are matched by id, except where duplicates are interchangeable: a customer's credits
        and an order's shipments are matched by what they are, so keeping a later duplicate instead
        of the first is as good a repair as the other way round. `updated_at` is not compared."""
        self.flush()
        out: dict[str, int] = {}
        for table in COMPARED:
            key = KEYED.get(table)
            if key is not None:
                k = ", ".join(key)
                n = self.scalar(
                    f"SELECT coalesce(sum(max(0, t.n - coalesce(a.n, 0))), 0) FROM"
                    f" (SELECT {k}, count(*) AS n FROM truth.{table} GROUP BY {k}) t LEFT JOIN"
                    f" (SELECT {k}, count(*) AS n FROM main.{table} GROUP BY {k}) a USING ({k})"
                )
            else:
                cols = self._columns(table)
                diff = " OR ".join(f"a.{c} IS NOT t.{c}" for c in cols[1:] if c != "updated_at")
                ids = [
                    r[0]
                    for r in self.conn.execute(
                        f"SELECT t.{cols[0]} FROM truth.{table} t LEFT JOIN main.{table} a"
                        f" ON a.{cols[0]} = t.{cols[0]} WHERE a.{cols[0]} IS NULL OR {diff}"
                    )
                ]
                # a damaged row that still differs from the truth is unrepaired, not collateral
                damaged = self.damaged[table] | self.lost.get(table, set())  # or a failover lost
                n = sum(1 for i in ids if i not in damaged)
            if n:
                out[table] = n
        return out

    def wrong(self) -> int:
        """Order rows a fault wrote wrong that still are."""
        return len(self.wrong_orders() & self.damaged["orders"])

    def fingerprint(self) -> str:
        """A hash of every row of the application database, for determinism checks."""
        self.flush()
        h = hashlib.sha256()
        for table in TABLES:
            for row in self.conn.execute(f"SELECT * FROM main.{table} ORDER BY rowid"):
                h.update(repr(row).encode())
        return h.hexdigest()

    def console(self) -> Sandbox:
        """The player's SQL connection (opened on first use; it reaches this database only)."""
        self.flush()
        if self._console is None:
            self._console = Sandbox(
                self.path,
                writable=self.cfg.writable,
                allow_schema=self.cfg.allow_schema,
                cancel=self._cancel,
            )
        return self._console

    def has_pending(self) -> bool:
        """Whether the player has previewed writes waiting for `sql commit`."""
        return self._console is not None and bool(self._console.pending())

    def schema(self) -> dict[str, list[str]]:
        """Columns of each table of the application database, as the player sees it."""
        names = [
            r[0]
            for r in self.conn.execute(
                "SELECT name FROM main.sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {n: [r[1] for r in self.conn.execute(f"PRAGMA main.table_info({n})")] for n in names}

    def selector(self) -> Sandbox:
        """A read-only sandbox returning up to 50,000 rows, for commands that act on a query's ids."""
        self.flush()
        if self._selector is None:
            self._selector = Sandbox(self.path, max_rows=50_000, cancel=self._cancel)
        return self._selector

    def interrupt(self) -> None:
        """Cancel the player's statement running now, or about to start (from a signal handler
        or another thread): it ends with `Cancelled` and changes nothing, and so does every
        later one until `clear_cancel`. Invariant checks are not touched."""
        self._cancel.set()
        for box in (self._console, self._selector):
            if box is not None:
                box.interrupt()

    def clear_cancel(self) -> None:
        """Let the player's statements run again after `interrupt`."""
        self._cancel.clear()

    def close_sandboxes(self) -> None:
        """Close the SQL sandboxes (discarding previewed writes); they reopen when next asked
        for. Play that is over does this before the session is copied."""
        for box in (self._console, self._selector):
            if box is not None:
                box.close()
        self._console = self._selector = None

    def close(self) -> None:
        try:
            for box in (self._console, self._selector, self._checker):
                if box is not None:
                    box.close()
            self._console = self._selector = self._checker = None
            self.conn.close()
        finally:
            if self._tmp is not None:
                tempdirs.remove(self._tmp)
                self._tmp = None

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the connections, with both databases as file images: a copy (pickle
        or deepcopy) gets a folder and a database of its own, page for page the same, and SQL
        connections of its own when asked for (previewed writes, held by one, are refused)."""
        if self.has_pending():
            raise TypeError("not copied while previewed writes wait for `sql commit`")
        state = {k: v for k, v in self.__dict__.items() if k not in _NOT_COPIED}
        state["_images"] = (self.conn.serialize(name="main"), self.conn.serialize(name="truth"))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        main, truth = state.pop("_images")
        self.__dict__.update(state)
        self._console = self._selector = self._checker = None
        self._cancel = threading.Event()
        self._tmp = tempdirs.make("dojo-app-")
        self.path = Path(self._tmp) / "app.db"
        self.path.write_bytes(main)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("ATTACH DATABASE ':memory:' AS truth")
        self.conn.deserialize(truth, name="truth")

    def __del__(self) -> None:  # a temporary database does not outlive its run
        if getattr(self, "_tmp", None):
            self.close()


_NOT_COPIED = frozenset({"conn", "path", "_tmp", "_console", "_selector", "_checker", "_cancel"})
