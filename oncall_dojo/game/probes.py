"""Wrong-value probes: `dojo check` proves that a setting fault clears only through its remedies.

A fault that is a flag or config key holding a value (`config_change`, `flag_change`,
`retry_storm`, `reused_flag`) is removed only by the values its file names under `fixed_by` (by
default the value the key had before the change); a `worker_crash_loop` whose version needs a
config key starts only with the values under its `fixed_by`. For each such root-cause fault whose
remedy the reference applies (`config KEY VALUE` or `flag NAME VALUE` with a remedy value), a
probe plays the reference with that value replaced by a wrong one, chosen to be neither a remedy
nor the faulty value. The probe must not resolve the incident; when it does, `dojo check` reports
it at the fault's `fixed_by` (or `key`) and at the reference action.

A `damage` fault clears only once a run of the operation under its `fixed_by` finishes. For
each such root-cause fault whose operation the reference starts (`operation start NAME`), a
probe plays the reference with the operation paused the second it starts (and never resumed
nor started again): starting it is not enough, so that probe must not resolve the incident
either.

Where the model offers another way out of the same fault (a `reused_flag` also ends when no
replica runs a legacy version, a crash loop when no replica runs the version), the probe leaves
out the reference's deploys and rollbacks of that pool too, so that only the wrong value is tried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oncall_dojo.game.commands import parse
from oncall_dojo.game.grammar import scalar
from oncall_dojo.incident.model import Incident, parse_timed
from oncall_dojo.sim.components.traits import Unless, same_value
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.faults.base import FaultSpec
from oncall_dojo.sim.faults.releases import WorkerCrashLoop
from oncall_dojo.sim.faults.repairs import Damage
from oncall_dojo.sim.faults.settings import ReusedFlag, SettingFault

Loc = tuple[str | int, ...]

PROBE_PREFIX = "wrong-value:"
"""Names of probes among an incident's plays: `wrong-value:KEY`."""


@dataclass(frozen=True)
class Probe:
    """The reference with a remedy value replaced by a wrong one."""

    name: str
    actions: list[str]
    key: str
    wrong: Any
    fault: Loc
    """Where the remedies are named: `faults[i].fixed_by`, or `faults[i].key` by default."""
    action: Loc
    """The reference action that applied the remedy."""

    def problem(self) -> str:
        """Why `dojo check` fails when the probe resolves the incident."""
        if self.key.startswith(OPERATION):
            return (
                f"the reference with {self.key.removeprefix(OPERATION)} paused as it starts "
                "(never finished) still resolves the incident: the damage must clear only "
                "when a run of the operation under `fixed_by` finishes"
            )
        return (
            f"setting {self.key} to {self.wrong!r} (a wrong value, where the reference action "
            f"{self.action[-1]} applies a remedy) still resolves the incident: the fault must "
            "clear only through the values named under `fixed_by`"
        )

    def changed(self) -> str:
        """What the probe did at the reference action."""
        if self.key.startswith(OPERATION):
            return f"with the operation paused as it starts here, {self.name}"
        return f"with {self.wrong!r} here instead, {self.name}"


OPERATION = "operation "
"""How an unfinished-operation probe's `key` starts (`operation NAME`)."""


@dataclass(frozen=True)
class Remedied:
    """A fault that a key's value removes, as a probe needs it."""

    store: str
    """`flag` or `config`: the command that sets the key."""
    key: str
    faulty: Any
    """The value the fault sets (None: the fault leaves the key unset)."""
    remedies: list[Any]
    where: Loc
    """Where the remedies are named."""
    pool: str | None = None
    """A pool whose deploys and rollbacks are the model's other way out (left out of the probe)."""


def remedied(incident: Incident, i: int, fault: FaultSpec) -> Remedied | None:
    """The key and remedies of a root-cause fault that a value removes, or None."""
    if not fault.cause:
        return None
    if isinstance(fault, SettingFault):
        return Remedied(
            fault.store,
            fault.key,
            fault.value,
            remedy_values(incident, fault),
            ("faults", i, "fixed_by") if fault.fixed_by is not None else ("faults", i, "key"),
            fault.pool if isinstance(fault, ReusedFlag) else None,
        )
    if isinstance(fault, WorkerCrashLoop) and fault.requires_config and fault.fixed_by:
        return Remedied(
            "config",
            fault.requires_config,
            None,
            list(fault.fixed_by),
            ("faults", i, "fixed_by"),
            fault.pool,
        )
    return None


def remedy_values(incident: Incident, fault: SettingFault) -> list[Any]:
    """The values that remove a setting fault: `fixed_by`, or the key's value before the change
    as the system starts."""
    if fault.fixed_by is not None:
        return list(fault.fixed_by)
    cfg = incident.system_config()
    store = cfg.flags if fault.store == "flag" else cfg.config
    return [store.get(fault.key)]


def wrong_value(faulty: Any, remedies: list[Any]) -> str:
    """A value that is neither a remedy nor the faulty one, shaped like the remedies."""
    fixes = Unless(remedies)
    candidates: list[str] = []
    for base in [*remedies, *([] if faulty is None else [faulty])]:
        if isinstance(base, bool):
            candidates += ["disabled", "enabled"]
        else:
            candidates += [f"{base}-typo", f"not-{base}"]
    for candidate in candidates:
        if not fixes.fixed(candidate) and (faulty is None or not same_value(candidate, faulty)):
            return candidate
    return "not-a-remedy"


def probes(incident: Incident) -> list[Probe]:
    """The wrong-value probes of an incident already resolved for its seed, in fault order."""
    out: list[Probe] = []
    names: set[str] = set()
    actions = list(incident.playthroughs.reference.actions)
    for i, fault in enumerate(incident.faults):
        if isinstance(fault, Damage) and fault.cause:
            for op in fault.repairs:
                unfinished = _unfinished(op, actions, i)
                if unfinished is not None and unfinished.name not in names:
                    names.add(unfinished.name)
                    out.append(unfinished)
            continue
        rem = remedied(incident, i, fault)
        if rem is None:
            continue
        fixes = Unless(rem.remedies)
        wrong = wrong_value(rem.faulty, rem.remedies)
        probe: list[str] = []
        first: int | None = None
        for j, line in enumerate(actions):
            parsed = parse_timed(line)
            words = _words(parsed[1]) if parsed is not None else None
            if parsed is None or words is None:
                probe.append(line)
                continue
            name, args = words
            if (
                name == rem.store
                and len(args) >= 2
                and args[0] == rem.key
                and fixes.fixed(scalar(args[1]))
            ):
                first = j if first is None else first
                probe.append(_timed(parsed[0], f"{name} {rem.key} {wrong}"))
                continue
            if rem.pool is not None and name in ("deploy", "rollback") and args[:1] == [rem.pool]:
                continue  # the model's other way out: left out, so the value is tried alone
            probe.append(line)
        if first is None:
            continue  # the reference removes it some other way
        name = f"{PROBE_PREFIX}{rem.key}"
        name = name if name not in names else f"{name}#{i}"
        names.add(name)
        out.append(
            Probe(
                name,
                probe,
                rem.key,
                wrong,
                rem.where,
                ("playthroughs", "reference", "actions", first),
            )
        )
    return out


def _unfinished(name: str, actions: list[str], i: int) -> Probe | None:
    """The reference with operation `name` paused the second it first starts, and never
    resumed or started again; None when the reference does not start it."""
    probe: list[str] = []
    first: int | None = None
    for j, line in enumerate(actions):
        parsed = parse_timed(line)
        words = _words(parsed[1]) if parsed is not None else None
        if parsed is not None and words is not None:
            cmd, args = words
            if cmd in ("operation start", "operation resume") and args[:1] == [name]:
                if first is not None:
                    continue  # never resumed nor started again
                first = j
                probe += [line, _timed(parsed[0], f"operation pause {name}")]
                continue
            if cmd == "operation pause" and args[:1] == [name]:
                continue
        probe.append(line)
    if first is None:
        return None
    return Probe(
        f"{PROBE_PREFIX}{name}-unfinished",
        probe,
        f"{OPERATION}{name}",
        "paused",
        ("faults", i, "fixed_by"),
        ("playthroughs", "reference", "actions", first),
    )


def _words(text: str) -> tuple[str, list[str]] | None:
    try:
        cmd, args = parse(text)
    except Refusal:
        return None
    return cmd.name, args


def _timed(at: int, text: str) -> str:
    h, rest = divmod(at, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d} {text}" if h else f"{m:02d}:{s:02d} {text}"
