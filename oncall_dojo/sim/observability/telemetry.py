"""The system's telemetry handles: the ids of its metric series, and its log lines by service.

`Telemetry` registers every series once, when the system is built, in one fixed order (the order
the metric store lists them in), and the components write the current tick's row through these
ids. It also turns a service name into the log store's service id.
"""

from __future__ import annotations

from collections.abc import Iterable

from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.observability.logs import LogStore
from oncall_dojo.sim.observability.metrics import MetricStore

CORE_SERVICES = ("api", "postgres", "cache", "payments-provider", "scheduler", "deployer")
"""Services that log from the start, before the worker pools (their log service ids come first)."""


class Telemetry:
    """Metric series ids by what they measure, and a logger by service name."""

    def __init__(
        self,
        cfg: SystemConfig,
        metrics: MetricStore,
        logs: LogStore,
        queues: Iterable[str],
        pools: Iterable[str],
        jobs: Iterable[str],
    ) -> None:
        self.metrics = metrics
        self.logs = logs
        self._register_api(cfg)
        self._register_database(cfg)
        self._register_queues_and_pools(list(queues), list(pools))
        self._register_business(cfg, list(jobs))
        self.g_cpu: dict[str, tuple[int, int]] = {
            p: (
                metrics.gauge("worker_cpu_utilization", "CPU used, share of requested", pool=p),
                metrics.gauge("worker_busy_slots_ratio", "Slots working on a message", pool=p),
            )
            for p, w in cfg.workers.items()
            if w.autoscale is not None and w.autoscale.metric == "cpu"
        }
        """Pools whose autoscaler reads CPU: their CPU use and busy-slot gauges."""
        self.sid = {s: logs.service_id(s) for s in (*CORE_SERVICES, *self.g_w)}
        """Log service id by service name (see `log`)."""

    def log(self, t: int, ms: int, service: str, level: int, text: str) -> None:
        """One log line of tick t, at millisecond ms within it."""
        sid = self.sid.get(service)
        if sid is None:
            sid = self.sid[service] = self.logs.service_id(service)
        self.logs.emit(t, ms, sid, level, text)

    def _register_api(self, cfg: SystemConfig) -> None:
        m = self.metrics
        self.m_route: dict[str, dict[int, int]] = {}
        self.h_route: dict[str, int] = {}
        for route in cfg.api.routes:
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
            "db_pool_wait_timeouts_total",
            "Requests that found no free connection within the pool timeout",
            pool="api",
        )
        self.g_pool_wait_s = m.counter(
            "db_pool_wait_seconds_total",
            "Seconds requests waited for a connection (those that got one)",
            pool="api",
        )

    def _register_database(self, cfg: SystemConfig) -> None:
        m = self.metrics
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
            for s in cfg.database.shapes
        }

    def _register_queues_and_pools(self, queues: list[str], pools: list[str]) -> None:
        m = self.metrics
        self.g_q: dict[str, dict[str, int]] = {}
        for q in queues:
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
        for p in pools:
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

    def _register_business(self, cfg: SystemConfig, jobs: list[str]) -> None:
        """The cache, the provider, business outcomes, spend, the broker and the jobs."""
        m = self.metrics
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
        if cfg.broker.max_messages is not None:
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
        self.g_jobs = {j: m.gauge("job_progress_ratio", "Progress of a job", job=j) for j in jobs}
        self.c_jobs = {
            j: m.counter("job_items_processed_total", "Items processed by a job", job=j)
            for j in jobs
        }
        self.c_emails = m.counter("emails_sent_total", "Emails handed to the mail provider")
        self.c_bad_orders = m.counter(
            "orders_written_invalid_total", "Orders failing the amount sanity check at write time"
        )
        self.g_wrong = m.gauge(
            "orders_records_invalid", "Order records that currently fail the amount sanity check"
        )
        self.g_invariants: dict[str, int] = {}
        self.c_parcels: int | None = None
        """Shipment labels bought (only with the application database)."""
        if cfg.appdb is not None:
            self.g_invariants = {
                inv.name: m.gauge(
                    "data_invariant_violations",
                    "Rows failing a data-quality check (checked periodically)",
                    invariant=inv.name,
                )
                for inv in cfg.appdb.invariants
            }
            self.c_parcels = m.counter(
                "shipping_labels_purchased_total", "Labels bought from carriers"
            )
