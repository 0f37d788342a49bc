"""An incident's own world in a running system: its resources, its timed events and its
operations.

`World` is built once, before the first tick, from the incident's `resources`, `events` and
`operations`. Each tick the events due happen first (after the faults), then, once the API and
the workers have served the second, the operations in flight work for a second
(`operations.py`), every resource moves by its rate times what it counts (seconds,
successful requests, messages published or processed) and by its job's items, goes back to
its start when its pool's processes are all new, is written to its gauge, and each
threshold's effect is set for the ticks that follow: the database's refusal, the traits a
route, a pool or a service has while the threshold holds, and the processes it kills.
A system without any has no `World`, and its ticks are exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oncall_dojo.sim.config import SystemConfig, VersionTraits
from oncall_dojo.sim.events import (
    Event,
    HostEvent,
    LinkEvent,
    PoolEvent,
    ProviderEvent,
    ReplicaEvent,
    ResourceEvent,
)
from oncall_dojo.sim.observability.logs import LogStore, parse_start
from oncall_dojo.sim.observability.metrics import MetricStore
from oncall_dojo.sim.observability.telemetry import Telemetry
from oncall_dojo.sim.operations import Operations, OperationSpec
from oncall_dojo.sim.resources import (
    Crash,
    FailMessages,
    FailRequests,
    RefuseWrites,
    ResourceSpec,
    Slow,
    Threshold,
)

if TYPE_CHECKING:
    from oncall_dojo.sim.system import System

EFFECT = "effect"
"""The trait book's store of threshold effects (`TraitBook.effects`)."""


def add_world(
    sys: System,
    resources: dict[str, ResourceSpec],
    events: list[Event],
    operations: dict[str, OperationSpec] | None = None,
) -> None:
    """Give a system an incident's resources, timed events and operations, before its first
    tick."""
    if sys.t:
        raise ValueError("resources and events are added before the first tick")
    if resources or events or operations:
        sys.world = World(sys, resources, events, operations)


def exported_names(cfg: SystemConfig) -> set[str]:
    """Every metric name the system itself exports (a resource may not take one)."""
    metrics = MetricStore(capacity=1)
    Telemetry(cfg, metrics, LogStore(parse_start(cfg.start)), cfg.queues, cfg.workers, cfg.jobs)
    return {s.name for s in (*metrics.series, *metrics.hist_series)}


def effect_traits(th: Threshold) -> tuple[str, VersionTraits] | None:
    """The service a threshold's effect acts on through traits, and those traits."""
    if isinstance(th, FailRequests):
        return "api", VersionTraits(error_rate={th.route: th.share}, message_error=th.error)
    if isinstance(th, FailMessages) and not th.hosts:  # on hosts: `Host.fails`
        return th.pool, VersionTraits(message_error_rate=th.share, message_error=th.error)
    if isinstance(th, Crash) and not th.hosts:  # on hosts: their processes (`Host.panics`)
        return th.pool, VersionTraits(crash_on_start=th.error)
    if isinstance(th, Slow) and th.service is not None:
        return th.service, VersionTraits(latency_x=th.factor or 1.0)
    return None


@dataclass
class Resource:
    """A resource in a running system."""

    name: str
    spec: ResourceSpec
    value: float
    rate: float
    gauge: int
    keys: list[str]
    """Each threshold's key in the trait book's effect store."""
    holding: list[int | None] = field(default_factory=list)
    """Since when each threshold holds (None: it does not)."""
    seen: int = 0
    """The queue's count (published or processed) at the last tick."""
    job_done: int = 0
    """The job's items processed at the last tick."""
    reset_at: int = 0
    """When it last went back to its start (`resets_with`): processes started since are new."""
    gained: float = 0.0
    """What its own rate added in the last second (an operation working it off counts it as
    more work)."""
    failovers: int = 0
    """The failovers of its `failover.cluster` it has followed."""

    def set(self, sys: System, value: float) -> None:
        """Give it a new value (kept within its bounds): its gauge shows it, and a built-in
        quantity is changed in the model (the database volume's used GB)."""
        self.value = self.spec.clamp(value)
        if self.spec.builtin == "database.disk_used_gb":
            sys.db.disk_used_gb = self.value
        elif self.gauge >= 0:
            sys.metrics.row[self.gauge] = self.value


def builtin_value(sys: System, spec: ResourceSpec) -> float:
    """The model's own value of a `builtin` quantity now."""
    if spec.builtin == "database.disk_used_gb":
        return float(sys.db.disk_used_gb)
    if spec.builtin == "api.pool_in_use":
        return float(sys.api.pool_in_use)
    assert spec.queue is not None
    return float(sys.queues[spec.queue].depth)


class World:
    def __init__(
        self,
        sys: System,
        resources: dict[str, ResourceSpec],
        events: list[Event],
        operations: dict[str, OperationSpec] | None = None,
    ) -> None:
        self.sys = sys
        self.events = sorted(events, key=lambda e: e.at)  # stable: the file's order within a second
        self.next_event = 0
        self.resources: dict[str, Resource] = {}
        tm = sys.telemetry
        for name, spec in resources.items():
            keys = [f"{name}#{i}" for i in range(len(spec.thresholds))]
            if spec.builtin is not None:  # the model's own gauge already exports it
                res = Resource(name, spec, builtin_value(sys, spec), 0.0, -1, keys)
            else:
                assert spec.metric is not None
                gauge = tm.metrics.gauge(spec.metric, spec.help, **spec.labels)
                tm.metrics.row[gauge] = spec.start
                res = Resource(name, spec, spec.start, spec.rate, gauge, keys)
            res.holding = [None] * len(spec.thresholds)
            res.seen = self._count(res)
            if spec.job is not None:
                res.job_done = sys.jobs[spec.job].items_done
            self.resources[name] = res
            for key, th in zip(keys, spec.thresholds, strict=True):
                acting = effect_traits(th)
                if acting is not None:
                    sys.conditional_traits.append((EFFECT, key, None, acting[0], acting[1]))
        self._refusal: str | None = None
        """What the thresholds that refuse writes say, this second (the first that holds)."""
        self._slow: dict[str, tuple[float, float]] = {}
        """The links the thresholds that slow links degrade, this second: (added ms, loss)."""
        self._refused: dict[str, str] = {}
        """The tables whose writes the thresholds that refuse a cluster's writes refuse now."""
        self.operations = Operations(sys, operations) if operations else None
        """The incident's operations (`oncall_dojo.sim.operations`); None when it has none."""

    # ------------------------------------------------------------------ events
    def happen(self, t: int) -> None:
        """The events due by tick t."""
        events = self.events
        while self.next_event < len(events) and events[self.next_event].at <= t:
            ev = events[self.next_event]
            self.next_event += 1
            self._happen(ev, t)

    def _happen(self, ev: Event, t: int) -> None:
        sys = self.sys
        if isinstance(ev, ResourceEvent):
            res = self.resources[ev.resource]
            if ev.rate is not None:
                res.rate = ev.rate
            if ev.value is not None:
                res.set(sys, ev.value)
        elif isinstance(ev, PoolEvent):
            pool = sys.pools[ev.pool]
            if ev.crash is not None:
                for r in list(pool.replicas):
                    if r.state in ("running", "starting"):
                        sys.workers.crash(pool, r, t, ev.crash, "Error")
            if ev.replicas is not None and ev.replicas < len(pool.live):
                sys.scale_pool(pool, ev.replicas)
        elif isinstance(ev, ProviderEvent):
            sys.provider_latency_x = ev.latency_x
            sys.provider_extra_error = ev.error_rate
        elif isinstance(ev, HostEvent):
            fleet = sys.fleet
            assert fleet is not None
            if ev.disk_used_gb is not None or ev.disk_fill_gb_per_s is not None:
                fleet.set_disk(ev.host, t, ev.disk_used_gb, ev.disk_fill_gb_per_s)
            if ev.state is not None:
                fleet.set_state(ev.host, ev.state, t)
        elif isinstance(ev, LinkEvent):
            assert sys.topology is not None  # the incident's check: a link is declared
            sys.topology.set_link(ev.link, ev.partitioned, ev.latency_ms, ev.loss)
        elif isinstance(ev, ReplicaEvent):
            assert sys.topology is not None
            sys.topology.set_replica(ev.cluster, ev.replica, ev.paused, ev.apply_per_s)
        for line in ev.logs:
            line.write(sys, t)
        if ev.record is not None:
            rec = ev.record
            sys.record_change(
                t, rec.kind, rec.target or ev.component(), "", rec.value, rec.author, rec.note
            )

    # ------------------------------------------------------------------ resources
    def _count(self, res: Resource) -> int:
        spec = res.spec
        if spec.queue is None:
            return 0
        stats = self.sys.queues[spec.queue].stats
        return stats.produced if spec.per == "published" else stats.acked

    def _units(self, res: Resource, t: int) -> float:
        """What the resource's rate counted in second t."""
        spec = res.spec
        if spec.per == "second":
            return 1.0 if t > 0 else 0.0
        if spec.per == "request":
            assert spec.route is not None
            tm = self.sys.telemetry
            ok = 201 if spec.route.startswith("POST") else 200
            return tm.metrics.row[tm.m_route[spec.route][ok]]
        now = self._count(res)
        units, res.seen = now - res.seen, now
        return float(units)

    def _share(self, res: Resource) -> float:
        """The share of its pool's running processes that run one of its `versions`."""
        assert res.spec.resets_with is not None
        running = [r for r in self.sys.pools[res.spec.resets_with].live if r.state == "running"]
        if not running:
            return 0.0
        return sum(r.version in res.spec.versions for r in running) / len(running)

    def _reset_with(self, res: Resource, t: int) -> None:
        """Back to the start while no process of its pool runs, and once every live process is
        newer than the last reset."""
        assert res.spec.resets_with is not None
        live = self.sys.pools[res.spec.resets_with].live
        if all(r.state != "running" for r in live) or min(r.started for r in live) > res.reset_at:
            res.value = res.spec.start
            res.reset_at = t

    def _thresholds(self, res: Resource, t: int) -> None:
        """Whether each of a resource's thresholds holds now, and what holding does."""
        sys = self.sys
        effects = sys.traitbook.effects
        for i, th in enumerate(res.spec.thresholds):
            holds = th.holds(res.value)
            since = res.holding[i]
            if holds and since is None:
                since = res.holding[i] = t
                for line in th.logs:
                    line.write(sys, t, res.value)
            elif holds and since is not None and since != t:
                for line in th.logs:
                    if line.every_s is not None and (t - since) % line.every_s == 0:
                        line.write(sys, t, res.value)
            elif not holds:
                res.holding[i] = None
            effects[res.keys[i]] = holds
            if isinstance(th, Crash) and th.hosts:
                self._crash_hosts(th, res.keys[i], holds, t)
                continue
            if isinstance(th, FailMessages) and th.hosts:
                self._fail_on_hosts(th, res.keys[i], holds)
                continue
            if not holds:
                continue
            if isinstance(th, RefuseWrites) and th.cluster is not None:
                assert sys.topology is not None  # the incident's check: a declared cluster
                for table in sys.topology.clusters[th.cluster].tables:
                    self._refused.setdefault(table, th.error)
            elif isinstance(th, RefuseWrites):
                self._refusal = self._refusal or th.error
            elif isinstance(th, Crash):
                pool = sys.pools[th.pool]
                for r in list(pool.replicas):
                    if r.state == "running":
                        sys.workers.crash(pool, r, t, th.error, "Error")
            elif isinstance(th, Slow) and th.link is not None:
                ms, loss = self._slow.get(th.link, (0.0, 0.0))
                self._slow[th.link] = (ms + th.latency_ms, 1 - (1 - loss) * (1 - th.loss))

    def _follow_failover(self, res: Resource) -> None:
        """After a failover of its cluster, the quantity is the new primary's."""
        on = res.spec.failover
        assert on is not None and self.sys.topology is not None  # the incident's check
        done = len(self.sys.topology.clusters[on.cluster].failovers)
        if done == res.failovers:
            return
        res.failovers = done
        res.value = res.spec.clamp(res.spec.start if on.value is None else on.value)
        if on.rate is not None:
            res.rate = on.rate

    def _crash_hosts(self, th: Crash, key: str, holds: bool, t: int) -> None:
        """While a threshold holds, the processes on its hosts die, and at each start again."""
        pool = self.sys.pools[th.pool]
        fleet = self.sys.fleet
        assert fleet is not None
        for name in th.hosts:
            host = pool.hosts[name]
            if holds:
                host.panics[key] = th.error
                fleet.crash(pool, host, t, th.error)
            else:
                host.panics.pop(key, None)

    def _fail_on_hosts(self, th: FailMessages, key: str, holds: bool) -> None:
        """While a threshold holds, a share of the messages its hosts' processes handle fail."""
        hosts = self.sys.pools[th.pool].hosts
        for name in th.hosts:
            if holds:
                hosts[name].fails[key] = (th.share, th.error)
            else:
                hosts[name].fails.pop(key, None)

    def settle(self, t: int) -> None:
        """Move every resource by what its rate counted this second, then set its effects."""
        sys = self.sys
        row = sys.metrics.row
        self._refusal = None
        self._refused = {}
        self._slow = {}
        if self.operations is not None:
            self.operations.step(t)
        for res in self.resources.values():
            if res.spec.builtin is not None:
                before, res.value = res.value, builtin_value(sys, res.spec)
                res.gained = max(0.0, res.value - before)
                self._thresholds(res, t)
                continue
            units = self._units(res, t)
            if res.spec.versions and units:
                units *= self._share(res)
            if units and res.rate:
                before = res.value
                res.value = res.spec.clamp(res.value + res.rate * units)
                res.gained = max(0.0, res.value - before)
            else:
                res.gained = 0.0
            if res.spec.job is not None:
                done = sys.jobs[res.spec.job].items_done
                if done != res.job_done:
                    res.value = res.spec.clamp(
                        res.value + res.spec.per_item * (done - res.job_done)
                    )
                    res.job_done = done
            if res.spec.resets_with is not None:
                self._reset_with(res, t)
            if res.spec.failover is not None:
                self._follow_failover(res)
            row[res.gauge] = res.value
            self._thresholds(res, t)
        sys.db.refusal = self._refusal
        if self._refused or sys.db.refused_tables:
            sys.db.refused_tables = self._refused
        if sys.topology is not None:
            sys.topology.set_slow(self._slow)
