"""Timed events: things that happen to a component at a time and are not changes anyone made.

A pool loses nodes or all its processes die, the outside payment provider goes down or comes
back, a resource starts growing faster. Unlike a fault's config change or deploy, an event
leaves no entry in the change history (`deploys`) unless the incident marks it `record`ed, as
a real system records some events (an audit log entry, a maintenance notice) and not others.
Events are not causes to remove: they change the system, and the model carries the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oncall_dojo.sim.faults.base import LogLine
from oncall_dojo.sim.hostconfig import HostState


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)


class Recorded(_Model):
    """The entry an event leaves in the change history (`deploys`), for an event a real system
    records."""

    kind: str = Field(default="event", pattern=r"^[a-z][a-z-]{0,8}$")
    """The entry's kind column (`event`, `audit`, `maint`...)."""
    target: str = ""
    """What it names (default: the event's component)."""
    value: str = Field(min_length=1)
    """What it says happened (`node pool shrunk to 1`)."""
    author: str = "system"
    """Who or what it is recorded as done by."""
    note: str = ""


class EventBase(_Model):
    at: int = Field(ge=0)
    """Simulated second (from the start of the run, as a fault's `at`) at which it happens."""
    logs: list[LogLine] = []
    """Log lines written when it happens (`every_s` does not apply): the line a real system
    prints (a status page update, a kubelet message)."""
    record: Recorded | None = None
    """An entry in the change history; without it the event leaves none."""

    def component(self) -> str:
        raise NotImplementedError


class ResourceEvent(EventBase):
    """A resource's rate or value changes (a consumer stops reading a slot, a log level rises)."""

    kind: Literal["resource_update"]
    resource: str
    """The resource, by its name under `resources`."""
    rate: float | None = None
    """Its new rate (per unit of its `per`)."""
    value: float | None = None
    """Its new value (kept within its `min` and `max`)."""

    @model_validator(mode="after")
    def _something(self) -> ResourceEvent:
        if self.rate is None and self.value is None:
            raise ValueError("give the resource's new `rate`, its new `value`, or both")
        return self

    def component(self) -> str:
        return f"resource:{self.resource}"


class PoolEvent(EventBase):
    """Something happens to a worker pool's processes: nodes lost, or every process killed."""

    kind: Literal["pool_disruption"]
    pool: str
    """The worker pool."""
    replicas: int | None = Field(default=None, ge=0)
    """The replicas left running (nodes lost: the newest go first, what they held returns to the
    queue). An autoscaler, or the player, may scale it back."""
    crash: str | None = Field(default=None, min_length=1)
    """Every live process dies with this message and restarts with Kubernetes' back-off."""

    @model_validator(mode="after")
    def _something(self) -> PoolEvent:
        if self.replicas is None and self.crash is None:
            raise ValueError("give `replicas` (nodes lost), `crash` (processes killed), or both")
        return self

    def component(self) -> str:
        return self.pool


class ProviderEvent(EventBase):
    """The outside payment provider's health changes: an outage begins, degrades or ends."""

    kind: Literal["provider_status"]
    latency_x: float = Field(default=1.0, ge=1)
    """Its response time, as a multiple of its healthy one (1: healthy)."""
    error_rate: float = Field(default=0.0, ge=0, le=1)
    """The share of calls it fails besides its usual errors (0: healthy)."""

    def component(self) -> str:
        return "payment-provider"


class HostEvent(EventBase):
    """Something happens to a named host of a worker pool (`system.workers.POOL.hosts`): its
    state changes (it goes down, fails its health checks, comes back) or its volume fills."""

    kind: Literal["host_status"]
    host: str
    """The host, by name."""
    state: HostState | None = None
    """Its new state: `down` and `drained` stop its process (what it held is redelivered),
    `not_ready` keeps it but gives it no work, `ready` starts one again."""
    disk_used_gb: float | None = Field(default=None, ge=0)
    """Space used on its volume now (kept within its size)."""
    disk_fill_gb_per_s: float | None = None
    """How fast its volume fills from now on (negative: frees up; 0: stops)."""

    @model_validator(mode="after")
    def _something(self) -> HostEvent:
        if self.state is None and self.disk_used_gb is None and self.disk_fill_gb_per_s is None:
            raise ValueError(
                "give the host's new `state`, `disk_used_gb`, `disk_fill_gb_per_s`, or several"
            )
        return self

    def component(self) -> str:
        return self.host


class LinkEvent(EventBase):
    """A network link between two sites degrades, partitions or recovers (`system.links`).
    Replication across a partitioned link stops, so its replicas fall behind; an auto-failover
    on the other side may lose sight of its primary."""

    kind: Literal["link_status"]
    link: str
    """The link, by its name under `system.links`."""
    partitioned: bool = False
    """Nothing crosses it (true) or traffic flows again (false)."""
    latency_ms: float | None = Field(default=None, ge=0)
    """Its round-trip time from now on (None: its healthy one)."""
    loss: float | None = Field(default=None, ge=0, lt=1)
    """The share of packets it loses from now on (None: its healthy share)."""

    def component(self) -> str:
        return f"link:{self.link}"


class ReplicaEvent(EventBase):
    """A database replica's replay pauses, resumes or changes speed (a long query on the replica
    holding replay back, a disk that got slower)."""

    kind: Literal["replica_status"]
    cluster: str = "postgres"
    """The cluster, by its name under `system.clusters` (`postgres`: the shop's database)."""
    replica: str
    """The replica, by instance name (`pg-1`)."""
    paused: bool | None = None
    """Replay pauses (true) or resumes (false)."""
    apply_per_s: float | None = Field(default=None, gt=0)
    """The writes per second it can replay from now on."""

    @model_validator(mode="after")
    def _something(self) -> ReplicaEvent:
        if self.paused is None and self.apply_per_s is None:
            raise ValueError("give `paused`, a new `apply_per_s`, or both")
        return self

    def component(self) -> str:
        return f"{self.cluster}:{self.replica}"


EVENT_TYPES: tuple[type[EventBase], ...] = (
    ResourceEvent,
    PoolEvent,
    ProviderEvent,
    HostEvent,
    LinkEvent,
    ReplicaEvent,
)
if TYPE_CHECKING:
    Event = EventBase
else:
    Event = Annotated[Union[EVENT_TYPES], Field(discriminator="kind")]  # noqa: UP007
