"""Reusable faults that incident files combine and parameterise.

A fault starts at a time or when a condition over the metrics first holds.
It changes the system only the way the real cause would (deploying a version
with traits, dropping an index, enqueuing a poisoned message, starting a
migration) and then lets the model carry the consequences. Whether its cause is
still present (`active`) is read from the model too, so removing the cause
through any action, foreseen or not, is recognised.

Adding a fault: write a `FaultSpec` subclass with a unique `kind`, implement
`begin` (and `evolve`/`active` when needed) in the module of its kind, and add it to
`FAULT_TYPES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from oncall_dojo.sim.faults.base import Fault, FaultSpec
from oncall_dojo.sim.faults.data import JobBadRow, SchemaChange
from oncall_dojo.sim.faults.database import DiskFill, LedgerReadOnly, MigrationLock, MissingIndex
from oncall_dojo.sim.faults.infra import (
    CacheLoss,
    DependencySlowdown,
    LinkDegradation,
    PoisonMessage,
    TrafficSpike,
)
from oncall_dojo.sim.faults.releases import (
    BadDeploy,
    CorruptWrites,
    Deploy,
    MemoryLeak,
    PartialDeploy,
    RunningRelease,
    ThroughputDrop,
    WorkerCrashLoop,
)
from oncall_dojo.sim.faults.repairs import Damage
from oncall_dojo.sim.faults.settings import ConfigChange, RetryStorm, ReusedFlag

FAULT_TYPES: tuple[type[FaultSpec], ...] = (
    PoisonMessage,
    BadDeploy,
    Deploy,
    CorruptWrites,
    WorkerCrashLoop,
    MemoryLeak,
    ThroughputDrop,
    DependencySlowdown,
    ConfigChange,
    RetryStorm,
    MissingIndex,
    MigrationLock,
    DiskFill,
    CacheLoss,
    LedgerReadOnly,
    TrafficSpike,
    SchemaChange,
    JobBadRow,
    PartialDeploy,
    ReusedFlag,
    RunningRelease,
    Damage,
    LinkDegradation,
)

if TYPE_CHECKING:
    AnyFault = FaultSpec
else:
    # one registry: a kind in FAULT_TYPES can be written in an incident file, and only those
    AnyFault = Annotated[Union[FAULT_TYPES], Field(discriminator="kind")]  # noqa: UP007

__all__ = [
    "FAULT_TYPES",
    "AnyFault",
    "BadDeploy",
    "CacheLoss",
    "ConfigChange",
    "CorruptWrites",
    "Damage",
    "DependencySlowdown",
    "Deploy",
    "DiskFill",
    "Fault",
    "FaultSpec",
    "JobBadRow",
    "LedgerReadOnly",
    "LinkDegradation",
    "MemoryLeak",
    "MigrationLock",
    "MissingIndex",
    "PartialDeploy",
    "PoisonMessage",
    "RetryStorm",
    "ReusedFlag",
    "RunningRelease",
    "SchemaChange",
    "ThroughputDrop",
    "TrafficSpike",
    "WorkerCrashLoop",
]
