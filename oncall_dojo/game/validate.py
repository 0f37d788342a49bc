"""Full validation of an incident file: schema, cross-references, and playthrough commands."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path

from oncall_dojo.game.commands import evidence_kinds, parse
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.model import Incident, parse_timed
from oncall_dojo.incident.semantics import alias_clashes
from oncall_dojo.sim import tempdirs
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.data.schema import TABLES
from oncall_dojo.sim.errors import InvariantFailed, Refusal
from oncall_dojo.sim.observability.metrics import Selector, SelectorError
from oncall_dojo.sim.sqlsandbox import Sandbox, count_rows

Loc = tuple[str | int, ...]
WAIT_IN_SCRIPT = "a playthrough does not `wait`: the time of its next action says when it runs"


def playthrough_errors(incident: Incident) -> list[tuple[Loc, str]]:
    errors: list[tuple[Loc, str]] = []
    plays = [("reference", incident.playthroughs.reference)] + [
        (("harmful", i), h) for i, h in enumerate(incident.playthroughs.harmful)
    ]
    for where, play in plays:
        base: Loc = ("playthroughs", *((where,) if isinstance(where, str) else where))
        for j, line in enumerate(play.actions):
            parsed = parse_timed(line)
            if parsed is None:
                continue  # reported by the model
            try:
                cmd, _ = parse(parsed[1])
            except Refusal as exc:
                errors.append(((*base, "actions", j), exc.reason))
                continue
            if cmd.name == "wait":
                errors.append(((*base, "actions", j), WAIT_IN_SCRIPT))
    return errors


def evidence_errors(incident: Incident) -> list[tuple[Loc, str]]:
    """Key evidence must be of a kind some command records (the registry says which)."""
    kinds = evidence_kinds()
    return [
        (
            ("evidence", i, "view"),
            f"unknown evidence kind {kind!r}; kinds: {', '.join(sorted(kinds))}",
        )
        for i, ev in enumerate(incident.evidence)
        if (kind := ev.view.split(":", 1)[0]) not in kinds
    ]


def reference_errors(incident: Incident) -> list[tuple[Loc, str]]:
    """Names that must exist in the system the incident builds: the queues and pools its
    evidence, resolution and playthroughs name, the versions they deploy, the tables it lets
    the console write; and every playthrough action must come before the incident ends."""
    try:
        cfg = incident.system_config()
    except Exception:  # reported with positions by the loader
        return []
    errors: list[tuple[Loc, str]] = []
    queues, pools = list(cfg.queues), list(cfg.workers)
    known = {"queue": (queues, "queues"), "pool": (pools, "pools"), "workers": (pools, "pools")}

    def missing(what: str, name: str) -> str | None:
        names, plural = known[what]
        if name in names or (what == "queue" and name.removesuffix(".dlq") in names):
            return None  # a queue's dead-letter queue is named after it
        noun = "queue" if what == "queue" else "worker pool"
        return f"no {noun} {name!r}; {plural}: {', '.join(names)}"

    for i, ev in enumerate(incident.evidence):
        kind, _, target = ev.view.partition(":")
        if kind in known and target and (msg := missing(kind, target)):
            errors.append((("evidence", i, "view"), msg))
    for j, c in enumerate(incident.resolution.conditions):
        if not math.isfinite(c.value):
            errors.append((("resolution", "conditions", j, "value"), "must be a finite number"))
        try:
            sel = Selector.parse(c.metric)
        except SelectorError:
            continue  # reported by the loader
        for label, op, value in sel.matchers:
            if op == "=" and label in ("queue", "pool") and (msg := missing(label, value)):
                errors.append((("resolution", "conditions", j, "metric"), msg))
    app = cfg.appdb
    for i, table in enumerate(app.writable if app is not None else []):
        if table not in TABLES:
            errors.append(
                (
                    ("system", "appdb", "writable", i),
                    f"no table {table!r} in the application database; tables: {', '.join(TABLES)}",
                )
            )
    plays = [("reference", incident.playthroughs.reference)] + [
        (("harmful", i), h) for i, h in enumerate(incident.playthroughs.harmful)
    ]
    for where, play in plays:
        base: Loc = ("playthroughs", *((where,) if isinstance(where, str) else where), "actions")
        for j, line in enumerate(play.actions):
            parsed = parse_timed(line)
            if parsed is None:
                continue
            at, text = parsed
            if at >= incident.duration_s:
                errors.append(
                    ((*base, j), f"at {at} s, after the incident ends ({incident.duration_s} s)")
                )
            msg = _action_reference(text, cfg, missing)
            if msg:
                errors.append(((*base, j), msg))
    return errors


def _action_reference(
    text: str, cfg: SystemConfig, missing: Callable[[str, str], str | None]
) -> str | None:
    try:
        cmd, args = parse(text)
    except Refusal:
        return None  # reported by playthrough_errors
    if cmd.name in ("dlq move", "dlq replay", "purge", "queue") and args:
        return missing("queue", args[0])
    if cmd.name == "deploy" and len(args) >= 2:
        svc, version = args[0], args[1]
        listed = set(cfg.versions.get(svc, {}))
        current = (
            cfg.api.version
            if svc == "api"
            else (cfg.workers[svc].version if svc in cfg.workers else None)
        )
        if svc != "api" and svc not in cfg.workers:
            return missing("pool", svc)
        if version not in listed and version != current:
            names = ", ".join(sorted(listed)) or "none"
            return (
                f"deploys {svc} {version}, which system.versions does not list for {svc} ({names})"
            )
    return None


def invariant_errors(incident: Incident) -> list[tuple[Loc, str]]:
    """Each invariant run once, under the console's limits and deadline, against the
    application database's tables (empty): a query that fails, is refused or never ends is
    found here, not halfway through a game."""
    try:
        app = incident.system_config().appdb
    except Exception:
        return []
    if app is None or not app.invariants:
        return []
    errors: list[tuple[Loc, str]] = []
    folder = tempdirs.make("dojo-validate-")
    try:
        db = Path(folder) / "app.db"
        conn = sqlite3.connect(db)
        for table, columns in TABLES.items():
            conn.execute(f"CREATE TABLE {table} ({columns})")
        conn.commit()
        conn.close()
        with Sandbox(db, step_budget=None, max_rows=1) as box:
            for i, inv in enumerate(app.invariants):
                try:
                    count_rows(box, inv.sql)
                except InvariantFailed as exc:
                    loc: Loc = ("system", "appdb", "invariants", i, "sql")
                    errors.append((loc, f"the query cannot run: {exc.reason}"))
    finally:
        tempdirs.remove(folder)
    return errors


def command_errors(incident: Incident) -> list[tuple[Loc, str]]:
    """Everything in an incident that names the command grammar or the system: playthroughs,
    evidence, resolution conditions and writable tables."""
    return playthrough_errors(incident) + evidence_errors(incident) + reference_errors(incident)


def load_checked(
    path: Path, owners: Mapping[str, list[tuple[Path, str]]] | None = None, trial: bool = False
) -> Incident:
    """Load an incident and check everything a player would trip over; raises YamlModelError.

    With `owners` (`packs.name_owners` of every incident file in view) an alias that another
    incident claims is an error too. With `trial` (`dojo validate`), each invariant is run."""
    if owners is None and not trial:
        return load_incident(path, extra_checks=command_errors, expect_id=path.stem)

    def checks(incident: Incident) -> list[tuple[Loc, str]]:
        errors = command_errors(incident)
        if owners is not None:
            errors += alias_clashes(incident, path, owners)
        if trial:
            errors += invariant_errors(incident)
        return errors

    return load_incident(path, extra_checks=checks, expect_id=path.stem)
