"""Automation: the parts of the system that change it by themselves, each of which an operator
can freeze and thaw.

The autoscalers (one per pool with `autoscale`), the incident's deploy bots and any other
controller register an `Automation` in the system's registry (`System.automation`) when they
are built: its name (what `freeze NAME` takes), its kind, what it manages, whether it is frozen
and what it did last. A component checks `frozen` before it acts and calls `did` when it has
changed something. A frozen automation does nothing; thawed, it acts on the state it then sees
(an autoscaler on the backlog of that moment, a deploy bot on the drift it finds and the
rollouts that came due meanwhile). Freezing and thawing are verbs (`sim.ops.freeze`, `thaw`)
recorded in the change history with their author.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass

from oncall_dojo.sim.errors import Refusal


@dataclass
class Automation:
    name: str
    """What `freeze` and `thaw` take (`billing-autoscaler`, `argocd`)."""
    kind: str
    """What it is (`autoscaler`, `deploy-bot`, `auto-failover`)."""
    target: str
    """What it manages (a pool, services, a database cluster)."""
    frozen: bool = False
    last: str = ""
    """What it did last, in words (empty: nothing yet)."""
    last_at: int | None = None
    """The tick it did that at."""
    actions: int = 0
    """How many times it has changed something."""

    def did(self, t: int, what: str) -> None:
        self.last, self.last_at = what, t
        self.actions += 1


class Automations:
    """The registry of a system's automation, by name, in the order registered."""

    def __init__(self) -> None:
        self._by_name: dict[str, Automation] = {}

    def add(self, name: str, kind: str, target: str, frozen: bool = False) -> Automation:
        if name in self._by_name:
            raise ValueError(f"automation {name!r} is registered twice")
        a = self._by_name[name] = Automation(name, kind, target, frozen)
        return a

    def get(self, name: str) -> Automation | None:
        return self._by_name.get(name)

    def named(self, name: str) -> Automation:
        """The automation called `name`, or a refusal naming the closest one."""
        a = self._by_name.get(name)
        if a is not None:
            return a
        if not self._by_name:
            raise Refusal("this system has no automation to freeze or thaw")
        close = difflib.get_close_matches(name, list(self._by_name), n=1)
        tip = f" (did you mean {close[0]!r}?)" if close else ""
        raise Refusal(f"no automation {name!r}{tip}; automation: {', '.join(self._by_name)}")

    def names(self) -> list[str]:
        return list(self._by_name)

    def __iter__(self) -> Iterator[Automation]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)
