"""Finding and loading incident files, with errors located in the file.

Where the files are is `oncall_dojo.incident.packs`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from oncall_dojo.incident.model import Incident, seed_key
from oncall_dojo.incident.semantics import check_references
from oncall_dojo.incident.vary import (
    VARY_KEY,
    Scalar,
    Variable,
    VarName,
    covering_seeds,
    describe,
    pick_all,
    substitute,
)
from oncall_dojo.incident.yamlload import (
    Located,
    Positions,
    YamlModelError,
    load_yaml,
    located,
    read_text,
)
from oncall_dojo.incident.yamlmodel import convert_error, validate_model
from oncall_dojo.sim.config import SystemConfig

Checks = Callable[[Incident], list[tuple[tuple[str | int, ...], str]]]


class _SystemDoc(BaseModel):
    """`system:` as validated after merging over the defaults (for error locations)."""

    system: SystemConfig


class _VaryDoc(BaseModel):
    """`vary:` alone, validated before anything is substituted."""

    vary: dict[VarName, Variable] = {}


# ------------------------------------------------------------------------------------- loading
@dataclass(frozen=True)
class _Origin:
    """Everything needed to load the file again for another seed."""

    path: str
    text: str
    extra_checks: Checks | None
    expect_id: str | None


@dataclass(frozen=True)
class Variant:
    """Which seed an incident that varies was resolved for, with the values picked."""

    origin: _Origin
    seed: int
    values: tuple[tuple[str, Scalar], ...]

    def resolve(self, seed: int) -> Incident:
        return _load_cached(self.origin, seed)


@functools.lru_cache(maxsize=64)
def _load_cached(origin: _Origin, seed: int) -> Incident:
    return _load(origin, seed)


def load_incident(
    path: str | Path,
    text: str | None = None,
    extra_checks: Checks | None = None,
    expect_id: str | None = None,
    seed: int = 1,
) -> Incident:
    """Load and fully validate one incident file; raises YamlModelError with located errors.

    An incident with `vary` is resolved for `seed` (`Incident.for_seed` gives the others).
    `extra_checks` lets outer layers (the command grammar) add their own located checks."""
    if text is None:
        text = read_text(path)
    return _load(_Origin(str(path), text, extra_checks, expect_id), seed)


def _load(origin: _Origin, seed: int) -> Incident:
    path = origin.path
    data, positions = load_yaml(path, origin.text)
    vary = _vary(path, data, positions)
    values = pick_all(seed, _seed_key(data), vary)
    data, renames, problems = substitute(data, values)
    if problems:
        raise YamlModelError(
            _sorted([located(path, positions, loc, msg, at_key=k) for loc, msg, k in problems])
        )
    positions = positions.with_renamed_keys(renames)
    try:
        incident = _validate(origin, data, positions)
    except YamlModelError as exc:
        if not vary:
            raise
        note = f" (with seed {seed}: {describe(values)})"
        raise YamlModelError(
            [Located(e.path, e.line, e.col, e.keypath, e.message + note) for e in exc.errors]
        ) from None
    if vary:
        incident._variant = Variant(origin, seed, tuple(values.items()))
    return incident


def _seed_key(data: Any) -> str:
    """`Incident.seed_key` read from the raw file, before anything is substituted or validated."""
    if not isinstance(data, dict):
        return ""
    ident, aliases = data.get("id"), data.get("aliases")
    names = [a for a in aliases if isinstance(a, str)] if isinstance(aliases, list) else []
    return seed_key(ident if isinstance(ident, str) else "", names)


def _vary(path: str, data: Any, positions: Positions) -> dict[str, Variable]:
    if not isinstance(data, dict) or VARY_KEY not in data:
        return {}
    doc = {VARY_KEY: data[VARY_KEY]}
    try:
        return _VaryDoc.model_validate(doc).vary
    except ValidationError as exc:
        raise YamlModelError(
            _sorted(
                [
                    convert_error(path, positions, _VaryDoc, err, doc)
                    for err in exc.errors(include_url=False)
                ]
            )
        ) from None


def _validate(origin: _Origin, data: Any, positions: Positions) -> Incident:
    path = origin.path
    incident = validate_model(path, Incident, data, positions)
    errors: list[Located] = []
    if origin.expect_id is not None and incident.id != origin.expect_id:
        message = f"id {incident.id!r} must match the file name {origin.expect_id!r}"
        errors.append(located(path, positions, ("id",), message))
    try:
        incident.system_config()
    except ValidationError as exc:
        for e in exc.errors():
            err = {**e, "loc": ("system", *e["loc"])}
            errors.append(
                convert_error(path, positions, _SystemDoc, err, {"system": incident.system})
            )
    extra = origin.extra_checks(incident) if origin.extra_checks else []
    for loc, message in check_references(incident) + extra:
        errors.append(located(path, positions, loc, message))
    if errors:
        raise YamlModelError(_sorted(errors))
    return incident


def _sorted(errors: list[Located]) -> list[Located]:
    return sorted(set(errors), key=lambda e: (e.line, e.col, e.message))


def check_seeds(incident: Incident, seeds: list[int] | None = None) -> list[int]:
    """Load a varying incident for several seeds (by default 1-5 and enough more to see every
    choice at least once); the seeds checked. Raises YamlModelError for the first seed whose
    values make the file invalid."""
    if not incident.vary:
        return []
    chosen = seeds if seeds is not None else covering_seeds(incident.seed_key, incident.vary)
    for seed in chosen:
        incident.for_seed(seed)
    return chosen
