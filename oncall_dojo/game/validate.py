"""Full validation of an incident file: schema, cross-references, and playthrough commands;
for `dojo validate`, also each invariant run once and a short trial play."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import math
import pickle
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path

from oncall_dojo.game.commands import evidence_kinds, parse
from oncall_dojo.game.engine import cache_folder, engine_version, write_json
from oncall_dojo.game.evidence import DERIVED_KINDS
from oncall_dojo.game.play import perform
from oncall_dojo.game.plays import (
    MINIMAL,
    REFERENCE,
    Doc,
    default_cache,
    incident_hash,
    run_json,
)
from oncall_dojo.game.session import IncidentBroken, Session
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.model import Incident, Playthrough, parse_timed
from oncall_dojo.incident.semantics import alias_clashes, check_references
from oncall_dojo.sim import tempdirs
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.data.schema import TABLES
from oncall_dojo.sim.errors import InvariantFailed, Refusal
from oncall_dojo.sim.observability.metrics import MetricStore, Selector, SelectorError
from oncall_dojo.sim.sqlsandbox import Sandbox, count_rows

Loc = tuple[str | int, ...]
WAIT_IN_SCRIPT = "a playthrough does not `wait`: the time of its next action says when it runs"


def _playthroughs(incident: Incident) -> list[tuple[Loc, Playthrough]]:
    """Every playthrough with where it stands under `playthroughs`: the reference, the
    minimal one if any, then each harmful one."""
    pts = incident.playthroughs
    plays: list[tuple[Loc, Playthrough]] = [(("reference",), pts.reference)]
    plays += [(("minimal",), pts.minimal)] if pts.minimal is not None else []
    plays += [(("harmful", i), h) for i, h in enumerate(pts.harmful)]
    return plays


def playthrough_errors(incident: Incident) -> list[tuple[Loc, str]]:
    errors: list[tuple[Loc, str]] = []
    for where, play in _playthroughs(incident):
        base: Loc = ("playthroughs", *where)
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
    """Key evidence must be of a kind some command records (the registry says which), or a
    `resource:NAME`, which the looks at its gauge cover."""
    kinds = evidence_kinds() | DERIVED_KINDS
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
        elif kind == "resource" and target not in incident.resources:
            close = difflib.get_close_matches(target, list(incident.resources), n=1)
            hint = f" (did you mean 'resource:{close[0]}'?)" if close else ""
            names = ", ".join(incident.resources) or "none"
            msg = f"no resource {target!r}{hint}; resources: {names}"
            if not target:
                msg = f"name the resource, `resource:NAME`; resources: {names}"
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
    for where, play in _playthroughs(incident):
        base: Loc = ("playthroughs", *where, "actions")
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


TRIAL_SEED = 1
"""The seed of `dojo validate`'s trial play (`dojo check` plays more)."""


def metric_errors(incident: Incident, metrics: MetricStore) -> list[tuple[Loc, str]]:
    """Every selector of the resolution conditions, added alerts and fault triggers must match
    a series the system has: a misspelt name would never hold (or always be 0)."""
    names = metrics.names()
    conditions: list[tuple[Loc, object]] = [
        (("resolution", "conditions", j), c) for j, c in enumerate(incident.resolution.conditions)
    ]
    conditions += [
        (("alerts", "add", i, "conditions", j), c)
        for i, rule in enumerate(incident.alerts.add)
        for j, c in enumerate(rule.conditions)
    ]
    conditions += [(("faults", i, "when"), f.when) for i, f in enumerate(incident.faults) if f.when]
    errors: list[tuple[Loc, str]] = []
    for loc, c in conditions:
        for key in ("metric", "over"):
            text = getattr(c, key, None)
            if not isinstance(text, str):
                continue
            try:
                sel = Selector.parse(text)
                found = bool(metrics.select(text)[0])
            except SelectorError:
                continue  # reported by the loader
            if found:
                continue
            if sel.name not in names:
                near = difflib.get_close_matches(sel.name, names, n=1)
                also = f" (did you mean {near[0]!r}?)" if near else ""
                msg = f"no metric named {sel.name!r}{also}; `metrics` in the game lists them"
            else:
                msg = f"no {sel.name} series has the labels of {text!r}"
            errors.append(((*loc, key), msg))
    return errors


def trial_errors(incident: Incident) -> list[tuple[Loc, str]]:
    """A trial play at `TRIAL_SEED`: the system is built and runs to the page, the metric
    names are checked against its series, and each playthrough (reference, minimal and harmful) is
    played as `dojo check` plays it, locating what goes wrong: the reference must not be
    refused, and no action, invariant or measurement may fail. Whether it wins is for
    `dojo check`; the finished plays go to the play cache it reads, so it does not play them
    again (and a trial finds there what `dojo check` played).

    A trial that found nothing is remembered in the play cache (by the incident's content and
    the engine's version), so validating an unchanged file again is quick."""
    passed = _trial_mark(incident)
    if passed is not None and passed.exists():
        return []
    errors = _trial_errors(incident)
    if not errors and passed is not None:
        # a cache that cannot be written only costs the next run a trial
        with contextlib.suppress(OSError):
            write_json(passed, {"incident": incident.id, "seed": TRIAL_SEED})
    return errors


def _trial_mark(incident: Incident) -> Path | None:
    try:
        folder = cache_folder() / "trials" / engine_version()[:20]
    except Exception:  # no cache folder to be had: every run plays its trial
        return None
    key = hashlib.sha256(f"{incident_hash(incident)}\0{TRIAL_SEED}".encode()).hexdigest()
    return folder / key[:2] / f"{key}.json"


def _trial_errors(incident: Incident) -> list[tuple[Loc, str]]:
    try:
        base = Session(incident, TRIAL_SEED)
    except IncidentBroken as exc:
        return [(("page", "alert"), f"in a trial play at seed {TRIAL_SEED}: {exc}")]
    except InvariantFailed as exc:
        return _invariant_failed(incident, exc)
    except Exception as exc:  # anything else `run` would trip over
        return [(("system",), f"in a trial play at seed {TRIAL_SEED}: {_said(exc)}")]
    errors = metric_errors(incident, base.system.metrics)
    if errors:
        _close(base)
        return errors
    pts = base.incident.playthroughs
    plays: list[tuple[str, Loc, list[str], bool]] = [
        (REFERENCE, ("playthroughs", "reference"), list(pts.reference.actions), True)
    ]
    if pts.minimal is not None:  # a right play too: none of its actions may be refused
        plays.append((MINIMAL, ("playthroughs", "minimal"), list(pts.minimal.actions), True))
    plays += [
        (f"harmful:{h.name}", ("playthroughs", "harmful", i), list(h.actions), False)
        for i, h in enumerate(pts.harmful)
    ]
    cache = default_cache()
    image = pickle.dumps(base, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        for name, where, actions, reference in plays:
            doc = cache.get(base.incident, TRIAL_SEED, name) if cache is not None else None
            if doc is not None:  # `dojo check` (or an earlier trial) played it: read it back
                if reference:
                    errors += [
                        ((*where, "actions", j), _refused(c["output"]))
                        for j, c in enumerate(doc["commands"])
                        if c["kind"] == "refused"
                    ]
                continue
            s = pickle.loads(image)
            try:
                found, doc = _trial(s, where, actions, reference)
            finally:
                _close(s)
            errors += found
            if doc is not None and cache is not None:
                cache.put(base.incident, TRIAL_SEED, name, doc)
    finally:
        _close(base)
    return errors


def _refused(output: str) -> str:
    return f"refused in a trial play at seed {TRIAL_SEED}: {output}"


def _trial(
    s: Session, where: Loc, actions: list[str], reference: bool
) -> tuple[list[tuple[Loc, str]], Doc | None]:
    """Play as `run_script` does, locating what goes wrong; the finished play's document
    (as `dojo check` keeps it) when it could be played to the end."""
    errors: list[tuple[Loc, str]] = []
    for j, line in enumerate(actions):
        parsed = parse_timed(line)
        if parsed is None or s.ended or s.declared_resolved_at is not None:
            break
        try:
            s.advance_to(parsed[0])
            if s.ended:
                break
            entry = perform(s, parsed[1])
        except InvariantFailed as exc:
            return _invariant_failed(s.incident, exc), None
        except Exception as exc:
            return [
                (
                    (*where, "actions", j),
                    f"fails in a trial play at seed {TRIAL_SEED}: {_said(exc)}",
                )
            ], None
        if reference and entry.kind == "refused":
            errors.append(((*where, "actions", j), _refused(entry.output)))
    try:
        doc = run_json(s)  # measured to the end: the invariants and the scoring run too
    except InvariantFailed as exc:
        return errors + _invariant_failed(s.incident, exc), None
    except Exception as exc:
        said = f"fails in a trial play at seed {TRIAL_SEED}, measuring the outcome: {_said(exc)}"
        return [*errors, (where, said)], None
    return errors, doc


def _invariant_failed(incident: Incident, exc: InvariantFailed) -> list[tuple[Loc, str]]:
    app = incident.system_config().appdb
    sqls = [inv.sql for inv in app.invariants] if app is not None else []
    i = sqls.index(exc.sql) if exc.sql in sqls else 0
    return [(("system", "appdb", "invariants", i, "sql"), f"the query cannot run: {exc.reason}")]


def _said(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _close(s: Session) -> None:
    if s.system.app is not None:
        s.system.app.close()


def _sound(incident: Incident) -> bool:
    """Nothing the loader reports itself is wrong (the system's settings, its references)."""
    try:
        incident.system_config()
    except Exception:
        return False
    return not check_references(incident)


def declaration_errors(incident: Incident) -> list[tuple[Loc, str]]:
    """Names under `system:` must be the system's own, or declare something new in full: a
    queue not among the defaults is declared with its `kind` (a misspelt queue's settings
    would otherwise build a second, idle queue and leave the real one as it was); every worker
    pool consumes a queue that exists; versions and flag traits name services and flags that
    exist."""
    raw = incident.system
    try:
        cfg = incident.system_config()
    except Exception:  # reported with positions by the loader
        return []
    errors: list[tuple[Loc, str]] = []
    defaults = list(SystemConfig().queues)
    queues = raw.get("queues")
    for name, spec in (queues if isinstance(queues, dict) else {}).items():
        if name in defaults or (isinstance(spec, dict) and "kind" in spec):
            continue
        near = difflib.get_close_matches(str(name), defaults, n=1)
        also = f"did you mean {near[0]!r}? " if near else ""
        errors.append(
            (
                ("system", "queues", name),
                f"no queue {name!r} among the system's queues ({', '.join(defaults)}); {also}"
                "a new queue is declared with its `kind`",
            )
        )
    for pool, wp in cfg.workers.items():
        if wp.queue not in cfg.queues:
            errors.append(
                (
                    ("system", "workers", pool, "queue"),
                    f"no queue {wp.queue!r}; queues: {', '.join(cfg.queues)}",
                )
            )
    services = ["api", *cfg.workers]
    for svc in cfg.versions:
        if svc not in services:
            errors.append(
                (
                    ("system", "versions", svc),
                    f"no service {svc!r}; services: {', '.join(services)}",
                )
            )
    for flag, traits in cfg.flag_traits.items():
        if flag not in cfg.flags:
            names = ", ".join(cfg.flags) or "none"
            errors.append(
                (("system", "flag_traits", flag), f"no flag {flag!r} in system.flags ({names})")
            )
        for svc in traits:
            if svc not in services:
                errors.append(
                    (
                        ("system", "flag_traits", flag, svc),
                        f"no service {svc!r}; services: {', '.join(services)}",
                    )
                )
    return errors


def command_errors(incident: Incident) -> list[tuple[Loc, str]]:
    """Everything in an incident that names the command grammar or the system: playthroughs,
    evidence, resolution conditions and writable tables."""
    return (
        playthrough_errors(incident)
        + evidence_errors(incident)
        + reference_errors(incident)
        + declaration_errors(incident)
    )


def load_checked(
    path: Path, owners: Mapping[str, list[tuple[Path, str]]] | None = None, trial: bool = False
) -> Incident:
    """Load an incident and check everything a player would trip over; raises YamlModelError.

    With `owners` (`packs.name_owners` of every incident file in view) an alias that another
    incident claims is an error too. With `trial` (`dojo validate`), each invariant is run,
    and when nothing else is wrong, a short trial play (`trial_errors`) follows."""
    if owners is None and not trial:
        return load_incident(path, extra_checks=command_errors, expect_id=path.stem)

    played: list[bool] = []

    def checks(incident: Incident) -> list[tuple[Loc, str]]:
        errors = command_errors(incident)
        if owners is not None:
            errors += alias_clashes(incident, path, owners)
        if trial:
            errors += invariant_errors(incident)
            # the first load is seed 1's (other seeds' follow); play only a sound file
            if not errors and not played and _sound(incident):
                played.append(True)
                errors += trial_errors(incident)
        return errors

    return load_incident(path, extra_checks=checks, expect_id=path.stem)
