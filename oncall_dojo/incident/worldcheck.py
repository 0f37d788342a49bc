"""Checks of an incident's resources, timed events and operations against the system it
builds: every route, queue, pool, service, resource, table, component and operation they name
exists, and every gauge has a name and labels of its own."""

from __future__ import annotations

from collections.abc import Collection

from oncall_dojo.incident.clustercheck import declared_clusters, named_cluster
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.topocheck import all_hosts, check_topology, host_errors, unknown
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.events import HostEvent, PoolEvent, ResourceEvent
from oncall_dojo.sim.faults.base import LogLine
from oncall_dojo.sim.faults.repairs import Damage
from oncall_dojo.sim.operations import BUILTIN_COMPONENTS
from oncall_dojo.sim.resources import WRITABLE_BUILTINS, ResourceSpec
from oncall_dojo.sim.units import value_problem
from oncall_dojo.sim.world import exported_names

Loc = tuple[str | int, ...]


def _missing(loc: Loc, what: str, value: str, known: Collection[str], plural: str) -> list:
    if value in known:
        return []
    return [(loc, f"no {what} {value!r}; {plural}: {', '.join(known) or 'none'}")]


def _versions_missing(
    here: Loc, pool: str, versions: list[str], incident: Incident, cfg: SystemConfig
) -> list[tuple[Loc, str]]:
    """A resource's `versions` the pool never runs: not its version, nor one the registry,
    its history or a deploy names."""
    known = {cfg.workers[pool].version, *cfg.versions.get(pool, {})}
    known |= {h.value for h in cfg.history if h.kind == "deploy" and h.target == pool}
    known |= {
        str(getattr(f, "version", ""))
        for f in incident.faults
        if getattr(f, "service", None) == pool and getattr(f, "version", None)
    }
    return [
        ((*here, "versions", i), f"no version {v!r} of {pool}; known: {', '.join(sorted(known))}")
        for i, v in enumerate(versions)
        if v not in known
    ]


def check_operations(incident: Incident, cfg: SystemConfig) -> list[tuple[Loc, str]]:
    """Located errors in `operations`, and in the `damage` faults that name them."""
    errors: list[tuple[Loc, str]] = []
    resources = list(incident.resources)
    components = list(dict.fromkeys([*BUILTIN_COMPONENTS, *cfg.workers, *cfg.queues, *resources]))
    for name, op in incident.operations.items():
        here: Loc = ("operations", name)
        if op.replica is not None:
            errors += _replica_errors(here, op.component, op.replica, cfg)
        else:
            errors += unknown(
                (*here, "component"), "component", op.component, components, "components"
            )
        if op.resource is not None:
            errors += unknown((*here, "resource"), "resource", op.resource, resources, "resources")
        if op.table is not None:
            errors += unknown(
                (*here, "table"), "table", op.table, list(cfg.database.tables), "tables"
            )
        for i, cond in enumerate(op.fails_if):
            if cond.resource is not None:
                errors += unknown(
                    (*here, "fails_if", i, "resource"),
                    "resource",
                    cond.resource,
                    resources,
                    "resources",
                )
        for key in op.done.resources:
            errors += unknown(
                (*here, "done", "resources", key), "resource", key, resources, "resources"
            )
        for i, line in enumerate([*op.logs, *op.done.logs]):
            if line.every_s is not None:
                where = ("logs", i) if i < len(op.logs) else ("done", "logs", i - len(op.logs))
                errors.append(
                    (
                        (*here, *where, "every_s"),
                        "an operation's lines are written once: they are not repeated",
                    )
                )
    for i, f in enumerate(incident.faults):
        if isinstance(f, Damage):
            listed = not isinstance(f.fixed_by, str)
            for j, repair in enumerate(f.repairs):
                errors += unknown(
                    ("faults", i, "fixed_by", j) if listed else ("faults", i, "fixed_by"),
                    "operation",
                    repair,
                    list(incident.operations),
                    "operations",
                )
    return errors


def _replica_errors(here: Loc, cluster: str, replica: str, cfg: SystemConfig) -> list:
    """An operation that rebuilds a replica names a declared cluster and one of its instances."""
    need = "a replica is rebuilt within a database cluster"
    errors = named_cluster((*here, "component"), cluster, cfg, need, (*here, "replica"))
    if errors:
        return errors
    spec = declared_clusters(cfg)[cluster]
    instances = [spec.primary, *spec.replicas]
    return unknown(
        (*here, "replica"), "instance", replica, instances, "instances", f" in {cluster}"
    )


def _thresholds(
    here: Loc, spec: ResourceSpec, routes: list[str], services: list[str], cfg: SystemConfig
) -> list[tuple[Loc, str]]:
    """Located errors in what a resource's thresholds name."""
    errors: list[tuple[Loc, str]] = []
    for i, th in enumerate(spec.thresholds):
        at: Loc = (*here, "thresholds", i)
        route = getattr(th, "route", None)
        if route is not None and route != "*":
            errors += _missing((*at, "route"), "route", route, routes, "routes (or `*`)")
        pool = getattr(th, "pool", None)
        if pool is not None:
            errors += _missing((*at, "pool"), "worker pool", pool, cfg.workers, "pools")
            errors += host_errors((*at, "hosts"), pool, getattr(th, "hosts", []), cfg)
        service = getattr(th, "service", None)
        if service is not None:
            errors += _missing((*at, "service"), "service", service, services, "services")
    return errors


def _builtin_errors(incident: Incident) -> list[tuple[Loc, str]]:
    """What may act on a `builtin` quantity: events and operations may set or work off the
    database volume, never the model's rate; nothing may change the others."""
    builtins = {n: r.builtin for n, r in incident.resources.items() if r.builtin is not None}
    if not builtins:
        return []
    errors: list[tuple[Loc, str]] = []

    def refused(loc: Loc, name: str, rate: bool, value: bool) -> None:
        kind = builtins[name]
        if kind not in WRITABLE_BUILTINS and (rate or value):
            errors.append(
                (loc, f"{name!r} is the model's `{kind}`: it can be watched, not changed")
            )
        elif rate:
            errors.append((loc, f"{name!r} is the model's `{kind}`: the model sets its rate"))

    for name, op in incident.operations.items():
        if op.resource in builtins:
            refused(("operations", name, "resource"), op.resource, False, True)
        for key, change in op.done.resources.items():
            if key in builtins:
                at: Loc = ("operations", name, "done", "resources", key)
                refused(at, key, change.rate is not None, change.value is not None)
    for i, ev in enumerate(incident.events):
        if isinstance(ev, ResourceEvent) and ev.resource in builtins:
            refused(
                ("events", i, "resource"), ev.resource, ev.rate is not None, ev.value is not None
            )
    return errors


def _value_errors(incident: Incident) -> list[tuple[Loc, str]]:
    """`{value}` placeholders in log lines: only a resource threshold's lines have a value
    (the resource's), in a known unit."""
    lines: list[tuple[Loc, LogLine, bool]] = []
    for name, spec in incident.resources.items():
        for i, th in enumerate(spec.thresholds):
            here: Loc = ("resources", name, "thresholds", i, "logs")
            lines += [((*here, j), line, True) for j, line in enumerate(th.logs)]
    for i, f in enumerate(incident.faults):
        lines += [(("faults", i, "logs", j), line, False) for j, line in enumerate(f.logs)]
    for i, ev in enumerate(incident.events):
        lines += [(("events", i, "logs", j), line, False) for j, line in enumerate(ev.logs)]
    for name, op in incident.operations.items():
        lines += [(("operations", name, "logs", j), x, False) for j, x in enumerate(op.logs)]
        done: Loc = ("operations", name, "done", "logs")
        lines += [((*done, j), x, False) for j, x in enumerate(op.done.logs)]
    errors: list[tuple[Loc, str]] = []
    for loc, line, has_value in lines:
        if "{value" in line.text and (problem := value_problem(line.text, has_value)):
            errors.append(((*loc, "text"), problem))
    return errors


def check_world(incident: Incident, cfg: SystemConfig) -> list[tuple[Loc, str]]:
    """Located errors in `resources`, `events` and `operations`, and in the system's
    automation and hosts."""
    errors: list[tuple[Loc, str]] = check_topology(cfg)
    if incident.operations or any(isinstance(f, Damage) for f in incident.faults):
        errors += check_operations(incident, cfg)
    errors += _builtin_errors(incident)
    errors += _value_errors(incident)
    if not incident.resources and not incident.events:
        return errors
    routes = list(cfg.api.routes)
    services = ["api", *cfg.workers]
    builtin = exported_names(cfg)
    gauges: dict[str, str] = {}
    for name, spec in incident.resources.items():
        here: Loc = ("resources", name)
        if spec.route is not None:
            errors += _missing((*here, "route"), "route", spec.route, routes, "routes")
        if spec.queue is not None:
            errors += _missing((*here, "queue"), "queue", spec.queue, cfg.queues, "queues")
        if spec.job is not None and spec.job not in cfg.jobs:
            errors += _missing((*here, "job"), "job", spec.job, cfg.jobs, "jobs in system.jobs")
        if spec.resets_with is not None:
            errors += _missing(
                (*here, "resets_with"), "worker pool", spec.resets_with, cfg.workers, "pools"
            )
            if spec.resets_with in cfg.workers:
                errors += _versions_missing(here, spec.resets_with, spec.versions, incident, cfg)
        if spec.failover is not None:
            errors += named_cluster(
                (*here, "failover", "cluster"),
                spec.failover.cluster,
                cfg,
                "a failover happens to a database cluster",
                (*here, "failover"),
            )
        if spec.metric is None:  # a `builtin`: the model's own gauge exports it
            errors += _thresholds(here, spec, routes, services, cfg)
            continue
        if spec.metric in builtin:
            errors.append(
                (
                    (*here, "metric"),
                    f"{spec.metric!r} is a metric the system already exports; name the gauge "
                    "as your exporter does (`node_filesystem_avail_bytes`)",
                )
            )
        key = spec.metric + "".join(f",{k}={v}" for k, v in sorted(spec.labels.items()))
        if key in gauges:
            errors.append(
                (
                    (*here, "metric"),
                    f"resource {gauges[key]!r} already exports {spec.metric!r} with these "
                    "labels; give each gauge its own labels",
                )
            )
        gauges.setdefault(key, name)
        errors += _thresholds(here, spec, routes, services, cfg)
    for i, ev in enumerate(incident.events):
        at = ("events", i)
        for j, line in enumerate(ev.logs):
            if line.every_s is not None:
                errors.append(
                    (
                        (*at, "logs", j, "every_s"),
                        "an event happens once: its lines are not repeated",
                    )
                )
        if isinstance(ev, ResourceEvent):
            errors += _missing(
                (*at, "resource"), "resource", ev.resource, incident.resources, "resources"
            )
        elif isinstance(ev, PoolEvent):
            if ev.pool not in cfg.workers:
                errors += _missing((*at, "pool"), "worker pool", ev.pool, cfg.workers, "pools")
            elif ev.replicas is not None and cfg.workers[ev.pool].hosts:
                errors.append(
                    (
                        (*at, "replicas"),
                        f"{ev.pool} runs one process per host; take hosts down with "
                        "`host_status` events instead",
                    )
                )
            elif ev.replicas is not None and ev.replicas > cfg.workers[ev.pool].max_replicas:
                errors.append(
                    (
                        (*at, "replicas"),
                        f"{ev.pool} can have at most {cfg.workers[ev.pool].max_replicas} replicas",
                    )
                )
        elif isinstance(ev, HostEvent):
            errors += unknown((*at, "host"), "host", ev.host, all_hosts(cfg), "hosts")
    return errors
