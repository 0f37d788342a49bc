"""Checks of an incident's database clusters, sites and links (`system.clusters`, `sites`,
`links`) and of the events and thresholds that name them: every site, link, cluster, replica and
table they name exists (an unknown name is told with the closest one), no table has two
clusters, and a replica in another site than its primary has a link to replicate over."""

from __future__ import annotations

import difflib
from collections.abc import Collection

from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.components.autoscaler import autoscaler_name
from oncall_dojo.sim.components.clusters import ALL_TABLES
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.events import LinkEvent, ReplicaEvent
from oncall_dojo.sim.resources import RefuseWrites, Slow
from oncall_dojo.sim.topology import DEFAULT_CLUSTER, ClusterSpec

Loc = tuple[str | int, ...]

RESERVED = {"ledger": "`failover ledger` promotes the ledger's own replica"}
"""Cluster names the console already gives another meaning."""


def _unknown(
    loc: Loc, what: str, value: str, known: Collection[str], plural: str, where: str = ""
) -> list:
    """An error at `loc` when `value` is not among `known`, naming the closest one."""
    if value in known:
        return []
    close = difflib.get_close_matches(value, list(known), n=1)
    tip = f" (did you mean {close[0]!r}?)" if close else ""
    return [(loc, f"no {what} {value!r}{where}{tip}; {plural}: {', '.join(known) or 'none'}")]


def declared_clusters(cfg: SystemConfig) -> dict[str, ClusterSpec]:
    """The clusters a system has: the declared ones, and the shop's database by default."""
    return {DEFAULT_CLUSTER: ClusterSpec(), **cfg.clusters}


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
    declared = bool(cfg.clusters or cfg.sites or cfg.links)
    if not (declared or links_named or slow_links or refusing):
        return []
    errors: list[tuple[Loc, str]] = []
    sites = list(cfg.sites)
    pairs: dict[frozenset[str], str] = {}
    for name, link in cfg.links.items():
        here: Loc = ("system", "links", name)
        for j, site in enumerate(link.between):
            errors += _unknown((*here, "between", j), "site", site, sites, "sites")
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
            errors += _unknown((*here, "site"), "site", c.site, sites, "sites")
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
                errors += _unknown(at, "table", table, tables, "tables")
            elif table in owner:
                errors.append((at, f"{table} is already held by cluster {owner[table]!r}"))
            owner.setdefault(table, name)
        for r, rs in c.replicas.items():
            if rs.site is not None:
                errors += _unknown((*here, "replicas", r, "site"), "site", rs.site, sites, "sites")
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
            errors += _unknown((*here, "auto_failover", "site"), "site", auto.site, sites, "sites")
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
            errors += _unknown((*at, "link"), "link", ev.link, list(cfg.links), "links")
        elif ev.cluster not in clusters:
            errors += _unknown((*at, "cluster"), "cluster", ev.cluster, list(clusters), "clusters")
        else:
            reps = list(clusters[ev.cluster].replicas)
            errors += _unknown(
                (*at, "replica"), "replica", ev.replica, reps, "replicas", f" in {ev.cluster}"
            )
    for name, i, th in slow_links:
        assert th.link is not None
        errors += _unknown(
            ("resources", name, "thresholds", i, "link"), "link", th.link, list(cfg.links), "links"
        )
    for name, i, refuse in refusing:
        assert refuse.cluster is not None
        at = ("resources", name, "thresholds", i, "cluster")
        if not declared:
            errors.append(
                (
                    at,
                    "a cluster's writes are refused within the incident's clusters: declare "
                    "`system.clusters` (or the sites and links the shop's database runs in)",
                )
            )
        else:
            errors += _unknown(at, "cluster", refuse.cluster, list(clusters), "clusters")
    return errors
