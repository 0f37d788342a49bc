"""Reusable faults that incident files combine and parameterise.

A fault starts at a time or when a condition over the metrics first holds.
It changes the system only the way the real cause would (deploying a version
with traits, dropping an index, enqueuing a poisoned message, starting a
migration) and then lets the model carry the consequences. Whether its cause is
still present (`active`) is read from the model too, so removing the cause
through any action, foreseen or not, is recognised.

Adding a fault: write a `FaultSpec` subclass with a unique `kind`, implement
`begin` (and `evolve`/`active` when needed), and add it to `FAULT_TYPES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oncall_dojo.sim.config import VersionTraits
from oncall_dojo.sim.observability.logs import ERROR, INFO, WARN
from oncall_dojo.sim.observability.metrics import Condition

if TYPE_CHECKING:
    from oncall_dojo.sim.system import System


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    kind: str
    at: int | None = Field(default=None, ge=0)
    """Simulated second (from the start of the run) at which the fault begins."""
    when: Condition | None = None
    """Or: begin the first time this condition holds."""
    cause: bool = True
    """Part of the root cause (False for red herrings: removing it is not required)."""
    label: str = ""
    """Optional name used in the debrief."""
    summary: ClassVar[str] = ""

    @model_validator(mode="after")
    def _timing(self) -> FaultSpec:
        if (self.at is None) == (self.when is None):
            raise ValueError("give exactly one of `at` (seconds) or `when` (a condition)")
        return self

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def evolve(self, sys: System, t: int, state: dict[str, Any]) -> None:
        return None

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return True

    def describe(self) -> str:
        return self.label or self.summary


def _deploy(sys: System, t: int, service: str, version: str, traits: VersionTraits | None, author: str,
            percent: int = 100, note: str = "") -> None:  # fmt: skip
    if traits is not None:
        sys.cfg.versions.setdefault(service, {})[version] = traits
    sys.deploy(t, service, version, author, percent=percent, note=note)


def _runs_version(sys: System, service: str, version: str) -> bool:
    if service == "api":
        return sys.api_versions.get(version, 0) > 0 or any(v == version for v, _ in sys.api_rollout)
    pool = sys.pools.get(service)
    return pool is not None and any(r.version == version for r in pool.live)


class PoisonMessage(FaultSpec):
    """A message that kills every worker that takes it."""

    summary: ClassVar[str] = "a poison message crashes every worker that takes it"
    kind: Literal["poison_message"]
    queue: str
    """Queue the message lands on."""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        q = sys.queues[self.queue]
        run = q.enqueue(t, 1, poison=True)
        assert run is not None
        state["seq"] = run.first
        state["id"] = "msg_" + q.msg_id(run.first)

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        q = sys.queues[self.queue]
        seq = state["seq"]
        if any(r.first <= seq < r.first + r.count for r in q.waiting_runs()):
            return True
        pool = [p for p in sys.pools.values() if p.cfg.queue == self.queue]
        return any(
            run.first <= seq < run.first + run.count
            for p in pool
            for r in p.live
            for run, _ in r.inflight
        )


class BadDeploy(FaultSpec):
    """A deploy of a version with harmful traits (errors, slowness, leaks, crashes, corruption)."""

    summary: ClassVar[str] = "a bad deploy"
    kind: Literal["bad_deploy"]
    service: str
    """`api` or a worker pool name."""
    version: str
    traits: VersionTraits = VersionTraits()
    """What the version does wrong."""
    percent: int = Field(default=100, ge=1, le=100)
    """Share of replicas that get it."""
    author: str = "deploy-bot"
    note: str = ""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        _deploy(
            sys, t, self.service, self.version, self.traits, self.author, self.percent, self.note
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return _runs_version(sys, self.service, self.version)


class Deploy(BadDeploy):
    """A harmless deploy: the classic red herring."""

    summary: ClassVar[str] = "an unrelated deploy"
    kind: Literal["deploy"]  # type: ignore[assignment]
    cause: bool = False


class CorruptWrites(FaultSpec):
    """A release of the API that writes some order records wrong (units, currency, tenant)."""

    summary: ClassVar[str] = "a release writes corrupted records"
    kind: Literal["corrupt_writes"]
    version: str
    """API version that carries the bug."""
    fraction: float = Field(gt=0, le=1)
    """Share of the orders it writes that come out wrong."""
    corruption: str = "total_cents stored in dollars"
    """How the records are wrong, in words."""
    corrupts: Literal["cents_as_dollars", "null_currency", "wrong_tenant"] = "cents_as_dollars"
    """Which field comes out wrong in the application database (with `system.appdb`)."""
    percent: int = Field(default=100, ge=1, le=100)
    author: str = "release-train"
    note: str = ""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        traits = VersionTraits(
            corrupt_writes=self.fraction, corruption=self.corruption, corrupts=self.corrupts
        )
        _deploy(sys, t, "api", self.version, traits, self.author, self.percent, self.note)

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return _runs_version(sys, "api", self.version)


class WorkerCrashLoop(FaultSpec):
    """A worker version that cannot start (a panic at boot, or a config key it needs is missing)."""

    summary: ClassVar[str] = "workers crash-loop at startup"
    kind: Literal["worker_crash_loop"]
    pool: str
    version: str
    requires_config: str | None = None
    """Config key the new version needs; setting it (`config set KEY VALUE`) lets it start."""
    panic: str | None = None
    """Panic printed at every start (then only a rollback helps)."""
    author: str = "deploy-bot"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        traits = VersionTraits(requires_config=self.requires_config, crash_on_start=self.panic)
        _deploy(sys, t, self.pool, self.version, traits, self.author)

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        if not _runs_version(sys, self.pool, self.version):
            return False
        if self.panic:
            return True
        return self.requires_config is not None and self.requires_config not in sys.config


class MemoryLeak(FaultSpec):
    """A worker version that leaks memory until it is OOM-killed, over and over."""

    summary: ClassVar[str] = "a memory leak OOM-kills workers"
    kind: Literal["memory_leak"]
    pool: str
    version: str
    mb_per_min: float = Field(gt=0)
    author: str = "deploy-bot"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        _deploy(
            sys,
            t,
            self.pool,
            self.version,
            VersionTraits(memory_leak_mb_per_min=self.mb_per_min),
            self.author,
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return _runs_version(sys, self.pool, self.version)


class ThroughputDrop(FaultSpec):
    """A worker version that is slower per message (an N+1 query, a sync call added)."""

    summary: ClassVar[str] = "workers got slower per message"
    kind: Literal["throughput_drop"]
    pool: str
    version: str
    factor: float = Field(gt=1)
    """Service time multiplier."""
    author: str = "deploy-bot"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        _deploy(sys, t, self.pool, self.version, VersionTraits(latency_x=self.factor), self.author)

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return _runs_version(sys, self.pool, self.version)


class DependencySlowdown(FaultSpec):
    """The external payment provider slows down and/or fails, for a while or until the end."""

    summary: ClassVar[str] = "the payment provider degraded"
    kind: Literal["dependency_slowdown"]
    latency_x: float = Field(default=1.0, ge=1)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    duration_s: int | None = Field(default=None, ge=1)
    """How long the provider stays degraded (None: for the rest of the run)."""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        sys.provider_latency_x = self.latency_x
        sys.provider_extra_error = self.error_rate
        state["until"] = None if self.duration_s is None else t + self.duration_s
        sys.log(
            t,
            300,
            "payments-provider",
            WARN,
            'statuspage.provider.example incident="Elevated latency and errors on the Charges API" status=investigating',
        )

    def evolve(self, sys: System, t: int, state: dict[str, Any]) -> None:
        if state.get("until") is not None and t >= state["until"]:
            sys.provider_latency_x = 1.0
            sys.provider_extra_error = 0.0
            state["until"] = None
            state["over"] = True
            sys.log(
                t,
                300,
                "payments-provider",
                INFO,
                'statuspage.provider.example incident="Elevated latency and errors on the Charges API" status=resolved',
            )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return not state.get("over", False)


class ConfigChange(FaultSpec):
    """A runtime config or feature-flag change, optionally giving services traits while it stands."""

    summary: ClassVar[str] = "a config change"
    kind: Literal["config_change", "flag_change"]
    key: str
    """Config key or flag name."""
    value: bool | int | float | str
    traits: dict[str, VersionTraits] = {}
    """Traits per service while the key has this value."""
    author: str = "ops-console"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        store = sys.flags if self.kind == "flag_change" else sys.config
        before = store.get(self.key)
        store[self.key] = self.value
        for service, tr in self.traits.items():
            sys.conditional_traits.append((self.kind, self.key, self.value, service, tr))
        sys.record_change(
            t,
            "flag" if self.kind == "flag_change" else "config",
            self.key,
            str(before),
            str(self.value),
            self.author,
        )
        sys.log(
            t,
            4,
            "deployer",
            INFO,
            f"config-service {'flag' if self.kind == 'flag_change' else 'config'} changed key={self.key} from={before} to={self.value} by={self.author}",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        store = sys.flags if self.kind == "flag_change" else sys.config
        return store.get(self.key) == self.value


class RetryStorm(ConfigChange):
    """Retries without backoff: every timeout turns into more calls to an already slow dependency."""

    summary: ClassVar[str] = "retries without backoff amplify load on a slow dependency"
    kind: Literal["retry_storm"]  # type: ignore[assignment]
    key: str = "payments.retry.backoff"
    value: bool | int | float | str = "none"
    max_attempts: int = Field(default=6, ge=2)

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        sys.config["payments.retry.max_attempts"] = self.max_attempts
        before = sys.config.get(self.key)
        sys.config[self.key] = self.value
        sys.record_change(
            t,
            "config",
            self.key,
            str(before),
            str(self.value),
            self.author,
            f"and payments.retry.max_attempts={self.max_attempts}",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return (
            sys.config.get(self.key) == self.value
            and int(sys.config.get("payments.retry.max_attempts", 1)) > 2
        )


class MissingIndex(FaultSpec):
    """An index the hot path needs is dropped (a migration split into add and remove)."""

    summary: ClassVar[str] = "an index the hot path needs was dropped"
    kind: Literal["missing_index"]
    index: str
    author: str = "migrate-bot"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        table = sys.db.indexes.pop(self.index, None)
        state["table"] = table
        sys.record_change(
            t,
            "migration",
            table or "?",
            self.index,
            "dropped",
            self.author,
            f"DROP INDEX {self.index}",
        )
        sys.log(
            t,
            5,
            "postgres",
            INFO,
            f"postgres-0 LOG: statement: DROP INDEX CONCURRENTLY {self.index}",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return self.index not in sys.db.indexes


class MigrationLock(FaultSpec):
    """A migration waits for an exclusive lock behind a long query; every query on the table queues."""

    summary: ClassVar[str] = "a migration waits on a lock and blocks the table"
    kind: Literal["migration_lock"]
    table: str
    sql: str = "ALTER TABLE orders ADD COLUMN discount_cents integer NOT NULL DEFAULT 0"
    blocker_sql: str = "SELECT customer_id, sum(total_cents) FROM orders GROUP BY 1 ORDER BY 2 DESC"
    blocker_remaining_s: int = Field(default=2400, ge=1)
    """How much longer the long-running query would run."""
    migration_s: int = Field(default=3, ge=1)
    author: str = "migrate-bot"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        blocker = sys.db.start_backend(
            t - 600,
            "analytics",
            self.table,
            self.blocker_sql,
            self.blocker_remaining_s + 600,
            "metabase",
        )
        blocker.holding, blocker.done_at = True, t + self.blocker_remaining_s
        mig = sys.db.start_backend(
            t, "migration", self.table, self.sql, self.migration_s, "migrate", exclusive=True
        )
        state["pid"] = mig.pid
        state["blocker"] = blocker.pid
        sys.record_change(t, "migration", self.table, "", self.sql, self.author)
        sys.log(
            t,
            6,
            "deployer",
            INFO,
            f"migrate-job release=2026.03.14-1 running migration 0142_add_discount: {self.sql}",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return any(b.pid == state["pid"] and not b.holding for b in sys.db.backends)


class DiskFill(FaultSpec):
    """A job writes a local spool to the database volume until it is full; then writes fail."""

    summary: ClassVar[str] = "a runaway job fills the database volume"
    kind: Literal["disk_fill"]
    job: str
    """A `disk` job in `system.jobs` to start."""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        sys.start_job(t, self.job, author="cron")

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return sys.jobs[self.job].state == "running"


class CacheLoss(FaultSpec):
    """Cache nodes are replaced with empty ones; every read misses until it refills."""

    summary: ClassVar[str] = "the cache lost its contents"
    kind: Literal["cache_loss"]

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        sys.cache_hit = 0.0
        sys.record_change(
            t,
            "deploy",
            "cache",
            "redis-7.2 x3",
            "redis-7.2 x3 (nodes replaced)",
            "platform-bot",
            "node pool upgrade",
        )
        sys.log(
            t,
            7,
            "cache",
            WARN,
            "redis-cluster-0 cluster nodes replaced during node-pool upgrade; keyspace empty",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return sys.cache_hit < 0.8 * sys.cfg.cache.hit_ratio


class LedgerReadOnly(FaultSpec):
    """The ledger store comes back read-only; charges succeed at the provider but cannot be recorded."""

    summary: ClassVar[str] = "the ledger store is read-only, so charges are retried"
    kind: Literal["ledger_read_only"]
    idempotency_keys: bool = False
    """Whether charge retries carry an idempotency key (the code path in question did not)."""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        sys.ledger_error = "READONLY You can't write against a read only replica."
        sys.config["payments.idempotency_keys"] = self.idempotency_keys
        sys.log(
            t,
            8,
            "postgres",
            ERROR,
            "ledger-0 # MASTER MODE enabled after resync; replica-read-only yes",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return sys.ledger_error is not None


class TrafficSpike(FaultSpec):
    """Traffic multiplies for a while (a campaign, a crawler)."""

    summary: ClassVar[str] = "a traffic spike"
    kind: Literal["traffic_spike"]
    factor: float = Field(gt=1)
    duration_s: int = Field(ge=1)
    cause: bool = False

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        state["base"] = sys.cfg.traffic.base_rps
        sys.cfg.traffic.base_rps *= self.factor
        state["until"] = t + self.duration_s

    def evolve(self, sys: System, t: int, state: dict[str, Any]) -> None:
        if "base" in state and t >= state["until"]:
            sys.cfg.traffic.base_rps = state.pop("base")

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return "base" in state


class SchemaChange(FaultSpec):
    """A migration changes what the messages carry; consumers built for the old schema fail on them.

    Affected consumers buy the shipment label first and then fail to publish the shipment, so every
    redelivery buys another label until the message is dead-lettered (needs `system.appdb`)."""

    summary: ClassVar[str] = "a schema change breaks a consumer"
    kind: Literal["schema_change"]
    consumer: str
    """Worker pool whose running version does not understand the new schema."""
    version: int | None = Field(default=None, ge=1)
    """Schema version after the migration (default: one more than now)."""
    name: str = "rename_orders_currency"
    """Migration name, as recorded in `schema_migrations`."""
    sql: str = "ALTER TABLE orders RENAME COLUMN currency TO currency_code"
    """What the migration ran (shown in the change history)."""
    error: str = "KeyError: 'currency'"
    """What an old consumer fails with."""
    author: str = "migrate-bot"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        sys.schema_version = self.version or sys.schema_version + 1
        sys.schema_error = self.error
        if sys.app is not None:
            sys.app.migration(t, sys.schema_version, self.name)
        sys.record_change(t, "migration", "orders", "", self.sql, self.author, self.name)
        sys.log(t, 0, "postgres", INFO,
                f'postgres-0 LOG: migration {sys.schema_version}_{self.name} applied: {self.sql}')  # fmt: skip

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        pool = sys.pools.get(self.consumer)
        if pool is None:
            return False
        for r in pool.live:
            top = sys.traits(pool.name, r.version).schema_max
            if top is not None and top < sys.schema_version:
                return True
        return False


class JobBadRow(FaultSpec):
    """A customer row a batch job cannot process (its email was erased on request): the job fails on
    it every run, and a job without checkpoints redoes everything before it on each retry."""

    summary: ClassVar[str] = "a batch job fails on one row and reruns from the start"
    kind: Literal["job_bad_row"]
    job: str
    """The job that fails on the row."""
    customer: int = Field(ge=1)
    """Customer id whose email is erased (the job's item `customer - 1`)."""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        if sys.app is None:
            raise ValueError("job_bad_row needs system.appdb")
        sys.app.set_customer_email(self.customer, None)

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        job = sys.jobs.get(self.job)
        if job is None or sys.app is None:
            return False
        will_reach = job.state == "running" or (job.state == "failed" and job.retry_at is not None)
        return (
            will_reach
            and job.progress <= self.customer - 1
            and not sys.app.has_email(self.customer)
        )


class PartialDeploy(FaultSpec):
    """A rollout that stopped part-way: some replicas of a pool still run the previous version.

    Active while any replica runs a version other than the target, so finishing the rollout ends it
    and rolling every replica back to the old version does not."""

    summary: ClassVar[str] = "a rollout left some replicas on the old version"
    kind: Literal["partial_deploy"]
    pool: str
    """Worker pool being rolled out."""
    version: str
    """Version the rollout was meant to put everywhere."""
    percent: int = Field(default=67, ge=1, le=99)
    """Share of replicas it reached before it stopped."""
    traits: VersionTraits = VersionTraits()
    author: str = "release-train"
    note: str = ""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        _deploy(sys, t, self.pool, self.version, self.traits, self.author, self.percent, self.note)

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        pool = sys.pools[self.pool]
        return any(r.version != self.version for r in pool.live)


class ReusedFlag(FaultSpec):
    """A flag turned on for new code, which older versions still read for a retired code path.

    While the flag has `value`, replicas of the pool running one of `legacy_versions` get the
    `legacy` traits (Knight Capital's repurposed flag woke dead code on the one server the new
    release had missed). Active while the flag holds and any such replica is running."""

    summary: ClassVar[str] = "a reused flag wakes a retired code path on old replicas"
    kind: Literal["reused_flag"]
    key: str
    """The flag."""
    value: bool | int | float | str = True
    pool: str
    """Worker pool whose old versions still read the flag."""
    legacy_versions: list[str] = Field(min_length=1)
    """Versions that still carry the retired code path."""
    legacy: VersionTraits
    """What the retired code path does."""
    author: str = "product-bot"
    note: str = ""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        before = sys.flags.get(self.key)
        sys.flags[self.key] = self.value
        for v in self.legacy_versions:
            sys.conditional_traits.append(
                ("flag_change", self.key, self.value, f"{self.pool}@{v}", self.legacy)
            )
        sys.record_change(t, "flag", self.key, str(before), str(self.value), self.author, self.note)
        sys.log(
            t,
            4,
            "deployer",
            INFO,
            f"config-service flag changed key={self.key} from={before} to={self.value} by={self.author}",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        if sys.flags.get(self.key) != self.value:
            return False
        return any(r.version in self.legacy_versions for r in sys.pools[self.pool].live)


FAULT_TYPES: tuple[type[FaultSpec], ...] = (
    PoisonMessage, BadDeploy, Deploy, CorruptWrites, WorkerCrashLoop, MemoryLeak, ThroughputDrop,
    DependencySlowdown, ConfigChange, RetryStorm, MissingIndex, MigrationLock, DiskFill,
    CacheLoss, LedgerReadOnly, TrafficSpike, SchemaChange, JobBadRow, PartialDeploy, ReusedFlag,
)  # fmt: skip

if TYPE_CHECKING:
    AnyFault = FaultSpec
else:
    # one registry: a kind in FAULT_TYPES can be written in an incident file, and only those
    AnyFault = Annotated[Union[FAULT_TYPES], Field(discriminator="kind")]  # noqa: UP007


class Fault:
    """A fault in a running system: its spec, when it began, and its private state."""

    def __init__(self, spec: FaultSpec, index: int) -> None:
        self.spec = spec
        self.index = index
        self.started: int | None = None
        self.state: dict[str, Any] = {}
        self.ended: int | None = None

    def tick(self, sys: System, t: int) -> None:
        spec = self.spec
        if self.started is None:
            due = (spec.at is not None and t >= spec.at) or (
                spec.when is not None and t > 0 and sys.holds(spec.when)
            )
            if due:
                self.started = t
                spec.begin(sys, t, self.state)
            return
        spec.evolve(sys, t, self.state)
        if self.ended is None and not spec.active(sys, self.state):
            self.ended = t
        elif self.ended is not None and spec.active(sys, self.state):
            self.ended = None  # the cause came back (a fix undone)

    def active(self, sys: System) -> bool:
        return self.started is not None and self.spec.active(sys, self.state)
