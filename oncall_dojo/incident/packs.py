"""Where incident files are: the bundled folder and private packs, found by file name alone.

Incidents come from the bundled folder and from private packs: folders given
with `--incidents DIR`, listed in `DOJO_INCIDENTS` (separated by `os.pathsep`),
or listed in the config file (`config_path()`), in that order. An incident's id
is its file name, so two files with the same name anywhere are an error. An
incident that was renamed lists its former ids under `aliases:`, and `find`
looks there when no file has the name asked for.

Kept free of the incident models (pydantic, the simulation): `dojo play` checks
the folders before its first frame, and loading the models can wait.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from oncall_dojo.incident.errors import PackError

ENV_DIR = "DOJO_INCIDENTS"
ENV_CONFIG = "DOJO_CONFIG"
CONFIG_NAME = "config.toml"
APP_NAME = "oncall-dojo"


# ------------------------------------------------------------------------------------- folders
@dataclass(frozen=True)
class Found:
    path: Path
    bundled: bool
    pack: Path | None = None
    """The folder of a private pack the file came from (None for bundled incidents)."""


@dataclass
class Scan:
    """What the incident folders hold: one file per id, and the problems found on the way."""

    found: list[Found] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)
    """One message per id defined in more than one file, naming the files."""
    missing: list[str] = field(default_factory=list)
    """Folders that were asked for but do not exist, with where they were asked for."""


def bundled_dir() -> Path:
    """Incident files shipped with the package (in the wheel) or beside it (in a checkout)."""
    inside = resources.files("oncall_dojo") / "bundled_incidents"
    if inside.is_dir():
        return Path(str(inside))
    return Path(__file__).resolve().parents[2] / "incidents"


def config_path() -> Path:
    """`$DOJO_CONFIG`, else `$DOJO_HOME/config.toml`, else `config.toml` in the user config
    folder (platformdirs: e.g. ~/.config/oncall-dojo on Linux)."""
    explicit = os.environ.get(ENV_CONFIG)
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("DOJO_HOME")
    if home:
        return Path(home).expanduser() / CONFIG_NAME
    from platformdirs import user_config_path

    return user_config_path(APP_NAME, appauthor=False) / CONFIG_NAME


def configured_dirs(path: Path | None = None) -> list[Path]:
    """The `incidents` folders listed in the config file (relative to the file); none if it
    does not exist. Raises PackError when it cannot be read or is malformed."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return []
    except OSError as exc:
        raise PackError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PackError(f"{path}: not a valid TOML file: {exc}") from None
    unknown = sorted(set(doc) - {"incidents"})
    if unknown:
        raise PackError(f"{path}: unknown key {unknown[0]!r}; the config file knows: incidents")
    value = doc.get("incidents", [])
    dirs = [value] if isinstance(value, str) else value
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise PackError(f"{path}: `incidents` must be a folder or a list of folders (strings)")
    return [path.parent / Path(d).expanduser() for d in dirs]


def user_dirs(extra: list[Path] | None = None) -> list[Path]:
    """Private pack folders: `extra` (from --incidents), then $DOJO_INCIDENTS, then the config
    file; each folder once."""
    return [d for d, _ in _user_dirs(extra)]


def _user_dirs(extra: list[Path] | None, config: bool = True) -> list[tuple[Path, str]]:
    dirs = [(Path(p), "--incidents") for p in extra or []]
    env = os.environ.get(ENV_DIR)
    if env:
        dirs.extend((Path(p).expanduser(), f"${ENV_DIR}") for p in env.split(os.pathsep) if p)
    if config:
        path = config_path()
        dirs.extend((d, str(path)) for d in configured_dirs(path))
    seen: set[Path] = set()
    out = []
    for d, origin in dirs:
        key = d.resolve()
        if key not in seen:
            seen.add(key)
            out.append((d, origin))
    return out


def incident_files(folder: Path) -> list[Path]:
    """The incident files of a folder (`*.yaml`, `*.yml`), sorted by name."""
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def scan(extra: list[Path] | None = None, config: bool = True) -> Scan:
    """Every incident file in the bundled folder and the packs, the first one of each id kept.

    Raises PackError for a malformed config file only (`config=False` leaves the config file
    out); clashes and missing folders are reported in the result so that a picker can still
    show the rest."""
    out = Scan()
    bundled = bundled_dir()
    folders = [(bundled, "", True)] + [
        (d, origin, False)
        for d, origin in _user_dirs(extra, config)
        if d.resolve() != bundled.resolve()
    ]
    first: dict[str, Path] = {}
    for d, origin, is_bundled in folders:
        if not d.is_dir():
            if not is_bundled:
                out.missing.append(f"{d} (from {origin}) is not a folder")
            continue
        for p in incident_files(d):
            if p.stem in first:
                out.clashes.append(
                    f"incident id {p.stem!r} is in two files: {first[p.stem]} and {p};"
                    " rename one (the id must match the file name)"
                )
                continue
            first[p.stem] = p
            out.found.append(Found(p, is_bundled, None if is_bundled else d))
    return out


def discover(extra: list[Path] | None = None) -> list[Found]:
    """Every incident file, bundled first; raises PackError when an id is in two files."""
    result = scan(extra)
    if result.clashes:
        raise PackError("; ".join(result.clashes))
    return result.found


def find(ident: str, extra: list[Path] | None = None) -> Path:
    """An incident by id, by a former id (`aliases:`) or by path."""
    p = Path(ident)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    found = discover(extra)
    for f in found:
        if f.path.stem == ident:
            return f.path
    for f in found:
        if ident in declared_aliases(f.path):
            return f.path
    raise LookupError(ident)


def declared_aliases(path: Path) -> list[str]:
    """The former ids an incident file lists under `aliases:`, read without validating the
    rest of it (none when the file cannot be read or parsed: `dojo validate` says why)."""
    from oncall_dojo.incident.yamlload import YamlModelError, load_yaml

    try:
        data, _ = load_yaml(path)
    except YamlModelError:
        return []
    aliases = data.get("aliases") if isinstance(data, dict) else None
    return [a for a in aliases if isinstance(a, str)] if isinstance(aliases, list) else []


def current_ids(extra: list[Path] | None = None) -> dict[str, str]:
    """Every former id of the incidents found, mapped to the incident's id now."""
    out: dict[str, str] = {}
    for f in scan(extra).found:
        for alias in declared_aliases(f.path):
            out.setdefault(alias, f.path.stem)
    return out


def name_owners(paths: list[Path]) -> dict[str, list[tuple[Path, str]]]:
    """Who claims each name among these incident files: (file, "id" or "alias") per claim.
    The id is the file name; the aliases are read as `declared_aliases` reads them."""
    owners: dict[str, list[tuple[Path, str]]] = {}
    seen: set[Path] = set()
    for p in paths:
        key = p.resolve()
        if key in seen:
            continue
        seen.add(key)
        owners.setdefault(p.stem, []).append((p, "id"))
        for alias in dict.fromkeys(declared_aliases(p)):
            owners.setdefault(alias, []).append((p, "alias"))
    return owners
