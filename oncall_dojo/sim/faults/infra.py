"""Faults in the platform and its dependencies: a poison message on the broker, a degraded payment
provider, a cache that lost its contents, a traffic spike, a degraded network link."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from oncall_dojo.sim.faults.base import FaultSpec
from oncall_dojo.sim.observability.logs import INFO, WARN

if TYPE_CHECKING:
    from oncall_dojo.sim.system import System


class PoisonMessage(FaultSpec):
    """A message that kills every worker that takes it."""

    summary: ClassVar[str] = "a poison message crashes every worker that takes it"
    kind: Literal["poison_message"]
    queue: str
    """Queue the message lands on."""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        q = sys.queues[self.queue]
        run = q.enqueue(t, 1, poison=True)
        assert run is not None
        state["seq"] = run.first
        state["id"] = "msg_" + q.msg_id(run.first)

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        # Asked every tick, in plain loops (no generator per run), where the message most often
        # is: in flight, waiting out its visibility timeout, or back at the head of the queue
        # (redeliveries go to the head). A backlog of thousands of runs is walked only when
        # the message has gone.
        seq = state["seq"]
        queue = self.queue
        for p in sys.pools.values():
            if p.cfg.queue != queue:
                continue
            for replica in p.live:
                for run, _ in replica.inflight:
                    if run.first <= seq < run.first + run.count:
                        return True
        q = sys.queues[self.queue]
        for r in q.delayed:
            if r.first <= seq < r.first + r.count:
                return True
        for r in q.ready:  # noqa: SIM110 (a plain loop: no generator per run)
            if r.first <= seq < r.first + r.count:
                return True
        return False


class DependencySlowdown(FaultSpec):
    """The external payment provider slows down and/or fails, for a while or until the end."""

    summary: ClassVar[str] = "the payment provider degraded"
    kind: Literal["dependency_slowdown"]
    latency_x: float = Field(default=1.0, ge=1)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    duration_s: int | None = Field(default=None, ge=1)
    """How long the provider stays degraded (None: for the rest of the run)."""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        sys.provider_latency_x = self.latency_x
        sys.provider_extra_error = self.error_rate
        state["until"] = None if self.duration_s is None else t + self.duration_s
        sys.log(
            t,
            300,
            "payments-provider",
            WARN,
            'statuspage.provider.example incident="Elevated latency and errors on the Charges API" status=investigating',
        )

    def evolve(self, sys: System, t: int, state: dict[str, Any]) -> None:
        if state.get("until") is not None and t >= state["until"]:
            sys.provider_latency_x = 1.0
            sys.provider_extra_error = 0.0
            state["until"] = None
            state["over"] = True
            sys.log(
                t,
                300,
                "payments-provider",
                INFO,
                'statuspage.provider.example incident="Elevated latency and errors on the Charges API" status=resolved',
            )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return not state.get("over", False)


class CacheLoss(FaultSpec):
    """Cache nodes are replaced with empty ones; every read misses until it refills."""

    summary: ClassVar[str] = "the cache lost its contents"
    kind: Literal["cache_loss"]

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        sys.cache_hit = 0.0
        sys.record_change(
            t,
            "deploy",
            "cache",
            "redis-7.2 x3",
            "redis-7.2 x3 (nodes replaced)",
            "platform-bot",
            "node pool upgrade",
        )
        sys.log(
            t,
            7,
            "cache",
            WARN,
            "redis-cluster-0 cluster nodes replaced during node-pool upgrade; keyspace empty",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return sys.cache_hit < 0.8 * sys.cfg.cache.hit_ratio


class TrafficSpike(FaultSpec):
    """Traffic multiplies for a while (a campaign, a crawler)."""

    summary: ClassVar[str] = "a traffic spike"
    kind: Literal["traffic_spike"]
    factor: float = Field(gt=1)
    duration_s: int = Field(ge=1)
    cause: bool = False

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        state["base"] = sys.cfg.traffic.base_rps
        sys.cfg.traffic.base_rps *= self.factor
        state["until"] = t + self.duration_s

    def evolve(self, sys: System, t: int, state: dict[str, Any]) -> None:
        if "base" in state and t >= state["until"]:
            sys.cfg.traffic.base_rps = state.pop("base")

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return "base" in state


class LinkDegradation(FaultSpec):
    """A network link between two sites (`system.links`) degrades or partitions, for a while or
    until the end: the provider's network, which nobody on call can change. It leaves no entry in
    the change history; the link's series (`network_link_loss_ratio`, `probe_success`...) show it,
    and what crosses the link is the model's business (replication, a resource's `slow`)."""

    summary: ClassVar[str] = "a network link between sites degraded"
    kind: Literal["link_degradation"]
    link: str
    """The link, by its name under `system.links`."""
    latency_ms: float | None = Field(default=None, ge=0)
    """Its round-trip time while degraded (None: its healthy one)."""
    loss: float | None = Field(default=None, ge=0, lt=1)
    """The share of packets it loses while degraded (None: its healthy share)."""
    partitioned: bool = False
    """Nothing crosses it while degraded."""
    duration_s: int | None = Field(default=None, ge=1)
    """How long until it recovers by itself (None: not before the end of the run)."""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        if sys.topology is not None:
            sys.topology.set_link(self.link, self.partitioned, self.latency_ms, self.loss)
        state["until"] = None if self.duration_s is None else t + self.duration_s

    def evolve(self, sys: System, t: int, state: dict[str, Any]) -> None:
        if state.get("until") is not None and t >= state["until"]:
            if sys.topology is not None:
                sys.topology.set_link(self.link, False, None, None)
            state["until"] = None
            state["over"] = True

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return not state.get("over", False)
