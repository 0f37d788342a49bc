"""Checks of an incident's database clusters, sites and links (`system.clusters`, `sites`,
`links`) and of the events and thresholds that name them: every site, link, cluster, replica and
table they name exists (an unknown name is told with the closest one), no table has two
clusters, and a replica in another site than its primary has a link to replicate over."""

from __future__ import annotations

from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.topocheck import unknown
from oncall_dojo.sim.components.autoscaler import autoscaler_name
from oncall_dojo.sim.components.clusters import ALL_TABLES
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.events import LinkEvent, ReplicaEvent
from oncall_dojo.sim.resources import RefuseWrites, Slow
from oncall_dojo.sim.topology import DEFAULT_CLUSTER, ClusterSpec

Loc = tuple[str | int, ...]

RESERVED = {"ledger": "`failover ledger` promotes the ledger's own replica"}
"""Cluster names the console already gives another meaning."""


def declared_clusters(cfg: SystemConfig) -> dict[str, ClusterSpec]:
    """The clusters a system has: the declared ones, and the shop's database by default."""
    return {DEFAULT_CLUSTER: ClusterSpec(), **cfg.clusters}


def has_topology(cfg: SystemConfig) -> bool:
    """Whether the incident models its databases as clusters (it declares any of them, a site
    or a link): only then can something name a cluster."""
    return bool(cfg.clusters or cfg.sites or cfg.links)


def named_cluster(
    loc: Loc, cluster: str, cfg: SystemConfig, need: str, undeclared_at: Loc | None = None
) -> list[tuple[Loc, str]]:
    """An error at `loc` when `cluster` is not one of the incident's clusters, or, at
    `undeclared_at` (default `loc`), when the incident declares none: `need` says what wanted
    one ("a failover happens to a database cluster")."""
    if not has_topology(cfg):
        return [
            (
                loc if undeclared_at is None else undeclared_at,
                f"{need}: declare `system.clusters` (or the sites and links the shop's "
                "database runs in)",
            )
        ]
    return unknown(loc, "cluster", cluster, list(declared_clusters(cfg)), "clusters")


def check_clusters(incident: Incident, cfg: SystemConfig) -> list[tuple[Loc, str]]:
    """Located errors in the topology and in what names it."""
    links_named = [
        (i, ev) for i, ev in enumerate(incident.events) if isinstance(ev, LinkEvent | ReplicaEvent)
    ]
    slow_links = [
        (name, i, th)
        for name, spec in incident.resources.items()
        for i, th in enumerate(spec.thresholds)
        if isinstance(th, Slow) and th.link is not None
    ]
    refusing = [
        (name, i, r)
        for name, spec in incident.resources.items()
        for i, r in enumerate(spec.thresholds)
        if isinstance(r, RefuseWrites) and r.cluster is not None
    ]
    if not (has_topology(cfg) or links_named or slow_links or refusing):
        return []
    errors: list[tuple[Loc, str]] = []
    sites = list(cfg.sites)
    pairs: dict[frozenset[str], str] = {}
    for name, link in cfg.links.items():
        here: Loc = ("system", "links", name)
        for j, site in enumerate(link.between):
            errors += unknown((*here, "between", j), "site", site, sites, "sites")
        pair = frozenset(link.between)
        if pair in pairs:
            errors.append((here, f"link {pairs[pair]!r} already joins these two sites"))
        pairs.setdefault(pair, name)
    links_ok = not errors  # a link with a wrong site: the replicas' links are not told too
    tables = sorted({*ALL_TABLES, *cfg.database.tables})
    owner: dict[str, str] = {}
    for name, c in cfg.clusters.items():
        here = ("system", "clusters", name)
        if name in RESERVED:
            errors.append((here, f"{name!r} cannot name a cluster: {RESERVED[name]}"))
        if c.site is not None:
            errors += unknown((*here, "site"), "site", c.site, sites, "sites")
        if name == DEFAULT_CLUSTER and c.engine is not None:
            errors.append(
                (
                    (*here, "engine"),
                    f"{DEFAULT_CLUSTER} runs on the shop's own database: set its `cpu_ms` and "
                    "`max_connections` under system.database",
                )
            )
        if name == DEFAULT_CLUSTER and c.tables:
            errors.append(
                (
                    (*here, "tables"),
                    f"{DEFAULT_CLUSTER} holds every table no other cluster names; "
                    "give the tables to the other clusters",
                )
            )
        elif name != DEFAULT_CLUSTER and not c.tables:
            errors.append((here, "a cluster other than postgres needs the `tables` it holds"))
        for j, table in enumerate(c.tables):
            at: Loc = (*here, "tables", j)
            if table not in tables:
                errors += unknown(at, "table", table, tables, "tables")
            elif table in owner:
                errors.append((at, f"{table} is already held by cluster {owner[table]!r}"))
            owner.setdefault(table, name)
        for r, rs in c.replicas.items():
            if rs.site is not None:
                errors += unknown((*here, "replicas", r, "site"), "site", rs.site, sites, "sites")
            a, b = c.site, rs.site or c.site
            if links_ok and a in sites and b in sites and a != b and frozenset((a, b)) not in pairs:
                errors.append(
                    (
                        (*here, "replicas", r, "site"),
                        f"no link joins {a} and {b}: declare one under system.links to "
                        "replicate across",
                    )
                )
        auto = c.auto_failover
        if auto is not None and auto.site is not None:
            errors += unknown((*here, "auto_failover", "site"), "site", auto.site, sites, "sites")
    names: dict[str, str] = {}
    taken = {autoscaler_name(n) for n, p in cfg.workers.items() if p.autoscale is not None}
    taken |= set(cfg.deploy_bots)
    for name, c in cfg.clusters.items():
        if c.auto_failover is not None:
            auto_name = c.auto_failover.called(name)
            if auto_name in taken:
                errors.append(
                    (
                        ("system", "clusters", name, "auto_failover", "name"),
                        f"{auto_name!r} is already the name of another automation "
                        "(an autoscaler or a deploy bot); give the auto-failover its own",
                    )
                )
            elif auto_name in names:
                errors.append(
                    (
                        ("system", "clusters", name, "auto_failover", "name"),
                        f"the auto-failover of cluster {names[auto_name]!r} is already called "
                        f"{auto_name!r}; give each its own name",
                    )
                )
            names.setdefault(auto_name, name)
    clusters = declared_clusters(cfg)
    for i, ev in links_named:
        at = ("events", i)
        if isinstance(ev, LinkEvent):
            errors += unknown((*at, "link"), "link", ev.link, list(cfg.links), "links")
        elif ev.cluster not in clusters:
            errors += unknown((*at, "cluster"), "cluster", ev.cluster, list(clusters), "clusters")
        else:
            reps = list(clusters[ev.cluster].replicas)
            errors += unknown(
                (*at, "replica"), "replica", ev.replica, reps, "replicas", f" in {ev.cluster}"
            )
    for name, i, th in slow_links:
        assert th.link is not None
        errors += unknown(
            ("resources", name, "thresholds", i, "link"), "link", th.link, list(cfg.links), "links"
        )
    for name, i, refuse in refusing:
        assert refuse.cluster is not None
        at = ("resources", name, "thresholds", i, "cluster")
        need = "a cluster's writes are refused within the incident's clusters"
        errors += named_cluster(at, refuse.cluster, cfg, need)
    return errors
