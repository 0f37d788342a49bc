"""The simulated backend: every component, advanced one simulated second per tick.

Order within a tick: changes roll out, faults evolve, the scheduler runs jobs,
the API serves requests (reading dependency latencies from the end of the
previous tick), worker pools consume their queues, then the database, cache
and provider settle their state for the next tick, and telemetry is recorded.
All randomness comes from `self.rng`; nothing reads the wall clock.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oncall_dojo.sim.components.database import BLOCKED_MS, Database
from oncall_dojo.sim.components.pool import Replica, WorkerPool, backoff_s, done_tick, hash_name
from oncall_dojo.sim.components.queue import Queue, Run
from oncall_dojo.sim.config import JobConfig, SystemConfig, VersionTraits
from oncall_dojo.sim.data.appdb import AppDb
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.observability.alerts import EVAL_INTERVAL_S, AlertManager, AlertRule
from oncall_dojo.sim.observability.logs import (
    DEBUG,
    ERROR,
    FATAL,
    INFO,
    WARN,
    LogStore,
    parse_start,
)
from oncall_dojo.sim.observability.metrics import LATENCY_BUCKETS, Condition, MetricStore
from oncall_dojo.sim.rng import RequestDraws, SimRandom

NO_TRAITS = VersionTraits()
TWO_PI = 2 * math.pi
ROLLOUT_STEP_S = 20


@dataclass
class Change:
    tick: int
    kind: str  # deploy | rollback | flag | config | migration | scale | restart | index | ...
    target: str
    before: str
    after: str
    author: str
    note: str = ""


@dataclass
class Job:
    name: str
    cfg: JobConfig
    state: str
    progress: int = 0
    acc: float = 0.0
    runs: int = 0
    next_run: int | None = None
    sends: np.ndarray | None = None
    repair_targets: list[int] = field(default_factory=list)
    items_done: int = 0
    retry_at: int | None = None
    """When the scheduler restarts a failed job."""


@dataclass
class Records:
    """Business records the model keeps exact track of (orders, charges, emails)."""

    orders: int = 0
    corrupted: dict[int, str] = field(default_factory=dict)
    """order number -> the version that wrote it wrong"""
    repaired: int = 0
    charges: dict[int, int] = field(default_factory=dict)
    """order number -> successful charges at the provider"""
    refunded: dict[int, int] = field(default_factory=dict)
    emails: int = 0

    @property
    def duplicate_charges(self) -> int:
        return sum(max(0, n - 1 - self.refunded.get(o, 0)) for o, n in self.charges.items())

    def duplicate_cents(self, cents_of: Callable[[int], int]) -> int:
        """Money taken twice: each extra charge at what its order costs."""
        return sum(
            max(0, n - 1 - self.refunded.get(o, 0)) * cents_of(o) for o, n in self.charges.items()
        )


def _stable_salt(name: str) -> int:
    return (hash_name(name) * 2654435761) & 0xFFFFFFFF


class System:
    """The whole fake backend. Build it from a `SystemConfig` and a seed, then call `tick()`."""

    def __init__(
        self,
        cfg: SystemConfig,
        seed: int,
        rules: list[AlertRule] | None = None,
    ) -> None:
        self.cfg = cfg = cfg.model_copy(deep=True)  # faults change it; the caller's stays intact
        self.rng = SimRandom(seed)
        self.t = 0
        self.start = parse_start(cfg.start)
        self.logs = LogStore(self.start)
        self.metrics = MetricStore(capacity=4096)
        self.identities = self.rng.identities
        """Seeded pools of fake emails, addresses and names the components pick from."""
        self.draws = RequestDraws(
            self.rng.derive_bits(), LOGNORMAL, self.identities.emails, self.identities.ips
        )
        self.queues = {n: Queue(n, q, _stable_salt(n)) for n, q in cfg.queues.items()}
        self.db = Database(cfg.database)
        self.pools: dict[str, WorkerPool] = {}
        for name, p in cfg.workers.items():
            if p.queue not in self.queues:
                raise ValueError(f"worker pool {name} consumes unknown queue {p.queue!r}")
            pool = WorkerPool(
                name, p, version=p.version, pod_hash=f"{hash_name(name + p.version) & 0xFFFFF:05x}"
            )
            for _ in range(p.replicas):
                r = pool.new_replica(-p.startup_s - 600)
                r.state, r.memory = "running", p.memory_mb
            self.pools[name] = pool
        self.api_versions: dict[str, int] = {cfg.api.version: cfg.api.replicas}
        self.api_rollout: list[tuple[str, int]] = []  # (target version, replicas still to switch)
        self.api_rollout_next = 0
        self.api_version = cfg.api.version
        self.previous_versions: dict[str, list[str]] = {"api": []}
        for name in self.pools:
            self.previous_versions[name] = []
        self.flags: dict[str, Any] = dict(cfg.flags)
        self.config: dict[str, Any] = dict(cfg.config)
        self.changes: list[Change] = []
        for h in sorted(cfg.history, key=lambda h: -h.ago_s):
            self.changes.append(Change(-h.ago_s, h.kind, h.target, "", h.value, h.author, h.note))
        self.rate_limits: dict[str, float] = {}
        # (store, key, value, service, traits): traits a service has while flags/config hold a value;
        # value None means "while truthy"
        self.conditional_traits: list[tuple[str, str, Any, str, VersionTraits]] = [
            ("flag_change", flag, None, service, tr)
            for flag, per in cfg.flag_traits.items()
            for service, tr in per.items()
        ]
        self.poison_acked = 0
        self.cache_hit = cfg.cache.hit_ratio
        self.cache_flushes = 0
        self.provider_latency_x = 1.0
        self.provider_extra_error = 0.0
        self.provider_calls = 0.0
        self.provider_calls_prev = 0.0
        self.provider_load = 0.0
        self._prov_lat = 0.0
        self._prov_err = 0.0
        self.ledger_error: str | None = None
        self.records = Records()
        self.app: AppDb | None = None
        """The application database (data incidents)."""
        self.notified: set[int] = set()
        """Customers sent an apology (`notify`)."""
        self.schema_version = cfg.appdb.schema_version if cfg.appdb else 1
        self.schema_error = ""
        """What a consumer that does not understand the current schema fails with."""
        if cfg.appdb is not None:
            self.app = AppDb(cfg.appdb, self.rng.derive("appdb"), self.start, self.identities.names)
        self.jobs = {
            n: Job(n, j, j.state, next_run=(0 if j.schedule_every_s else None))
            for n, j in cfg.jobs.items()
        }
        for job in self.jobs.values():
            if job.cfg.kind == "email" and job.cfg.total:
                job.sends = np.zeros(job.cfg.total, dtype=np.int16)
        self.consumers_paused: set[str] = set()
        self.publish_error: str | None = None
        """Why nobody can publish to the broker right now (memory alarm, restart), or None."""
        self.broker_alarm = False
        self.broker_down_until = -1
        self._broker_active = (
            cfg.broker.max_messages is not None
            or any(q.producer_rps > 0 for q in cfg.queues.values())
            or any(p.autoscale is not None for p in cfg.workers.values())
        )
        """Whether `_tick_broker` has anything to do (producers, a watermark, autoscalers)."""
        self._acc: dict[str, float] = {}
        """Fractional messages carried over between ticks (producers, fan-out)."""
        self._desired: dict[str, list[tuple[int, int]]] = {}
        """Autoscaler: (tick, desired replicas) per pool, over its scale-down delay."""
        self._merged_traits: dict[
            tuple[str, str], tuple[VersionTraits, list[VersionTraits], VersionTraits]
        ] = {}
        """Traits merged from conditional ones, with what they were merged from (see `traits`)."""
        self.cost_dollars = 0.0
        self.api_cpu = 0.0
        self.pool_in_use = 0.0
        self.pool_rejects = 0
        self.bad_requests = 0
        self.total_requests = 0
        self.slow_requests = 0
        self.rules = list(rules or [])
        self.alerts = AlertManager(self.rules)
        self.faults: list[Any] = []  # filled by the fault timeline (faults.py)
        self._traffic_noise = 1.0
        self._register_metrics()
        self._routes = [
            (name, r, (r.on_miss if r.cache else {}), *name.partition(" ")[::2],
             201 if name.startswith("POST") else 200, self.m_route[name], self.h_route[name])
            for name, r in cfg.api.routes.items()
        ]  # fmt: skip
        self._ok_line = {
            name: f" method={method} path={path} status={ok_code} duration_ms="
            for name, _, _, method, path, ok_code, *_ in self._routes
        }
        """The fixed middle of each route's access-log line for a served request."""
        self._cpu_ms_per_request = sum(r.share * r.cpu_ms for r in cfg.api.routes.values())
        self._provider_routes = any(r.provider_calls > 0 for r in cfg.api.routes.values())
        self._sid = {
            s: self.logs.service_id(s)
            for s in [
                "api",
                "postgres",
                "cache",
                "payments-provider",
                "scheduler",
                "deployer",
                *self.pools,
            ]
        }
        self._produced: dict[str, int] = {}
        """Messages each queue had produced as of the last recorded tick."""
        self._pool_counts: dict[str, tuple[int, int]] = {
            n: (p.running, len(p.live)) for n, p in self.pools.items()
        }
        """Replicas running and not terminated, per pool, as of its last tick."""
        self.api_hosts = [f"api-{hash_name('api') & 0xFFFFF:05x}-{i}" for i in range(64)]

    # ------------------------------------------------------------------ metrics
    def _register_metrics(self) -> None:
        m = self.metrics
        self.m_route: dict[str, dict[int, int]] = {}
        self.h_route: dict[str, int] = {}
        for route in self.cfg.api.routes:
            ok = 201 if route.startswith("POST") else 200
            self.m_route[route] = {
                code: m.counter(
                    "http_requests_total", "HTTP requests served", route=route, code=str(code)
                )
                for code in (ok, 429, 500, 502, 503, 504)
            }
            self.h_route[route] = m.histogram(
                "http_request_duration_seconds", "Request latency", route=route
            )
        self.g_api_cpu = m.gauge("api_cpu_utilization", "CPU utilisation of the API fleet (0-1)")
        self.g_api_replicas = m.gauge("kube_deployment_replicas", "Replicas", deployment="api")
        self.g_pool_used = m.gauge(
            "db_pool_connections_in_use", "Connections checked out", pool="api"
        )
        self.g_pool_size = m.gauge("db_pool_connections_max", "Pool size", pool="api")
        self.g_pool_wait = m.counter(
            "db_pool_wait_timeouts_total", "Requests that found no free connection", pool="api"
        )
        self.g_pg_cpu = m.gauge("pg_cpu_utilization", "Primary CPU utilisation (0-1)")
        self.g_pg_conn = m.gauge("pg_stat_activity_count", "Connections to the primary")
        self.g_pg_lag = m.gauge("pg_replication_lag_seconds", "Replica lag behind the primary")
        self.g_pg_disk = m.gauge(
            "node_filesystem_used_ratio",
            "Used fraction of the database volume",
            mountpoint="/var/lib/postgresql",
        )
        self.g_pg_locks = m.gauge("pg_locks_waiting", "Sessions waiting on a lock")
        self.c_pg_seq = m.counter("pg_stat_seq_scan_total", "Sequential scans")
        self.c_pg_xact = m.counter("pg_stat_database_xact_commit_total", "Committed transactions")
        self.g_shape = {
            s: m.gauge("pg_stat_statements_mean_ms", "Mean time per query shape", query=s)
            for s in self.cfg.database.shapes
        }
        self.g_q: dict[str, dict[str, int]] = {}
        for q in self.queues:
            self.g_q[q] = {
                "depth": m.gauge("queue_depth", "Messages waiting", queue=q),
                "age": m.gauge(
                    "queue_oldest_message_age_seconds", "Age of the oldest waiting message", queue=q
                ),
                "inflight": m.gauge(
                    "queue_messages_in_flight", "Delivered, not yet acknowledged", queue=q
                ),
                "dlq": m.gauge("queue_dlq_depth", "Messages in the dead-letter queue", queue=q),
                "enq": m.counter("queue_enqueued_total", "Messages enqueued", queue=q),
                "ack": m.counter("queue_acked_total", "Messages acknowledged", queue=q),
                "redeliver": m.counter(
                    "queue_redelivered_total", "Messages delivered again", queue=q
                ),
            }
        self.g_w: dict[str, dict[str, int]] = {}
        for p in self.pools:
            self.g_w[p] = {
                "running": m.gauge("worker_replicas_ready", "Replicas ready", pool=p),
                "desired": m.gauge("worker_replicas_desired", "Replicas desired", pool=p),
                "restarts": m.counter(
                    "kube_pod_container_status_restarts_total", "Container restarts", pool=p
                ),
                "memory": m.gauge(
                    "container_memory_working_set_bytes", "Highest replica memory", pool=p
                ),
                "ok": m.counter("worker_jobs_total", "Messages processed", pool=p, result="ok"),
                "err": m.counter("worker_jobs_total", "Messages processed", pool=p, result="error"),
            }
        self.g_cache_hit = m.gauge("cache_hit_ratio", "Cache hit ratio")
        self.g_cache_mem = m.gauge("cache_memory_used_bytes", "Cache memory used")
        self.c_prov = {
            r: m.counter(
                "payment_provider_requests_total", "Calls to the payment provider", result=r
            )
            for r in ("ok", "error", "timeout")
        }
        self.g_prov_lat = m.gauge("payment_provider_latency_seconds", "Provider response time")
        self.c_charges = m.counter(
            "payment_charges_total", "Successful charges recorded by the provider"
        )
        self.c_orders = m.counter("orders_created_total", "Orders created")
        self.c_ledger_err = m.counter("ledger_write_errors_total", "Failed ledger writes")
        self.g_cost = m.gauge("cloud_cost_dollars_per_hour", "Current spend rate")
        self.c_slow = m.counter(
            "http_requests_slow_total", "Successful requests slower than the latency objective"
        )
        self.g_broker: dict[str, int] = {}
        if self.cfg.broker.max_messages is not None:
            self.g_broker = {
                "memory": m.gauge(
                    "broker_memory_used_ratio",
                    "Broker memory used, as a share of its high watermark",
                ),
                "blocked": m.gauge(
                    "broker_publishers_blocked",
                    "1 while the broker blocks publishers (memory alarm)",
                ),
            }
        self.g_jobs = {
            j: m.gauge("job_progress_ratio", "Progress of a job", job=j) for j in self.jobs
        }
        self.c_jobs = {
            j: m.counter("job_items_processed_total", "Items processed by a job", job=j)
            for j in self.jobs
        }
        self.c_emails = m.counter("emails_sent_total", "Emails handed to the mail provider")
        self.c_bad_orders = m.counter(
            "orders_written_invalid_total", "Orders failing the amount sanity check at write time"
        )
        self.g_wrong = m.gauge(
            "orders_records_invalid", "Order records that currently fail the amount sanity check"
        )
        self.g_invariants: dict[str, int] = {}
        if self.cfg.appdb is not None:
            self.g_invariants = {
                inv.name: m.gauge(
                    "data_invariant_violations",
                    "Rows failing a data-quality check (checked periodically)",
                    invariant=inv.name,
                )
                for inv in self.cfg.appdb.invariants
            }
            self.c_parcels = m.counter(
                "shipping_labels_purchased_total", "Labels bought from carriers"
            )

    # ------------------------------------------------------------------ traits
    def traits(self, service: str, version: str) -> VersionTraits:
        base = self.cfg.versions.get(service, {}).get(version, NO_TRAITS)
        extra = []
        for store, key, value, svc, tr in self.conditional_traits:
            if svc != service and svc != f"{service}@{version}":
                continue
            have = (self.flags if store == "flag_change" else self.config).get(key)
            if (value is None and _truthy(have)) or (value is not None and have == value):
                extra.append(tr)
        if not extra:
            return base
        hit = self._merged_traits.get((service, version))
        if (
            hit is not None
            and hit[0] is base
            and len(hit[1]) == len(extra)
            and all(a is b for a, b in zip(hit[1], extra, strict=True))
        ):
            return hit[2]  # the same traits hold as at the last call: reuse the merge
        merged = base.model_copy(deep=True)
        for tr in extra:
            for k, v in tr.error_rate.items():
                merged.error_rate[k] = merged.error_rate.get(k, 0.0) + v
            merged.latency_x *= tr.latency_x
            merged.cpu_x *= tr.cpu_x
            merged.memory_leak_mb_per_min += tr.memory_leak_mb_per_min
            merged.corrupt_writes = max(merged.corrupt_writes, tr.corrupt_writes)
            for k, v in tr.extra_queries.items():
                merged.extra_queries[k] = merged.extra_queries.get(k, 0.0) + v
            merged.crash_on_start = merged.crash_on_start or tr.crash_on_start
            if tr.message_error_rate > merged.message_error_rate:
                merged.message_error_rate = tr.message_error_rate
                merged.message_error = tr.message_error
            merged.charges_per_message = max(merged.charges_per_message, tr.charges_per_message)
            for k, v in tr.fanout.items():
                merged.fanout[k] = merged.fanout.get(k, 0.0) + v
        self._merged_traits[(service, version)] = (base, extra, merged)
        return merged

    # ------------------------------------------------------------------ time
    def clock(self, t: int | None = None) -> str:
        return self.logs.timestamp(self.t if t is None else t) + "Z"

    def hour_of_day(self, t: int) -> float:
        return (
            self.start.hour + self.start.minute / 60 + self.start.second / 3600 + t / 3600.0
        ) % 24

    def traffic_rps(self, t: int) -> float:
        tc = self.cfg.traffic
        phase = TWO_PI * (self.hour_of_day(t) - tc.peak_hour) / 24.0
        shape = 1.0 - tc.diurnal_amplitude * (1 - math.cos(phase)) / 2.0
        if t % 60 == 0:
            self._traffic_noise = max(0.2, self.rng.gauss(1.0, tc.noise))
        return tc.base_rps * shape * self._traffic_noise

    # ------------------------------------------------------------------ tick
    def tick(self) -> None:
        t = self.t
        self._tick_changes(t)
        for f in self.faults:
            f.tick(self, t)
        self._prov_lat = self.provider_latency_s()
        self._prov_err = self.provider_error_rate()
        for q in self.queues.values():
            q.tick(t)
        self._tick_jobs(t)
        if self._broker_active:
            self._tick_broker(t)
        self._tick_api(t)
        for pool in self.pools.values():
            self._tick_pool(pool, t)
        self._tick_provider(t)
        events = self.db.tick(t)
        for kind, b in events:
            if kind == "acquired" and b.kind in ("migration", "index_build"):
                self.log(
                    t,
                    0,
                    "postgres",
                    INFO,
                    f'postgres-0 LOG: process {b.pid} acquired lock on relation "{b.table}"; running: {b.sql}',
                )
            elif kind == "finished":
                self.log(
                    t,
                    1,
                    "postgres",
                    INFO,
                    f"postgres-0 LOG: process {b.pid} finished ({b.kind}) after {t - b.started} s: {b.sql}",
                )
                if b.kind == "index_build" and b.index:
                    self.record_change(t, "index", b.index, "building", "ready", "postgres")
        self._tick_cache(t)
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

    def log(self, t: int, ms: int, service: str, level: int, text: str) -> None:
        sid = self._sid.get(service)
        if sid is None:
            sid = self._sid[service] = self.logs.service_id(service)
        self.logs.emit(t, ms, sid, level, text)

    # ------------------------------------------------------------------ changes
    def record_change(
        self, t: int, kind: str, target: str, before: str, after: str, author: str, note: str = ""
    ) -> None:
        self.changes.append(Change(t, kind, target, before, after, author, note))

    def deploy(
        self, t: int, service: str, version: str, author: str, percent: int = 100, note: str = ""
    ) -> None:
        before = _current_label(self, service) if service in self.previous_versions else ""
        if service == "api":
            current = self.api_version
            if percent >= 100 and self.api_versions.get(version, 0) == sum(
                self.api_versions.values()
            ):
                raise Refusal(f"api already runs {version} on every replica")
            total = sum(self.api_versions.values())
            target = max(1, round(total * percent / 100))
            have = self.api_versions.get(version, 0)
            self.api_rollout = [(version, max(0, target - have))]
            self.api_rollout_next = t
            if percent >= 100:
                if current != version:
                    self.previous_versions["api"].append(current)
                self.api_version = version
        elif service in self.pools:
            pool = self.pools[service]
            live = pool.live
            if percent >= 100 and live and all(r.version == version for r in live):
                raise Refusal(f"{service} already runs {version} on every replica")
            if percent >= 100 and pool.version != version:
                self.previous_versions[service].append(pool.version)
                pool.version = version
            n = max(1, round(len(live) * percent / 100)) if live else 0
            for i, r in enumerate(sorted(live, key=lambda r: r.started)):
                if i >= n or r.version == version:
                    continue
                self._replace_replica(pool, r, t + i * ROLLOUT_STEP_S // 2, version)
        else:
            raise Refusal(f"unknown service {service!r}; services: {', '.join(self.services())}")
        self.record_change(
            t,
            "deploy",
            service,
            before,
            version,
            author,
            note or (f"{percent}% rollout" if percent < 100 else ""),
        )
        self.log(
            t,
            2,
            "deployer",
            INFO,
            f"argo-rollouts rollout started service={service} version={version} percent={percent} by={author}",
        )

    def _replace_replica(self, pool: WorkerPool, r: Replica, at: int, version: str) -> None:
        self._terminate(pool, r, at)
        pool.new_replica(at, version=version)

    def scale_pool(self, pool: WorkerPool, n: int) -> int:
        """Scale a pool to n replicas now: new ones start, removed ones stop (what they held goes
        back to the queue). Returns how many replicas were added (negative: removed)."""
        delta, removed = pool.scale(self.t, n)
        for r in removed:
            self._terminate(pool, r, self.t)
        return delta

    def restart_replica(self, pool: WorkerPool, r: Replica, at: int) -> None:
        """Stop a replica now (what it held goes back to the queue); a new one on its version
        starts at `at`."""
        self._terminate(pool, r, self.t)
        pool.new_replica(at, version=r.version)

    def _terminate(self, pool: WorkerPool, r: Replica, t: int) -> None:
        r.state = "terminated"
        q = self.queues[pool.cfg.queue]
        for run, _ in r.inflight:
            q.fail(run, t)
        r.inflight.clear()
        r.inflight_n = 0

    def _tick_changes(self, t: int) -> None:
        if self.api_rollout and t >= self.api_rollout_next:
            version, left = self.api_rollout[0]
            if left <= 0:
                self.api_rollout = []
                self.log(
                    t,
                    3,
                    "deployer",
                    INFO,
                    f"argo-rollouts rollout complete service=api version={version}",
                )
                return
            donors = [v for v, n in sorted(self.api_versions.items()) if v != version and n > 0]
            if not donors:
                self.api_rollout = []
                return
            donor = donors[0]
            self.api_versions[donor] -= 1
            if self.api_versions[donor] == 0:
                del self.api_versions[donor]
            self.api_versions[version] = self.api_versions.get(version, 0) + 1
            self.api_rollout = [(version, left - 1)]
            self.api_rollout_next = t + ROLLOUT_STEP_S

    # ------------------------------------------------------------------ API
    def _tick_api(self, t: int) -> None:
        cfg = self.cfg.api
        rng = self.rng
        replicas = sum(self.api_versions.values())
        rps = self.traffic_rps(t)
        total_versions = max(1, replicas)
        vtraits = [
            (n / total_versions, self.traits("api", v)) for v, n in self.api_versions.items()
        ]
        plain = all(tr is NO_TRAITS for _, tr in vtraits)
        if plain:
            lat_x = cpu_x = 1.0
            corrupt = 0.0
            corrupt_version = ""
        else:
            lat_x = sum(w * tr.latency_x for w, tr in vtraits) or 1.0
            cpu_x = sum(w * tr.cpu_x for w, tr in vtraits) or 1.0
            corrupt = sum(w * tr.corrupt_writes for w, tr in vtraits)
            corrupt_version = next(
                (
                    v
                    for v, n in self.api_versions.items()
                    if self.traits("api", v).corrupt_writes > 0
                ),
                "",
            )
        db = self.db
        dblat = db._latency
        hit = self.cache_hit
        # CPU: demand of the whole fleet against its capacity
        cpu_demand = rps * self._cpu_ms_per_request * cpu_x
        cpu_cap = max(1.0, replicas * cfg.cpu_ms_per_replica)
        self.api_cpu = min(1.0, cpu_demand / cpu_cap)
        cpu_wait = 1.0 / (1.0 - min(0.95, cpu_demand / cpu_cap))
        overload = max(0.0, cpu_demand / cpu_cap - 1.0)
        provider_needed = self._provider_routes
        if provider_needed:
            prov_lat = self.provider_latency_s()
            prov_err = self.provider_error_rate()
            attempts_max = int(self.config.get("payments.retry.max_attempts", 1) or 1)
            backoff = str(self.config.get("payments.retry.backoff", "exponential"))
        # how many requests each route gets, what their queries cost now, and the connection
        # pool's load (Little's law on the time requests hold a connection)
        route_plan = []
        conn_demand = 0.0
        timeout = cfg.timeout_s
        poisson = rng.poisson
        for rs in self._routes:
            r = rs[1]
            n = poisson(rps * r.share)
            if plain:
                shapes = r.queries
            else:
                shapes = dict(r.queries)
                for w, tr in vtraits:
                    for s, c in tr.extra_queries.items():
                        shapes[s] = shapes.get(s, 0.0) + c * w
            db_ms = 0.0
            blocked = None
            for s, c in shapes.items():
                lat_s = dblat[s]
                db_ms += c * lat_s
                if lat_s >= BLOCKED_MS:
                    blocked = s
            miss_ms = 0.0
            miss_blocked = False
            for s, c in rs[2].items():
                lat_s = dblat[s]
                miss_ms += c * lat_s
                if lat_s >= BLOCKED_MS:
                    miss_blocked = True
            db_ms_mean = db_ms + (1 - hit) * miss_ms if r.cache else db_ms
            conn_demand += n * min(db_ms_mean / 1000.0, timeout)
            route_plan.append((rs, n, db_ms, miss_ms, shapes, blocked, miss_blocked))
        pool_size = cfg.pool_size
        self.pool_in_use = min(conn_demand, pool_size)
        reject_p = 0.0 if conn_demand <= pool_size else 1.0 - pool_size / conn_demand
        shed_p = min(0.95, overload)
        hosts = self.api_hosts[: max(1, replicas)]
        n_hosts = len(hosts)
        row = self.metrics.row
        slo_s = self.cfg.slo.latency_s
        lines = self.logs.pending
        api_sid = self._sid["api"]
        rand = rng.random
        take = self.draws.take
        ok_line = self._ok_line
        limits = self.rate_limits
        writes_may_fail = db.writes_may_fail()
        hrow = self.metrics.hrow
        bucket, buckets = bisect_left, LATENCY_BUCKETS
        ran: dict[str, float] = {}  # query executions of this tick's requests, by shape
        bad = slow = 0
        for rs, n, db_ms, miss_ms, shapes, blocked, miss_blocked in route_plan:
            if n == 0:
                continue
            name, r, miss_shapes, method, path, ok_code, codes, h = rs
            limit = limits.get(name) if limits else None
            allowed = n if limit is None else min(n, rng.poisson(limit) if limit > 0 else 0)
            err_extra = (
                0.0
                if plain
                else sum(
                    w * (tr.error_rate.get(name, 0.0) + tr.error_rate.get("*", 0.0))
                    for w, tr in vtraits
                )
            )
            base_ms = r.base_ms * lat_x * cpu_wait
            prov_ms = 0.0
            prov_fail = 0.0
            if r.provider_calls > 0:
                # synchronous provider calls with the configured retries
                p_timeout = _p_over(prov_lat, self.cfg.provider.timeout_s)
                p_fail = prov_err + (1 - prov_err) * p_timeout
                prov_fail = p_fail**attempts_max  # every attempt failed
                exp_attempts = sum(p_fail**k for k in range(attempts_max))
                calls = n * r.provider_calls * exp_attempts
                self.provider_calls += calls
                if calls:  # the same calls, as the provider's request counters see them
                    ok_calls = n * r.provider_calls * (1 - prov_fail)
                    timeouts = (calls - ok_calls) * (1 - prov_err) * p_timeout / max(p_fail, 1e-9)
                    self.metrics.row[self.c_prov["ok"]] += ok_calls
                    self.metrics.row[self.c_prov["timeout"]] += timeouts
                    self.metrics.row[self.c_prov["error"]] += calls - ok_calls - timeouts
                per_attempt = min(prov_lat, self.cfg.provider.timeout_s)
                wait = 0.0 if backoff == "none" else 0.2 * (2 ** (exp_attempts - 1) - 1)
                prov_ms = 1000.0 * (per_attempt * exp_attempts + wait) * r.provider_calls
            write_err = None
            if writes_may_fail:
                for s in shapes:
                    write_err = write_err or db.write_error(s)
            if r.enqueue and self.publish_error is not None:
                write_err = write_err or self.publish_error
            factor, u_cache, ms, host_n, user, ip, req = take(n)
            hb = hrow[h]
            healthy = (
                allowed == n and shed_p == 0 and reject_p == 0 and blocked is None and not miss_blocked
                and write_err is None and err_extra == 0 and prov_fail == 0
                and (corrupt == 0 or not r.creates_order)
            )  # fmt: skip
            if healthy:
                # the common case, kept tight: every request succeeds unless it runs past the
                # timeout; the latency is the mean (with or without the cache) times a lognormal factor
                hit_s = (base_ms + db_ms + prov_ms) * 0.001
                if r.cache:
                    miss_s = hit_s + miss_ms * 0.001
                    lats = [
                        (hit_s if u < hit else miss_s) * f
                        for u, f in zip(u_cache, factor, strict=True)
                    ]
                    n_miss = n - sum(map(hit.__gt__, u_cache))
                else:
                    lats = [hit_s * f for f in factor]
                    n_miss = 0
                ordered = sorted(lats)
                worst = ordered[-1]
                n_fail = 0
                if worst <= timeout:
                    _count_sorted(hb, ordered)
                    if worst > slo_s:
                        slow += n - bisect_right(ordered, slo_s)
                    mid = ok_line[
                        name
                    ]  # f"{host} method=... status=... duration_ms={ms} user=... ip=... req_id=..."
                    lines += [
                        (m, api_sid, INFO, f"{hosts[hn % n_hosts]}{mid}{int(lat * 1000)} user={u} ip={p} req_id={q}")
                        for m, hn, lat, u, p, q in zip(ms, host_n, lats, user, ip, req, strict=True)
                    ]  # fmt: skip
                else:
                    for m, hn, lat, u, p, q in zip(ms, host_n, lats, user, ip, req, strict=True):
                        if lat > timeout:
                            n_fail += 1
                            row[codes[504]] += 1
                            hb[bucket(buckets, timeout)] += 1
                            lines.append(
                                (
                                    m,
                                    api_sid,
                                    ERROR,
                                    f'{hosts[hn % n_hosts]} method={method} path={path} status=504 duration_ms={int(timeout * 1000)} user={u} error="context deadline exceeded"',
                                )
                            )
                            continue
                        if lat > slo_s:
                            slow += 1
                        hb[bucket(buckets, lat)] += 1
                        lines.append(
                            (
                                m,
                                api_sid,
                                INFO,
                                f"{hosts[hn % n_hosts]} method={method} path={path} status={ok_code} duration_ms={int(lat * 1000)} user={u} ip={p} req_id={q}",
                            )
                        )
                n_ok = n - n_fail
                bad += n_fail
                row[codes[ok_code]] += n_ok
                if r.creates_order:
                    if self.app is not None:
                        new_order = self.app.new_order
                        for num in range(self.records.orders + 1, self.records.orders + n_ok + 1):
                            new_order(t, num)
                    self.records.orders += n_ok
            else:
                n_ok = n_miss = n_fail = 0
                why = None
                for i in range(n):
                    miss = False
                    if i >= allowed:
                        code, lat = 429, 0.002
                    else:
                        miss = r.cache and u_cache[i] >= hit
                        mean_ms = base_ms + db_ms + prov_ms + (miss_ms if miss else 0.0)
                        lat = mean_ms * 0.001 * factor[i]
                        u = rand()
                        if u < shed_p:
                            code = 503
                        elif reject_p > 0 and rand() < reject_p:
                            code, lat = 503, cfg.pool_timeout_s
                        elif blocked is not None or (miss and miss_blocked) or lat > timeout:
                            code, lat = 504, timeout
                        elif write_err is not None or u > 1.0 - err_extra:
                            code = 500
                        elif prov_fail > 0 and rand() < prov_fail:
                            code = 502
                        else:
                            code = ok_code
                    row[codes[code]] += 1
                    hb[bucket(buckets, lat)] += 1
                    if code == ok_code:
                        n_ok += 1
                        if lat > slo_s:
                            slow += 1
                        if miss:
                            n_miss += 1
                        if r.creates_order:
                            self.records.orders += 1
                            how = None
                            if corrupt > 0 and rand() < corrupt:
                                self.records.corrupted[self.records.orders] = corrupt_version
                                row[self.c_bad_orders] += 1
                                how = self.traits("api", corrupt_version).corrupts
                            if self.app is not None:
                                self.app.new_order(t, self.records.orders, how)
                    else:
                        bad += 1
                        if code != 429:
                            n_fail += 1
                    # one access-log line per request
                    m = ms[i]
                    host = hosts[host_n[i] % n_hosts]
                    usr = user[i]
                    dur = int(lat * 1000)
                    if code == ok_code:
                        lines.append(
                            (
                                m,
                                api_sid,
                                INFO,
                                f"{host} method={method} path={path} status={code} duration_ms={dur} user={usr} ip={ip[i]} req_id={req[i]}",
                            )
                        )
                    elif code == 429:
                        lines.append(
                            (
                                m,
                                api_sid,
                                WARN,
                                f'{host} method={method} path={path} status=429 duration_ms={dur} user={usr} ip={ip[i]} msg="rate limited" limit_rps={limit}',
                            )
                        )
                    elif code == 503 and lat == cfg.pool_timeout_s:
                        lines.append(
                            (
                                m,
                                api_sid,
                                ERROR,
                                f'{host} method={method} path={path} status=503 duration_ms={dur} user={usr} error="sqlalchemy.exc.TimeoutError: QueuePool limit of size {pool_size} overflow 0 reached, connection timed out, timeout {cfg.pool_timeout_s:g}"',
                            )
                        )
                    elif code == 503:
                        lines.append(
                            (
                                m,
                                api_sid,
                                ERROR,
                                f'{host} method={method} path={path} status=503 duration_ms={dur} user={usr} error="upstream overloaded: worker busy, request shed"',
                            )
                        )
                    elif code == 504:
                        what = f"waiting for query {blocked}" if blocked else "deadline exceeded"
                        lines.append(
                            (
                                m,
                                api_sid,
                                ERROR,
                                f'{host} method={method} path={path} status=504 duration_ms={dur} user={usr} error="context deadline exceeded ({what})"',
                            )
                        )
                    elif code == 502:
                        lines.append(
                            (
                                m,
                                api_sid,
                                ERROR,
                                f'{host} method={method} path={path} status=502 duration_ms={dur} user={usr} error="payment provider: {self._provider_error_text()}"',
                            )
                        )
                    else:
                        if why is None:
                            why = write_err or self._app_error(name)
                        lines.append(
                            (
                                m,
                                api_sid,
                                ERROR,
                                f'{host} method={method} path={path} status=500 duration_ms={dur} user={usr} error="{why}" req_id={req[i]}',
                            )
                        )
            # effects of the route's requests this tick, aggregated
            for s, c in shapes.items():
                ran[s] = ran.get(s, 0.0) + c * n_ok
                if n_fail and not db.cfg.shapes[s].write:
                    ran[s] += c * 0.5 * n_fail  # failed requests still ran their reads
            if n_miss:
                for s, c in miss_shapes.items():
                    ran[s] = ran.get(s, 0.0) + c * n_miss
            if r.creates_order:
                row[self.c_orders] += n_ok
            if n_ok:
                for qn, k in r.enqueue.items():
                    q = self.queues.get(qn)
                    if q is not None:
                        q.enqueue(t, int(k * n_ok))
        for s, c in ran.items():
            db.run(s, c)
        self.total_requests += sum(x[1] for x in route_plan)
        self.bad_requests += bad
        self.slow_requests += slow
        row[self.c_slow] += slow

    def _app_error(self, route: str) -> str:
        versions = [v for v in self.api_versions if self.traits("api", v).error_rate]
        if versions:
            return f"TypeError: Cannot read properties of undefined (reading 'currency') at serializeOrder (orders/serialize.ts:88) [{versions[0]}]"
        return "internal error"

    # ------------------------------------------------------------------ provider
    def provider_latency_s(self) -> float:
        p = self.cfg.provider
        load = self.provider_load
        queueing = 1.0 / (1.0 - min(0.9, load * 0.85)) if load < 1 else 6.0 + 20.0 * (load - 1)
        return p.latency_ms / 1000.0 * self.provider_latency_x * queueing

    def provider_error_rate(self) -> float:
        p = self.cfg.provider
        throttle = max(0.0, 1.0 - 1.0 / self.provider_load) if self.provider_load > 1 else 0.0
        return min(1.0, p.error_rate + self.provider_extra_error + throttle)

    def _provider_error_text(self) -> str:
        if self.provider_load > 1:
            return "429 Too Many Requests: rate limit exceeded"
        if self.provider_latency_x > 3:
            return "timeout awaiting response headers (3s)"
        return "503 Service Unavailable"

    def provider_attempt(self) -> str:
        """One call to the provider: 'ok', 'error' or 'timeout' (a timed-out charge still went through)."""
        self.provider_calls += 1
        x = self.rng.getrandbits(32)
        lat = self._prov_lat * LOGNORMAL[x & 4095]
        if lat > self.cfg.provider.timeout_s:
            self.metrics.row[self.c_prov["timeout"]] += 1
            return "timeout"
        if (x >> 12) / 1_048_576 < self._prov_err:
            self.metrics.row[self.c_prov["error"]] += 1
            return "error"
        self.metrics.row[self.c_prov["ok"]] += 1
        return "ok"

    def order_cents(self, order: int) -> int:
        """What the model's order number `order` costs: its real total when the application
        database exists, else the charge queue's average amount."""
        if self.app is not None:
            return self.app.order(order).total_cents
        return next((c.amount_cents for c in self.cfg.queues.values() if c.kind == "charge"), 0)

    def charge(self, order: int, idempotent: bool) -> bool:
        """The provider records a charge (deduplicated by the order's idempotency key when sent).

        Returns whether a new charge was made."""
        rec = self.records
        if idempotent and rec.charges.get(order, 0) >= 1:
            return False
        rec.charges[order] = rec.charges.get(order, 0) + 1
        self.metrics.row[self.c_charges] += 1
        return True

    def _tick_provider(self, t: int) -> None:
        self.provider_calls_prev = self.provider_calls
        load = self.provider_calls / self.cfg.provider.capacity_rps
        w = self.cfg.provider.load_window_s
        self.provider_load = (
            load if w <= 1 else self.provider_load + (load - self.provider_load) / w
        )
        self.provider_calls = 0.0

    # ------------------------------------------------------------------ workers
    def _tick_pool(self, pool: WorkerPool, t: int) -> None:
        q = self.queues[pool.cfg.queue]
        cfg = pool.cfg
        row = self.metrics.row
        gw = self.g_w[pool.name]
        paused = pool.cfg.queue in self.consumers_paused
        concurrency = cfg.concurrency
        finish = self._finish
        # per version: traits, seconds per message, deliveries started per second, tick they finish
        by_version: dict[str, tuple[VersionTraits, float, float, int]] = {}
        for r in pool.replicas:
            if r.state == "terminated":
                continue
            vt = by_version.get(r.version)
            if vt is None:
                tr = self.traits(pool.name, r.version)
                service = cfg.service_s * tr.latency_x
                for s, c in cfg.queries.items():
                    service += c * self.db._latency[s] / 1000.0
                for s, c in tr.extra_queries.items():
                    service += c * self.db._latency[s] / 1000.0
                if q.cfg.kind == "charge":
                    service += self._prov_lat
                vt = by_version[r.version] = (
                    tr,
                    service,
                    concurrency / max(0.05, service),
                    done_tick(t, service),
                )
            tr, service, rate, done_at = vt
            if r.state == "backoff" and t >= r.ready_at:
                r.state, r.ready_at, r.started = "starting", t + cfg.startup_s, t
                r.memory = cfg.memory_mb * 0.6
            if r.state == "starting":
                missing = tr.requires_config and tr.requires_config not in self.config
                if tr.crash_on_start or missing:
                    if t >= r.started + min(3, cfg.startup_s):
                        msg = (
                            tr.crash_on_start
                            or f"panic: config key {tr.requires_config!r} is not set"
                        )
                        self._crash(pool, r, t, msg, "Error")
                    continue
                if t >= r.ready_at:
                    r.state = "running"
                    r.memory = cfg.memory_mb
                    self.log(
                        t,
                        5,
                        pool.name,
                        INFO,
                        f"{r.name} worker ready version={r.version} queue={q.name} concurrency={cfg.concurrency}",
                    )
                continue
            if r.state != "running":
                continue
            # memory: baseline plus leak over uptime plus working set per slot
            r.memory = (
                cfg.memory_mb
                + tr.memory_leak_mb_per_min * (t - r.ready_at) / 60.0
                + 6.0 * r.inflight_n
            )
            if r.doomed_at >= 0 and t >= r.doomed_at:
                self._crash(pool, r, t, r.doom_reason, "OOMKilled")
                continue
            if r.memory > cfg.memory_limit_mb:
                self._crash(
                    pool,
                    r,
                    t,
                    f"memory {r.memory:.0f}Mi exceeded limit {cfg.memory_limit_mb:.0f}Mi",
                    "OOMKilled",
                )
                continue
            # finish deliveries that are due
            inflight = r.inflight
            while inflight and inflight[0][1] <= t:
                run = inflight.popleft()[0]
                r.inflight_n -= run.count
                finish(pool, q, r, run, t)
            if paused:
                continue
            # start new deliveries
            r.acc += rate
            n = min(concurrency - r.inflight_n, int(r.acc))
            if n <= 0:
                r.acc = min(r.acc, float(concurrency))
                continue
            r.acc -= n
            for run in q.take(n):
                if run.deliveries > 1:
                    row[self.g_q[q.name]["redeliver"]] += run.count
                if run.poison and not tr.tolerates_poison:
                    r.doomed_at = t + 2
                    r.doom_reason = f"fatal error processing msg_{q.msg_id(run.first)}: runtime: out of memory: cannot allocate 4294967296-byte block"
                    self.log(
                        t,
                        40,
                        pool.name,
                        WARN,
                        f'{r.name} msg_id=msg_{q.msg_id(run.first)} queue={q.name} receive_count={run.deliveries} msg="decoding payload" payload_bytes=48211904',
                    )
                # a poisoned delivery never completes: the replica dies first
                inflight.append((run, t + 3 if run.poison and r.doomed_at >= 0 else done_at))
                r.inflight_n += run.count
        running = live = 0
        memory = 0.0
        for r in pool.replicas:
            if r.state == "running":
                running += 1
                if r.memory > memory:
                    memory = r.memory
            if r.state != "terminated":
                live += 1
        row[gw["running"]] = running
        row[gw["desired"]] = live
        row[gw["memory"]] = memory * 1_048_576
        self._pool_counts[pool.name] = (running, live)

    def _crash(self, pool: WorkerPool, r: Replica, t: int, message: str, reason: str) -> None:
        q = self.queues[pool.cfg.queue]
        self.log(t, 50, pool.name, FATAL, f"{r.name} {message}")
        for run, _ in r.inflight:
            q.fail(run, t)
        r.inflight.clear()
        r.inflight_n = 0
        r.restarts += 1
        pool.restarts_total += 1
        pool.crashes += 1
        self.metrics.row[self.g_w[pool.name]["restarts"]] += 1
        wait = backoff_s(r.restarts)
        r.state, r.ready_at = "backoff", t + wait
        r.doomed_at = -1
        self.log(
            t,
            51,
            "kubelet",
            WARN,
            f'kubelet-node-{hash_name(r.name) % 7} pod={r.name} container=worker reason={reason} exit_code={137 if reason == "OOMKilled" else 2} restart_count={r.restarts} back-off={wait}s "Back-off restarting failed container"',
        )

    def _finish(self, pool: WorkerPool, q: Queue, r: Replica, run: Run, t: int) -> None:
        row = self.metrics.row
        gw = self.g_w[pool.name]
        kind = q.cfg.kind
        if run.poison:
            # only reached by a version that tolerates the payload
            q.ack(run, t)
            self.poison_acked += 1
            self.log(
                t,
                61,
                pool.name,
                WARN,
                f'{r.name} msg_id=msg_{q.msg_id(run.first)} queue={q.name} msg="rejected malformed payload; acknowledged without side effects" receive_count={run.deliveries}',
            )
            return
        if kind == "charge":
            self._finish_charges(pool, q, r, run, t)
            return
        if self.app is not None and not self._finish_app(pool, q, r, run, t):
            return
        tr = self.traits(pool.name, r.version)
        if tr.message_error_rate > 0 and (
            tr.message_error_rate >= 1 or self.rng.random() < tr.message_error_rate
        ):
            self._fail_message(pool, q, r, run, t, tr.message_error)
            return
        err = None
        db = self.db
        n = run.count
        for s, c in pool.cfg.queries.items():
            db.run(s, c * n)
            if db.writes_may_fail():
                err = err or db.write_error(s)
        if err is not None:
            pool.failed += n
            row[gw["err"]] += n
            self.log(
                t,
                60,
                pool.name,
                ERROR,
                f'{r.name} msg_id=msg_{q.msg_id(run.first)} queue={q.name} msg="job failed, will retry" error="{err}" batch={n}',
            )
            q.fail(run, t)
            return
        q.ack(run, t)
        pool.processed += n
        row[gw["ok"]] += n
        row[self.g_q[q.name]["ack"]] += n
        if kind == "email":
            self.records.emails += n
            row[self.c_emails] += n
        if tr.fanout:
            self._fan_out(pool.name, tr.fanout, n, t)
        rng = self.rng
        if n > 3 or rng.random() < 0.35:
            self.logs.pending.append((100 + rng.getrandbits(10) % 800, self._sid[pool.name], DEBUG if kind != "fulfillment" else INFO,
                                      f"{r.name} msg_id=msg_{q.msg_id(run.first)} queue={q.name} msg=\"processed\" batch={n} wait_s={t - run.enq}"))  # fmt: skip

    def _finish_app(self, pool: WorkerPool, q: Queue, r: Replica, run: Run, t: int) -> bool:
        """A consumer's writes to the application database; False when the delivery failed."""
        app = self.app
        assert app is not None
        kind = q.cfg.kind
        if kind == "email":
            for order in range(run.first, run.first + run.count):
                app.send_email(t, app.order(order).customer_id, "receipt", "order_receipt")
            return True
        if kind != "fulfillment":
            return True
        tr = self.traits(pool.name, r.version)
        bought = 0
        for order in range(run.first, run.first + run.count):
            if tr.dedupes and app.has_label(order):
                continue
            app.shipment(t, order)
            bought += 1
        self.metrics.row[self.c_parcels] += bought
        if tr.schema_max is None or tr.schema_max >= self.schema_version:
            return True
        pool.failed += run.count
        self.metrics.row[self.g_w[pool.name]["err"]] += run.count
        self.log(
            t,
            60,
            pool.name,
            ERROR,
            f'{r.name} msg_id=msg_{q.msg_id(run.first)} queue={q.name} order_id=ord_{app.order_id(run.first)} msg="label purchased; publishing shipment failed" error="{self.schema_error or "unsupported schema"}" schema_version={self.schema_version} receive_count={run.deliveries}',
        )
        q.fail(run, t)
        return False

    def _finish_charges(self, pool: WorkerPool, q: Queue, r: Replica, run: Run, t: int) -> None:
        row = self.metrics.row
        gw = self.g_w[pool.name]
        attempts_max = int(self.config.get("payments.retry.max_attempts", 1) or 1)
        idempotent = _truthy(self.config.get("payments.idempotency_keys", True))
        ledger_err = self.ledger_error or self.db.write_error(
            "ledger_insert"
        )  # holds for the whole run
        amount = self.cfg.queues[q.name].amount_cents
        emails = self.identities.emails
        n_emails = len(emails)
        bits = self.rng.getrandbits
        attempt = self.provider_attempt
        charge = self.charge
        msg_id = q.msg_id
        lines = self.logs.pending
        sid = self._sid[pool.name]
        name = r.name
        failed: list[int] = []
        app = self.app
        base = app.history if app is not None else 0
        again = self.traits(pool.name, r.version).charges_per_message - 1
        for order in range(run.first, run.first + run.count):
            outcome = "error"
            pid = 0
            for _ in range(attempts_max):
                outcome = attempt()
                if outcome != "error":  # a timed-out charge still went through
                    if charge(order, idempotent) and app is not None:
                        pid = app.charge(t, order, idempotent, outcome == "ok")
                    if outcome == "ok":
                        break
            if again and outcome == "ok":
                for _ in range(again):
                    if attempt() != "error" and charge(order, False) and app is not None:
                        app.charge(t, order, False, True)
                lines.append((300 + bits(10) % 600, sid, INFO,
                              f'{name} order_id=ord_{order + base} msg="legacy capture path: capturing again for remaining line items" captures={again + 1} idem_key=none'))  # fmt: skip
            if app is None:
                user = emails[(order * 7919) % n_emails]
            else:
                o = app.order(order)
                user, amount = app.email_of(o.customer_id), o.total_cents
            ms = 200 + bits(10) % 700
            if outcome != "ok":
                failed.append(order)
                lines.append(
                    (
                        ms,
                        sid,
                        ERROR,
                        f'{name} msg_id=msg_{msg_id(order)} order_id=ord_{order + base} customer={user} msg="charge failed" provider_error="{self._provider_error_text()}" attempts={attempts_max}',
                    )
                )
            elif ledger_err is None:
                if app is not None:
                    app.ledger_charge(t, order, pid or app.first_payment(order))
                lines.append(
                    (
                        ms,
                        sid,
                        INFO,
                        f'{name} msg_id=msg_{msg_id(order)} order_id=ord_{order + base} customer={user} amount_cents={amount} msg="charge captured" receive_count={run.deliveries}',
                    )
                )
            else:
                row[self.c_ledger_err] += 1
                failed.append(order)
                key = f"idem_key=ord_{order + base}" if idempotent else "idem_key=none"
                lines.append(
                    (
                        ms,
                        sid,
                        ERROR,
                        f'{name} msg_id=msg_{msg_id(order)} order_id=ord_{order + base} customer={user} msg="ledger write failed after charge; message will be retried" error="{ledger_err}" {key} receive_count={run.deliveries}',
                    )
                )
        ok = run.count - len(failed)
        if ledger_err is None:
            self.db.run("ledger_insert", ok)
        pool.processed += ok
        pool.failed += len(failed)
        row[gw["ok"]] += ok
        row[gw["err"]] += len(failed)
        row[self.g_q[q.name]["ack"]] += ok
        if not failed:
            q.ack(run, t)
            return
        # split the run: acknowledged ones leave, failed ones go back one by one (at once, for a
        # consumer that retries without backoff)
        requeue = 0 if self.config.get("payments.retry.backoff") == "none" else None
        failed_set = set(failed)
        for seq in range(run.first, run.first + run.count):
            one = Run(seq, 1, run.enq, run.deliveries, run.poison, 0, run.replayed)
            if seq in failed_set:
                q.fail(one, t, requeue)
            else:
                q.ack(one, t)

    # ------------------------------------------------------------------ jobs
    def _tick_jobs(self, t: int) -> None:
        for job in self.jobs.values():
            c = job.cfg
            if job.state == "failed" and job.retry_at is not None and t >= job.retry_at:
                job.retry_at = None
                self.start_job(t, job.name, author="scheduler-retry")
            if (
                c.schedule_every_s
                and job.next_run is not None
                and t >= job.next_run
                and job.state != "paused"
            ):
                job.next_run = t + c.schedule_every_s
                self.start_job(t, job.name, author="cron")
            if job.state != "running":
                continue
            total = c.total
            if c.kind == "credit" and self.app is not None:  # item N is customer N
                total = min(total or self.app.customers, self.app.customers)
            job.acc += c.rate_per_s
            k = int(job.acc)
            if total:
                k = min(k, total - job.progress)
            job.acc -= int(job.acc)
            if k <= 0:
                if total and job.progress >= total:
                    job.state = "done"
                    self.log(
                        t,
                        10,
                        "scheduler",
                        INFO,
                        f'scheduler-0 job={job.name} msg="finished" items={job.progress}',
                    )
                continue
            err = None
            if c.kind == "write" and c.table:
                self.db.rows[c.table] = self.db.rows.get(c.table, 0) + k
                self.db.writes += k
                self.db.demand_ms += k * 3.0
            elif c.kind == "enqueue" and c.queue in self.queues:
                self.queues[c.queue].enqueue(t, k)
            elif c.kind == "email":
                if job.sends is not None:
                    job.sends[job.progress : job.progress + k] += 1
                self.records.emails += k
                self.metrics.row[self.c_emails] += k
            elif c.kind == "credit" and self.app is not None:
                k = self._credit_items(t, job, k)
            elif c.kind == "repair":
                targets = job.repair_targets[job.progress : job.progress + k]
                for o in targets:
                    if self.records.corrupted.pop(o, None) is not None:
                        self.records.repaired += 1
                        if self.app is not None:
                            self.app.restore_order(t, o)
                self.db.run("order_update", len(targets))
            elif c.kind == "disk":
                if self.db.disk_used_gb >= self.db.disk_gb:
                    err = "No space left on device"
                else:
                    self.db.disk_used_gb = min(
                        self.db.disk_gb, self.db.disk_used_gb + k * c.mb_per_item / 1024.0
                    )
            if err:
                self.log(
                    t,
                    11,
                    "scheduler",
                    ERROR,
                    f'scheduler-0 job={job.name} msg="write failed, retrying" error="{err}"',
                )
            job.progress += k
            job.items_done += k
            self.metrics.row[self.c_jobs[job.name]] += k
            if job.progress % 500 < k:
                self.log(
                    t,
                    12,
                    "scheduler",
                    INFO,
                    f'scheduler-0 job={job.name} msg="progress" done={job.progress} total={c.total or "inf"}',
                )

    def _credit_items(self, t: int, job: Job, k: int) -> int:
        """Credit and email customers `progress+1 ...`; a customer row the job cannot handle fails it."""
        app = self.app
        assert app is not None
        c = job.cfg
        done = 0
        for item in range(job.progress, job.progress + k):
            cid = item + 1
            if cid > app.customers:
                break
            if not app.has_email(cid):
                job.state = "failed"
                job.retry_at = t + c.retry_after_s if c.retry_after_s else None
                self.log(t, 11, "scheduler", ERROR,
                         f'scheduler-0 job={job.name} msg="job failed" item={item} customer_id={cid} '
                         f"error=\"TypeError: can only concatenate str (not 'NoneType') to str in render_email(customer.email)\""
                         + (f" retry_in={c.retry_after_s}s" if c.retry_after_s else ""))  # fmt: skip
                break
            app.credit(t, cid, c.campaign or job.name, c.credit_cents)
            app.send_email(t, cid, c.campaign or job.name, "store_credit")
            done += 1
        self.records.emails += done
        self.metrics.row[self.c_emails] += done
        return done

    def start_job(self, t: int, name: str, author: str, from_item: int | None = None) -> Job:
        job = self.jobs.get(name)
        if job is None:
            raise Refusal(f"no job {name!r}; jobs: {', '.join(sorted(self.jobs)) or 'none'}")
        if job.state == "running":
            raise Refusal(f"job {name} is already running")
        if from_item is not None:
            if job.cfg.total and not 0 <= from_item < job.cfg.total:
                raise Refusal(
                    f"job {name} has items 0 to {job.cfg.total - 1}; got --from {from_item}"
                )
            job.progress = from_item
        elif not job.cfg.checkpoint or job.state == "done":
            # without checkpoints a (re)run starts from the first item
            job.progress = 0
        job.retry_at = None
        if job.cfg.kind == "repair" and job.progress == 0:
            job.repair_targets = sorted(self.records.corrupted)
            job.cfg = job.cfg.model_copy(update={"total": len(job.repair_targets)})
        job.state = "running"
        job.runs += 1
        self.log(
            t,
            9,
            "scheduler",
            INFO,
            f'scheduler-0 job={name} msg="started" run={job.runs} from_item={job.progress} checkpoint={str(job.cfg.checkpoint).lower()} by={author}',
        )
        return job

    # ------------------------------------------------------------------ application data
    def _tick_app(self, t: int) -> None:
        app = self.app
        assert app is not None and self.cfg.appdb is not None
        if t % 10 == 0:
            app.flush()  # readers flush first, so batching ten ticks is invisible to them
        if t % self.cfg.appdb.check_every_s == 0:
            self.check_data()

    def check_data(self) -> dict[str, int]:
        """Run the data-quality checks now: violations per invariant (exported as a metric)."""
        app = self.app
        assert app is not None and self.cfg.appdb is not None
        out = {}
        for inv in self.cfg.appdb.invariants:
            n = out[inv.name] = app.violations(inv.sql)
            self.metrics.row[self.g_invariants[inv.name]] = n
        # a corrupted order the player repaired by hand counts as repaired
        rec = self.records
        if rec.corrupted:
            still = app.wrong_orders()
            for o in [o for o in rec.corrupted if app.order_id(o) not in still]:
                del rec.corrupted[o]
                rec.repaired += 1
        return out

    # ------------------------------------------------------------------ cache
    def _tick_cache(self, t: int) -> None:
        c = self.cfg.cache
        target = c.hit_ratio
        if self.cache_hit < target:
            # refilling needs misses answered by the database; an overloaded one answers few
            served = (
                1.0
                if self.db.cpu_util < 0.9
                else max(0.0, 1.0 - (self.db.backlog_ms / self.db.cfg.cpu_ms))
            )
            self.cache_hit = min(
                target,
                self.cache_hit
                + (target - self.cache_hit) * 3.0 / c.warm_s * served
                + 0.0002 * served,
            )

    # ------------------------------------------------------------------ recording
    def _record(self, t: int) -> None:
        m = self.metrics
        row = m.row
        db = self.db
        row[self.g_api_cpu] = self.api_cpu
        row[self.g_api_replicas] = sum(self.api_versions.values())
        row[self.g_pool_used] = self.pool_in_use
        row[self.g_pool_size] = self.cfg.api.pool_size
        row[self.g_pg_cpu] = db.cpu_util
        counts = self._pool_counts.values()
        worker_conns = sum(running for running, _ in counts) * 2
        row[self.g_pg_conn] = min(
            db.cfg.max_connections, self.pool_in_use + worker_conns + len(db.backends) + 3
        )
        row[self.g_pg_lag] = db.replication_lag_s
        row[self.g_pg_disk] = min(1.0, db.disk_used_gb / db.disk_gb)
        waiting = 0.0
        for b in db.backends:
            if b.exclusive and not b.holding:
                waiting += 1 + self.pool_in_use
        row[self.g_pg_locks] = waiting
        row[self.c_pg_seq] += db.seq_scans
        row[self.c_pg_xact] += sum(db.queries.values())
        latency = db._latency
        for shape, i in self.g_shape.items():
            row[i] = latency[shape]
        for name, q in self.queues.items():
            g = self.g_q[name]
            row[g["depth"]] = q.depth
            row[g["age"]] = q.oldest_age(t)
            row[g["inflight"]] = q.inflight
            row[g["dlq"]] = q.dlq_depth
            # per-tick counters of enqueued messages come from the broker's stats
            produced = q.stats.produced
            row[g["enq"]] += produced - self._produced.get(name, 0)
            self._produced[name] = produced
        row[self.g_wrong] = len(self.records.corrupted)
        row[self.g_cache_hit] = self.cache_hit
        row[self.g_cache_mem] = (
            self.cfg.cache.memory_mb
            * (0.1 + 0.9 * self.cache_hit / max(0.01, self.cfg.cache.hit_ratio))
            * 1_048_576
        )
        row[self.g_prov_lat] = self.provider_latency_s()
        for j, job in self.jobs.items():
            row[self.g_jobs[j]] = (job.progress / job.cfg.total) if job.cfg.total else 0.0
        per_hour = sum(self.api_versions.values()) * self.cfg.api.cost_per_replica_hour
        per_hour += sum(
            self._pool_counts[n][1] * p.cfg.cost_per_replica_hour for n, p in self.pools.items()
        )
        row[self.g_cost] = per_hour
        if self.g_broker:
            limit = self.cfg.broker.max_messages or 1
            row[self.g_broker["memory"]] = sum(q.depth for q in self.queues.values()) / limit
            row[self.g_broker["blocked"]] = 1.0 if self.publish_error is not None else 0.0
        self.cost_dollars += per_hour / 3600.0
        m.commit(t)

    # ------------------------------------------------------------------ broker and autoscaling
    def _tick_broker(self, t: int) -> None:
        """The broker's memory alarm and restarts, producers outside the API, and autoscalers."""
        bc = self.cfg.broker
        if bc.max_messages is not None:
            waiting = sum(q.depth for q in self.queues.values())
            if not self.broker_alarm and waiting > bc.max_messages:
                self.broker_alarm = True
                self.log(t, 13, "broker", WARN,
                         f"rabbitmq-0 [warning] memory resource limit alarm set on node rabbit@rabbitmq-0; "
                         f"messages_ready={waiting} high_watermark={bc.max_messages}. "
                         "Publishers will be blocked until this alarm clears")  # fmt: skip
            elif self.broker_alarm and waiting < 0.9 * bc.max_messages:
                self.broker_alarm = False
                self.log(t, 13, "broker", INFO,
                         f"rabbitmq-0 [info] memory resource limit alarm cleared on node rabbit@rabbitmq-0; messages_ready={waiting}")  # fmt: skip
        if t < self.broker_down_until:
            self.publish_error = "amqp: dial tcp rabbitmq:5672: connect: connection refused"
        elif self.broker_alarm:
            self.publish_error = (
                "amqp: publish timed out: connection blocked by broker (memory alarm)"
            )
        else:
            self.publish_error = None
        if self.publish_error is None:
            for q in self.queues.values():
                if q.cfg.producer_rps > 0:
                    q.enqueue(t, self.rng.poisson(q.cfg.producer_rps))
        if t % EVAL_INTERVAL_S == 0:
            for pool in self.pools.values():
                if pool.cfg.autoscale is not None and pool.cfg.autoscale.enabled:
                    self._autoscale(pool, t)

    def _autoscale(self, pool: WorkerPool, t: int) -> None:
        a = pool.cfg.autoscale
        assert a is not None
        q = self.queues[pool.cfg.queue]
        waiting = q.depth + q.inflight
        want = max(
            a.min_replicas,
            min(a.max_replicas, pool.cfg.max_replicas, -(-waiting // a.target_per_replica)),
        )
        hist = [
            (at, n) for at, n in self._desired.get(pool.name, []) if at > t - a.scale_down_delay_s
        ]
        hist.append((t, want))
        self._desired[pool.name] = hist
        target = min(a.max_replicas, max(n for _, n in hist))  # a lowered maximum holds at once
        have = len(pool.live)
        if target == have:
            return
        self.scale_pool(pool, target)
        self.log(t, 14, "keda", INFO,
                 f'keda-operator-0 scaledobject={pool.name} msg="scaling" from={have} to={target} '
                 f"queue={q.name} queue_length={waiting} target_per_replica={a.target_per_replica} max_replicas={a.max_replicas}")  # fmt: skip

    def restart_broker(self, t: int) -> int:
        """Restart the broker: nobody can publish for a while, and transient queues lose what waits."""
        lost = 0
        for q in self.queues.values():
            if not q.cfg.durable and q.depth:
                lost += q.purge()
        self.broker_down_until = t + self.cfg.broker.restart_s
        self.broker_alarm = False
        self._broker_active = True
        self.publish_error = "amqp: dial tcp rabbitmq:5672: connect: connection refused"
        self.log(t, 13, "broker", WARN,
                 f"rabbitmq-0 [notice] stopping rabbit@rabbitmq-0; transient messages dropped: {lost}")  # fmt: skip
        return lost

    def _fail_message(
        self, pool: WorkerPool, q: Queue, r: Replica, run: Run, t: int, error: str
    ) -> None:
        pool.failed += run.count
        self.metrics.row[self.g_w[pool.name]["err"]] += run.count
        self.log(t, 60, pool.name, ERROR,
                 f'{r.name} msg_id=msg_{q.msg_id(run.first)} queue={q.name} msg="job failed, will retry" '
                 f'error="{error}" batch={run.count} receive_count={run.deliveries}')  # fmt: skip
        q.fail(run, t)

    def _fan_out(self, pool: str, fanout: dict[str, float], n: int, t: int) -> None:
        """Messages a consumer publishes for the ones it processed (fractions carry over)."""
        if self.publish_error is not None:
            return
        for qn, k in fanout.items():
            q = self.queues.get(qn)
            if q is None:
                continue
            key = f"{pool}>{qn}"
            acc = self._acc.get(key, 0.0) + k * n
            whole = int(acc)
            self._acc[key] = acc - whole
            q.enqueue(t, whole)

    # ------------------------------------------------------------------ helpers
    def services(self) -> list[str]:
        return ["api", *self.pools]

    def holds(self, c: Condition) -> bool:
        return self.metrics.holds(c, self.t - 1)


_ln = SimRandom(20260314)  # a fixed table: its own fixed seed, not the run's
LOGNORMAL = tuple(sorted(_ln.lognormvariate(0.0, 0.35) for _ in range(4096)))
"""Lognormal latency factors (sigma 0.35), picked by a uniform draw: one draw instead of two."""


def _count_sorted(counts: list[int], ordered: list[float]) -> None:
    """Add sorted latencies to a histogram's bucket counts (as `bisect_left` per value would, with
    a couple of searches per bucket boundary crossed instead)."""
    first = bisect_left(LATENCY_BUCKETS, ordered[0])
    last = bisect_left(LATENCY_BUCKETS, ordered[-1])
    below = 0
    for k in range(first, last):
        upto = bisect_right(ordered, LATENCY_BUCKETS[k])  # values <= the bucket's upper bound
        counts[k] += upto - below
        below = upto
    counts[last] += len(ordered) - below


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.lower() in {"1", "true", "on", "yes", "enabled"}
    return bool(v)


def _p_over(mean_s: float, limit_s: float, sigma: float = 0.3) -> float:
    """P(lognormal latency with this mean exceeds limit)."""
    if mean_s <= 0:
        return 0.0
    z = (math.log(limit_s) - math.log(mean_s)) / sigma
    return 0.5 * math.erfc(z / math.sqrt(2))


def _current_label(sys: System, service: str) -> str:
    if service == "api":
        return ",".join(f"{v}x{n}" for v, n in sorted(sys.api_versions.items()))
    pool = sys.pools[service]
    versions = sorted({r.version for r in pool.live})
    return ",".join(versions)
