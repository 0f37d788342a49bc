"""Faults that arrive with a release: a version with harmful traits, deployed to all or part of a
service (errors, slowness, leaks, crashes at start, corrupted writes), and the harmless deploy that
makes a good red herring."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from oncall_dojo.sim.components.traits import Unless
from oncall_dojo.sim.config import VersionTraits
from oncall_dojo.sim.faults.base import FaultSpec, deploy_version, runs_version
from oncall_dojo.sim.faults.settings import Setting

if TYPE_CHECKING:
    from oncall_dojo.sim.system import System


class BadDeploy(FaultSpec):
    """A deploy of a version with harmful traits (errors, slowness, leaks, crashes, corruption)."""

    summary: ClassVar[str] = "a bad deploy"
    kind: Literal["bad_deploy"]
    service: str
    """`api` or a worker pool name."""
    version: str
    traits: VersionTraits = VersionTraits()
    """What the version does wrong."""
    percent: int = Field(default=100, ge=1, le=100)
    """Share of replicas that get it."""
    author: str = "deploy-bot"
    note: str = ""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        deploy_version(
            sys, t, self.service, self.version, self.traits, self.author, self.percent, self.note
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return runs_version(sys, self.service, self.version)


class Deploy(BadDeploy):
    """A harmless deploy: the classic red herring."""

    summary: ClassVar[str] = "an unrelated deploy"
    kind: Literal["deploy"]  # type: ignore[assignment]
    cause: bool = False


class CorruptWrites(FaultSpec):
    """A release of the API that writes some order records wrong (units, currency, tenant)."""

    summary: ClassVar[str] = "a release writes corrupted records"
    kind: Literal["corrupt_writes"]
    version: str
    """API version that carries the bug."""
    fraction: float = Field(gt=0, le=1)
    """Share of the orders it writes that come out wrong."""
    corruption: str = "total_cents stored in dollars"
    """How the records are wrong, in words."""
    corrupts: Literal["cents_as_dollars", "null_currency", "wrong_tenant"] = "cents_as_dollars"
    """Which field comes out wrong in the application database (with `system.appdb`)."""
    percent: int = Field(default=100, ge=1, le=100)
    author: str = "release-train"
    note: str = ""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        traits = VersionTraits(
            corrupt_writes=self.fraction, corruption=self.corruption, corrupts=self.corrupts
        )
        deploy_version(sys, t, "api", self.version, traits, self.author, self.percent, self.note)

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return runs_version(sys, "api", self.version)


class WorkerCrashLoop(FaultSpec):
    """A worker version that cannot start (a panic at boot, or a config key it needs is missing).

    With `requires_config`, the version starts only once the key holds one of the values under
    `fixed_by` (`config KEY VALUE`); any other value leaves the crash loop in place, each start
    ending with a panic that names the value. A rollback ends it too."""

    summary: ClassVar[str] = "workers crash-loop at startup"
    kind: Literal["worker_crash_loop"]
    pool: str
    version: str
    requires_config: str | None = None
    """Config key the new version needs; setting it to one of `fixed_by` (`config KEY VALUE`)
    lets it start."""
    fixed_by: list[Setting] | None = Field(default=None, min_length=1)
    """Values of `requires_config` the version starts with (required with it). Any other value
    leaves the crash loop in place. Values compare as the console reads them (`on` is true,
    `"3"` is 3)."""
    panic: str | None = None
    """Panic printed at every start (then only a rollback helps)."""
    author: str = "deploy-bot"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        traits = VersionTraits(
            requires_config=self.requires_config,
            requires_values=self.fixed_by if self.requires_config is not None else None,
            crash_on_start=self.panic,
        )
        deploy_version(sys, t, self.pool, self.version, traits, self.author)

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        if not runs_version(sys, self.pool, self.version):
            return False
        if self.panic:
            return True
        if self.requires_config is None:
            return False
        if self.requires_config not in sys.config:
            return True
        return self.fixed_by is not None and not Unless(self.fixed_by).fixed(
            sys.config[self.requires_config]
        )


class MemoryLeak(FaultSpec):
    """A worker version that leaks memory until it is OOM-killed, over and over."""

    summary: ClassVar[str] = "a memory leak OOM-kills workers"
    kind: Literal["memory_leak"]
    pool: str
    version: str
    mb_per_min: float = Field(gt=0)
    author: str = "deploy-bot"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        deploy_version(
            sys,
            t,
            self.pool,
            self.version,
            VersionTraits(memory_leak_mb_per_min=self.mb_per_min),
            self.author,
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return runs_version(sys, self.pool, self.version)


class ThroughputDrop(FaultSpec):
    """A worker version that is slower per message (an N+1 query, a sync call added)."""

    summary: ClassVar[str] = "workers got slower per message"
    kind: Literal["throughput_drop"]
    pool: str
    version: str
    factor: float = Field(gt=1)
    """Service time multiplier."""
    author: str = "deploy-bot"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        deploy_version(
            sys, t, self.pool, self.version, VersionTraits(latency_x=self.factor), self.author
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return runs_version(sys, self.pool, self.version)


class PartialDeploy(FaultSpec):
    """A rollout that stopped part-way: some replicas of a pool still run the previous version.

    Active while any replica runs a version other than the target, so finishing the rollout ends it
    and rolling every replica back to the old version does not."""

    summary: ClassVar[str] = "a rollout left some replicas on the old version"
    kind: Literal["partial_deploy"]
    pool: str
    """Worker pool being rolled out."""
    version: str
    """Version the rollout was meant to put everywhere."""
    percent: int = Field(default=67, ge=1, le=99)
    """Share of replicas it reached before it stopped."""
    traits: VersionTraits = VersionTraits()
    author: str = "release-train"
    note: str = ""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        deploy_version(
            sys, t, self.pool, self.version, self.traits, self.author, self.percent, self.note
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        pool = sys.pools[self.pool]
        return any(r.version != self.version for r in pool.live)


class RunningRelease(FaultSpec):
    """A release the pool already runs when the run starts (its deploy is in `system.history`,
    days before the page): beginning changes nothing. It is the cause while any process of the
    pool runs one of `versions`, so a rollout of an earlier version removes it and a restart
    does not. The harm it does is declared elsewhere (a resource's `versions`)."""

    summary: ClassVar[str] = "a release deployed days before"
    kind: Literal["running_release"]
    pool: str
    """Worker pool that runs it."""
    versions: list[str] = Field(min_length=1)
    """The versions that carry the cause (the release and those built on it)."""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        return None

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return any(r.version in self.versions for r in sys.pools[self.pool].live)
