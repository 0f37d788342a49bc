"""Worker pools: replicas that consume a queue, with concurrency, memory, crashes and restarts.

Each replica has `concurrency` slots, and a slot serves one message at a time
for the pool's service time. Tick t plays the second (t - 1, t] in continuous
time (`serve`): the messages enqueued at t arrive at uniform random times within
it (so a Poisson count per second is a Poisson process), a slot that frees up
takes the next waiting message at once, and a service shorter than a second
lets a slot serve several messages within one tick. A pool of R replicas with c
slots and service time s is then an M/D/(R c) queue fed first come, first
served: its capacity is R c / s messages a second for any s. A replica dies when
memory passes its limit or when it picks up a message that kills it; dead
replicas come back with Kubernetes-style crash-loop back-off (10 s, 20 s, 40 s
... 5 min), and what they had in flight is redelivered after the visibility
timeout.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Literal

from oncall_dojo.sim.components.queue import Queue, Run
from oncall_dojo.sim.config import WorkerPoolConfig
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.hostconfig import HostState

State = Literal["starting", "running", "backoff", "terminated", "unready"]
"""A process's life; `unready` is one on a host that fails its health checks (it takes no work)."""

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
    inflight: deque[tuple[Run, int]] = field(default_factory=deque)
    """Deliveries in progress and the tick they finish at."""
    slots: list[tuple[float, int]] = field(default_factory=list)
    """Busy slots: when they free up (continuous time) and how many free up then."""
    inflight_n: int = 0
    doomed_at: int = -1
    doom_reason: str = ""
    last_exit: str = ""
    host: str = ""
    """The named host it runs on (empty: the pool has no named hosts)."""


@dataclass
class Host:
    """A named machine of a pool, running its processes (`hosts.py`)."""

    name: str
    pool: str
    site: str | None
    version: str
    """The version installed on it: what a process started on it runs."""
    state: HostState
    disk_gb: float
    disk_used_gb: float
    fill_gb_per_s: float = 0.0
    """How fast its volume fills (negative: frees up)."""
    panics: dict[str, str] = field(default_factory=dict)
    """Why a process on it dies at once, by cause (a threshold's key): while any holds, its
    process crash-loops."""
    fails: dict[str, tuple[float, str]] = field(default_factory=dict)
    """The share of the messages its process handles that fail, and the error they fail with,
    by cause (a threshold's key), while that holds."""
    gauges: tuple[int, ...] = ()
    """Its series: up, ready, unschedulable, filesystem size, filesystem free."""

    @property
    def full(self) -> bool:
        return self.disk_used_gb >= self.disk_gb

    @property
    def schedulable(self) -> bool:
        return self.state == "ready"

    def panic(self) -> str | None:
        """Why a process started on it dies now (None: it may run)."""
        if self.full:
            return DISK_FULL_PANIC
        for reason in self.panics.values():
            return reason
        return None


DISK_FULL_PANIC = "write /var/lib/worker/spool: no space left on device"
"""What a process on a host whose volume is full dies with."""


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
    hosts: dict[str, Host] = field(default_factory=dict)
    """Its named hosts, by name; empty for a pool of anonymous replicas."""
    cpu_sum: float = 0.0
    """The CPU use of its running replicas summed over the ticks since an autoscaler last read it
    (only for a pool whose autoscaler reads CPU; see `Workers.sample_cpu`)."""
    cpu_ticks: int = 0

    def new_replica(
        self, t: int, startup: int | None = None, version: str | None = None, host: str = ""
    ) -> Replica:
        self.serial += 1
        suffix = _suffix(self.serial + hash_name(self.name))
        r = Replica(
            name=f"{self.name}-{self.pod_hash}-{suffix}",
            version=version or self.version,
            state="starting",
            ready_at=t + (self.cfg.startup_s if startup is None else startup),
            started=t,
            host=host,
        )
        self.replicas.append(r)
        return r

    def replace(self, r: Replica, at: int, version: str) -> None:
        """Start the process that replaces `r` (a restart, a rollout) at `at`, on `version`: on
        r's host if it has one, and only when that host takes new processes."""
        if not r.host:
            self.new_replica(at, version=version)
            return
        host = self.hosts[r.host]
        host.version = version
        if host.schedulable:
            self.new_replica(at, version=version, host=r.host)

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
        if self.hosts:
            return self._scale_on_hosts(t, n, live)
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

    def _scale_on_hosts(self, t: int, n: int, live: list[Replica]) -> tuple[int, list[Replica]]:
        """Scale a pool with hosts, as a scheduler spreads a Deployment: each new process goes
        to the host that takes new ones (ready, its volume not full) with the fewest, then by
        name, on the version installed there; each removed one is the newest on the host with
        the most, then the last by name."""
        on: dict[str, list[Replica]] = {h: [] for h in self.hosts}
        for r in live:
            on[r.host].append(r)
        if n > len(live):
            open_ = [h for h in self.hosts.values() if h.schedulable and not h.full]
            if not open_:
                states = ", ".join(
                    f"{h.name} {'disk full' if h.full else h.state}" for h in self.hosts.values()
                )
                raise Refusal(f"no host of {self.name} takes new processes ({states})")
            for _ in range(n - len(live)):
                h = min(open_, key=lambda h: (len(on[h.name]), h.name))
                on[h.name].append(self.new_replica(t, version=h.version, host=h.name))
            return n - len(live), []
        removed: list[Replica] = []
        for _ in range(len(live) - n):
            most = max(on, key=lambda h: (len(on[h]), h))
            r = max(on[most], key=lambda r: r.started)
            on[most].remove(r)
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


MIN_SERVICE_S = 0.01
"""The shortest service time a slot takes for a message."""


def serve(
    q: Queue,
    t: int,
    replicas: list[tuple[Replica, float]],
    concurrency: int,
    paused: bool,
    rand: Callable[[], float],
    finish: Callable[[Replica, Run, int], None],
    started: Callable[[int, Run], bool],
) -> None:
    """Play the second (t - 1, t] of a queue's running replicas, each with its service time.

    The slots are played first: every slot free during the second takes the next waiting
    message when the slot frees up or the message arrives, whichever is later: first come,
    first served over the whole pool, as consumers pulling from one queue are. Messages from
    earlier seconds wait from t - 1; the ones enqueued at t arrive at sorted uniform times
    within it. Slots that free up together and find messages waiting start together, so a
    long backlog is served in a few large steps. Each slot keeps its exact time.

    Then the messages taken are accounted in first come, first served order, each with its
    exact finishing time: replica by replica, each taking as many consecutive messages as its
    slots started, in runs of messages finishing within the same second, finished (`finish(replica, run, t)`,
    with `run.done` their mean finishing time and `run.at` their mean arrival) at the tick they
    end. `started(i, run)` is called for each redelivery or poisoned delivery replica i starts
    (first deliveries of sound messages need nothing) and returns True when it will never
    finish (a poisoned message: the replica dies first, and the delivery with it)."""
    if not replicas:  # nobody serves: the messages wait, their arrival times left at the mean
        return
    waiting = q._ready_n
    if paused or not waiting:  # slots free up and take nothing
        for r, _ in replicas:
            if r.slots:
                r.slots = [sl for sl in r.slots if sl[0] > t]
        _finish_due(replicas, t, finish)
        return
    begin = t - 1.0
    heap: list[tuple[float, int, int, int]] = []  # (free at, order, replica, slots) this second
    order = 0
    for i, (r, _) in enumerate(replicas):
        idle = concurrency
        slots = r.slots
        if slots:
            keep = []
            for sl in slots:
                f, m = sl
                idle -= m
                if f <= t:
                    heap.append((f if f > begin else begin, order, i, m))
                    order += 1
                else:
                    keep.append(sl)
            r.slots = keep
        if idle > 0:
            heap.append((begin, order, i, idle))
            order += 1
    if not heap:
        _finish_due(replicas, t, finish)
        return
    ready = q.ready
    fresh = 0  # messages enqueued this tick, at the tail
    for run in reversed(ready):
        if run.enq != t or run.deliveries or run.replayed:
            break
        fresh += run.count
    backlog = waiting - fresh
    arrivals = sorted([begin + rand() for _ in range(fresh)]) if fresh else []
    heapq.heapify(heap)
    heappush, heappop = heapq.heappush, heapq.heappop
    took = [0] * len(replicas)  # messages each replica's slots started
    dones: list[float] = []  # when each message taken finishes, in the order taken
    j = 0  # messages taken (the backlog's first)
    total = waiting
    while heap and j < total:
        f, o, i, m = heap[0]
        r, service = replicas[i]
        if j < backlog:  # earlier messages wait since the second began: the slots take them
            k = backlog - j
            if m < k:  # min(m, backlog - j) without a call
                k = m
        else:
            x = j - backlog
            hi = x + m
            if fresh < hi:  # min(fresh, x + m) without a call
                hi = fresh
            if f <= arrivals[x]:
                # idle slots: each of the next arrivals starts as it comes
                slots = r.slots
                for y in range(x, hi):
                    done = arrivals[y] + service
                    dones.append(done)
                    if done <= t:
                        heappush(heap, (done, order, i, 1))
                        order += 1
                    else:
                        slots.append((done, 1))
                k = hi - x
                took[i] += k
                j += k
                # what was pushed frees up after f: these slots are still the heap's least
                if k == m:
                    heappop(heap)
                else:
                    heap[0] = (f, o, i, m - k)
                continue
            # the messages that arrived before these slots free up start together then
            k = bisect.bisect_right(arrivals, f, x, hi) - x
        done = f + service
        dones.extend([done] * k)
        took[i] += k
        j += k
        if k == m:
            heappop(heap)
        else:
            heap[0] = (f, o, i, m - k)  # the same key: still the heap's least
        if done <= t:
            heappush(heap, (done, order, i, k))
            order += 1
        else:
            r.slots.append((done, k))
    cum = list(accumulate(arrivals, initial=0.0)) if fresh else []
    if j:
        _account(q, t, replicas, took, dones, backlog, cum, started)
    over = j - backlog  # messages taken of this tick's
    left = fresh - over if over > 0 else fresh
    if left > 0:  # this tick's messages still waiting keep their arrival times
        end = fresh
        for run in reversed(ready):
            c = min(run.count, left)
            if c <= 0:
                break
            run.at = (cum[end] - cum[end - c]) / c
            end -= c
            left -= c
    _finish_due(replicas, t, finish)


def _account(
    q: Queue,
    t: int,
    replicas: list[tuple[Replica, float]],
    took: list[int],
    dones: list[float],
    backlog: int,
    cum: list[float],
    started: Callable[[int, Run], bool],
) -> None:
    """Take the messages the slots started from the queue and account them in the replicas'
    deliveries: replica by replica, as many consecutive messages as each started, in runs of
    messages finishing within the same second.

    The messages are taken from the head of the ready queue as `Queue.take` does (split off a
    run's head when only part of it is taken), piece by piece as they are accounted."""
    cum_done = list(accumulate(dones, initial=0.0))
    ceil = math.ceil
    ready = q.ready
    popleft = ready.popleft
    x = 0
    for i, k in enumerate(took):
        if not k:
            continue
        r = replicas[i][0]
        inflight = r.inflight
        r.inflight_n += k
        hi = x + k
        while x < hi:
            ends = ceil(dones[x])
            below = ends - 1
            y = x + 1
            while y < hi and below < dones[y] <= ends:
                y += 1
            n = y - x
            while n > 0:
                head = ready[0]
                if head.count <= n:
                    popleft()
                    piece = head
                else:
                    piece = head.split(n)
                piece.deliveries += 1
                c = piece.count
                n -= c
                if x >= backlog:  # this tick's messages: their exact arrivals
                    f = x - backlog
                    piece.at = (cum[f + c] - cum[f]) / c
                done = piece.done = (cum_done[x + c] - cum_done[x]) / c
                x += c
                if (piece.deliveries > 1 or piece.poison) and started(i, piece):
                    inflight.append((piece, t + 3))
                    continue
                if inflight:
                    last = inflight[-1]
                    run = last[0]
                    if (
                        last[1] == ends
                        and run.first + run.count == piece.first
                        and run.enq == piece.enq
                        and run.deliveries == piece.deliveries
                        and run.replayed == piece.replayed
                        and not run.poison
                        and not piece.poison
                    ):
                        m = run.count + c
                        run.at += (piece.at - run.at) * c / m
                        run.done += (done - run.done) * c / m
                        run.count = m
                        continue
                inflight.append((piece, ends))
    q._ready_n -= x
    q.inflight += x


def _finish_due(
    replicas: list[tuple[Replica, float]], t: int, finish: Callable[[Replica, Run, int], None]
) -> None:
    """Finish the deliveries that ended by tick t, replica by replica, in the order started."""
    for r, _ in replicas:
        inflight = r.inflight
        while inflight and inflight[0][1] <= t:
            run = inflight.popleft()[0]
            r.inflight_n -= run.count
            finish(r, run, t)
