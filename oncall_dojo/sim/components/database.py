"""A primary database with a replica: CPU, connections, per-shape latency, indexes, locks, disk.

Load arrives as query counts per shape each tick. A shape's cost is its base
time, plus a table scan when the index it needs is missing. Latency grows with
utilisation as in an M/M/c queue with one server per core (`cpu_ms` / 1000
cores): 1 + C(c, c rho) / (c (1 - rho)) times the idle latency, Erlang C's C.
When demand exceeds capacity the unserved work carries over and adds its own
wait, so an overload sustains itself until load drops.
Locks are a queue per table: an exclusive lock request waits behind running
queries on that table, and every later query waits behind it.
A cluster with its own engine (`components.shards`) is another `Database` attached to the
shop's: the shop's routes the load, the sessions and the latency of the query shapes on that
cluster's tables to it, and shares its row counts and indexes with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from oncall_dojo.sim.components.replication import Replication
from oncall_dojo.sim.config import DatabaseConfig
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.queueing import mmc_response_factor

BLOCKED_MS = 60_000.0  # latency of a query stuck behind a lock: longer than any client timeout

ShapeFacts = tuple[str, float, str | None, float, bool]
"""A query shape's (table, base_ms, index, scan_ms_per_krow, write)."""

BackendKind = Literal["analytics", "migration", "index_build", "vacuum"]


@dataclass
class Backend:
    """A long-running session shown by `db queries` (pg_stat_activity)."""

    pid: int
    kind: BackendKind
    table: str
    sql: str
    started: int
    user: str
    runs_s: int
    """Seconds of work once it holds what it needs."""
    exclusive: bool = False
    """Needs an ACCESS EXCLUSIVE lock on its table."""
    holding: bool = False
    """Has its lock and is running."""
    index: str | None = None
    blocks_writes: bool = False
    instance: str = "postgres-0"
    """The instance it runs on (a cluster with its own engine: that cluster's primary)."""
    done_at: int | None = None
    rows_left: float = 0.0
    """Index builds: rows still to read; they read slower when the database is busy."""
    rows_per_s: float = 0.0


@dataclass
class Database:
    cfg: DatabaseConfig
    rows: dict[str, int] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)
    backends: list[Backend] = field(default_factory=list)
    disk_used_gb: float = 0.0
    disk_gb: float = 0.0
    backlog_ms: float = 0.0
    cpu_util: float = 0.0
    read_only: bool = False
    refusal: str | None = None
    """Why every write fails now, as the writer's error (an incident's resource past a
    threshold sets it)."""
    stream: Replication = field(default_factory=Replication)
    """The replica's replay of this primary's writes (`pending`: writes it has not applied)."""
    refused_tables: dict[str, str] = field(default_factory=dict)
    """Tables whose writes are refused now, with the error (a cluster's volume full)."""
    lag_s: float | None = None
    """The laggiest replica's lag as the incident's clusters measure it (its own apply rate and
    its link); None: the stream's backlog over the database's apply rate."""
    replica_paused: bool = False
    replicated_here: bool = True
    """Whether this primary's replica is modelled here (False: the incident declared the default
    cluster and `components.clusters` replicates it, setting `stream` to its laggiest replica)."""
    down_tables: dict[str, str] = field(default_factory=dict)
    """Tables of another cluster failing over now, with the error their queries fail with."""
    failover_until: int = -1
    writes_lost: int = 0
    next_pid: int = 41_200
    cancelled: int = 0
    # per-tick accounting
    demand_ms: float = 0.0
    queries: dict[str, float] = field(default_factory=dict)
    writes: float = 0.0
    table_writes: dict[str, float] = field(default_factory=dict)
    """This tick's rows written outside the query shapes (a `write` job's), by table."""
    conn_in_use: float = 0.0
    seq_scans: float = 0.0
    _latency: dict[str, float] = field(default_factory=dict)
    _shape_info: dict[str, tuple[float, bool, bool]] = field(default_factory=dict)
    _shapes: dict[str, ShapeFacts] = field(default_factory=dict, repr=False, compare=False)
    """Each query shape's facts, read from the configuration once (it does not change)."""
    _factor: float = 1.0
    engines: list[Database] = field(default_factory=list, repr=False, compare=False)
    """The engines of the clusters that run their own (empty: this one runs every query)."""
    _shape_engine: dict[str, Database] = field(default_factory=dict, repr=False, compare=False)
    _table_engine: dict[str, Database] = field(default_factory=dict, repr=False, compare=False)
    parent: Database | None = field(default=None, repr=False, compare=False)
    """The shop's database, on a cluster's own engine (its latencies are the shop's too)."""
    instance: str = "postgres-0"

    def __post_init__(self) -> None:
        self._shapes = {
            name: (s.table, s.base_ms, s.index, s.scan_ms_per_krow, s.write)
            for name, s in self.cfg.shapes.items()
        }
        self.rows = dict(self.cfg.tables)
        self.indexes = dict(self.cfg.indexes)
        self.disk_used_gb = self.cfg.disk_used_gb
        self.disk_gb = self.cfg.disk_gb
        self._recompute_latency()

    def attach(self, engine: Database, tables: frozenset[str]) -> None:
        """Run the queries on `tables` on `engine` from now on (a cluster's own engine)."""
        engine.parent = self
        engine.rows = self.rows
        engine.indexes = self.indexes
        engine.replicated_here = False
        self.engines.append(engine)
        for table in tables:
            self._table_engine[table] = engine
        for shape in engine.cfg.shapes:
            self._shape_engine[shape] = engine
        engine._recompute_latency()
        self._recompute_latency()

    def engine(self, table: str) -> Database:
        """The engine that runs the queries on a table."""
        return self._table_engine.get(table, self)

    def all_backends(self) -> list[Backend]:
        """Every long-running session, on this engine and on the clusters' own."""
        if not self.engines:
            return self.backends
        return [b for e in (self, *self.engines) for b in e.backends]

    # -- costs and latency ----------------------------------------------------------
    def cost_ms(self, shape: str) -> float:
        s = self.cfg.shapes[shape]
        cost = s.base_ms
        if s.index is not None and s.index not in self.indexes:
            cost += self.rows.get(s.table, 0) / 1000.0 * s.scan_ms_per_krow
        return cost

    def uses_seq_scan(self, shape: str) -> bool:
        s = self.cfg.shapes[shape]
        return s.index is not None and s.index not in self.indexes

    def table_blocked(self, table: str, write: bool) -> Backend | None:
        """The backend that makes new queries on the table wait, if any."""
        if self._table_engine and table in self._table_engine:
            return self._table_engine[table].table_blocked(table, write)
        for b in self.backends:
            if b.table != table:
                continue
            if b.exclusive:  # waiting or holding ACCESS EXCLUSIVE: everything queues behind it
                return b
            if write and b.blocks_writes and b.holding:
                return b
        return None

    def _recompute_latency(self) -> None:
        lat: dict[str, float] = {}
        info: dict[str, tuple[float, bool, bool]] = {}
        factor = self._factor
        indexes = self.indexes
        backends = self.backends
        rows = self.rows
        for name, (table, base_ms, index, scan_ms_per_krow, write) in self._shapes.items():
            cost = base_ms
            scan = index is not None and index not in indexes
            if scan:
                cost += rows.get(table, 0) / 1000.0 * scan_ms_per_krow
            info[name] = (cost, scan, write)
            if backends and self.table_blocked(table, write) is not None:
                lat[name] = BLOCKED_MS
            else:
                lat[name] = cost * factor
        self._shape_info = info
        self._latency = lat
        for e in self.engines:
            lat.update(e._latency)
        if self.parent is not None:
            self.parent._latency.update(lat)

    def latency_ms(self, shape: str) -> float:
        return self._latency[shape]

    def writes_may_fail(self) -> bool:
        return (
            self.failover_until >= 0
            or self.read_only
            or self.disk_used_gb >= self.disk_gb
            or self.refusal is not None
            or bool(self.down_tables)
            or bool(self.refused_tables)
        )

    def write_error(self, shape: str) -> str | None:
        """Why a write would fail right now, or None."""
        if self._shape_engine and shape in self._shape_engine:
            return self._own_error(shape)
        if self.failover_until >= 0:
            return "FATAL: the database system is in recovery mode"
        table, _, _, _, write = self._shapes[shape]
        if self.down_tables and table in self.down_tables:
            return self.down_tables[table]
        if not write:
            return None
        if self.refused_tables and table in self.refused_tables:
            return self.refused_tables[table]
        if self.disk_used_gb >= self.disk_gb:
            return 'ERROR: could not extend file "base/16384/24601": No space left on device'
        if self.read_only:
            return "ERROR: cannot execute INSERT in a read-only transaction"
        return self.refusal

    def _own_error(self, shape: str) -> str | None:
        """Why a query on a cluster's own engine fails now: its cluster is failing over, or a
        write its cluster refuses (the shop's restart, volume and refusal are not its)."""
        s = self.cfg.shapes[shape]
        if s.table in self.down_tables:
            return self.down_tables[s.table]
        return self.refused_tables.get(s.table) if s.write else None

    # -- load ------------------------------------------------------------------
    def run(self, shape: str, count: float) -> None:
        """Account `count` executions of a shape in this tick."""
        if count <= 0:
            return
        if self._shape_engine:
            e = self._shape_engine.get(shape)
            if e is not None:
                e.run(shape, count)
                return
        self.queries[shape] = self.queries.get(shape, 0.0) + count
        cost, scan, write = self._shape_info[shape]
        self.demand_ms += count * cost
        if scan:
            self.seq_scans += count
        if write:
            self.writes += count

    def write_rows(self, table: str, count: int, cost_ms: float) -> None:
        """Account `count` rows written to `table` in this tick outside the query shapes (a
        `write` job's): they load the engine and feed its replication like the shapes' writes."""
        self.rows[table] = self.rows.get(table, 0) + count
        self.writes += count
        self.demand_ms += count * cost_ms
        self.table_writes[table] = self.table_writes.get(table, 0.0) + count

    def tick(self, t: int) -> list[tuple[str, Backend]]:
        """Advance one second; returns events (kind, backend) for logging."""
        events: list[tuple[str, Backend]] = []
        for e in self.engines:
            events += e.tick(t)
        # long-running backends
        for b in list(self.backends):
            if not b.holding:
                blocker = (
                    next(
                        (
                            o
                            for o in self.backends
                            if o is not b
                            and o.table == b.table
                            and o.holding
                            and o.started <= b.started
                        ),
                        None,
                    )
                    if b.exclusive
                    else None
                )
                if blocker is None:
                    b.holding = True
                    b.done_at = t + b.runs_s
                    events.append(("acquired", b))
            if b.holding and b.rows_per_s > 0:
                # an index build competes for CPU with everything else
                spare = max(0.15, 1.0 - self.cpu_util)
                b.rows_left -= b.rows_per_s * spare
                b.done_at = (
                    t if b.rows_left <= 0 else t + 1 + int(b.rows_left / (b.rows_per_s * spare))
                )
            if b.holding and b.done_at is not None and t >= b.done_at:
                self.backends.remove(b)
                if b.kind == "index_build" and b.index:
                    self.indexes[b.index] = b.table
                events.append(("finished", b))
        # CPU: demand plus carried-over backlog against capacity
        cap = self.cfg.cpu_ms
        demand = self.demand_ms + self.backlog_ms
        for b in self.backends:
            if b.holding:
                demand += 250.0 if b.kind != "analytics" else 600.0
        # (max() and min() of two numbers written as conditionals: no call)
        served = cap if cap < demand else demand
        # clients time out and give up part of the backlog each second
        over = demand - served
        self.backlog_ms = (over if over > 0.0 else 0.0) * 0.85
        util = demand / cap
        self.cpu_util = util if util < 1.0 else 1.0
        rho = util if util < 0.99 else 0.99
        cores = round(cap / 1000.0)
        if not cores > 1:
            cores = 1
        self._factor = mmc_response_factor(cores, rho) + self.backlog_ms / cap * 1000.0 / 100.0
        # disk and replication
        self.disk_used_gb += self.writes * self.cfg.kb_per_write / 1_048_576.0
        shapes = self._shapes
        rows = self.rows
        for shape, n in self.queries.items():
            table, _, _, _, write = shapes[shape]
            if write:
                rows[table] = rows.get(table, 0) + int(n)
        if self.replicated_here:
            applied = 0.0 if self.replica_paused else self.cfg.replica_apply_per_s
            self.stream.advance(t, self.writes, applied)
        if self.failover_until >= 0 and t >= self.failover_until:
            self.failover_until = -1
        self._recompute_latency()
        return events

    def end_tick(self) -> None:
        for e in self.engines:
            e.end_tick()
        self.demand_ms = 0.0
        self.queries = {}
        self.writes = 0.0
        if self.table_writes:
            self.table_writes = {}
        self.seq_scans = 0.0

    @property
    def replica_pending(self) -> float:
        return self.stream.pending

    @property
    def replication_lag_s(self) -> float:
        if self.lag_s is not None:
            return self.lag_s
        return self.stream.pending / self.cfg.replica_apply_per_s

    # -- operator actions ----------------------------------------------------------
    def start_backend(
        self,
        t: int,
        kind: BackendKind,
        table: str,
        sql: str,
        runs_s: int,
        user: str,
        exclusive: bool = False,
        index: str | None = None,
        blocks_writes: bool = False,
    ) -> Backend:
        b = Backend(
            self.next_pid, kind, table, sql, t, user, runs_s, exclusive, False, index, blocks_writes
        )
        self.next_pid += 7
        e = self.engine(table)
        b.instance = e.instance
        e.backends.append(b)
        e._recompute_latency()
        return b

    def restart(self, t: int, down_s: int) -> int:
        """Every connection drops and writes fail for `down_s`. Returns the sessions killed."""
        killed = len(self.backends)
        self.backends.clear()
        self.failover_until = t + down_s
        self._recompute_latency()
        return killed

    def kill(self, pid: int) -> Backend:
        for e in (self, *self.engines):
            for b in e.backends:
                if b.pid == pid:
                    e.backends.remove(b)
                    self.cancelled += 1
                    e._recompute_latency()
                    return b
        raise Refusal(f"no running backend with pid {pid} (see `db queries`)")

    def create_index(
        self, t: int, name: str, table: str, columns: str, concurrently: bool
    ) -> Backend:
        if table not in self.rows:
            raise Refusal(f"no table {table!r}; tables: {', '.join(sorted(self.rows))}")
        if name in self.indexes:
            raise Refusal(f"index {name} already exists")
        if any(b.index == name for b in self.all_backends()):
            raise Refusal(f"index {name} is already being built")
        rate = self.cfg.index_build_rows_per_s / (2.0 if concurrently else 1.0)
        runs = max(5, int(self.rows[table] / rate))
        how = "CONCURRENTLY " if concurrently else ""
        b = self.start_backend(
            t,
            "index_build",
            table,
            f"CREATE INDEX {how}{name} ON {table} ({columns})",
            runs,
            "oncall",
            index=name,
            blocks_writes=not concurrently,
        )
        b.rows_left, b.rows_per_s = float(self.rows[table]), rate
        return b

    def failover(self, t: int) -> int:
        """Promote the replica. Writes it had not replayed are lost. Returns how many."""
        lost = int(self.stream.pending)
        self.writes_lost += lost
        self.stream.reset()
        self.promote(t, 30)
        return lost

    def promote(self, t: int, down_s: int) -> None:
        """Another instance becomes this cluster's primary: sessions end, writes fail for
        `down_s` while clients reconnect."""
        self.read_only = False
        self.failover_until = t + down_s
        self.backends = [b for b in self.backends if b.kind == "index_build" and not b.holding]
        self.backlog_ms = 0.0
        self._recompute_latency()
