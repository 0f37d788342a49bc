"""Tab completion for the ops console: command names, then names that exist now.

Pure Python over `game.commands`; the console widget calls `complete()`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from oncall_dojo.game.commands import COMMANDS, names, resolve
from oncall_dojo.sim.errors import Refusal

if TYPE_CHECKING:
    from oncall_dojo.game.session import Session

_OPTIONS: dict[str, list[str]] = {
    "logs": ["level=", "grep=", "re=", "since=", "limit="],
    "metrics": ["fn=", "window="],
    "deploy": ["percent="],
}
_FIXED: dict[tuple[str, int], list[str]] = {
    ("db", 0): ["queries", "locks", "indexes"],
    ("hint", 0): ["take"],
    ("messages", 1): ["dlq"],
    ("dlq move", 1): ["top"],
    ("wait", 0): ["30s", "1m", "2m", "5m"],
}
_VALUES: dict[str, list[str]] = {
    "level=": ["debug", "info", "warn", "error", "fatal"],
    "fn=": ["rate", "increase", "last", "avg", "max", "min", "p50", "p90", "p95", "p99"],
    "window=": ["1m", "5m", "15m"],
    "since=": ["5m", "15m", "1h"],
}


def candidates(text: str, session: Session) -> tuple[str, list[str]]:
    """(the word being completed, the words it could become)."""
    words = text.split()
    trailing = not text or text[-1].isspace()
    done, partial = (words, "") if trailing else (words[:-1], words[-1])
    if not done:
        firsts = sorted({n.split(" ")[0] for n in COMMANDS})
        return partial, [w for w in firsts if w.startswith(partial)]
    if len(done) == 1:
        subs = sorted(n.split(" ", 1)[1] for n in COMMANDS if n.startswith(done[0] + " "))
        if subs:
            return partial, [w for w in subs if w.startswith(partial)]
    try:
        cmd, args = resolve(done)
    except Refusal:
        return partial, []
    for opt, values in _VALUES.items():
        if partial.startswith(opt):
            return partial, [opt + v for v in values if (opt + v).startswith(partial)]
    positional = [a for a in args if "=" not in a]
    i = len(positional)
    pool: list[str] = list(_FIXED.get((cmd.name, i), []))
    if cmd.name == "failover" and i == 1:
        pool += replicas_of(positional[0], session)
    elif i < len(cmd.args):
        pool += names(cmd.args[i], session)
    elif cmd.args and cmd.name == "dlq replay":
        pool += names("message", session)
    pool += [o for o in _OPTIONS.get(cmd.name, []) if not any(a.startswith(o) for a in args)]
    uniq = list(dict.fromkeys(pool))
    return partial, [w for w in uniq if w.startswith(partial)]


def replicas_of(cluster: str, session: Session) -> list[str]:
    """The replicas `failover CLUSTER` can promote (none for a name that is not a cluster)."""
    topo = session.system.topology
    c = topo.clusters.get(cluster) if topo is not None else None
    return [] if c is None else [m for m in c.members if m != c.primary]


def complete(text: str, session: Session) -> tuple[str, list[str]]:
    """The text after pressing tab, and the candidates to show (empty when it was unique)."""
    partial, found = candidates(text, session)
    if not found:
        return text, []
    head = text[: len(text) - len(partial)]
    if len(found) == 1:
        word = found[0]
        return head + word + ("" if word.endswith("=") else " "), []
    common = os.path.commonprefix(found)  # noqa: RUF071 (character-wise is what completion wants)
    return head + (common if len(common) > len(partial) else partial), found
