"""Clusters that run their own query engine (`engine:` under a cluster other than `postgres`).

Built only when a cluster declares one. Each such cluster's primary is a `Database` of its own,
attached to the shop's (`Database.attach`): the query shapes on its tables load its CPU, not
the shop's, and their latency grows with its utilisation; a lock on one of its tables queues
on it; its sessions are its own, and a failover of the cluster ends them. Row counts and
indexes stay one set, shared by every engine.

Connections: before the API serves a second, each engine works out the connections it would
hold (Little's law on the requests' time in its queries, capped at the request timeout; a
query waiting on a lock holds its connection until the timeout), next to the three reserved
for superusers, two for each running replica of a pool whose queries touch its tables, and one
per long-running session. When the requests want more than are left, the share over the
limit fails at once with `FATAL: sorry, too many clients already`, and only in the requests
that touch its tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from oncall_dojo.sim.components.database import BLOCKED_MS, Database
from oncall_dojo.sim.components.workers import Workers
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.observability.telemetry import Telemetry

RESERVED = 3
"""Connections kept for superusers (`superuser_reserved_connections`)."""
TOO_MANY = "FATAL: sorry, too many clients already"

RouteLoad = tuple[int, dict[str, float], dict[str, float]]
"""A route's requests this second: (count, query shapes per request, shapes on a cache miss)."""


@dataclass
class Engine:
    """A cluster's own engine and what it measures each second."""

    cluster: str
    db: Database
    pools: list[str]
    """The worker pools whose queries touch its tables."""
    gauges: tuple[int, int, int, int, int, int]
    """cpu, connections, max connections, locks waiting, transactions, sequential scans."""
    wanted: float = 0.0
    """Connections the API's requests want this second."""
    held: float = 0.0
    """Connections held by the workers, the sessions and the superusers."""
    refused: float = 0.0
    """Share of the requests that touch it finding no connection this second."""


class Shards:
    def __init__(self, cfg: SystemConfig, tm: Telemetry, db: Database, workers: Workers) -> None:
        self.tm, self.db, self.workers = tm, db, workers
        self.timeout_ms = cfg.api.timeout_s * 1000.0
        self.engines: dict[str, Engine] = {}
        self._of: dict[str, Engine] = {}
        """The engine of each query shape that runs on one."""
        m = tm.metrics
        for name, spec in cfg.clusters.items():
            if spec.engine is None:
                continue
            tables = frozenset(spec.tables)
            base = cfg.database
            own = base.model_copy(
                update={
                    "cpu_ms": spec.engine.cpu_ms or base.cpu_ms,
                    "max_connections": spec.engine.max_connections or base.max_connections,
                    "shapes": {s: q for s, q in base.shapes.items() if q.table in tables},
                }
            )
            e_db = Database(own, instance=spec.primary)
            db.attach(e_db, tables)
            pools = [p for p, w in cfg.workers.items() if any(s in own.shapes for s in w.queries)]
            e = Engine(
                name,
                e_db,
                pools,
                (
                    m.gauge("pg_cpu_utilization", "Primary CPU utilisation (0-1)", cluster=name),
                    m.gauge("pg_stat_activity_count", "Connections to the primary", cluster=name),
                    m.gauge(
                        "pg_settings_max_connections",
                        "The primary's connection limit",
                        cluster=name,
                    ),
                    m.gauge("pg_locks_waiting", "Sessions waiting on a lock", cluster=name),
                    m.counter(
                        "pg_stat_database_xact_commit_total",
                        "Committed transactions",
                        cluster=name,
                    ),
                    m.counter("pg_stat_seq_scan_total", "Sequential scans", cluster=name),
                ),
            )
            self.engines[name] = e
            for s in own.shapes:
                self._of[s] = e

    # ------------------------------------------------------------------ connections
    def admit(self, routes: list[RouteLoad], hit: float) -> list[tuple[float, str]]:
        """The share of each route's requests that find no connection on an engine they need,
        and the error they fail with."""
        cap = self.timeout_ms
        of = self._of
        engines = self.engines.values()
        counts = self.workers.counts
        for e in engines:
            e.wanted = 0.0
            e.held = RESERVED + sum(2 * counts[p][0] for p in e.pools) + len(e.db.backends)
        touched: list[dict[str, float]] = []
        for n, shapes, miss in routes:
            hold: dict[str, float] = {}
            share: dict[str, float] = {}
            for per, w in ((shapes, 1.0), (miss, 1.0 - hit)):
                for s, c in per.items():
                    on = of.get(s)
                    if on is None:
                        continue
                    lat = on.db._latency[s]
                    ms = cap if lat >= BLOCKED_MS else min(lat, cap)
                    hold[on.cluster] = hold.get(on.cluster, 0.0) + w * c * ms
                    share[on.cluster] = max(share.get(on.cluster, 0.0), w)
            for name, ms in hold.items():
                self.engines[name].wanted += n * min(ms, cap) / 1000.0
            touched.append(share)
        for e in engines:
            left = e.db.cfg.max_connections - e.held
            e.refused = 0.0 if e.wanted <= left else 1.0 - max(0.0, left) / e.wanted
        out: list[tuple[float, str]] = []
        for share in touched:
            ok, worst, why = 1.0, 0.0, ""
            for name, w in share.items():
                e = self.engines[name]
                ok *= 1.0 - w * e.refused
                if w * e.refused > worst:
                    worst, why = w * e.refused, self.error(e)
            out.append((1.0 - ok, why))
        return out

    @staticmethod
    def error(e: Engine) -> str:
        return f"psycopg2.OperationalError: connection to {e.db.instance}:5432 failed: {TOO_MANY}"

    # ------------------------------------------------------------------ telemetry
    def record(self) -> None:
        row = self.tm.metrics.row
        for e in self.engines.values():
            db = e.db
            cpu, conn, limit, locks, xact, seq = e.gauges
            row[cpu] = db.cpu_util
            row[limit] = db.cfg.max_connections
            db.conn_in_use = min(float(db.cfg.max_connections), e.held + e.wanted)
            row[conn] = db.conn_in_use
            waiting = 0.0
            for b in db.backends:
                if b.exclusive and not b.holding:
                    waiting += 1 + e.wanted
            row[locks] = waiting
            row[xact] += sum(db.queries.values())
            row[seq] += db.seq_scans


def engine_summary(db: Database) -> tuple[bool, str]:
    """Whether a cluster's own engine is busy (CPU over 85 %, connections at the limit or a
    session running), and its figures as `db` and the map show them."""
    limit = db.cfg.max_connections
    busy = db.cpu_util >= 0.85 or db.conn_in_use >= limit or bool(db.backends)
    return busy, (
        f"  cpu {db.cpu_util:.0%}  connections {db.conn_in_use:.0f}/{limit}"
        f"  sessions {len(db.backends)}"
    )
