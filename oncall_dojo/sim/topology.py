"""Database clusters, the sites they run in and the links between sites, as an incident declares
them under `system:` (`clusters`, `sites`, `links`).

The shop's database is the default cluster, `postgres` (primary `pg-0`, replica `pg-1`, no
site). An incident may declare it under `clusters: {postgres: ...}` to give it named replicas,
sites and an auto-failover, and may declare more clusters, each holding some of the shop's
tables. Nothing declared, nothing changes: the default database replicates as it always has.
A cluster other than `postgres` runs the queries on its tables on the shop's database unless it
declares its own `engine`: then they load its own CPU and connections, wait in its own lock
queues, and show in series labelled with its `cluster` (`pg_cpu_utilization{cluster="NAME"}`,
`pg_stat_activity_count`, `pg_settings_max_connections`, `pg_locks_waiting`,
`pg_stat_database_xact_commit_total`, `pg_stat_seq_scan_total`); the shop's own are the series
without the label (`{cluster=""}`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

NAME = r"^[a-z][a-z0-9-]*$"
"""A site's, link's, cluster's or database instance's name (`us-east`, `orders-db`, `pg-1`)."""
DEFAULT_CLUSTER = "postgres"
"""The shop's own database, as a cluster."""

Name = Annotated[str, Field(pattern=NAME)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)


class SiteSpec(_Model):
    """A zone or region the system runs in."""

    region: str = ""
    """What the provider calls it (`us-east-1`), shown by `db` and the map."""


class LinkSpec(_Model):
    """The network between two sites: replication across it slows when it degrades and stops
    while it is partitioned."""

    between: tuple[Name, Name]
    """The two sites it joins."""
    latency_ms: float = Field(default=1.0, ge=0)
    """Round-trip time when healthy; a replica across it is this much further behind."""
    loss: float = Field(default=0.0, ge=0, lt=1)
    """Share of packets lost when healthy; a replica across it replays (1 - loss) as fast."""

    @model_validator(mode="after")
    def _two_sites(self) -> LinkSpec:
        if self.between[0] == self.between[1]:
            raise ValueError("a link joins two different sites")
        return self


class ReplicaSpec(_Model):
    """A streaming replica of a cluster's primary."""

    site: Name | None = None
    """The site it runs in (default: its primary's)."""
    apply_per_s: float | None = Field(default=None, gt=0)
    """Writes per second it can replay (default: `system.database.replica_apply_per_s`). Its
    lag grows while the primary writes faster than this, and drains at the difference."""
    paused: bool = False
    """Replay paused at the start (`pg_wal_replay_pause()`): it receives but applies nothing."""


class AutoFailoverSpec(_Model):
    """An automation that promotes a replica by itself when the primary is unreachable."""

    after_s: int = Field(default=30, ge=1)
    """Seconds the primary must stay unreachable from `site` before it promotes a replica."""
    site: Name | None = None
    """Where the automation runs (default: the primary's site). A partition between this site
    and the primary's makes the primary unreachable to it."""
    name: str | None = Field(default=None, pattern=NAME)
    """Its name in the automation registry (what `freeze` and `thaw` take), its log lines and
    the change history (default: `CLUSTER-failover`)."""

    def called(self, cluster: str) -> str:
        return self.name or f"{cluster}-failover"


class EngineSpec(_Model):
    """A cluster's own query engine: its primary runs the queries on the cluster's tables with
    its own CPU, connections, lock queues and sessions, instead of the shop's database."""

    cpu_ms: float | None = Field(default=None, gt=0)
    """Query milliseconds its primary can execute per second (cores x 1000; default:
    `system.database.cpu_ms`). Its queries slow down as this saturates, as the shop's do."""
    max_connections: int | None = Field(default=None, ge=1)
    """Its connection limit (default: `system.database.max_connections`). Three are reserved
    for superusers, and each running replica of a worker pool whose queries touch its tables
    holds two; when the API's requests want more than are left, the share over the limit fail
    with `FATAL: sorry, too many clients already`."""


class ClusterSpec(_Model):
    """A database cluster: a primary and its replicas, optionally in sites."""

    primary: Name = "pg-0"
    """The primary instance's name."""
    site: Name | None = None
    """The site the primary runs in."""
    replicas: dict[Name, ReplicaSpec] = Field(default={"pg-1": {}}, validate_default=True)
    """Its replicas, by instance name."""
    tables: list[str] = []
    """The shop's tables it holds (query shapes' tables under `system.database.tables` and the
    application database's tables); the default cluster holds every table no other cluster
    names. Writes to them feed its replication; a failover loses its unreplayed rows of them."""
    failover_s: int = Field(default=30, ge=1)
    """Seconds its queries fail after a failover, while clients reconnect."""
    auto_failover: AutoFailoverSpec | None = None
    """An automation that fails over by itself (None: only by hand)."""
    engine: EngineSpec | None = None
    """Its own query engine (None: the queries on its tables run on the shop's database,
    `system.database`, and load its CPU and connections). Not for `postgres`, whose engine is
    `system.database`."""

    @model_validator(mode="after")
    def _names(self) -> ClusterSpec:
        if self.primary in self.replicas:
            raise ValueError(f"the primary {self.primary!r} cannot also be a replica")
        return self
