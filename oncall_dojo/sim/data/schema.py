"""The application database's tables, indexes, and which tables scoring compares with the truth."""

from __future__ import annotations

TABLES: dict[str, str] = {
    "customers": "id INTEGER PRIMARY KEY, email TEXT, name TEXT NOT NULL, country TEXT NOT NULL,"
    " tenant_id TEXT NOT NULL, created_at TEXT NOT NULL",
    "products": "id INTEGER PRIMARY KEY, sku TEXT NOT NULL, name TEXT NOT NULL, price_cents INTEGER NOT NULL",
    "orders": "id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, tenant_id TEXT, total_cents INTEGER,"
    " currency TEXT, status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL",
    "order_items": "id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, product_id INTEGER NOT NULL,"
    " qty INTEGER NOT NULL, unit_price_cents INTEGER NOT NULL",
    "payments": "id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, amount_cents INTEGER NOT NULL,"
    " currency TEXT, status TEXT NOT NULL, provider_charge_id TEXT, idempotency_key TEXT,"
    " created_at TEXT NOT NULL",
    "refunds": "id INTEGER PRIMARY KEY, payment_id INTEGER NOT NULL, amount_cents INTEGER NOT NULL,"
    " reason TEXT, provider_refund_id TEXT, created_at TEXT NOT NULL",
    "ledger_entries": "id INTEGER PRIMARY KEY, order_id INTEGER, payment_id INTEGER, refund_id INTEGER,"
    " kind TEXT NOT NULL, amount_cents INTEGER NOT NULL, created_at TEXT NOT NULL",
    "shipments": "id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, carrier TEXT NOT NULL,"
    " label_id TEXT NOT NULL, created_at TEXT NOT NULL",
    "email_sends": "id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, campaign TEXT NOT NULL,"
    " template TEXT NOT NULL, sent_at TEXT NOT NULL",
    "credits": "id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, campaign TEXT NOT NULL,"
    " amount_cents INTEGER NOT NULL, created_at TEXT NOT NULL",
    "schema_migrations": "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL",
}
_MARKS = {name: ",".join("?" * (cols.count(",") + 1)) for name, cols in TABLES.items()}
INSERTS: dict[str, tuple[str, str]] = {
    name: (
        f"INSERT OR IGNORE INTO main.{name} VALUES ({marks})",
        f"INSERT OR IGNORE INTO truth.{name} VALUES ({marks})",
    )
    for name, marks in _MARKS.items()
}
"""Each table's insert of a whole row, into the application database and into the truth (one `?`
per column: a comma in a table's definition above always separates two columns)."""
INDEXES = (
    "CREATE INDEX {db}.order_items_order_id ON order_items(order_id)",
    "CREATE INDEX {db}.payments_order_id ON payments(order_id)",
    "CREATE INDEX {db}.refunds_payment_id ON refunds(payment_id)",
    "CREATE INDEX {db}.ledger_payment_id ON ledger_entries(payment_id)",
    "CREATE INDEX {db}.ledger_order_id ON ledger_entries(order_id)",
    "CREATE INDEX {db}.shipments_order_id ON shipments(order_id)",
    "CREATE INDEX {db}.orders_customer_id ON orders(customer_id)",
    "CREATE INDEX {db}.credits_customer ON credits(customer_id, campaign)",
    "CREATE INDEX {db}.email_sends_customer ON email_sends(customer_id, campaign)",
)
"""The application database's indexes. The truth has none: it is only read whole, by scoring,
and every row the model writes is written to both, so its indexes would double the cost."""
COMPARED = (
    "customers",
    "orders",
    "order_items",
    "payments",
    "ledger_entries",
    "shipments",
    "credits",
)
"""Tables whose correct rows the truth keeps; a correct row the player changed or deleted is collateral damage."""
KEYED = {"credits": ("customer_id", "campaign", "amount_cents"), "shipments": ("order_id",)}
"""Tables whose rows are matched by what they are rather than by id."""
