"""The shop's catalogue, and its customers and orders derived from a salt.

Every customer, order, charge id and label id is a pure function of the salt (derived from the
run's seed) and its number, so the same run always holds the same rows, whichever are asked
for first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

PRODUCTS = (
    ("Trail runner shoes", 8900),
    ("Merino crew socks", 1800),
    ("Rain shell jacket", 14900),
    ("Insulated bottle", 3200),
    ("Daypack 24L", 7400),
    ("Headlamp", 3900),
    ("Camp mug", 1400),
    ("Sun hoodie", 5600),
    ("Trekking poles", 11900),
    ("Chalk bag", 2400),
    ("Bike light set", 4500),
    ("Yoga mat", 6800),
    ("Wool beanie", 2900),
    ("Packable down vest", 12900),
    ("Bamboo tee", 3400),
    ("Climbing tape", 700),
    ("Hydration bladder", 3600),
    ("First aid kit", 2700),
    ("Gaiters", 4200),
    ("Buff neck gaiter", 2200),
)
COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "CA", "NL", "AU", "SE")
CURRENCY = {
    "US": "USD",
    "GB": "GBP",
    "DE": "EUR",
    "FR": "EUR",
    "CA": "CAD",
    "NL": "EUR",
    "AU": "AUD",
    "SE": "SEK",
}
DOMAINS = ("example.com", "mail.test", "inbox.example", "post.example.org", "fastmail.test")
CARRIERS = ("UPS", "DHL", "USPS", "FedEx")
TENANTS = ("shopfront-us", "shopfront-eu")
SUFFIXES = {"Miss", "Jr", "Sr", "II", "III", "IV", "MD", "DDS", "PhD", "DVM"}


def mix(x: int) -> int:
    """splitmix64: a well-mixed 64-bit value from an integer, the same on every platform."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


@dataclass
class Order:
    id: int
    customer_id: int
    tenant_id: str
    total_cents: int
    currency: str
    items: list[tuple[int, int, int]]
    """(product id, qty, unit price)"""


Customer = tuple[int, str, str, str, str, str]
"""(id, email, name, country, tenant, created_at)"""


def make_customer(salt: int, names: Sequence[str], i: int, ts: Callable[[int], str]) -> Customer:
    h = mix(salt ^ (i * 0x51ED27))
    name = names[h % len(names)]
    words = [w for w in name.split() if not w.endswith(".") and w not in SUFFIXES] or ["alex"]
    local = f"{words[0]}.{words[-1]}{(h >> 20) % 1000}".lower()
    local = "".join(ch for ch in local if ch.isalnum() or ch == ".")
    country = COUNTRIES[(h >> 32) % len(COUNTRIES)]
    tenant = TENANTS[0 if country in ("US", "CA", "AU") else 1]
    email = f"{local}@{DOMAINS[(h >> 40) % len(DOMAINS)]}"
    created = ts(-86_400 * (30 + (h >> 48) % 700))
    return (i, email, name, country, tenant, created)


def make_order(salt: int, customers: int, oid: int) -> Order:
    """The order with id `oid`: its customer and its items."""
    h = mix(salt ^ (oid * 0x2545F491))
    cust = 1 + (oid * 7919 + (h & 0xFF)) % customers
    country = COUNTRIES[(mix(salt ^ (cust * 0x51ED27)) >> 32) % len(COUNTRIES)]
    items = []
    for k in range(1 + h % 3):
        p = (h >> (8 + 5 * k)) % len(PRODUCTS)
        qty = 1 + (h >> (30 + 2 * k)) % 2
        items.append((p + 1, qty, PRODUCTS[p][1]))
    tenant = TENANTS[0 if country in ("US", "CA", "AU") else 1]
    return Order(oid, cust, tenant, sum(q * u for _, q, u in items), CURRENCY[country], items)


def charge_id(salt: int, pid: int) -> str:
    return f"ch_{mix(salt ^ (pid * 0x9E37)) & 0xFFFFFFFFFFFF:012x}"


def label_id(salt: int, oid: int, k: int) -> str:
    return f"1Z{mix(salt ^ (oid * 0x3C6E + k)) % 10**12:012d}"


def refund_id(salt: int, rid: int) -> str:
    return f"re_{mix(salt ^ rid) & 0xFFFFFFFFFFFF:012x}"


def corrupt(row: tuple, how: str) -> tuple:
    """An order row as a buggy release writes it."""
    oid, cust, tenant, total, currency, *rest = row
    if how == "cents_as_dollars":
        return (oid, cust, tenant, total // 100, currency, *rest)
    if how == "null_currency":
        return (oid, cust, tenant, total, None, *rest)
    if how == "wrong_tenant":
        return (oid, cust, "shopfront-default", total, currency, *rest)
    raise ValueError(f"unknown corruption {how!r}")
