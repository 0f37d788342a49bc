"""Finding and loading incident files, with errors located in the file."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ValidationError

from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.yamlload import (
    Located,
    YamlModelError,
    convert_error,
    format_keypath,
    load_model,
)
from oncall_dojo.sim.config import SystemConfig

ENV_DIR = "DOJO_INCIDENTS"


class _SystemDoc(BaseModel):
    """`system:` as validated after merging over the defaults (for error locations)."""

    system: SystemConfig


@dataclass(frozen=True)
class Found:
    path: Path
    bundled: bool


def bundled_dir() -> Path:
    """Incident files shipped with the package (in the wheel) or beside it (in a checkout)."""
    inside = resources.files("oncall_dojo") / "bundled_incidents"
    if inside.is_dir():
        return Path(str(inside))
    return Path(__file__).resolve().parents[2] / "incidents"


def user_dirs(extra: list[Path] | None = None) -> list[Path]:
    dirs = list(extra or [])
    env = os.environ.get(ENV_DIR)
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    return dirs


def discover(extra: list[Path] | None = None) -> list[Found]:
    out: list[Found] = []
    for d, bundled in [(bundled_dir(), True), *[(p, False) for p in user_dirs(extra)]]:
        if d.is_dir():
            out.extend(Found(p, bundled) for p in sorted(d.glob("*.y*ml")))
    return out


def load_incident(
    path: str | Path,
    text: str | None = None,
    extra_checks: Callable[[Incident], list[tuple[tuple[str | int, ...], str]]] | None = None,
    expect_id: str | None = None,
) -> Incident:
    """Load and fully validate one incident file; raises YamlModelError with located errors.

    `extra_checks` lets outer layers (the command grammar) add their own located checks."""
    incident, positions = load_model(path, Incident, text=text)
    errors: list[Located] = []
    if expect_id is not None and incident.id != expect_id:
        line, col = positions.at(("id",))
        errors.append(
            Located(
                str(path),
                line,
                col,
                "id",
                f"id {incident.id!r} must match the file name {expect_id!r}",
            )
        )
    try:
        incident.system_config()
    except ValidationError as exc:
        for e in exc.errors():
            err = {**e, "loc": ("system", *e["loc"])}
            errors.append(
                convert_error(str(path), positions, _SystemDoc, err, {"system": incident.system})
            )
    from oncall_dojo.incident.semantics import check_references

    checks = check_references(incident) + (extra_checks(incident) if extra_checks else [])
    for loc, message in checks:
        line, col = positions.at(loc)
        errors.append(Located(str(path), line, col, format_keypath(positions.clean(loc)), message))
    if errors:
        raise YamlModelError(sorted(set(errors), key=lambda e: (e.line, e.col, e.message)))
    return incident


def find(ident: str, extra: list[Path] | None = None) -> Path:
    """An incident by id or by path."""
    p = Path(ident)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    for f in discover(extra):
        if f.path.stem == ident:
            return f.path
    raise LookupError(ident)
