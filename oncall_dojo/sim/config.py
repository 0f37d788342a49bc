"""The shape of the simulated backend: every knob an incident file may override.

`SystemConfig()` is a complete small shop: an HTTP API in front of a primary
database with a replica and a cache, three queues with their worker pools, an
external payment provider and a job scheduler. Incident files override parts
of it under `system:`; unknown keys are errors, so a typo never passes silently.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oncall_dojo.sim.botconfig import AUTOMATION_NAME, DeployBotConfig
from oncall_dojo.sim.hostconfig import HOST_NAME, HostConfig
from oncall_dojo.sim.topology import ClusterSpec, LinkSpec, Name, SiteSpec

Scalar = bool | int | float | str


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class RetryPolicy(_Model):
    """How the clients of a route retry a request that failed: any status but success (a 5xx, a
    503 from the connection pool or load shedding, a 504, a 429 from a rate limit or ramp), and a
    success slower than `timeout_s`. A retry comes back after its backoff as one more request on
    the route; a client whose last attempt failed gives up."""

    max_attempts: int | None = Field(default=3, ge=1, le=100)
    """Attempts per request, the first included (1: never retry; null: retry until it succeeds)."""
    backoff: Literal["fixed", "exponential"] = "exponential"
    """`fixed` waits `base_s` before every retry; `exponential` waits `base_s`, then twice that,
    four times... up to `cap_s`."""
    base_s: float = Field(default=1.0, ge=0.01, le=3600, allow_inf_nan=False)
    """Wait before the first retry, in seconds. Waits are counted in the simulation's whole
    seconds: one shorter than a second comes back in the next second."""
    cap_s: float = Field(default=60.0, ge=0.01, le=86_400, allow_inf_nan=False)
    """Longest wait of an exponential backoff."""
    jitter: Literal["none", "full", "equal"] = "none"
    """`none`: every client waits exactly its backoff, so clients that failed together come back
    together (synchronized waves); `full`: the clients that failed together are spread evenly
    over the seconds from 1 to the backoff; `equal`: over its second half."""
    timeout_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """The client stops waiting after this long and retries (null: it waits for the server's own
    timeout). The server still does the work of the request it left."""

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> RetryPolicy:
        if self.backoff == "exponential" and self.cap_s < self.base_s:
            raise ValueError(
                f"`cap_s` ({self.cap_s:g}) must not be below `base_s` ({self.base_s:g})"
            )
        return self


class TrafficConfig(_Model):
    base_rps: float = Field(default=60.0, ge=0)
    """Mean requests per second at the daily peak."""
    diurnal_amplitude: float = Field(default=0.35, ge=0, le=1)
    """How far traffic dips at the daily trough (0 = flat, 1 = to zero)."""
    peak_hour: float = Field(default=15.0, ge=0, lt=24)
    """Hour of the day (UTC) of the traffic peak."""
    noise: float = Field(default=0.08, ge=0, le=1)
    """Relative size of minute-to-minute noise."""
    retry: RetryPolicy | None = None
    """How clients of every route retry failed requests (null: they do not; a route's own
    `retry` takes precedence)."""


class RouteConfig(_Model):
    share: float = Field(ge=0, le=1)
    """Fraction of all requests that hit this route."""
    base_ms: float = Field(default=20.0, gt=0)
    """Time spent in the API itself, before dependencies."""
    queries: dict[str, float] = {}
    """Query shapes run on every request, with how many times each."""
    cache: bool = False
    """Whether the route reads through the cache first."""
    on_miss: dict[str, float] = {}
    """Query shapes run on a cache miss."""
    enqueue: dict[str, float] = {}
    """Messages put on each queue per successful request."""
    provider_calls: float = 0.0
    """Synchronous calls to the payment provider per request."""
    cpu_ms: float = 3.0
    """CPU time per request on an API replica."""
    creates_order: bool = False
    """A successful request writes one order record."""
    retry: RetryPolicy | None = None
    """How this route's clients retry failed requests (null: as `traffic.retry` says)."""


def _default_routes() -> dict[str, RouteConfig]:
    return {
        "GET /api/products": RouteConfig(
            share=0.42, base_ms=12, cache=True, on_miss={"product_list": 1}
        ),
        "GET /api/orders/:id": RouteConfig(share=0.24, base_ms=10, queries={"order_by_id": 1}),
        "GET /api/account": RouteConfig(
            share=0.14, base_ms=8, cache=True, on_miss={"user_by_id": 1}
        ),
        "POST /api/cart": RouteConfig(share=0.10, base_ms=15, queries={"cart_upsert": 1}),
        "POST /api/checkout": RouteConfig(
            share=0.10,
            base_ms=35,
            queries={"cart_by_user": 1, "order_insert": 1},
            enqueue={"payments": 1, "emails": 1, "fulfillment": 1},
            creates_order=True,
        ),
    }


class ApiConfig(_Model):
    replicas: int = Field(default=4, ge=0, le=200)
    """API replicas behind the load balancer."""
    version: str = "v3.41.0"
    """Version running at the start."""
    cpu_ms_per_replica: float = Field(default=1000.0, gt=0)
    """CPU milliseconds one replica can spend per second."""
    timeout_s: float = Field(default=5.0, gt=0)
    """Requests slower than this fail with 504."""
    pool_size: int = Field(default=40, ge=1)
    """Database connections shared by the API fleet."""
    pool_timeout_s: float = Field(default=1.0, gt=0)
    """How long a request waits for a free connection before failing with 503."""
    routes: dict[str, RouteConfig] = Field(default_factory=_default_routes)
    """Routes, by `METHOD /path`."""
    cost_per_replica_hour: float = Field(default=0.20, ge=0)
    """Dollars per replica-hour."""


QueueKind = Literal["charge", "email", "fulfillment", "generic"]


class QueueConfig(_Model):
    kind: QueueKind = "generic"
    """What processing a message does: `charge` calls the payment provider and writes the ledger."""
    visibility_timeout_s: int = Field(default=30, ge=1)
    """How long a delivered message stays invisible before it is redelivered if not acknowledged."""
    max_receive_count: int | None = Field(default=None, ge=1)
    """After this many deliveries a message moves to the dead-letter queue (None: never)."""
    objective_s: int = Field(default=300, ge=1)
    """Messages should be processed within this many seconds of being enqueued."""
    producer_rps: float = Field(default=0.0, ge=0)
    """Messages per second from producers other than the API."""
    amount_cents: int = Field(default=4_900, ge=0)
    """Average charge for `charge` messages."""
    durable: bool = True
    """Messages are persisted: they survive a broker restart (False: held in memory only and lost
    when the broker restarts)."""


def _default_queues() -> dict[str, QueueConfig]:
    return {
        "payments": QueueConfig(kind="charge", objective_s=300),
        "emails": QueueConfig(kind="email", objective_s=600),
        "fulfillment": QueueConfig(kind="fulfillment", objective_s=900),
    }


class AutoscaleConfig(_Model):
    """An autoscaler that sets a pool's replica count from its queue's backlog (KEDA-style) or
    from its CPU use (HPA-style)."""

    min_replicas: int = Field(default=1, ge=0)
    """Fewest replicas it scales down to."""
    max_replicas: int = Field(default=40, ge=1)
    """Most replicas it scales up to."""
    target_per_replica: int = Field(default=50, ge=1)
    """Waiting messages per replica it aims for: desired = ceil(waiting / target) (`backlog`)."""
    scale_down_delay_s: int = Field(default=300, ge=0)
    """It scales down only to the highest desired count of this many past seconds."""
    enabled: bool = True
    """Whether it is managing the pool (`autoscale POOL off` turns it off)."""
    metric: Literal["backlog", "cpu"] = "backlog"
    """What it reads: `backlog`, the queue's waiting messages (KEDA); `cpu`, the pool's CPU use
    against `target_cpu` (a Kubernetes HPA: desired = ceil(replicas x use / target))."""
    target_cpu: float = Field(default=0.6, gt=0, le=1)
    """With `metric: cpu`, the share of its CPU a replica should use."""


class WorkerPoolConfig(_Model):
    queue: str
    """The queue this pool consumes."""
    replicas: int = Field(default=2, ge=0, le=500)
    """Replicas running at the start."""
    max_replicas: int = Field(default=40, ge=1)
    """The most replicas the cluster will schedule."""
    concurrency: int = Field(default=4, ge=1, le=256)
    """Messages one replica works on at once."""
    service_s: float = Field(default=0.4, gt=0)
    """Seconds of work per message, before dependencies."""
    queries: dict[str, float] = {}
    """Query shapes run per message."""
    memory_mb: float = Field(default=280.0, gt=0)
    """Resident memory of a healthy replica."""
    memory_limit_mb: float = Field(default=1024.0, gt=0)
    """Container memory limit; above it the replica is OOM-killed."""
    startup_s: int = Field(default=15, ge=0)
    """Seconds from start to ready."""
    version: str = "v1.0.0"
    """Version running at the start."""
    cost_per_replica_hour: float = Field(default=0.12, ge=0)
    """Dollars per replica-hour."""
    autoscale: AutoscaleConfig | None = None
    """An autoscaler for this pool (None: the replica count is set by hand)."""
    hosts: dict[Annotated[str, Field(pattern=HOST_NAME)], HostConfig] = {}
    """Named machines that run the pool's processes while they are up (empty: the pool's
    `replicas` run on anonymous nodes). With hosts, the pool starts one process per
    schedulable host and `replicas` is not used; scaled (`scale`, `autoscale`), it places new
    processes on the schedulable hosts with the fewest and removes them from the busiest."""


def _default_pools() -> dict[str, WorkerPoolConfig]:
    return {
        "billing": WorkerPoolConfig(
            queue="payments",
            replicas=2,
            concurrency=4,
            service_s=0.3,
            queries={"ledger_insert": 1},
            version="v2.8.3",
        ),
        "mailer": WorkerPoolConfig(
            queue="emails", replicas=2, concurrency=8, service_s=0.6, version="v1.12.0"
        ),
        "fulfillment": WorkerPoolConfig(
            queue="fulfillment",
            replicas=2,
            concurrency=4,
            service_s=0.8,
            queries={"order_update": 1},
            version="v4.2.1",
        ),
    }


class QueryShape(_Model):
    table: str
    """Table the query touches."""
    base_ms: float = Field(default=2.0, gt=0)
    """Execution time with its index in place and an idle database."""
    index: str | None = None
    """Index the plan needs; without it the query scans the table."""
    scan_ms_per_krow: float = Field(default=0.6, ge=0)
    """Extra milliseconds per 1,000 table rows when the index is missing."""
    write: bool = False
    """Writes (blocked by exclusive locks and by a full disk, replicated to the replica)."""
    sql: str = ""
    """What it looks like in pg_stat_activity and slow-query logs."""


def _default_shapes() -> dict[str, QueryShape]:
    return {
        "product_list": QueryShape(
            table="products",
            base_ms=6,
            index="products_pkey",
            sql="SELECT * FROM products WHERE active ORDER BY rank LIMIT 50",
        ),
        "order_by_id": QueryShape(
            table="orders",
            base_ms=1.5,
            index="orders_pkey",
            sql="SELECT * FROM orders WHERE id = $1",
        ),
        "user_by_id": QueryShape(
            table="users", base_ms=1.2, index="users_pkey", sql="SELECT * FROM users WHERE id = $1"
        ),
        "cart_upsert": QueryShape(
            table="carts",
            base_ms=2.5,
            index="carts_user_id_idx",
            write=True,
            sql="INSERT INTO carts (user_id, sku, qty) VALUES ($1,$2,$3) ON CONFLICT DO UPDATE",
        ),
        "cart_by_user": QueryShape(
            table="carts",
            base_ms=2.0,
            index="carts_user_id_idx",
            sql="SELECT * FROM carts WHERE user_id = $1",
        ),
        "order_insert": QueryShape(
            table="orders",
            base_ms=3.0,
            write=True,
            sql="INSERT INTO orders (user_id, total_cents, currency) VALUES ($1,$2,$3)",
        ),
        "order_update": QueryShape(
            table="orders",
            base_ms=2.5,
            index="orders_pkey",
            write=True,
            sql="UPDATE orders SET status = $2 WHERE id = $1",
        ),
        "ledger_insert": QueryShape(
            table="ledger_entries",
            base_ms=2.0,
            write=True,
            sql="INSERT INTO ledger_entries (order_id, amount_cents, kind) VALUES ($1,$2,$3)",
        ),
    }


class DatabaseConfig(_Model):
    cpu_ms: float = Field(default=4_000.0, gt=0)
    """Query milliseconds the primary can execute per second (cores x 1000)."""
    max_connections: int = Field(default=120, ge=1)
    """Connection limit of the primary."""
    tables: dict[str, int] = Field(
        default_factory=lambda: {
            "products": 12_000,
            "orders": 2_400_000,
            "users": 310_000,
            "carts": 90_000,
            "ledger_entries": 4_800_000,
        }
    )
    """Rows per table at the start."""
    indexes: dict[str, str] = Field(
        default_factory=lambda: {
            "products_pkey": "products",
            "orders_pkey": "orders",
            "users_pkey": "users",
            "carts_user_id_idx": "carts",
            "orders_user_id_idx": "orders",
        }
    )
    """Indexes present at the start, with their table."""
    shapes: dict[str, QueryShape] = Field(default_factory=_default_shapes)
    """Query shapes the application runs."""
    disk_gb: float = Field(default=200.0, gt=0)
    """Size of the data volume."""
    disk_used_gb: float = Field(default=118.0, ge=0)
    """Space used at the start."""
    kb_per_write: float = Field(default=6.0, ge=0)
    """Disk growth (table, index and WAL) per written row."""
    replica_apply_per_s: float = Field(default=400.0, gt=0)
    """Writes per second the replica can replay."""
    index_build_rows_per_s: float = Field(default=60_000.0, gt=0)
    """Rows per second a blocking index build reads on an idle database; a concurrent build goes at half
    that, and both slow down when the database is busy."""


class CacheConfig(_Model):
    hit_ratio: float = Field(default=0.95, ge=0, le=1)
    """Hit ratio of a warm cache."""
    warm_s: float = Field(default=900.0, gt=0)
    """Seconds a cold cache needs to refill at normal traffic."""
    memory_mb: float = Field(default=3_000.0, gt=0)
    """Memory used when warm."""


class ProviderConfig(_Model):
    latency_ms: float = Field(default=220.0, gt=0)
    """Provider response time when healthy."""
    error_rate: float = Field(default=0.002, ge=0, le=1)
    """Fraction of calls that fail when healthy."""
    timeout_s: float = Field(default=3.0, gt=0)
    """Client timeout on provider calls."""
    capacity_rps: float = Field(default=60.0, gt=0)
    """Calls per second the provider accepts from us before it slows and throttles."""
    fee_cents: int = Field(default=30, ge=0)
    """Fee per successful charge."""
    load_window_s: int = Field(default=1, ge=1, le=120)
    """Seconds over which the provider's load builds and drains (its own request backlog): 1 reacts
    to each second alone; longer makes an overload outlast a quiet second."""


JobKind = Literal["email", "write", "enqueue", "repair", "disk", "credit", "script"]


class JobConfig(_Model):
    kind: JobKind
    """`email` sends one email per item, `write` writes rows, `enqueue` puts messages on a queue,
    `repair` fixes corrupted order records, `disk` writes a spool file to the database volume,
    `credit` gives each customer (item N is customer N) a store credit and emails them about it
    (needs `appdb`), `script` only works through its items (a cleanup or maintenance script:
    what they do is a resource's `per_item`)."""
    total: int = Field(default=10_000, ge=0)
    """Items to process (0 for a job that runs until stopped)."""
    rate_per_s: float = Field(default=20.0, gt=0)
    """Items per second while running."""
    checkpoint: bool = True
    """Whether progress is saved per item; without it a rerun starts from the first item."""
    queue: str | None = None
    """Target queue of an `enqueue` job."""
    table: str | None = None
    """Target table of a `write` job."""
    mb_per_item: float = Field(default=0.0, ge=0)
    """Disk written per item by a `disk` job."""
    state: Literal["idle", "running", "paused", "done"] = "idle"
    """State at the start."""
    schedule_every_s: int | None = Field(default=None, ge=60)
    """Run from the start every so many seconds (cron); None for a one-off job."""
    campaign: str = ""
    """Campaign name for email and credit jobs."""
    credit_cents: int = Field(default=500, ge=0)
    """Store credit per customer for `credit` jobs."""
    retry_after_s: int | None = Field(default=None, ge=10)
    """The scheduler restarts a failed job after this many seconds (None: a failed job stays failed)."""


DEFAULT_CONFIG: dict[str, Scalar] = {
    "payments.retry.max_attempts": 3,
    "payments.retry.backoff": "exponential",
    "payments.idempotency_keys": True,
}


class SloConfig(_Model):
    availability: float = Field(default=0.999, gt=0, lt=1)
    """Target fraction of good requests."""
    latency_s: float = Field(default=1.0, gt=0)
    """Requests slower than this count as bad."""
    window_days: int = Field(default=30, ge=1)
    """Window of the error budget."""


class VersionTraits(_Model):
    """What running a particular version does differently. Faults attach these to versions or flags."""

    error_rate: dict[str, float] = {}
    """Extra failure probability per API route (`*` for all)."""
    latency_x: float = Field(default=1.0, gt=0)
    """Multiplier on the service's own time (API base time or worker service time)."""
    cpu_x: float = Field(default=1.0, gt=0)
    """Multiplier on CPU per request (API)."""
    memory_leak_mb_per_min: float = Field(default=0.0, ge=0)
    """Memory growth per minute of uptime (workers)."""
    crash_on_start: str | None = None
    """Panic message printed at startup (workers); the replica never becomes ready."""
    requires_config: str | None = None
    """Config key whose absence makes the replica crash at startup (workers)."""
    requires_values: list[Scalar] | None = Field(default=None, min_length=1)
    """Values of `requires_config` the version starts with (workers; None: any value). With any
    other value the replica panics at startup, naming the value it read."""
    corrupt_writes: float = Field(default=0.0, ge=0, le=1)
    """Fraction of orders this version writes with a corrupted amount (API)."""
    corruption: str = "total_cents stored in dollars"
    """How a corrupted record is wrong, in words (for logs and the debrief)."""
    extra_queries: dict[str, float] = {}
    """Additional query shapes run per request (API) or message (workers)."""
    tolerates_poison: bool = False
    """Workers of this version reject malformed payloads instead of crashing on them."""
    message_error_rate: float = Field(default=0.0, ge=0, le=1)
    """Fraction of messages this version fails and returns to the queue (workers): a dependency or
    credential it needs rejects the call."""
    message_error: str | None = None
    """The error a failure of this version is logged with: a failed message (workers; default
    `upstream call failed`) or a failed request, one its `error_rate` fails (API; default a
    serializer `TypeError`). `${name}` values may be used."""
    charges_per_message: int = Field(default=1, ge=1, le=20)
    """Charges a `charge` consumer makes per message; above 1 the extra charges go out without an
    idempotency key (a legacy code path that charges again)."""
    fanout: dict[str, float] = {}
    """Messages put on each queue per message processed (workers); a consumer whose output lands
    where its own input comes from triggers itself."""
    corrupts: Literal["cents_as_dollars", "null_currency", "wrong_tenant"] = "cents_as_dollars"
    """Which field a corrupted order gets wrong in the application database (API, with `appdb`)."""
    schema_max: int | None = None
    """Highest schema version this consumer understands; on a newer schema it buys the shipment label,
    then fails on the message (workers, with `appdb`). None: any."""
    dedupes: bool = False
    """The consumer checks for an existing shipment before buying a label (idempotent on redelivery)."""

    @model_validator(mode="after")
    def _values_of_a_key(self) -> VersionTraits:
        if self.requires_values is not None and self.requires_config is None:
            raise ValueError(
                "`requires_values` needs `requires_config`, the key they are values of"
            )
        return self


class Invariant(_Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    """Short name, used as the `invariant` label of `data_invariant_violations`."""
    sql: str
    """A query over the application database returning one row per violation."""
    why: str = ""
    """What a violation means for customers or the books, for the debrief."""


class AppDbConfig(_Model):
    """The shop's business data in a real SQLite database (customers, orders, payments, ledger...)."""

    customers: int = Field(default=2_000, ge=10, le=50_000)
    """Customers seeded at the start."""
    history_orders: int = Field(default=3_000, ge=0, le=100_000)
    """Settled orders from the week before the incident."""
    writable: list[str] = [
        "orders",
        "payments",
        "ledger_entries",
        "shipments",
        "credits",
        "customers",
    ]
    """Tables the SQL console may change (INSERT, UPDATE, DELETE)."""
    allow_schema: bool = False
    """Whether the console may create indexes and tables or alter them."""
    invariants: list[Invariant] = []
    """What correct data satisfies; checked every `check_every_s` and at the end (scoring)."""
    check_every_s: int = Field(default=300, ge=60)
    """How often the data-quality checks run and export their violations as a metric."""
    schema_version: int = Field(default=41, ge=1)
    """Schema version at the start."""


class BrokerConfig(_Model):
    """The message broker every queue lives in."""

    max_messages: int | None = Field(default=None, ge=100)
    """Memory high watermark, in waiting messages across all queues: above it the broker blocks
    every publisher until it falls below 90% of it (None: no limit). Dead-letter queues are kept
    on disk and do not count."""
    restart_s: int = Field(default=60, ge=1)
    """Seconds a broker restart takes, during which nobody can publish."""


class SystemConfig(_Model):
    start: str = "2026-03-14T03:00:00Z"
    """Wall-clock time of tick 0 (ISO 8601)."""
    traffic: TrafficConfig = TrafficConfig()
    api: ApiConfig = ApiConfig()
    queues: dict[str, QueueConfig] = Field(default_factory=_default_queues)
    workers: dict[str, WorkerPoolConfig] = Field(default_factory=_default_pools)
    database: DatabaseConfig = DatabaseConfig()
    cache: CacheConfig = CacheConfig()
    provider: ProviderConfig = ProviderConfig()
    jobs: dict[str, JobConfig] = {}
    flags: dict[str, Scalar] = {}
    """Feature flags and their values at the start."""
    config: dict[str, Scalar] = Field(default_factory=lambda: dict(DEFAULT_CONFIG))
    """Runtime configuration keys and their values at the start."""
    versions: dict[str, dict[str, VersionTraits]] = {}
    """Traits of particular versions, by service then version."""
    flag_traits: dict[str, dict[str, VersionTraits]] = {}
    """Traits a flag adds to services while it is on, by flag then service."""
    slo: SloConfig = SloConfig()
    broker: BrokerConfig = BrokerConfig()
    history: list[HistoryEntry] = []
    """Changes that happened before the incident (shown in the change history)."""
    appdb: AppDbConfig | None = None
    """The application database; data incidents turn it on."""
    deploy_bots: dict[Annotated[str, Field(pattern=AUTOMATION_NAME)], DeployBotConfig] = {}
    """Deploy bots and GitOps controllers that change the system by themselves, by their
    automation name (`argocd`, `release-train`)."""
    sites: dict[Name, SiteSpec] = {}
    """Zones or regions, by name, that clusters' instances run in (see "Topology" in
    docs/authoring.md)."""
    links: dict[Name, LinkSpec] = {}
    """Network links between two sites, by name: replication across one slows when it degrades
    and stops while it is partitioned."""
    clusters: dict[Name, ClusterSpec] = {}
    """Database clusters, by name: `postgres` declares the shop's own database (its replicas,
    site, auto-failover); any other name is a further cluster holding some of the tables."""

    @classmethod
    def with_overrides(cls, overrides: dict[str, Any] | None) -> SystemConfig:
        """The default system with an incident's (or a test's) overrides deep-merged in."""
        return cls.model_validate(merge(cls().model_dump(by_alias=True), overrides or {}))


class HistoryEntry(_Model):
    ago_s: int = Field(ge=0)
    """How long before tick 0 it happened."""
    kind: Literal["deploy", "flag", "config", "migration"] = "deploy"
    target: str
    """Service, flag or config key."""
    value: str
    """Version or new value. A `deploy` of a service's version is one it ran before: `rollback`
    returns to the latest of them that is not the version it runs now; and a pool's processes
    have run since the deploy of the version they run."""
    author: str = "deploy-bot"
    note: str = ""


SystemConfig.model_rebuild()


def merge(base: dict, override: dict) -> dict:
    """Deep-merge an override mapping into a base mapping (override wins; mappings merge)."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out
