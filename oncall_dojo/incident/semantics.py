"""Checks across an incident file that the schema alone cannot express."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from oncall_dojo.incident.clustercheck import check_clusters
from oncall_dojo.incident.diagnosis import parts_of
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.worldcheck import check_world
from oncall_dojo.sim.components.traits import same_value
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.faults.base import SERVICE_PATTERN
from oncall_dojo.sim.faults.releases import WorkerCrashLoop
from oncall_dojo.sim.faults.settings import SettingFault
from oncall_dojo.sim.observability.alerts import placeholder_problem
from oncall_dojo.sim.observability.metrics import Selector, SelectorError
from oncall_dojo.sim.observability.rules import default_rules
from oncall_dojo.sim.observability.telemetry import CORE_SERVICES

Loc = tuple[str | int, ...]


def alias_clashes(
    incident: Incident, path: Path, owners: Mapping[str, list[tuple[Path, str]]]
) -> list[tuple[Loc, str]]:
    """Aliases of the incident in `path` that another incident file already claims, as its id
    or as one of its aliases (`owners` as `packs.name_owners` builds it)."""
    errors: list[tuple[Loc, str]] = []
    here = path.resolve()
    for i, alias in enumerate(incident.aliases):
        for other, kind in owners.get(alias, []):
            if other.resolve() == here:
                continue
            what = "the id" if kind == "id" else "an alias"
            errors.append(
                (
                    ("aliases", i),
                    f"{alias!r} is already {what} of incident {other.stem!r} ({other})",
                )
            )
    return errors


def rule_names(incident: Incident, cfg: SystemConfig) -> list[str]:
    names = [r.name for r in default_rules(cfg) if r.name not in incident.alerts.disable]
    return names + [r.name for r in incident.alerts.add]


def check_references(incident: Incident) -> list[tuple[Loc, str]]:
    errors: list[tuple[Loc, str]] = []
    for i, alias in enumerate(incident.aliases):
        if alias == incident.id:
            errors.append((("aliases", i), f"{alias!r} is this incident's own id"))
        elif alias in incident.aliases[:i]:
            errors.append((("aliases", i), f"{alias!r} is listed twice"))
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
    for name, text in incident.alerts.texts.items():
        if name not in defaults:
            close = difflib.get_close_matches(name, defaults, n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"defaults: {', '.join(sorted(defaults))}"
            )
            errors.append((("alerts", "texts", name), f"no default alert named {name!r}; {hint}"))
        elif name in incident.alerts.disable:
            errors.append(
                (("alerts", "texts", name), f"{name!r} is disabled under `alerts.disable`")
            )
        elif (problem := placeholder_problem(text)) is not None:
            errors.append((("alerts", "texts", name), problem))
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
    for i, inj in enumerate(incident.injects):
        if inj.fault is not None:
            errors += [
                (("injects", i, "fault", *loc), msg) for loc, msg in _fault_refs(inj.fault, cfg)
            ]
    errors += _part_errors(incident, cfg)
    errors += check_world(incident, cfg)
    errors += check_clusters(incident, cfg)
    if not any(f.cause for f in incident.faults):
        errors.append(
            (("faults",), "at least one fault must be part of the root cause (cause: true)")
        )
    return errors


def _part_errors(incident: Incident, cfg: SystemConfig) -> list[tuple[Loc, str]]:
    """The parts a root cause names must be parts of this system (`causes` lists them)."""
    known = parts_of(cfg, incident.resources)
    rc = incident.root_cause
    named: list[tuple[Loc, str]] = [
        (("root_cause", "answer", "part", i), p) for i, p in enumerate(rc.answer.part)
    ]
    named += [
        (("root_cause", "red_herrings", i, "part"), h.part) for i, h in enumerate(rc.red_herrings)
    ]
    named += [
        (("root_cause", "former_options", old), said.split()[0])
        for old, said in rc.former_options.items()
    ]
    out = []
    for loc, part in named:
        if part not in known:
            close = difflib.get_close_matches(part, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"parts: {', '.join(known)}"
            out.append((loc, f"no part {part!r} in this system; {hint}"))
    return out


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
    """Names a fault refers to must exist in the system. Checked by field name, so a new fault
    kind with a `queue`, `pool`, `consumer` (a pool), `service`, `index`, `table`, `link` or `job`
    field is checked too."""
    out: list[tuple[Loc, str]] = []
    services = ["api", *cfg.workers]

    def named(field: str) -> str | None:
        value = getattr(f, field, None)
        return value if isinstance(value, str) else None

    names: dict[str, tuple[str, Collection[str], str]] = {
        "queue": ("queue", cfg.queues, "queues"),
        "pool": ("worker pool", cfg.workers, "pools"),
        "consumer": ("worker pool", cfg.workers, "pools"),
        "service": ("service", services, "services"),
        "index": ("index", cfg.database.indexes, "indexes"),
        "table": ("table", cfg.database.tables, "tables"),
        "link": ("link", cfg.links, "system.links"),
    }
    for field, (what, known, plural) in names.items():
        if (value := named(field)) is not None and value not in known:
            out.append(((field,), f"no {what} {value!r}; {plural}: {', '.join(known)}"))
    if (job := named("job")) is not None:
        spec = cfg.jobs.get(job)
        if f.kind == "disk_fill" and (spec is None or spec.kind != "disk"):
            out.append((("job",), f"{job!r} is not a `disk` job in system.jobs"))
        elif spec is None:
            out.append((("job",), f"no job {job!r} in system.jobs; jobs: {', '.join(cfg.jobs)}"))
    out += _log_services(f, cfg)
    if isinstance(f, SettingFault):
        out += _remedy_refs(f, cfg)
    if isinstance(f, WorkerCrashLoop):
        out += _crash_loop_refs(f)
    traits = getattr(f, "traits", None)
    if isinstance(traits, dict):
        for service in traits:
            if service not in services:
                out.append(
                    (
                        ("traits", service),
                        f"no service {service!r}; services: {', '.join(services)}",
                    )
                )
    return out


def _remedy_refs(f: SettingFault, cfg: SystemConfig) -> list[tuple[Loc, str]]:
    """A setting fault must have a way out: `fixed_by` values other than the faulty one, or a
    value before the change for the fix to restore."""
    out: list[tuple[Loc, str]] = []
    store, where = (
        (cfg.flags, "system.flags") if f.store == "flag" else (cfg.config, "system.config")
    )
    if f.fixed_by is None and f.key not in store:
        out.append(
            (
                ("key",),
                f"{f.key!r} has no value in {where} for a fix to restore; "
                "name the values that fix it under `fixed_by`",
            )
        )
    for j, v in enumerate(f.fixed_by or []):
        if same_value(v, f.value):
            out.append(
                (
                    ("fixed_by", j),
                    f"{v!r} is the value the fault sets; `fixed_by` names the values that remove it",
                )
            )
    return out


def _crash_loop_refs(f: WorkerCrashLoop) -> list[tuple[Loc, str]]:
    """A version that needs a config key starts only with the values the file names: without
    them any value would end the crash loop."""
    if f.requires_config is not None and f.fixed_by is None:
        return [
            (
                ("requires_config",),
                f"name the values of {f.requires_config!r} that let {f.version} start under "
                "`fixed_by`",
            )
        ]
    if f.requires_config is None and f.fixed_by is not None:
        return [(("fixed_by",), "`fixed_by` names values of `requires_config`, which is not set")]
    return []


def _log_services(f: Any, cfg: SystemConfig) -> list[tuple[Loc, str]]:
    """A fault's log lines go to a service's log: a name as services print it, ideally one the
    system has (`logs SERVICE` shows it), or one of the author's own."""
    out: list[tuple[Loc, str]] = []
    known = [*CORE_SERVICES, *cfg.workers]
    for j, line in enumerate(getattr(f, "logs", [])):
        if re.fullmatch(SERVICE_PATTERN, line.service):
            continue
        plain = re.sub(r"[^a-z0-9_.-]+", "-", line.service.lower()).strip("-")
        close = difflib.get_close_matches(plain, known, n=1, cutoff=0.5)
        if not close:
            close = [k for k in known if k in plain.split("-")][:1]
        hint = f"did you mean {close[0]!r}? " if close else ""
        out.append(
            (
                ("logs", j, "service"),
                f"{line.service!r} is not a service name (lower case letters, digits, `_`, `.` "
                f"and `-`, starting with a letter); {hint}services: {', '.join(known)}, "
                "or a name of your own",
            )
        )
    return out
