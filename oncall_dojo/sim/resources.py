"""Resources an incident declares: quantities that build up (or run down) and cross thresholds.

A resource is a named quantity with a start value and a rate: constant per second, or tied to
traffic (per successful request of a route, per message published on a queue or processed from
it). It is exported as a gauge under the name a real exporter would give it
(`pg_replication_slot_retained_bytes`, `node_filesystem_avail_bytes`), so the metric queries,
charts and alert rules read it like any other series. Its thresholds act on the model while
they hold: the database refuses writes, a route's requests or a pool's messages fail with the
author's error, a pool's processes crash, a service slows down. What that costs (failed
requests, messages waiting, work redone) is the model's own accounting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oncall_dojo.sim.faults.base import LogLine

METRIC_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
"""A Prometheus metric name."""
LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
"""A Prometheus label name."""
RESOURCE_NAME = r"^[a-z][a-z0-9_-]*$"
"""A resource's name in the file (`wal`, `data-volume`)."""

DISK_FULL = 'ERROR: could not extend file "base/16384/24601": No space left on device'


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)


class ThresholdBase(_Model):
    above: float | None = None
    """The effect holds while the value is at or above this."""
    below: float | None = None
    """Or: the effect holds while the value is at or below this."""
    logs: list[LogLine] = []
    """Log lines written when the threshold is crossed (and with `every_s` again while it
    holds): the warning a real daemon prints."""

    @model_validator(mode="after")
    def _one_bound(self) -> ThresholdBase:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of `above` or `below`")
        return self

    def holds(self, value: float) -> bool:
        if self.above is not None:
            return value >= self.above
        return self.below is not None and value <= self.below


class RefuseWrites(ThresholdBase):
    """The database refuses every write (or every write to one cluster's tables): API requests
    and messages that write fail with `error`."""

    effect: Literal["refuse_writes"]
    error: str = Field(default=DISK_FULL, min_length=1)
    """What a refused write fails with, in the logs of whoever wrote."""
    cluster: str | None = None
    """Only the writes to this cluster's tables (`system.clusters`; `postgres` holds the tables
    no other cluster does) are refused: a shard's full volume. Default: every write."""


class FailRequests(ThresholdBase):
    """A route's requests fail (HTTP 500) and the API logs `error` for each."""

    effect: Literal["fail_requests"]
    route: str
    """The route (`POST /api/checkout`), or `*` for every route."""
    share: float = Field(default=1.0, gt=0, le=1)
    """The share of its requests that fail."""
    error: str = Field(min_length=1)
    """The error the API logs for a failed request."""


class FailMessages(ThresholdBase):
    """A pool's messages fail and go back to their queue; the workers log `error` for each."""

    effect: Literal["fail_messages"]
    pool: str
    """The worker pool."""
    share: float = Field(default=1.0, gt=0, le=1)
    """The share of its messages that fail."""
    error: str = Field(min_length=1)
    """The error a worker logs for a failed message."""
    hosts: list[str] = []
    """Only the messages the processes on these of the pool's `hosts` handle fail (the hosts
    that got the bad config); the others' go through. Empty: every process of the pool."""


class Crash(ThresholdBase):
    """A pool's processes crash: the running ones at once, and every one that starts again, so
    the pool crash-loops (with Kubernetes' back-off) until the threshold no longer holds."""

    effect: Literal["crash"]
    pool: str
    """The worker pool."""
    error: str = Field(min_length=1)
    """What a process prints as it dies (`open /data/spool: too many open files`)."""
    hosts: list[str] = []
    """Only the processes on these of the pool's `hosts` (empty: every process of the pool)."""


class Slow(ThresholdBase):
    """A service's own work takes longer (the API's time per request, a pool's per message), or
    a network link between sites degrades (replication across it slows)."""

    effect: Literal["slow"]
    service: str | None = None
    """`api` or a worker pool."""
    factor: float | None = Field(default=None, gt=1)
    """How many times longer (with `service`)."""
    link: str | None = None
    """Or: a link under `system.links`."""
    latency_ms: float = Field(default=0.0, ge=0)
    """Round-trip time the link gains (with `link`)."""
    loss: float = Field(default=0.0, ge=0, lt=1)
    """Share of packets the link loses besides its own (with `link`)."""

    @model_validator(mode="after")
    def _what(self) -> Slow:
        if (self.service is None) == (self.link is None):
            raise ValueError("give exactly one of `service` or `link`")
        if self.service is not None and self.factor is None:
            raise ValueError("`slow` of a service needs its `factor`")
        if self.link is not None and (
            self.factor is not None or not (self.latency_ms or self.loss)
        ):
            raise ValueError("`slow` of a link takes `latency_ms`, `loss` or both (not `factor`)")
        return self


class LogOnly(ThresholdBase):
    """Nothing changes but what the logs say: a warning at 80%, a daemon's complaint."""

    effect: Literal["log"]

    @model_validator(mode="after")
    def _has_lines(self) -> LogOnly:
        if not self.logs:
            raise ValueError("a `log` threshold needs at least one line under `logs`")
        return self


THRESHOLD_TYPES: tuple[type[ThresholdBase], ...] = (
    RefuseWrites,
    FailRequests,
    FailMessages,
    Crash,
    Slow,
    LogOnly,
)
if TYPE_CHECKING:
    Threshold = ThresholdBase
else:
    Threshold = Annotated[Union[THRESHOLD_TYPES], Field(discriminator="effect")]  # noqa: UP007


BUILTIN_FORBIDS = (
    "metric", "labels", "help", "start", "rate", "per", "route", "job", "per_item",
    "resets_with", "failover", "versions", "past",
)  # fmt: skip
"""What a `builtin` quantity cannot have: the model sets its value, gauge and rate."""

WRITABLE_BUILTINS = frozenset({"database.disk_used_gb"})
"""Built-in quantities that events may set and operations may work off."""


class OnFailover(_Model):
    """A quantity the primary of a database cluster holds (its WAL volume, a replication slot's
    retained WAL): after a failover of that cluster it is the new primary's."""

    cluster: str
    """The cluster, by its name under `system.clusters` (`postgres`: the shop's database)."""
    value: float | None = None
    """The new primary's value (default: the resource's `start`)."""
    rate: float | None = None
    """The new primary's rate (default: the rate it had)."""


class PastPoint(_Model):
    """What the gauge read some time before the run: one sample of the history its exporter
    kept (the week before a leak was noticed)."""

    ago_s: int = Field(gt=0)
    """How long before the start of the run (seconds)."""
    value: float
    """What the gauge read then."""


class ResourceSpec(_Model):
    """A quantity that builds up (or runs down) at a rate, exported as a gauge, with thresholds
    that act on the model while they hold."""

    builtin: Literal["database.disk_used_gb", "api.pool_in_use", "queue.depth"] | None = None
    """A quantity the model already keeps, watched as a resource: the database volume's used
    GB (`database.disk_used_gb`, which the writes fill and, when full, makes every write fail),
    the API's database connections in use (`api.pool_in_use`), or a `queue`'s waiting messages
    (`queue.depth`). Its value is the model's, each second; it has no `metric`, `start` or
    rate of its own (the model's gauge already exports it), and its thresholds act as any
    resource's. The disk may also be set by events and worked off by operations (a repack
    that gives space back); the other two are the model's alone."""
    metric: str | None = Field(default=None, pattern=METRIC_NAME)
    """The gauge's name, as a real exporter names it (`pg_replication_slot_retained_bytes`). It
    must not be a name the system already exports. Required unless `builtin`."""
    labels: dict[Annotated[str, Field(pattern=LABEL_NAME)], str] = {}
    """The gauge's labels (`{slot_name: analytics}`)."""
    help: str = ""
    """What the gauge measures, as `metrics` lists it."""
    start: float = 0.0
    """The value at the start of the run. Required unless `builtin`."""
    rate: float = 0.0
    """How much the value changes per unit of `per` (negative: it runs down)."""
    per: Literal["second", "request", "published", "processed"] = "second"
    """What the rate counts: each simulated `second`; each successful `request` of `route`;
    each message `published` on `queue`; each message of `queue` its consumers `processed`
    (acknowledged). Tied to traffic, it grows with the load and stops when the load stops."""
    route: str | None = None
    """The route whose requests count (with `per: request`)."""
    queue: str | None = None
    """The queue whose messages count (with `per: published` or `per: processed`)."""
    job: str | None = None
    """A job in `system.jobs` whose items change the value too (a cleanup script, a vacuum):
    started, paused and resumed with `job`, it acts at its own pace."""
    per_item: float = 0.0
    """How much each item `job` processes changes the value (negative: it drains it)."""
    min: float | None = None
    """The value never goes below this (a free-space gauge stops at 0)."""
    max: float | None = None
    """The value never goes above this (a volume's size caps what it holds)."""
    resets_with: str | None = None
    """A worker pool whose processes hold the quantity (open file descriptors, a leak): it stays
    at `start` while none of them runs (all crashed, or scaled to zero), goes back to it once
    every live process has started since the last reset (a `restart`, a rollout), and builds
    up again from there."""
    failover: OnFailover | None = None
    """The cluster whose primary holds the quantity: once that cluster fails over (by hand or
    by its auto-failover), the value and rate are the new primary's (`failover.value`, by
    default `start`; `failover.rate`, by default unchanged)."""
    versions: list[str] = []
    """With `resets_with`: only the pool's processes that run one of these versions add to it
    (a leak a release brought), in proportion to their share of its running processes; a
    rollout of another version stops it. Empty: every process."""
    past: list[PastPoint] = []
    """What the gauge read before the run, a point per sample (`{ago_s: 86400, value: 640}`):
    `metrics` draws it as the trend of the days before, with the value at the start last."""
    thresholds: list[Threshold] = []
    """What happens while the value is past a level; each holds on its own."""

    @model_validator(mode="before")
    @classmethod
    def _declared_or_builtin(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        if data.get("builtin") is None:
            for key in ("metric", "start"):
                if key not in data:
                    raise ValueError(f"missing required key {key!r} (or name a `builtin` quantity)")
            return data
        own = [k for k in BUILTIN_FORBIDS if k in data]
        if own:
            raise ValueError(
                f"a `builtin` quantity is the model's own: drop {', '.join(f'`{k}`' for k in own)}"
            )
        if (data["builtin"] == "queue.depth") != ("queue" in data):
            raise ValueError("`builtin: queue.depth` and `queue` (the queue it counts) go together")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ResourceSpec:
        if self.builtin is not None:
            return self
        if self.per == "request" and self.route is None:
            raise ValueError("`per: request` needs the `route` whose requests count")
        if self.per in ("published", "processed") and self.queue is None:
            raise ValueError(f"`per: {self.per}` needs the `queue` whose messages count")
        if self.route is not None and self.per != "request":
            raise ValueError("`route` counts only with `per: request`")
        if self.queue is not None and self.per not in ("published", "processed"):
            raise ValueError("`queue` counts only with `per: published` or `per: processed`")
        if self.versions and self.resets_with is None:
            raise ValueError("`versions` needs the pool under `resets_with` that runs them")
        seen: set[int] = set()
        for p in self.past:
            if p.ago_s in seen:
                raise ValueError(f"`past` has two points at `ago_s: {p.ago_s}`")
            seen.add(p.ago_s)
        if self.per_item and self.job is None:
            raise ValueError("`per_item` needs the `job` whose items count")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"`min` ({self.min:g}) must be below `max` ({self.max:g})")
        if self.min is not None and self.start < self.min:
            raise ValueError(f"`start` ({self.start:g}) is below `min` ({self.min:g})")
        if self.max is not None and self.start > self.max:
            raise ValueError(f"`start` ({self.start:g}) is above `max` ({self.max:g})")
        return self

    def clamp(self, value: float) -> float:
        if self.max is not None and value > self.max:
            value = self.max
        if self.min is not None and value < self.min:
            value = self.min
        return value
