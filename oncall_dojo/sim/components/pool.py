"""Worker pools: replicas that consume a queue, with concurrency, memory, crashes and restarts.

Each replica has `concurrency` slots. Every tick it finishes the deliveries
whose service time has passed (acknowledging them, or returning them to the
broker on failure), then starts new ones up to its rate. A replica dies when
memory passes its limit or when it picks up a message that kills it; dead
replicas come back with Kubernetes-style crash-loop back-off (10 s, 20 s, 40 s
... 5 min), and what they had in flight is redelivered after the visibility
timeout.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from oncall_dojo.sim.components.queue import Run
from oncall_dojo.sim.config import WorkerPoolConfig
from oncall_dojo.sim.errors import Refusal

State = Literal["starting", "running", "backoff", "terminated"]

ROLLOUT_STEP_S = 20
"""Seconds between replicas a rollout replaces (half that for a pool's replicas)."""


@dataclass(slots=True)
class Replica:
    name: str
    version: str
    state: State
    ready_at: int
    started: int
    memory: float = 0.0
    restarts: int = 0
    acc: float = 0.0
    inflight: deque[tuple[Run, int]] = field(default_factory=deque)
    inflight_n: int = 0
    doomed_at: int = -1
    doom_reason: str = ""
    last_exit: str = ""


@dataclass
class WorkerPool:
    name: str
    cfg: WorkerPoolConfig
    replicas: list[Replica] = field(default_factory=list)
    version: str = ""
    serial: int = 0
    crashes: int = 0
    restarts_total: int = 0
    processed: int = 0
    failed: int = 0
    pod_hash: str = "6f9c4"

    def new_replica(
        self, t: int, startup: int | None = None, version: str | None = None
    ) -> Replica:
        self.serial += 1
        suffix = _suffix(self.serial + hash_name(self.name))
        r = Replica(
            name=f"{self.name}-{self.pod_hash}-{suffix}",
            version=version or self.version,
            state="starting",
            ready_at=t + (self.cfg.startup_s if startup is None else startup),
            started=t,
        )
        self.replicas.append(r)
        return r

    @property
    def live(self) -> list[Replica]:
        return [r for r in self.replicas if r.state != "terminated"]

    @property
    def running(self) -> int:
        return sum(1 for r in self.replicas if r.state == "running")

    def scale(self, t: int, n: int) -> tuple[int, list[Replica]]:
        """Set the replica count; returns the change and the replicas removed."""
        if n < 0:
            raise Refusal("replicas cannot be negative")
        if n > self.cfg.max_replicas:
            raise Refusal(
                f"{self.name} can have at most {self.cfg.max_replicas} replicas (cluster quota)"
            )
        live = self.live
        removed: list[Replica] = []
        if n > len(live):
            for _ in range(n - len(live)):
                self.new_replica(t)
        else:
            # remove the newest first, as a Deployment scale-down does
            for r in sorted(live, key=lambda r: -r.started)[: len(live) - n]:
                r.state = "terminated"
                removed.append(r)
        return n - len(live), removed


def hash_name(name: str) -> int:
    """A stable (PYTHONHASHSEED-independent) small hash of a name."""
    h = 0
    for ch in name:
        h = (h * 131 + ord(ch)) & 0xFFFFFF
    return h


_ALPHA = "bcdfghjklmnpqrstvwxz2456789"


def _suffix(n: int) -> str:
    n = (n * 2654435761) & 0xFFFFFFFF
    out = []
    for _ in range(5):
        out.append(_ALPHA[n % len(_ALPHA)])
        n //= len(_ALPHA)
    return "".join(out)


def backoff_s(restarts: int) -> int:
    """Kubernetes CrashLoopBackOff: 10 s doubling to a 5 minute cap."""
    return min(300, 10 * 2 ** max(0, restarts - 1))


def done_tick(t: int, seconds: float) -> int:
    return t + max(1, math.ceil(seconds))
