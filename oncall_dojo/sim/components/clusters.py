"""Database clusters, sites and links in a running system (`system.clusters`, `sites`, `links`).

Built only when an incident declares any of them; then it also models the shop's database as
the default cluster `postgres` (as declared, or its primary `pg-0` and replica `pg-1`), and the
database component leaves its replica to this module. Each second, after the database has
settled: every cluster's writes are its query shapes' writes on the tables it holds and the
rows `write` jobs write to them; each replica replays them at its rate (times 1 - the loss of
the link to its primary, nothing while replay is paused or the link is partitioned); each
auto-failover checks whether it can reach its primary and, after `after_s` without it, promotes
the replica it can reach that is furthest along. A failover (by hand or by the automation)
loses the writes the promoted replica had not replayed: they are counted, their rows are
removed from the application database, and the rows jobs wrote then from the tables' counts. The old
primary is left diverged: it replays nothing until rebuilt. Each auto-failover is an entry of
the automation registry (`CLUSTER-failover` unless named): frozen, it watches and logs, and
promotes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from oncall_dojo.sim.automation import Automation, Automations
from oncall_dojo.sim.components.database import Database
from oncall_dojo.sim.components.replication import Replication
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.data.appdb import AppDb
from oncall_dojo.sim.data.lost import LOST_BY_TIME, lose_since, still_missing
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.observability.logs import ERROR, INFO, WARN
from oncall_dojo.sim.observability.telemetry import Telemetry
from oncall_dojo.sim.topology import DEFAULT_CLUSTER, ClusterSpec

Record = Callable[[int, str, str, str, str, str], None]
"""The system's `record_change(t, kind, target, before, after, author)`."""

ALL_TABLES = frozenset({*LOST_BY_TIME, "order_items"})
"""The application database's tables a failover of the default cluster can lose rows of."""


@dataclass
class Link:
    name: str
    sites: tuple[str, str]
    base_ms: float
    base_loss: float
    partitioned: bool = False
    event_ms: float | None = None
    """Latency set by a `link_status` event (None: the healthy one)."""
    event_loss: float | None = None
    slow_ms: float = 0.0
    """Latency a resource's `slow` threshold adds while it holds."""
    slow_loss: float = 0.0
    gauges: tuple[int, int, int] = (0, 0, 0)

    @property
    def latency_ms(self) -> float:
        return (self.base_ms if self.event_ms is None else self.event_ms) + self.slow_ms

    @property
    def loss(self) -> float:
        base = self.base_loss if self.event_loss is None else self.event_loss
        return 1.0 - (1.0 - base) * (1.0 - self.slow_loss)

    @property
    def state(self) -> str:
        if self.partitioned:
            return "PARTITIONED"
        if self.event_ms is not None or self.event_loss is not None or self.slow_ms:
            return (
                "DEGRADED" if self.latency_ms > self.base_ms or self.loss > self.base_loss else "ok"
            )
        return "DEGRADED" if self.slow_loss else "ok"


@dataclass
class Member:
    """A replica of a cluster."""

    name: str
    site: str | None
    apply_per_s: float
    paused: bool = False
    stream: Replication = field(default_factory=Replication)
    diverged: bool = False
    """A former primary (or a replica ahead of the one promoted): it replays nothing until
    rebuilt."""
    cut_off: bool = False
    """Its link to the primary is partitioned (its WAL receiver lost the connection)."""
    rebuilding: str | None = None
    """The primary a running rebuild (an operation with `replica`) copies from: meanwhile it
    replays nothing and its stream only gathers the primary's writes."""
    rebuild_from: int = 0
    """The second the running rebuild started: its data is as old as that (its lag grows)."""


@dataclass
class Failover:
    """What a failover did."""

    cluster: str
    old: str
    new: str
    lag_s: float
    lost: int
    """Writes the promoted replica had not replayed."""
    rows: dict[str, int]
    """Rows of those writes removed from the application database, by table."""
    down_s: int
    """Seconds its queries fail while clients reconnect."""


@dataclass
class Cluster:
    name: str
    spec: ClusterSpec
    primary: str
    site: str | None
    members: dict[str, Member]
    tables: frozenset[str]
    writes: float = 0.0
    """This second's writes."""
    writes_lost: int = 0
    rows_lost: dict[str, int] = field(default_factory=dict)
    job_rows: list[tuple[int, str, float]] = field(default_factory=list)
    """(second, table, rows) that `write` jobs wrote to its tables, oldest first."""
    auto: Automation | None = None
    """Its auto-failover's entry in the automation registry (`freeze NAME`, `thaw NAME`)."""
    unreachable_since: int | None = None
    down_until: int = -1
    failovers: list[Failover] = field(default_factory=list)

    @property
    def frozen(self) -> bool:
        """The auto-failover is frozen (`freeze NAME`): it watches, logs, and promotes nothing."""
        return self.auto is not None and self.auto.frozen


class Topology:
    def __init__(
        self,
        cfg: SystemConfig,
        tm: Telemetry,
        db: Database,
        app: AppDb | None,
        record: Record,
        registry: Automations,
    ) -> None:
        self.tm, self.db, self.app, self.record_change = tm, db, app, record
        self.shapes = cfg.database.shapes
        metrics = tm.metrics
        self.sites = dict(cfg.sites)
        self.links: dict[str, Link] = {}
        self._between: dict[frozenset[str], Link] = {}
        for name, ls in cfg.links.items():
            link = Link(name, ls.between, ls.latency_ms, ls.loss)
            link.gauges = (
                metrics.gauge(
                    "network_link_latency_seconds", "Round-trip time of a link", link=name
                ),
                metrics.gauge(
                    "network_link_loss_ratio", "Share of packets lost on a link", link=name
                ),
                metrics.gauge(
                    "probe_success", "Whether a probe across the link succeeds", link=name
                ),
            )
            self.links[name] = link
            self._between[frozenset(ls.between)] = link
        specs = dict(cfg.clusters)
        specs.setdefault(DEFAULT_CLUSTER, ClusterSpec())
        claimed = {t: n for n, c in specs.items() if n != DEFAULT_CLUSTER for t in c.tables}
        shapes = cfg.database.shapes
        self._owner = {s: claimed.get(q.table, DEFAULT_CLUSTER) for s, q in shapes.items()}
        self._table_owner = claimed
        default_tables = frozenset({*ALL_TABLES, *cfg.database.tables} - set(claimed))
        self.clusters: dict[str, Cluster] = {}
        apply = cfg.database.replica_apply_per_s
        for name, spec in specs.items():
            members = {
                r: Member(r, rs.site or spec.site, rs.apply_per_s or apply, rs.paused)
                for r, rs in spec.replicas.items()
            }
            c = Cluster(
                name,
                spec,
                spec.primary,
                spec.site,
                members,
                default_tables if name == DEFAULT_CLUSTER else frozenset(spec.tables),
            )
            self.clusters[name] = c
            if spec.auto_failover is not None:
                c.auto = registry.add(
                    spec.auto_failover.called(name), "auto-failover", f"cluster:{name}"
                )
        self._lag: dict[tuple[str, str], int] = {}
        self._role: dict[tuple[str, str], int] = {}
        for c in self.clusters.values():
            for inst in (c.primary, *c.members):
                key = (c.name, inst)
                self._lag[key] = metrics.gauge(
                    "pg_replication_lag_seconds",
                    "Replica lag behind the primary",
                    cluster=c.name,
                    replica=inst,
                )
                self._role[key] = metrics.gauge(
                    "pg_replication_is_replica",
                    "1 on a replica, 0 on a primary",
                    cluster=c.name,
                    instance=inst,
                )
        db.replicated_here = False
        self.now = 0
        """The second being settled."""
        self._mirror()

    # ------------------------------------------------------------------ the network
    def link_between(self, a: str | None, b: str | None) -> Link | None:
        if a is None or b is None or a == b:
            return None
        return self._between.get(frozenset((a, b)))

    def reachable(self, a: str | None, b: str | None) -> bool:
        link = self.link_between(a, b)
        return link is None or not link.partitioned

    def set_link(
        self, name: str, partitioned: bool, latency_ms: float | None, loss: float | None
    ) -> None:
        link = self.links[name]
        link.partitioned, link.event_ms, link.event_loss = partitioned, latency_ms, loss

    def set_replica(
        self, cluster: str, replica: str, paused: bool | None, apply_per_s: float | None
    ) -> None:
        m = self.clusters[cluster].members.get(replica)
        if m is None:  # promoted meanwhile: it replays nothing now
            return
        if paused is not None:
            m.paused = paused
        if apply_per_s is not None:
            m.apply_per_s = apply_per_s

    def set_slow(self, slow: dict[str, tuple[float, float]]) -> None:
        """The links resources' `slow` thresholds degrade now: link -> (added ms, loss)."""
        for name, link in self.links.items():
            link.slow_ms, link.slow_loss = slow.get(name, (0.0, 0.0))

    def lag_s(self, c: Cluster, m: Member) -> float:
        link = self.link_between(c.site, m.site)
        return m.stream.pending / m.apply_per_s + (link.latency_ms / 1000.0 if link else 0.0)

    # ------------------------------------------------------------------ each second
    def settle(self, t: int) -> None:
        self.now = t
        db = self.db
        clusters = self.clusters
        for c in clusters.values():
            c.writes = 0.0
        owner = self._owner
        shapes = self.shapes
        for e in (db, *db.engines):
            for shape, n in e.queries.items():
                if shapes[shape].write:
                    clusters[owner[shape]].writes += n
            for table, n in e.table_writes.items():  # a `write` job's rows
                c = clusters[self._table_owner.get(table, DEFAULT_CLUSTER)]
                c.writes += n
                c.job_rows.append((t, table, n))
        for c in clusters.values():
            for m in c.members.values():
                if m.diverged:
                    if m.rebuilding is not None:  # the writes it will replay once rebuilt
                        m.stream.advance(t, c.writes, 0.0)
                    continue
                link = self.link_between(c.site, m.site)
                blocked = link is not None and link.partitioned
                if blocked != m.cut_off:
                    m.cut_off = blocked
                    self.tm.log(
                        t,
                        4,
                        "postgres",
                        ERROR if blocked else INFO,
                        f"{m.name} FATAL: could not receive data from WAL stream: connection to "
                        f"primary {c.primary} timed out"
                        if blocked
                        else f"{m.name} LOG: started streaming WAL from primary {c.primary}",
                    )
                if m.paused or blocked:
                    applied = 0.0
                else:
                    applied = m.apply_per_s * (1.0 - link.loss if link is not None else 1.0)
                m.stream.advance(t, c.writes, applied)
            if c.down_until >= 0 and t >= c.down_until:
                c.down_until = -1
                for table in c.tables:
                    db.down_tables.pop(table, None)
            if c.spec.auto_failover is not None:
                self._watch(c, t)
        self._mirror()

    def _watch(self, c: Cluster, t: int) -> None:
        auto = c.spec.auto_failover
        assert auto is not None
        who = auto.called(c.name)
        where = auto.site or c.site
        if self.reachable(where, c.site):
            if c.unreachable_since is not None:
                self.tm.log(
                    t,
                    5,
                    who,
                    INFO,
                    f"{who} cluster={c.name} primary {c.primary} reachable again",
                )
            c.unreachable_since = None
            return
        if c.unreachable_since is None:
            c.unreachable_since = t
            self.tm.log(
                t,
                5,
                who,
                WARN,
                f"{who} cluster={c.name} cannot reach primary {c.primary}: i/o timeout",
            )
            return
        if t - c.unreachable_since < auto.after_s:
            return
        if c.frozen:
            if (t - c.unreachable_since - auto.after_s) % 60 == 0:
                self.tm.log(
                    t,
                    5,
                    who,
                    WARN,
                    f"{who} cluster={c.name} primary {c.primary} unreachable for "
                    f"{t - c.unreachable_since}s; recovery blocked: automation is frozen",
                )
            return
        candidates = [
            m for m in c.members.values() if not m.diverged and self.reachable(where, m.site)
        ]
        if not candidates:
            return
        best = min(candidates, key=lambda m: m.stream.pending)
        f = self.failover(t, c.name, best.name, who)
        assert c.auto is not None
        c.auto.did(t, f"promoted {f.new} in place of {f.old} ({f.lost:,} writes lost)")
        self.tm.log(
            t,
            6,
            who,
            ERROR,
            f"{who} cluster={c.name} primary {f.old} unreachable for {auto.after_s}s; "
            f"promoted {f.new} (it was {f.lag_s:.0f}s behind)",
        )

    def _mirror(self) -> None:
        """The database component's replica figures follow the default cluster's laggiest replica."""
        c = self.clusters[DEFAULT_CLUSTER]
        live = [m for m in c.members.values() if not m.diverged]
        if live:
            self.db.stream = max(live, key=lambda m: m.stream.pending).stream
            self.db.lag_s = max(self.lag_s(c, m) for m in live)
        else:
            self.db.stream = Replication()
            self.db.lag_s = 0.0

    def record(self) -> None:
        row = self.tm.metrics.row
        for link in self.links.values():
            lat, loss, up = link.gauges
            row[lat] = link.latency_ms / 1000.0
            row[loss] = link.loss
            row[up] = 0.0 if link.partitioned else 1.0
        lag, role = self._lag, self._role
        for c in self.clusters.values():
            row[lag[(c.name, c.primary)]] = 0.0
            row[role[(c.name, c.primary)]] = 0.0
            for m in c.members.values():
                if m.rebuilding is not None:  # its copy is as old as the rebuild
                    row[lag[(c.name, m.name)]] = float(self.now - m.rebuild_from + 1)
                    continue
                row[lag[(c.name, m.name)]] = self.lag_s(c, m) if not m.diverged else 0.0
                row[role[(c.name, m.name)]] = 1.0

    # ------------------------------------------------------------------ rebuilding a replica
    def rebuild(self, t: int, cluster: str, replica: str) -> None:
        """A rebuild of `replica` starts: its data is wiped and copied afresh from the primary."""
        c = self.clusters[cluster]
        if replica == c.primary:
            raise Refusal(
                f"{replica} is the primary of {cluster} now: a rebuild wipes a replica's data "
                f"and copies it from the primary"
            )
        m = c.members.get(replica)
        if m is None:
            raise Refusal(f"no replica {replica!r} in {cluster}; replicas: {', '.join(c.members)}")
        m.diverged, m.rebuilding, m.cut_off = True, c.primary, False
        m.rebuild_from = t
        m.stream.reset()
        self.tm.log(
            t,
            7,
            "postgres",
            WARN,
            f"{replica} LOG: data directory removed; base backup from primary {c.primary} "
            f"started, replication stopped until it completes",
        )
        self._mirror()

    def rebuild_broken(self, cluster: str, replica: str) -> str | None:
        """Why a running rebuild can no longer finish (the primary it copies from changed)."""
        c = self.clusters[cluster]
        m = c.members.get(replica)
        if m is None or m.rebuilding is None:
            return f"{replica} is no longer a replica of {cluster}"
        if m.rebuilding != c.primary:
            return f"the primary changed during the base backup ({m.rebuilding} -> {c.primary})"
        return None

    def copy_share(self, cluster: str, replica: str) -> float:
        """The share of its rate a base backup gets over the link from the primary's site."""
        c = self.clusters[cluster]
        link = self.link_between(c.site, c.members[replica].site)
        if link is None:
            return 1.0
        return 0.0 if link.partitioned else 1.0 - link.loss

    def rebuilt(self, t: int, cluster: str, replica: str, ok: bool) -> None:
        """A rebuild ended: finished, the replica streams and replays what was written since it
        started; failed, it stays diverged with nothing kept."""
        m = self.clusters[cluster].members.get(replica)
        if m is None:
            return
        primary, m.rebuilding = m.rebuilding, None
        if not ok:
            m.stream.reset()
            return
        m.diverged = m.paused = False
        self.tm.log(
            t,
            4,
            "postgres",
            INFO,
            f"{replica} LOG: base backup completed; started streaming WAL from primary {primary}",
        )
        self._mirror()

    # ------------------------------------------------------------------ failover
    def failover(self, t: int, cluster: str, replica: str | None, author: str) -> Failover:
        """Promote a replica (the one named, or the one furthest along) to primary at second t."""
        c = self.clusters[cluster]
        live = [m for m in c.members.values() if not m.diverged]
        if replica is None:
            if not live:
                raise Refusal(f"{cluster} has no replica that can take over (all diverged)")
            m = min(live, key=lambda m: m.stream.pending)
        else:
            if replica not in c.members:
                raise Refusal(
                    f"no replica {replica!r} in {cluster}; replicas: {', '.join(c.members)}"
                )
            m = c.members[replica]
            if m.diverged:
                raise Refusal(f"{replica} has diverged from {cluster}; it must be rebuilt first")
        lag = self.lag_s(c, m)
        pending = m.stream.pending
        lost = int(pending)
        cut = m.stream.cut()
        rows = lose_rows(self.app, c.tables, cut)
        if cut is not None and c.job_rows:
            for table, n in lose_job_rows(c.job_rows, cut).items():
                self.db.rows[table] = max(0, self.db.rows.get(table, 0) - n)
                rows[table] = rows.get(table, 0) + n
        old = c.primary
        # the promoted replica becomes the primary; the old primary is left diverged
        del c.members[m.name]
        former = Member(old, c.site, m.apply_per_s, diverged=True)
        c.members[old] = former
        for other in c.members.values():
            if other is former or other.diverged:
                continue
            if other.stream.pending + 1e-9 < pending:
                other.diverged = True  # it replayed writes the new primary never had
                other.stream.reset()
            else:
                other.stream.drop_newest(pending)
        c.primary, c.site = m.name, m.site
        c.unreachable_since = None
        c.writes_lost += lost
        for table, n in rows.items():
            c.rows_lost[table] = c.rows_lost.get(table, 0) + n
        if cluster == DEFAULT_CLUSTER:
            self.db.writes_lost += lost
            self.db.promote(t, c.spec.failover_s)
        else:
            c.down_until = t + c.spec.failover_s
            if c.spec.engine is not None:  # its own engine: its sessions end
                own = self.db.engine(min(c.tables))
                own.instance = m.name
                own.promote(t, c.spec.failover_s)
            for table in c.tables:
                self.db.down_tables[table] = (
                    f"FATAL: terminating connection: {cluster} is failing over to {m.name}"
                )
        self._mirror()
        f = Failover(cluster, old, m.name, lag, lost, rows, c.spec.failover_s)
        c.failovers.append(f)
        self.record_change(t, "failover", cluster, old, m.name, author)
        self.tm.log(
            t,
            3,
            "postgres",
            INFO,
            f"{m.name} LOG: received promote request; selected new timeline; cluster={cluster} "
            f"database system is ready to accept connections",
        )
        return f


def lose_rows(
    app: AppDb | None, tables: frozenset[str], cut: tuple[int, float] | None
) -> dict[str, int]:
    """Remove from the application database the rows of `tables` a replica at `cut` had not
    replayed (nothing without an application database or without writes pending)."""
    if cut is None or app is None:
        return {}
    app.flush()
    return lose_since(app.conn, set(tables), app.ts(cut[0]), cut[1], app.lost)


def lose_job_rows(written: list[tuple[int, str, float]], cut: tuple[int, float]) -> dict[str, int]:
    """Of the rows `write` jobs wrote ((second, table, rows), oldest first), those a replica at
    `cut` had not replayed (the cut second's share of its rows, and every later second's), by
    table; they are dropped from `written`."""
    first, share = cut
    lost: dict[str, float] = {}
    keep = []
    for s, table, n in written:
        if s < first:
            keep.append((s, table, n))
            continue
        lost[table] = lost.get(table, 0.0) + (n * share if s == first else n)
        if s == first:
            keep.append((s, table, n - n * share))
    written[:] = keep
    return {table: n for table, k in lost.items() if (n := round(k))}


def rows_lost(app: AppDb) -> dict[str, int]:
    """Rows failovers lost that are still missing from the application database, by table."""
    app.flush()
    return still_missing(app.conn, app.lost)


def writes_lost(db: Database, topo: Topology | None) -> int:
    """Writes lost in failovers, over every cluster (the default's are the database's own)."""
    if topo is None:
        return int(db.writes_lost)
    return int(db.writes_lost) + sum(
        c.writes_lost for n, c in topo.clusters.items() if n != DEFAULT_CLUSTER
    )
