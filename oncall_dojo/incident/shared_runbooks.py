"""The team's shared runbooks: the default shop's wiki, which every incident carries.

They live in `oncall_dojo/incident/runbooks/NAME.md`. An incident's own `runbooks:` add to
them, and one with a shared name replaces the shared one (a runbook with a note that is only
true in that incident's world). Shared, so that which runbooks exist tells a player nothing
about the incident, and written like a real team's: how to investigate a class of problem and
which levers are safe, never one incident's fix.
"""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def shared_runbooks() -> dict[str, str]:
    """Every shared runbook by name (the file name without `.md`), in name order."""
    folder = resources.files("oncall_dojo.incident") / "runbooks"
    books = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".md"):
            books[entry.name.removesuffix(".md")] = entry.read_text(encoding="utf-8")
    return books
