"""What the metrics pane shows for each service, and how a series is read for a chart.

Pure Python over the session's MetricStore: rate, errors, latency percentiles
and saturation per service, read at one point per chart column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session
    from oncall_dojo.sim.observability.metrics import MetricStore


@dataclass(frozen=True)
class Panel:
    label: str
    selector: str
    fn: str
    unit: str = ""
    over: str | None = None
    """Denominator selector: the panel shows selector / over (both read with `fn`)."""


RANGES: dict[str, int] = {"15m": 900, "1h": 3600, "all": 0}


def services(s: Session) -> list[str]:
    return ["api", *s.system.pools, "postgres", "payments-provider"]


def panels(s: Session, service: str) -> list[Panel]:
    sys_ = s.system
    if service == "api":
        retries = (
            [
                Panel("retries", "http_client_retries_total", "rate", "/s"),
                Panel("rate limited", 'http_requests_total{code="429"}', "rate", "/s"),
            ]
            if sys_.api.herd is not None  # clients that retry (the incident's retry policy)
            else []
        )
        return [
            Panel("rate", "http_requests_total", "rate", "/s"),
            Panel(
                "errors", 'http_requests_total{code=~"5..|429"}', "rate", "", "http_requests_total"
            ),
            Panel("latency p50", "http_request_duration_seconds", "p50", "s"),
            Panel("latency p95", "http_request_duration_seconds", "p95", "s"),
            Panel("latency p99", "http_request_duration_seconds", "p99", "s"),
            Panel("saturation cpu", "api_cpu_utilization", "max"),
            Panel("db pool in use", 'db_pool_connections_in_use{pool="api"}', "max"),
            *retries,
        ]
    if service in sys_.pools:
        q = sys_.pools[service].cfg.queue
        return [
            Panel("rate ok", f'worker_jobs_total{{pool="{service}",result="ok"}}', "rate", "/s"),
            Panel("errors", f'worker_jobs_total{{pool="{service}",result="error"}}', "rate", "/s"),
            Panel(
                "restarts",
                f'kube_pod_container_status_restarts_total{{pool="{service}"}}',
                "increase",
            ),
            Panel(
                f"latency: {q} oldest",
                f'queue_oldest_message_age_seconds{{queue="{q}"}}',
                "max",
                "s",
            ),
            Panel(f"saturation: {q} depth", f'queue_depth{{queue="{q}"}}', "max"),
            Panel("replicas ready", f'worker_replicas_ready{{pool="{service}"}}', "last"),
            Panel("memory", f'container_memory_working_set_bytes{{pool="{service}"}}', "max", "B"),
        ]
    if service == "postgres":
        return [
            Panel("rate commits", 'pg_stat_database_xact_commit_total{cluster=""}', "rate", "/s"),
            Panel("errors: pool timeouts", "db_pool_wait_timeouts_total", "rate", "/s"),
            Panel("latency: slowest shape", "pg_stat_statements_mean_ms", "max", "ms"),
            Panel("saturation cpu", 'pg_cpu_utilization{cluster=""}', "max"),
            Panel("locks waiting", 'pg_locks_waiting{cluster=""}', "max"),
            Panel("replica lag", 'pg_replication_lag_seconds{cluster=""}', "max", "s"),
        ]
    return [
        Panel("rate ok", 'payment_provider_requests_total{result="ok"}', "rate", "/s"),
        Panel("errors", 'payment_provider_requests_total{result=~"error|timeout"}', "rate", "/s"),
        Panel("latency", "payment_provider_latency_seconds", "max", "s"),
    ]


def window(s: Session, range_key: str) -> tuple[int, int]:
    """Ticks [t0, t1) the charts cover: the last 15m / 1h, or everything since an hour before the page."""
    t1 = s.system.t
    span = RANGES.get(range_key, 900)
    t0 = max(0, s.page_tick - 3600) if span == 0 else max(0, t1 - span)
    return t0, t1


def series(
    s: Session, selector: str, fn: str, t0: int, t1: int, points: int, over: str | None = None
) -> np.ndarray:
    """fn(selector) at about `points` evenly spaced ticks in [t0, t1)."""
    return metric_series(s.system.metrics, selector, fn, t0, t1, points, over)


def metric_series(
    m: MetricStore,
    selector: str,
    fn: str,
    t0: int,
    t1: int,
    points: int,
    over: str | None = None,
) -> np.ndarray:
    """fn(selector) at about `points` evenly spaced ticks in [t0, t1) of a run's metrics."""
    t1 = min(t1, m.ticks)
    if t1 <= t0 or points <= 0:
        return np.zeros(0)
    step = max(1, -(-(t1 - t0) // points))
    kind = m.kind_of(selector)
    if kind is None:
        return np.zeros(0)
    if kind == "histogram":
        vals = m.range(selector, t0, t1, fn=fn if fn.startswith("p") else "p99", step=step)
    elif fn in ("rate", "increase"):
        vals = m.range(selector, t0, t1, fn="rate", step=step)
        if fn == "increase":
            vals = vals * step
    else:
        vals = m.range(selector, t0, t1, fn=fn if fn in ("max", "avg") else "last", step=step)
    if over is not None:
        den = metric_series(m, over, fn, t0, t1, points)
        n = min(vals.size, den.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            vals = np.where(den[:n] > 0, vals[:n] / np.where(den[:n] > 0, den[:n], 1), 0.0)
    return np.asarray(vals, dtype=np.float64)


def current(s: Session, p: Panel) -> float | None:
    from oncall_dojo.sim.observability.metrics import Query

    m = s.system.metrics
    t = s.system.t - 1
    fn = p.fn if p.fn != "increase" else "increase"
    win = 300 if fn == "increase" else 60
    try:
        return m.query(Query(metric=p.selector, fn=fn, window=win, over=p.over), t)
    except Exception:
        return None
