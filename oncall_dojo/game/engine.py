"""What versions a play and an incident listing, and where they are cached.

Kept free of the models and the simulation (only the standard library at import), so that
`dojo list` can answer from its index without loading them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from oncall_dojo.sim import tempdirs

ROOT = Path(__file__).resolve().parent.parent
"""The `oncall_dojo` package folder."""

ENGINE_PACKAGES = ("sim", "incident", "game")
"""The packages whose code decides how an incident file loads and how it plays."""


@functools.cache
def source_hash(packages: tuple[str, ...] = ENGINE_PACKAGES) -> str:
    """A hash of the source of these packages of ours (any edit changes it)."""
    from oncall_dojo import __version__

    h = hashlib.sha256(f"{__version__} {sys.version}".encode())
    for pkg in packages:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@functools.cache
def engine_version() -> str:
    """What decides a play besides the incident and the seed: the engine's source, and the
    versions of the libraries whose draws and queries it uses (numpy, Faker, SQLite)."""
    import sqlite3

    import faker
    import numpy

    libs = f"{numpy.__version__} {faker.VERSION} {sqlite3.sqlite_version}"
    return hashlib.sha256(f"{source_hash()} {libs}".encode()).hexdigest()


def cache_folder() -> Path:
    """`$DOJO_CACHE`, else the user cache folder (platformdirs: e.g. ~/.cache/oncall-dojo)."""
    env = os.environ.get("DOJO_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_path

    return user_cache_path("oncall-dojo", appauthor=False)


def write_json(path: Path, doc: Any) -> None:
    """Write a JSON file atomically (a reader sees the old file or the whole new one, never a
    part); raises OSError when it cannot."""
    write_bytes(path, json.dumps(doc).encode())


_swept: set[Path] = set()


def write_bytes(path: Path, data: bytes) -> None:
    """Write a file atomically, as `write_json` does; raises OSError when it cannot.

    The temporary file is named after the process (`.tmp-<pid>-...`). A process killed while
    writing leaves it behind: the first write of a later process into the same folder removes
    those whose process is gone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent not in _swept:
        _swept.add(path.parent)
        tempdirs.sweep(".tmp-", str(path.parent), files=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{os.getpid()}-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
