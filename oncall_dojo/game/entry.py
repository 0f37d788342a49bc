"""One line of play: a command a player issued, and what came of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["investigate", "act", "meta", "refused"]


@dataclass
class Entry:
    """One command a player issued, and what came of it."""

    at: int
    """Player seconds since the page."""
    tick: int
    command: str
    kind: Kind
    output: str
    evidence: str | None = None
    """What it showed, as `KIND` or `KIND:TARGET` (see `grammar.Evidence`)."""
    name: str = ""
    """Canonical command name (e.g. `dlq move`)."""
    mutates: bool = False
    """It changed the system (an act that is not paperwork, and was not refused)."""
    player: str = ""
    """Who typed it; the author of any change it made."""
