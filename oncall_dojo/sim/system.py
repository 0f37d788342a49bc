"""The simulated backend: every component, advanced one simulated second per tick.

`System` is the facade: it builds the components, owns them and calls them in the tick order,
and offers the verbs and state the game acts through. The components live in `components/`
(the services), `observability/` (metrics, logs, alerts) and `data/` (business records).

Order within a tick: changes roll out, faults evolve, the incident's timed events due happen,
the deploy bots act, the hosts' disks fill, the queues release what is due, the scheduler runs jobs, the broker (alarm, producers) and the
autoscalers act, the API serves requests (reading dependency latencies from the end of the
previous tick), worker pools consume their queues, the incident's resources move and set their
thresholds' effects for the next tick (`world.py`), then the provider, the database and the cache settle their state for the next
tick, the application data is flushed and checked, telemetry is recorded and alerts evaluated,
and the database's query latencies are worked out for the next tick.
All randomness comes from `self.rng`; nothing reads the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from oncall_dojo.sim.automation import Automations
from oncall_dojo.sim.components.api import Api
from oncall_dojo.sim.components.autoscaler import Autoscaler
from oncall_dojo.sim.components.broker import Broker
from oncall_dojo.sim.components.cache import Cache
from oncall_dojo.sim.components.charges import Charges
from oncall_dojo.sim.components.clusters import Topology
from oncall_dojo.sim.components.consumers import Consumers
from oncall_dojo.sim.components.database import Database
from oncall_dojo.sim.components.deploybot import DeployBot
from oncall_dojo.sim.components.hosts import Fleet, place_hosts
from oncall_dojo.sim.components.jobs import Job, Scheduler
from oncall_dojo.sim.components.latency import LOGNORMAL
from oncall_dojo.sim.components.pool import Replica, WorkerPool, hash_name
from oncall_dojo.sim.components.provider import Provider
from oncall_dojo.sim.components.queue import Queue
from oncall_dojo.sim.components.shards import Shards
from oncall_dojo.sim.components.traits import TraitBook
from oncall_dojo.sim.components.workers import Workers
from oncall_dojo.sim.config import SystemConfig, VersionTraits
from oncall_dojo.sim.data.appdb import AppDb
from oncall_dojo.sim.data.quality import check_data
from oncall_dojo.sim.data.records import Records
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.observability.alerts import EVAL_INTERVAL_S, AlertManager, AlertRule
from oncall_dojo.sim.observability.logs import INFO, WARN, LogStore, parse_start
from oncall_dojo.sim.observability.metrics import Condition, MetricStore
from oncall_dojo.sim.observability.telemetry import Telemetry
from oncall_dojo.sim.rng import RequestDraws, SimRandom

T = TypeVar("T")


@dataclass
class Change:
    tick: int
    kind: str  # deploy | rollback | flag | config | migration | scale | restart | index | ...
    target: str
    before: str
    after: str
    author: str
    note: str = ""


class _Via(Generic[T]):
    """State a component owns, read and written through the system as `system.name`."""

    def __init__(self, component: str, attr: str) -> None:
        self.component = component
        self.attr = attr

    def __get__(self, obj: Any, owner: Any = None) -> T:
        value: T = getattr(getattr(obj, self.component), self.attr)
        return value

    def __set__(self, obj: Any, value: T) -> None:
        setattr(getattr(obj, self.component), self.attr, value)


def _stable_salt(name: str) -> int:
    return (hash_name(name) * 2654435761) & 0xFFFFFFFF


class System:
    """The whole fake backend. Build it from a `SystemConfig` and a seed, then call `tick()`."""

    def __init__(self, cfg: SystemConfig, seed: int, rules: list[AlertRule] | None = None) -> None:
        self.cfg = cfg = cfg.model_copy(deep=True)  # faults change it; the caller's stays intact
        self.rng = rng = SimRandom(seed)
        self.t = 0
        self.start = parse_start(cfg.start)
        self.logs = LogStore(self.start)
        self.metrics = MetricStore(capacity=4096)
        self.identities = rng.identities
        """Seeded pools of fake emails, addresses and names the components pick from."""
        draws = RequestDraws(
            rng.derive_bits(), LOGNORMAL, self.identities.emails, self.identities.ips
        )
        self.queues = {n: Queue(n, q, _stable_salt(n)) for n, q in cfg.queues.items()}
        self._charge_cents = next(
            (c.amount_cents for c in cfg.queues.values() if c.kind == "charge"), 0
        )
        """What an order costs without the application database: the charge queue's average."""
        self.db = Database(cfg.database)
        self.pools = self._build_pools(cfg)
        """Worker pools by name."""
        self.previous_versions: dict[str, list[str]] = {"api": [], **{n: [] for n in self.pools}}
        self.flags: dict[str, Any] = dict(cfg.flags)
        self.config: dict[str, Any] = dict(cfg.config)
        self.changes = [
            Change(-h.ago_s, h.kind, h.target, "", h.value, h.author, h.note)
            for h in sorted(cfg.history, key=lambda h: -h.ago_s)
        ]
        for h in sorted(cfg.history, key=lambda h: -h.ago_s):
            if h.kind == "deploy" and h.target in self.previous_versions:
                self.previous_versions[h.target].append(h.value)  # what `rollback` returns to
        for svc, prev in self.previous_versions.items():
            current = cfg.api.version if svc == "api" else cfg.workers[svc].version
            while prev and prev[-1] == current:
                prev.pop()
        for h in sorted(cfg.history, key=lambda h: -h.ago_s):  # the processes have run since
            pool = self.pools.get(h.target)  # the last deploy of their version
            if h.kind == "deploy" and pool is not None and h.value == pool.version:
                for r in pool.replicas:
                    r.started = -h.ago_s
        self.records = Records()
        self.app: AppDb | None = None
        """The application database (data incidents)."""
        if cfg.appdb is not None:
            self.app = AppDb(cfg.appdb, rng.derive("appdb"), self.start, self.identities.names)
        self.notified: set[int] = set()
        """Customers sent an apology (`notify`)."""
        self.rules = list(rules or [])
        self.alerts = AlertManager(self.rules)
        self.faults: list[Any] = []  # filled by the fault timeline (see `oncall_dojo.sim.faults`)
        self.cost_dollars = 0.0
        self.world: Any = None
        """The incident's own resources and timed events, a `World` (`oncall_dojo.sim.world`:
        `add_world` sets it before the first tick); None when it has neither."""
        self.automation = Automations()
        """Everything that changes the system by itself, by name (`freeze`, `thaw`)."""
        self._build_components(cfg, draws)
        self.bots = [DeployBot(self, n, b, self.automation) for n, b in cfg.deploy_bots.items()]
        """The incident's deploy bots, ticked after the timed events."""
        self.fleet = (
            Fleet(self.pools, self.workers) if any(p.hosts for p in self.pools.values()) else None
        )
        """The pools' named hosts (None: no pool has any)."""
        self.topology = (
            Topology(cfg, self.telemetry, self.db, self.app, self.record_change, self.automation)
            if cfg.clusters or cfg.sites or cfg.links
            else None
        )
        """The incident's database clusters, sites and links (`components.clusters`); None when
        it declares none, and the database replicates as it always has."""
        self.shards = (
            Shards(cfg, self.telemetry, self.db, self.workers)
            if any(c.engine is not None for c in cfg.clusters.values())
            else None
        )
        """The clusters that run their own query engine (`components.shards`); None when none
        does, and every query runs on the shop's database."""
        self.api.shards = self.shards

    def _build_pools(self, cfg: SystemConfig) -> dict[str, WorkerPool]:
        pools = {}
        for name, p in cfg.workers.items():
            if p.queue not in self.queues:
                raise ValueError(f"worker pool {name} consumes unknown queue {p.queue!r}")
            pool = WorkerPool(
                name, p, version=p.version, pod_hash=f"{hash_name(name + p.version) & 0xFFFFF:05x}"
            )
            if p.hosts:
                place_hosts(pool, p)
            for _ in range(0 if p.hosts else p.replicas):
                r = pool.new_replica(-p.startup_s - 600)
                r.state, r.memory = "running", p.memory_mb
            pools[name] = pool
        return pools

    def _build_components(self, cfg: SystemConfig, draws: RequestDraws) -> None:
        rng, db, queues, records, app = self.rng, self.db, self.queues, self.records, self.app
        self.telemetry = tm = Telemetry(cfg, self.metrics, self.logs, queues, self.pools, cfg.jobs)
        self.traitbook = traits = TraitBook(cfg, self.flags, self.config)
        self.provider = provider = Provider(cfg, rng, tm, records)
        self.cache = cache = Cache(cfg, db, tm)
        self.broker = broker = Broker(cfg, rng, tm, queues)
        self.charges = Charges(cfg, rng, tm, traits, db, provider, app, self.identities.emails)
        self.consumers = Consumers(
            rng,
            tm,
            traits,
            db,
            broker,
            records,
            app,
            self.charges,
            cfg.appdb.schema_version if cfg.appdb else 1,
        )
        self.workers = Workers(self.pools, queues, traits, db, provider, tm, self.consumers, rng)
        self.autoscaler = Autoscaler(self.workers, self.automation)
        self.scheduler = Scheduler(cfg.jobs, tm, db, queues, records, app)
        self.api = Api(
            cfg,
            rng,
            tm,
            self.start,
            draws,
            traits,
            db,
            cache,
            provider,
            broker,
            queues,
            records,
            app,
        )

    # ------------------------------------------------------------------ state the game reads
    api_versions: _Via[dict[str, int]] = _Via("api", "versions")
    api_version: _Via[str] = _Via("api", "version")
    api_rollout: _Via[list[tuple[str, int]]] = _Via("api", "rollout")
    rate_limits: _Via[dict[str, float]] = _Via("api", "rate_limits")
    ramps: _Via[dict[str, tuple[int, float, float, int]]] = _Via("api", "ramps")
    pool_in_use: _Via[float] = _Via("api", "pool_in_use")
    total_requests: _Via[int] = _Via("api", "total_requests")
    bad_requests: _Via[int] = _Via("api", "bad_requests")
    slow_requests: _Via[int] = _Via("api", "slow_requests")
    cache_hit: _Via[float] = _Via("cache", "hit")
    cache_flushes: _Via[int] = _Via("cache", "flushes")
    provider_latency_x: _Via[float] = _Via("provider", "latency_x")
    provider_extra_error: _Via[float] = _Via("provider", "extra_error")
    provider_load: _Via[float] = _Via("provider", "load")
    publish_error: _Via[str | None] = _Via("broker", "publish_error")
    ledger_error: _Via[str | None] = _Via("charges", "ledger_error")
    consumers_paused: _Via[set[str]] = _Via("workers", "paused")
    schema_version: _Via[int] = _Via("consumers", "schema_version")
    schema_error: _Via[str] = _Via("consumers", "schema_error")
    jobs: _Via[dict[str, Job]] = _Via("scheduler", "jobs")
    conditional_traits: _Via[list[tuple[str, str, Any, str, VersionTraits]]] = _Via(
        "traitbook", "conditional"
    )
    g_cost: _Via[int] = _Via("telemetry", "g_cost")
    g_q: _Via[dict[str, dict[str, int]]] = _Via("telemetry", "g_q")
    g_w: _Via[dict[str, dict[str, int]]] = _Via("telemetry", "g_w")
    g_invariants: _Via[dict[str, int]] = _Via("telemetry", "g_invariants")

    def traits(self, service: str, version: str) -> VersionTraits:
        return self.traitbook.get(service, version)

    def provider_latency_s(self) -> float:
        return self.provider.latency_s()

    def services(self) -> list[str]:
        return ["api", *self.pools]

    def holds(self, c: Condition) -> bool:
        return self.metrics.holds(c, self.t - 1)

    # ------------------------------------------------------------------ time
    def clock(self, t: int | None = None) -> str:
        return self.logs.timestamp(self.t if t is None else t) + "Z"

    # ------------------------------------------------------------------ tick
    def tick(self) -> None:
        t = self.t
        self.api.roll(t)
        for f in self.faults:
            f.tick(self, t)
        world = self.world
        if world is not None:
            world.happen(t)
        if self.bots:
            for bot in self.bots:
                bot.tick(t)
        if self.fleet is not None and self.fleet.filling:
            self.fleet.tick(t)
        self.provider.start_tick()
        for q in self.queues.values():
            if q.delayed:  # only messages waiting out a visibility timeout have anything to do
                q.tick(t)
        self.scheduler.tick(t)
        if self.broker.active:
            self.broker.tick(t)
            if t % EVAL_INTERVAL_S == 0:
                self.autoscaler.tick(t)
        self.api.tick(t)
        self.workers.tick(t)
        if world is not None:
            world.settle(t)
        self.provider.settle()
        self._settle_database(t)
        self.cache.settle()
        if self.app is not None:
            self._tick_app(t)
        self._record(t)
        if t % EVAL_INTERVAL_S == 0:
            for ev in self.alerts.evaluate(self.metrics, t):
                lvl = WARN if ev.state == "firing" else INFO
                self.log(
                    t,
                    999,
                    "alertmanager",
                    lvl,
                    f'alertmanager-0 alert={ev.name} state={ev.state} severity={ev.severity} summary="{ev.summary}"',
                )
        self.db.end_tick()
        self.logs.flush(t)
        self.t = t + 1

    def _settle_database(self, t: int) -> None:
        for kind, b in self.db.tick(t):
            if kind == "acquired" and b.kind in ("migration", "index_build"):
                self.log(
                    t,
                    0,
                    "postgres",
                    INFO,
                    f'{b.instance} LOG: process {b.pid} acquired lock on relation "{b.table}"; running: {b.sql}',
                )
            elif kind == "finished":
                self.log(
                    t,
                    1,
                    "postgres",
                    INFO,
                    f"{b.instance} LOG: process {b.pid} finished ({b.kind}) after {t - b.started} s: {b.sql}",
                )
                if b.kind == "index_build" and b.index:
                    self.record_change(t, "index", b.index, "building", "ready", "postgres")
        if self.topology is not None:
            self.topology.settle(t)

    def _tick_app(self, t: int) -> None:
        app = self.app
        assert app is not None and self.cfg.appdb is not None
        if t % 60 == 0:
            # readers flush first, so batching a minute is invisible to them; fewer, larger
            # transactions write each page of the database file fewer times
            app.flush()
        if t % self.cfg.appdb.check_every_s == 0:
            self.check_data()

    def check_data(self) -> dict[str, int]:
        """Run the data-quality checks now: violations per invariant (exported as a metric)."""
        assert self.app is not None and self.cfg.appdb is not None
        return check_data(self.app, self.cfg.appdb, self.records, self.telemetry)

    def _record(self, t: int) -> None:
        """This tick's gauges, from each component's state; then the row is committed."""
        tm = self.telemetry
        row = self.metrics.row
        self.api.record()
        self._record_database()
        self.broker.record(t)
        row[tm.g_wrong] = len(self.records.corrupted)
        self.cache.record()
        self.provider.record()
        self.scheduler.record()
        per_hour = self.api.cost_per_hour()
        per_hour += self.workers.cost_per_hour()
        row[tm.g_cost] = per_hour
        self.cost_dollars += per_hour / 3600.0
        if self.topology is not None:
            self.topology.record()
        if self.shards is not None:
            self.shards.record()
        self.metrics.commit(t)

    def _record_database(self) -> None:
        tm = self.telemetry
        row = self.metrics.row
        db = self.db
        in_use = self.api.pool_in_use
        row[tm.g_pg_cpu] = db.cpu_util
        # (min() of two numbers written as a conditional: no call)
        conns = in_use + self.workers.connections() + len(db.backends) + 3
        most = db.cfg.max_connections
        row[tm.g_pg_conn] = conns if conns < most else most
        row[tm.g_pg_lag] = db.replication_lag_s
        disk = db.disk_used_gb / db.disk_gb
        row[tm.g_pg_disk] = disk if disk < 1.0 else 1.0
        waiting = 0.0
        for b in db.backends:
            if b.exclusive and not b.holding:
                waiting += 1 + in_use
        row[tm.g_pg_locks] = waiting
        row[tm.c_pg_seq] += db.seq_scans
        row[tm.c_pg_xact] += sum(db.queries.values())
        latency = db._latency
        for shape, i in tm.g_shape.items():
            row[i] = latency[shape]

    def log(self, t: int, ms: int, service: str, level: int, text: str) -> None:
        self.telemetry.log(t, ms, service, level, text)

    # ------------------------------------------------------------------ verbs
    def record_change(
        self, t: int, kind: str, target: str, before: str, after: str, author: str, note: str = ""
    ) -> None:
        self.changes.append(Change(t, kind, target, before, after, author, note))

    def deploy(
        self, t: int, service: str, version: str, author: str, percent: int = 100, note: str = ""
    ) -> None:
        before = self._current_label(service) if service in self.previous_versions else ""
        if service == "api":
            replaced = self.api.deploy(t, version, percent)
            if replaced is not None:
                self.previous_versions["api"].append(replaced)
        elif service in self.pools:
            pool = self.pools[service]
            live = pool.live
            if percent >= 100 and live and all(r.version == version for r in live):
                raise Refusal(f"{service} already runs {version} on every replica")
            if percent >= 100 and pool.version != version:
                self.previous_versions[service].append(pool.version)
                pool.version = version
            self.workers.roll_out(t, pool, version, percent)
        else:
            raise Refusal(f"unknown service {service!r}; services: {', '.join(self.services())}")
        note = note or (f"{percent}% rollout" if percent < 100 else "")
        self.record_change(t, "deploy", service, before, version, author, note)
        self.log(
            t,
            2,
            "deployer",
            INFO,
            f"argo-rollouts rollout started service={service} version={version} percent={percent} by={author}",
        )

    def _current_label(self, service: str) -> str:
        if service == "api":
            return self.api.label()
        return ",".join(sorted({r.version for r in self.pools[service].live}))

    def scale_pool(self, pool: WorkerPool, n: int) -> int:
        """Scale a pool to n replicas now: new ones start, removed ones stop (what they held goes
        back to the queue). Returns how many replicas were added (negative: removed)."""
        return self.workers.scale(pool, n, self.t)

    def restart_replica(self, pool: WorkerPool, r: Replica, at: int) -> None:
        """Stop a replica now (what it held goes back to the queue); a new one on its version
        starts at `at`."""
        self.workers.terminate(pool, r, self.t)
        pool.replace(r, at, r.version)

    def _terminate(self, pool: WorkerPool, r: Replica, t: int) -> None:
        self.workers.terminate(pool, r, t)

    def start_job(self, t: int, name: str, author: str, from_item: int | None = None) -> Job:
        return self.scheduler.start(t, name, author, from_item)

    def restart_broker(self, t: int) -> int:
        """Restart the broker: nobody can publish for a while, and transient queues lose what waits."""
        return self.broker.restart(t)

    def order_cents(self, order: int) -> int:
        """What the model's order number `order` costs: its real total when the application
        database exists, else the charge queue's average amount."""
        if self.app is not None:
            return self.app.order(order).total_cents
        return self._charge_cents
