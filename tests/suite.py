"""What the suite expects to find, in one place (importable: tests/ is on sys.path via conftest).

Tests parametrised from `discover()` would vanish without a word if it found nothing,
so the lists they are built from are checked against the repository's own files
and an expected count when the tests are collected.
"""

from __future__ import annotations

from pathlib import Path

from oncall_dojo.incident.packs import Found, discover

REPO = Path(__file__).resolve().parents[1]
BUNDLED_COUNT = 21
"""incidents/*.yaml: adding or removing a bundled incident changes this line too."""


def bundled() -> list[Found]:
    """The bundled incidents `discover()` finds: exactly the repository's incidents/*.yaml."""
    found = [f for f in discover() if f.bundled]
    on_disk = sorted(p.stem for p in (REPO / "incidents").glob("*.yaml"))
    names = sorted(f.path.stem for f in found)
    if names != on_disk or len(names) != BUNDLED_COUNT:
        raise AssertionError(
            f"discover() found {len(names)} bundled incidents {names}; "
            f"incidents/ holds {len(on_disk)} {on_disk}; expected {BUNDLED_COUNT}"
        )
    return found
