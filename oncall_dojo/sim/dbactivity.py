"""The database's sessions as `pg_stat_activity` would list them, and who blocks whom.

Read from the model's state, changing nothing: the long-running backends (an analytics
query, a migration, an index build) as they are, and the API's pooled connections, as many
as the pool holds now (its in-use gauge), shared among the query shapes in proportion to the
connection time each takes (requests a second x queries per request x their latency, capped
at the request timeout: Little's law, as the pool's own load is worked out). A connection
whose query waits behind a lock waits for the session at the head of its table's lock queue,
as `pg_blocking_pids` would report it; a backend waiting for its own lock waits for the
backends that hold the table before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from oncall_dojo.sim.components.database import BLOCKED_MS, Backend, Database
from oncall_dojo.sim.config import SystemConfig

APP_PID_BASE = 18_200
"""The API's pooled connections are backends from this pid on (one per slot, steady)."""
APP_USER = "api"


@dataclass(frozen=True)
class Activity:
    """One session of the database."""

    pid: int
    user: str
    query: str
    table: str
    lock: str
    """The lock mode the session holds or asks for on `table`."""
    waiting: bool
    """Waits for a lock (pg_stat_activity's `wait_event_type = 'Lock'`)."""
    blocked_by: tuple[int, ...]
    """Whom it waits for, as `pg_blocking_pids(pid)`."""
    runtime_s: float
    """How long its current query has run (or waited)."""


def lock_mode(b: Backend) -> str:
    if b.exclusive:
        return "AccessExclusiveLock"
    if b.kind == "index_build":
        return "ShareLock" if b.blocks_writes else "ShareUpdateExclusiveLock"
    if b.kind == "vacuum":
        return "ShareUpdateExclusiveLock"
    return "AccessShareLock" if b.kind == "analytics" else "RowExclusiveLock"


def _blockers(db: Database, b: Backend) -> tuple[int, ...]:
    """The backends a waiting backend waits for: those on its table that hold it already and
    started first (the model's lock queue)."""
    if b.holding:
        return ()
    return tuple(
        o.pid
        for o in db.all_backends()
        if o is not b and o.table == b.table and o.holding and o.started <= b.started
    )


def sessions(
    db: Database, cfg: SystemConfig, pool_in_use: float, cache_hit: float, t: int
) -> list[Activity]:
    """Every session now: the long-running backends first, then the API's connections."""
    out = [
        Activity(
            b.pid,
            b.user,
            b.sql,
            b.table,
            lock_mode(b),
            not b.holding,
            _blockers(db, b),
            float(t - b.started),
        )
        for b in db.all_backends()
    ]
    return out + _app_sessions(db, cfg, pool_in_use, cache_hit, t)


def _app_sessions(
    db: Database, cfg: SystemConfig, pool_in_use: float, cache_hit: float, t: int
) -> list[Activity]:
    n = round(pool_in_use)
    if n <= 0:
        return []
    timeout_ms = cfg.api.timeout_s * 1000.0
    weight: dict[str, float] = {}
    for route in cfg.api.routes.values():
        per = dict(route.queries)
        if route.cache:
            for shape, c in route.on_miss.items():
                per[shape] = per.get(shape, 0.0) + c * (1.0 - cache_hit)
        for shape, c in per.items():
            if shape in db.cfg.shapes:
                ms = min(db.latency_ms(shape), timeout_ms)
                weight[shape] = weight.get(shape, 0.0) + route.share * c * ms
    total = sum(weight.values())
    if total <= 0:
        return []
    # n slots shared by largest remainder, ties in the shapes' order: the same state, the same list
    exact = {sh: n * w / total for sh, w in weight.items()}
    counts = {sh: int(v) for sh, v in exact.items()}
    for sh in sorted(exact, key=lambda sh: -(exact[sh] - counts[sh]))[: n - sum(counts.values())]:
        counts[sh] += 1
    out: list[Activity] = []
    slot = 0
    for shape, k in counts.items():
        s = db.cfg.shapes[shape]
        head = db.table_blocked(s.table, s.write) if db.latency_ms(shape) >= BLOCKED_MS else None
        for i in range(k):
            if head is not None:
                # arrived one after another since the queue formed; none waits past the timeout
                waited = min(float(t - head.started), cfg.api.timeout_s)
                runtime = waited * (k - i) / k
            else:  # the client gives up at its timeout, and so does its query
                runtime = min(db.latency_ms(shape) / 1000.0, cfg.api.timeout_s)
            out.append(
                Activity(
                    APP_PID_BASE + 3 * slot,
                    APP_USER,
                    s.sql or shape,
                    s.table,
                    "RowExclusiveLock" if s.write else "AccessShareLock",
                    head is not None,
                    (head.pid,) if head is not None else (),
                    runtime,
                )
            )
            slot += 1
    return out
