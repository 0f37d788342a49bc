"""Conflicting actions in a team game: two players pulling the same lever, or opposite ones.

A pure function over the attributed commands (live `Entry`s or recorded command dicts, in
the order they ran): the team pane flags each conflict as it happens (`conflicts_of` the
newest command), and the team debrief lists them all (`find`). Only commands that changed
the system count (an act that is not paperwork, and was not refused), and only between two
different players: one engineer restarting twice is not a coordination problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from oncall_dojo.game.commands import RESPONSE_ONLY, resolve, split
from oncall_dojo.game.entry import Entry
from oncall_dojo.game.fmt import mmss
from oncall_dojo.sim.errors import Refusal

SAME_WINDOW_S = 60
"""The same action on the same target by two players within this many seconds conflicts."""
OPPOSED: dict[tuple[str, str], int] = {
    ("deploy", "rollback"): 300,
    ("rollback", "deploy"): 300,
    ("pause", "resume"): 60,
    ("resume", "pause"): 60,
    ("scale", "autoscale"): 60,
    ("autoscale", "scale"): 60,
}
"""(earlier, later) actions on one target that undo each other, and the window in seconds: a
rollout takes minutes, so a rollback within five minutes of another player's deploy lands
during it."""


@dataclass(frozen=True)
class Conflict:
    at: int
    """When the second command ran."""
    first_at: int
    players: tuple[str, str]
    """(who ran the first command, who ran the second)."""
    commands: tuple[str, str]
    target: str
    kind: str
    """`same` (the same action twice) or `opposed` (one undoes the other)."""

    @property
    def text(self) -> str:
        (p1, p2), (c1, c2) = self.players, self.commands
        gap = self.at - self.first_at
        if self.kind == "same":
            return (
                f"{p2} ran `{c2}` {gap}s after {p1} ran `{c1}` ({mmss(self.first_at)}): "
                f"the same action on {self.target} twice"
            )
        return (
            f"{p2} ran `{c2}` {gap}s after {p1} ran `{c1}` ({mmss(self.first_at)}): "
            f"it works against the other on {self.target}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "first_at": self.first_at,
            "players": list(self.players),
            "commands": list(self.commands),
            "target": self.target,
            "kind": self.kind,
            "text": self.text,
        }


@dataclass(frozen=True)
class _Act:
    at: int
    player: str
    command: str
    name: str
    target: str


def _act(c: Entry | Mapping[str, Any]) -> _Act | None:
    """The command as a system change (None: it changed nothing, or nobody is named)."""
    kind: str
    if isinstance(c, Entry):
        at, player, text, kind, name = c.at, c.player, c.command, c.kind, c.name
    else:
        at, player = int(c.get("at", 0)), str(c.get("player") or "")
        text, kind, name = str(c.get("command", "")), str(c.get("kind", "")), str(c.get("name", ""))
    if kind != "act" or name in RESPONSE_ONLY or not player:
        return None
    try:
        cmd, args = resolve(split(text))
    except (Refusal, ValueError):
        return None
    if cmd.name in RESPONSE_ONLY:  # a line of the team feed carries no name: the grammar's
        return None
    return _Act(at, player, " ".join(text.split()), cmd.name, args[0] if args else "")


def _pair(a: _Act, b: _Act) -> Conflict | None:
    if a.player == b.player or a.target != b.target or b.at < a.at:
        return None
    gap = b.at - a.at
    if a.name == b.name and gap <= SAME_WINDOW_S:
        return Conflict(
            b.at, a.at, (a.player, b.player), (a.command, b.command), a.target or a.name, "same"
        )
    window = OPPOSED.get((a.name, b.name))
    if window is not None and gap <= window:
        return Conflict(
            b.at, a.at, (a.player, b.player), (a.command, b.command), a.target or a.name, "opposed"
        )
    return None


def conflicts_of(
    earlier: Sequence[Entry | Mapping[str, Any]], newest: Entry | Mapping[str, Any]
) -> list[Conflict]:
    """The conflicts the newest command makes with the ones before it (the team pane's flag)."""
    b = _act(newest)
    if b is None:
        return []
    out = []
    for c in earlier:
        a = _act(c)
        if a is not None and (conflict := _pair(a, b)) is not None:
            out.append(conflict)
    return out


def find(commands: Sequence[Entry | Mapping[str, Any]]) -> list[Conflict]:
    """Every conflict in a game's commands, in the order the second command ran."""
    acts = [a for a in (_act(c) for c in commands) if a is not None]
    out = []
    for j, b in enumerate(acts):
        for a in acts[:j]:
            if (conflict := _pair(a, b)) is not None:
                out.append(conflict)
    return out
