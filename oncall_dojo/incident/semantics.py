"""Checks across an incident file that the schema alone cannot express."""

from __future__ import annotations

from typing import Any

from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.metrics import Selector, SelectorError
from oncall_dojo.sim.rules import default_rules

Loc = tuple[str | int, ...]
EVIDENCE_KINDS = {
    "logs",
    "metrics",
    "alerts",
    "deploys",
    "runbook",
    "queue",
    "queues",
    "workers",
    "db",
    "jobs",
    "flags",
    "config",
    "messages",
    "map",
}


def rule_names(incident: Incident, cfg: SystemConfig) -> list[str]:
    names = [r.name for r in default_rules(cfg) if r.name not in incident.alerts.disable]
    return names + [r.name for r in incident.alerts.add]


def check_references(incident: Incident) -> list[tuple[Loc, str]]:
    errors: list[tuple[Loc, str]] = []
    try:
        cfg = incident.system_config()
    except Exception:  # reported by the caller with positions
        return errors
    defaults = {r.name for r in default_rules(cfg)}
    for i, name in enumerate(incident.alerts.disable):
        if name not in defaults:
            errors.append(
                (
                    ("alerts", "disable", i),
                    f"no default alert named {name!r}; defaults: {', '.join(sorted(defaults))}",
                )
            )
    rules = rule_names(incident, cfg)
    if incident.page.alert not in rules:
        errors.append(
            (
                ("page", "alert"),
                f"no alert named {incident.page.alert!r}; alerts: {', '.join(rules)}",
            )
        )
    for i, rule in enumerate(incident.alerts.add):
        if rule.name in defaults:
            errors.append(
                (
                    ("alerts", "add", i, "name"),
                    f"{rule.name!r} is a default alert; choose another name or disable the default",
                )
            )
        for j, c in enumerate(rule.conditions):
            errors += _selector_errors(("alerts", "add", i, "conditions", j), c.metric, c.over)
    for j, c in enumerate(incident.resolution.conditions):
        errors += _selector_errors(("resolution", "conditions", j), c.metric, c.over)
    for i, f in enumerate(incident.faults):
        errors += [(("faults", i, *loc), msg) for loc, msg in _fault_refs(f, cfg)]
        if f.when is not None:
            errors += _selector_errors(("faults", i, "when"), f.when.metric, f.when.over)
    if not any(f.cause for f in incident.faults):
        errors.append(
            (("faults",), "at least one fault must be part of the root cause (cause: true)")
        )
    for i, ev in enumerate(incident.evidence):
        kind = ev.view.split(":", 1)[0]
        if kind not in EVIDENCE_KINDS:
            errors.append(
                (
                    ("evidence", i, "view"),
                    f"unknown evidence kind {kind!r}; kinds: {', '.join(sorted(EVIDENCE_KINDS))}",
                )
            )
    return errors


def _selector_errors(loc: Loc, *selectors: str | None) -> list[tuple[Loc, str]]:
    out = []
    for key, sel in zip(("metric", "over"), selectors, strict=True):
        if sel is None:
            continue
        try:
            Selector.parse(sel)
        except SelectorError as exc:
            out.append(((*loc, key), str(exc)))
    return out


def _fault_refs(f: Any, cfg: SystemConfig) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    services = ["api", *cfg.workers]
    if hasattr(f, "queue") and f.queue not in cfg.queues:
        out.append((("queue",), f"no queue {f.queue!r}; queues: {', '.join(cfg.queues)}"))
    if hasattr(f, "pool") and f.pool not in cfg.workers:
        out.append((("pool",), f"no worker pool {f.pool!r}; pools: {', '.join(cfg.workers)}"))
    if f.kind in ("bad_deploy", "deploy") and f.service not in services:
        out.append((("service",), f"no service {f.service!r}; services: {', '.join(services)}"))
    if f.kind == "missing_index" and f.index not in cfg.database.indexes:
        out.append(
            (("index",), f"no index {f.index!r}; indexes: {', '.join(cfg.database.indexes)}")
        )
    if f.kind == "migration_lock" and f.table not in cfg.database.tables:
        out.append((("table",), f"no table {f.table!r}; tables: {', '.join(cfg.database.tables)}"))
    if f.kind == "disk_fill":
        job = cfg.jobs.get(f.job)
        if job is None or job.kind != "disk":
            out.append((("job",), f"{f.job!r} is not a `disk` job in system.jobs"))
    if f.kind in ("config_change", "flag_change"):
        for service in f.traits:
            if service not in services:
                out.append(
                    (
                        ("traits", service),
                        f"no service {service!r}; services: {', '.join(services)}",
                    )
                )
    return out
