"""What `dojo list` shows of each incident file, from a small index checked against hashes.

The index (`index.json` in the cache folder) keeps, per file, the sha256 of its bytes and
what loading it gave: id, title, difficulty, tags, summary and what varies, or the first
line of its error. A file whose bytes hash the same is not loaded again; only new or
changed files are validated. The index belongs to one version of the code that loads
incident files: any edit to it starts a new index. Without a writable cache folder the
listing still works, validating every file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from oncall_dojo.game.engine import cache_folder, source_hash, write_json

INDEX_NAME = "index.json"


def describe(path: Path) -> dict[str, Any]:
    """Load and check one incident file: what `dojo list` shows of it, or its first error line."""
    from oncall_dojo.game.validate import load_checked
    from oncall_dojo.incident.yamlload import YamlModelError

    try:
        inc = load_checked(path)
    except YamlModelError as exc:
        return {"error": str(exc).splitlines()[0]}
    return {
        "id": inc.id,
        "title": inc.title,
        "difficulty": inc.difficulty,
        "tags": inc.tags,
        "summary": inc.summary,
        "varies": sorted(inc.vary),
    }


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None  # loading it reports why


def descriptions(paths: list[Path], index: Path | None = None) -> list[dict[str, Any]]:
    """`describe` of each file, from the index where the file's hash matches."""
    index = index or cache_folder() / INDEX_NAME
    code = source_hash()
    try:
        doc = json.loads(index.read_bytes())
        files: dict[str, Any] = doc["files"] if doc.get("code") == code else {}
        if not isinstance(files, dict):
            files = {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        files = {}
    out = []
    changed = False
    for path in paths:
        key, digest = str(path), _digest(path)
        entry = files.get(key)
        if digest is None or not isinstance(entry, dict) or entry.get("sha256") != digest:
            entry = {"sha256": digest, "row": describe(path)}
            if digest is not None:
                files[key] = entry
                changed = True
        out.append(entry["row"])
    if changed:
        with contextlib.suppress(OSError):  # a read-only cache folder: validate again next time
            write_json(index, {"code": code, "files": files})
    return out
