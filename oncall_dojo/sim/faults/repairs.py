"""Faults that only an operation repairs: an index corrupted, a replica out of sync, a
certificate expired, a volume lost. Nothing else clears them (no restart, no value, no run
paused, stopped or failed half way): only a run of the operation the file names that finishes
after the damage began."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from oncall_dojo.sim.config import VersionTraits
from oncall_dojo.sim.faults.base import FaultSpec

if TYPE_CHECKING:
    from oncall_dojo.sim.system import System

EFFECT = "effect"
"""The trait book's store of effects that hold by key (`TraitBook.effects`)."""


class Damage(FaultSpec):
    """Something in a component is damaged until an operation repairs it.

    While it is, the services have its `traits` (a share of a route's requests fail with the
    author's error, a pool's messages fail, a service is slower) and its `logs` are written;
    once a run of the operation under `fixed_by` finishes (see "Operations that take time" in
    docs/authoring.md), both stop."""

    summary: ClassVar[str] = "a component damaged until an operation repairs it"
    kind: Literal["damage"]
    fixed_by: str | list[Annotated[str, Field(min_length=1)]]
    """The operation (its name under `operations`) whose finished run repairs it, or a list of
    operations any one of which does (a slot dropped, or the instance holding it rebuilt).
    Starting one is not enough: a run paused, or failed, leaves the damage in place."""
    traits: dict[str, VersionTraits] = {}
    """Traits per service (`api`, a worker pool) while it is damaged."""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        state["began"] = t
        effects = sys.traitbook.effects
        key = state["key"] = f"damage#{sum(k.startswith('damage#') for k in effects)}"
        effects[key] = True
        for service, tr in self.traits.items():
            sys.conditional_traits.append((EFFECT, key, None, service, tr))

    @field_validator("fixed_by")
    @classmethod
    def _named(cls, v: str | list[str]) -> str | list[str]:
        if not v:
            raise ValueError("name the operation (or the operations) whose finished run repairs it")
        return v

    @property
    def repairs(self) -> list[str]:
        """The operations whose finished run repairs it."""
        return [self.fixed_by] if isinstance(self.fixed_by, str) else list(self.fixed_by)

    def repaired(self, sys: System, state: dict[str, Any]) -> bool:
        ops = sys.world.operations if sys.world is not None else None
        if ops is None:
            return False
        began = state["began"]
        return any(n in ops.ops and ops.ops[n].finished_since(began) for n in self.repairs)

    def evolve(self, sys: System, t: int, state: dict[str, Any]) -> None:
        if self.repaired(sys, state):
            sys.traitbook.effects[state["key"]] = False

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return not self.repaired(sys, state)
