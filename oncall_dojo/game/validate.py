"""Full validation of an incident file: schema, cross-references, and playthrough commands."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from oncall_dojo.game.commands import evidence_kinds, parse
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.model import Incident, parse_timed
from oncall_dojo.incident.semantics import alias_clashes
from oncall_dojo.sim.errors import Refusal

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


def command_errors(incident: Incident) -> list[tuple[Loc, str]]:
    """Everything in an incident that names the command grammar: playthroughs and evidence."""
    return playthrough_errors(incident) + evidence_errors(incident)


def load_checked(
    path: Path, owners: Mapping[str, list[tuple[Path, str]]] | None = None
) -> Incident:
    """Load an incident and check everything a player would trip over; raises YamlModelError.

    With `owners` (`packs.name_owners` of every incident file in view) an alias that another
    incident claims is an error too."""
    if owners is None:
        return load_incident(path, extra_checks=command_errors, expect_id=path.stem)

    def checks(incident: Incident) -> list[tuple[Loc, str]]:
        return command_errors(incident) + alias_clashes(incident, path, owners)

    return load_incident(path, extra_checks=checks, expect_id=path.stem)
