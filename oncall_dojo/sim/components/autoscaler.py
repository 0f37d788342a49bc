"""Autoscalers: a pool's replicas follow its queue's backlog (KEDA-style) or its CPU use
(HPA-style), scaling down late.

Each pool with `autoscale` has one, registered as the automation `POOL-autoscaler`: frozen
(`freeze billing-autoscaler`, as pausing a ScaledObject does), it leaves the replica count as
it is; thawed, it scales on the backlog it then sees. A pool with hosts grows only onto hosts
that take new processes: with none, the scale-up waits (logged as the scheduler's
`FailedScheduling`) and is tried again at the next evaluation.
"""

from __future__ import annotations

import math

from oncall_dojo.sim.automation import Automation, Automations
from oncall_dojo.sim.components.pool import WorkerPool
from oncall_dojo.sim.components.workers import Workers
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.observability.logs import INFO, WARN


def autoscaler_name(pool: str) -> str:
    """The automation name of a pool's autoscaler."""
    return f"{pool}-autoscaler"


class Autoscaler:
    def __init__(self, workers: Workers, registry: Automations | None = None) -> None:
        self.workers = workers
        self._desired: dict[str, list[tuple[int, int]]] = {}
        """(tick, desired replicas) per pool, over its scale-down delay."""
        self.entries: dict[str, Automation] = {}
        """Each autoscaled pool's entry in the automation registry."""
        if registry is not None:
            for name, pool in workers.pools.items():
                if pool.cfg.autoscale is not None:
                    self.entries[name] = registry.add(
                        autoscaler_name(name), "autoscaler", f"workers:{name}"
                    )

    def tick(self, t: int) -> None:
        for pool in self.workers.pools.values():
            if pool.cfg.autoscale is not None and pool.cfg.autoscale.enabled:
                entry = self.entries.get(pool.name)
                if entry is not None and entry.frozen:
                    pool.cpu_sum, pool.cpu_ticks = 0.0, 0  # thawed, it reads what it then finds
                    continue
                self.scale(pool, t)

    def scale(self, pool: WorkerPool, t: int) -> None:
        a = pool.cfg.autoscale
        assert a is not None
        q = self.workers.queues[pool.cfg.queue]
        waiting = q.depth + q.inflight
        if a.metric == "cpu":
            # HPA: ceil(replicas x use / target), within a 10% tolerance of the target
            if not pool.cpu_ticks:
                return  # nothing running to measure
            use = pool.cpu_sum / pool.cpu_ticks
            pool.cpu_sum, pool.cpu_ticks = 0.0, 0
            live = len(pool.live)
            ratio = use / a.target_cpu
            raw = live if abs(ratio - 1.0) <= 0.1 else math.ceil(round(live * ratio, 6))
            reading = f"cpu {use:.0%}"
        else:
            raw = -(-waiting // a.target_per_replica)
            reading = f"backlog {waiting}"
        want = max(a.min_replicas, min(a.max_replicas, pool.cfg.max_replicas, raw))
        hist = [
            (at, n) for at, n in self._desired.get(pool.name, []) if at > t - a.scale_down_delay_s
        ]
        hist.append((t, want))
        self._desired[pool.name] = hist
        target = min(a.max_replicas, max(n for _, n in hist))  # a lowered maximum holds at once
        have = len(pool.live)
        if target == have:
            return
        try:
            self.workers.scale(pool, target, t)
        except Refusal as e:  # a pool with hosts, none of which takes a new process
            self.workers.tm.log(
                t, 14, "kube-scheduler", WARN,
                f'kube-scheduler-0 pool={pool.name} reason=FailedScheduling msg="{e}"',
            )  # fmt: skip
            return
        entry = self.entries.get(pool.name)
        if entry is not None:
            entry.did(t, f"scaled {pool.name} from {have} to {target} ({reading})")
        if a.metric == "cpu":
            service = "hpa"
            line = (
                f'horizontal-pod-autoscaler hpa={pool.name} msg="scaling" from={have} '
                f"to={target} cpu_utilization={round(100 * use)}% "
                f"target={round(100 * a.target_cpu)}% max_replicas={a.max_replicas}"
            )
        else:
            service = "keda"
            line = (
                f'keda-operator-0 scaledobject={pool.name} msg="scaling" from={have} to={target} '
                f"queue={q.name} queue_length={waiting} target_per_replica={a.target_per_replica} "
                f"max_replicas={a.max_replicas}"
            )
        self.workers.tm.log(t, 14, service, INFO, line)
