"""The worker pools at work: replicas start, run, leak, crash and restart, and take deliveries.

Each tick every live replica of a pool goes through its life (start-up, memory, crashes), then
the running ones serve the queue for the second (`pool.serve`: exact slot times, first come,
first served; what a finished delivery does is in `consumers.py`). The pool and replica models
(crash-loop back-off, scaling, serving) are in `pool.py`.
"""

from __future__ import annotations

from functools import partial

from oncall_dojo.sim.components.consumers import Consumers, VersionFacts
from oncall_dojo.sim.components.database import Database
from oncall_dojo.sim.components.pool import (
    MIN_SERVICE_S,
    ROLLOUT_STEP_S,
    Replica,
    WorkerPool,
    backoff_s,
    hash_name,
    serve,
)
from oncall_dojo.sim.components.provider import Provider
from oncall_dojo.sim.components.queue import Queue, Run
from oncall_dojo.sim.components.traits import TraitBook, startup_panic
from oncall_dojo.sim.config import VersionTraits
from oncall_dojo.sim.observability.logs import FATAL, INFO, WARN
from oncall_dojo.sim.observability.telemetry import Telemetry
from oncall_dojo.sim.rng import SimRandom

TraitsRead = tuple[VersionTraits, float, dict[str, float], float, float, dict[str, float]]
"""A version's traits with their latency_x, extra_queries, memory_leak_mb_per_min,
message_error_rate and fanout."""

PoolFacts = tuple[str, str, float, dict[str, float], float, float, int, dict[str, TraitsRead]]
"""What a pool's ticks read of its configuration, and of its versions' traits (see
`Workers._facts`)."""


class Workers:
    def __init__(
        self,
        pools: dict[str, WorkerPool],
        queues: dict[str, Queue],
        traits: TraitBook,
        db: Database,
        provider: Provider,
        tm: Telemetry,
        consumers: Consumers,
        rng: SimRandom,
    ) -> None:
        self.pools = pools
        self.rng = rng
        """The run's one random source (arrival times within a second). Kept as the object, not
        its bound `random`, which a deep copy of the system would not follow."""
        self.queues = queues
        self.traits = traits
        self.db = db
        self.provider = provider
        self.tm = tm
        self.consumers = consumers
        self.paused: set[str] = set()
        """Queues whose consumers are paused (they finish what they hold and take no more)."""
        self.counts: dict[str, tuple[int, int]] = {
            n: (p.running, len(p.live)) for n, p in pools.items()
        }
        """Replicas running and not terminated, per pool, as of its last tick."""
        self._facts: dict[str, PoolFacts] = {}
        """Per pool, what its ticks read of its configuration, read once (it does not change
        while a run plays, and a model's attributes are slow to read): queue, the queue's kind,
        service_s, queries, memory_mb, memory_limit_mb, concurrency; and per version, what a
        tick reads of its traits, with the traits object it was read from (read again when the
        traits in force are another object: a merge of conditional traits or a new deploy; a
        traits object is not changed once built)."""

    def tick(self, t: int) -> None:
        for pool in self.pools.values():
            self.tick_pool(pool, t)

    def tick_pool(self, pool: WorkerPool, t: int) -> None:
        cfg = pool.cfg
        facts = self._facts.get(pool.name)
        if facts is None:
            facts = self._facts[pool.name] = (
                cfg.queue,
                self.queues[cfg.queue].cfg.kind,
                cfg.service_s,
                cfg.queries,
                cfg.memory_mb,
                cfg.memory_limit_mb,
                cfg.concurrency,
                {},
            )
        queue, kind, service_s, queries, memory_mb, memory_limit_mb, concurrency, reads = facts
        q = self.queues[queue]
        tm = self.tm
        row = tm.metrics.row
        gw = tm.g_w[pool.name]
        paused = queue in self.paused
        latency = self.db._latency
        config = self.traits.config
        # per version: traits, seconds per message, memory leaked per minute, message error
        # rate and fan-out
        by_version: dict[str, VersionFacts] = {}
        active: list[tuple[Replica, float]] = []
        traits: list[VersionTraits] = []
        # replicas running and not terminated, and the running ones' largest memory, as each
        # replica ends its life this tick (serving changes neither state nor memory)
        running = live = 0
        memory = 0.0
        for r in pool.replicas:
            if r.state == "terminated":
                continue
            live += 1
            vt = by_version.get(r.version)
            if vt is None:
                tr = self.traits.get(pool.name, r.version)
                read = reads.get(r.version)
                if read is None or read[0] is not tr:  # traits read once per traits object
                    read = reads[r.version] = (
                        tr,
                        tr.latency_x,
                        tr.extra_queries,
                        tr.memory_leak_mb_per_min,
                        tr.message_error_rate,
                        tr.fanout,
                    )
                _, latency_x, extra_queries, leak, error_rate, fanout = read
                service = service_s * latency_x
                for s, c in queries.items():
                    service += c * latency[s] / 1000.0
                for s, c in extra_queries.items():
                    service += c * latency[s] / 1000.0
                if kind == "charge":
                    service += self.provider.lat
                vt = by_version[r.version] = (
                    tr,
                    service if service > MIN_SERVICE_S else MIN_SERVICE_S,
                    leak,
                    error_rate,
                    fanout,
                )
            tr, service, leak, _, _ = vt
            if r.state == "backoff" and t >= r.ready_at:
                r.state, r.ready_at, r.started = "starting", t + cfg.startup_s, t
                r.memory = memory_mb * 0.6
            if r.state == "starting":
                panic = startup_panic(tr, config)
                if panic is None and r.host:
                    panic = pool.hosts[r.host].panic()
                if panic is not None:
                    if t >= r.started + min(3, cfg.startup_s):
                        self.crash(pool, r, t, panic, "Error")
                    continue
                if t >= r.ready_at:
                    r.state = "running"
                    r.memory = memory_mb
                    running += 1
                    if r.memory > memory:
                        memory = r.memory
                    tm.log(
                        t,
                        5,
                        pool.name,
                        INFO,
                        f"{r.name} worker ready version={r.version} queue={q.name} concurrency={cfg.concurrency}",
                    )
                continue
            if r.state != "running":
                continue
            # memory: baseline plus leak over uptime plus working set per slot
            r.memory = memory_mb + leak * (t - r.ready_at) / 60.0 + 6.0 * r.inflight_n
            if r.doomed_at >= 0 and t >= r.doomed_at:
                self.crash(pool, r, t, r.doom_reason, "OOMKilled")
                continue
            if r.memory > memory_limit_mb:
                self.crash(
                    pool,
                    r,
                    t,
                    f"memory {r.memory:.0f}Mi exceeded limit {memory_limit_mb:.0f}Mi",
                    "OOMKilled",
                )
                continue
            running += 1
            if r.memory > memory:
                memory = r.memory
            active.append((r, service))
            traits.append(tr)
        g_redeliver = tm.g_q[q.name]["redeliver"]

        def started(i: int, run: Run) -> bool:
            r = active[i][0]
            if run.deliveries > 1:
                row[g_redeliver] += run.count
            if run.poison and not traits[i].tolerates_poison:
                r.doomed_at = t + 2
                r.doom_reason = f"fatal error processing msg_{q.msg_id(run.first)}: runtime: out of memory: cannot allocate 4294967296-byte block"
                tm.log(
                    t,
                    40,
                    pool.name,
                    WARN,
                    f'{r.name} msg_id=msg_{q.msg_id(run.first)} queue={q.name} receive_count={run.deliveries} msg="decoding payload" payload_bytes=48211904',
                )
                return True  # a poisoned delivery never completes: the replica dies first
            return False

        serve(
            q,
            t,
            active,
            concurrency,
            paused,
            self.rng.random,
            partial(self.consumers.finish, pool, q, kind, queries, by_version),
            started,
        )
        row[gw["running"]] = running
        row[gw["desired"]] = live
        gauges = tm.g_cpu.get(pool.name)
        if gauges is not None:
            self.sample_cpu(pool, active, by_version, gauges)
        row[gw["memory"]] = memory * 1_048_576
        self.counts[pool.name] = (running, live)

    def sample_cpu(
        self,
        pool: WorkerPool,
        active: list[tuple[Replica, float]],
        by_version: dict[str, VersionFacts],
        gauges: tuple[int, int],
    ) -> None:
        """The CPU use of a pool whose autoscaler reads it: a slot working on a message is on the
        CPU for the pool's own work (`service_s`, times its version's `cpu_x`) and waits the rest
        of the message's time (its queries, the provider, a version's or a `slow` threshold's
        extra latency). Use = the share of the running replicas' slots busy, weighted by that."""
        slots = len(active) * pool.cfg.concurrency
        busy = cpu = 0.0
        for r, service in active:
            if r.inflight_n:
                tr = by_version[r.version][0]
                busy += r.inflight_n
                cpu += r.inflight_n * min(1.0, pool.cfg.service_s * tr.cpu_x / service)
        use = cpu / slots if slots else 0.0
        row = self.tm.metrics.row
        row[gauges[0]] = use
        row[gauges[1]] = busy / slots if slots else 0.0
        if slots:
            pool.cpu_sum += use
            pool.cpu_ticks += 1

    def crash(self, pool: WorkerPool, r: Replica, t: int, message: str, reason: str) -> None:
        q = self.queues[pool.cfg.queue]
        tm = self.tm
        tm.log(t, 50, pool.name, FATAL, f"{r.name} {message}")
        for run, _ in r.inflight:
            q.fail(run, t)
        r.inflight.clear()
        r.inflight_n = 0
        r.slots.clear()
        r.restarts += 1
        pool.restarts_total += 1
        pool.crashes += 1
        tm.metrics.row[tm.g_w[pool.name]["restarts"]] += 1
        wait = backoff_s(r.restarts)
        r.state, r.ready_at = "backoff", t + wait
        r.doomed_at = -1
        tm.log(
            t,
            51,
            "kubelet",
            WARN,
            f'kubelet-node-{hash_name(r.name) % 7} pod={r.name} container=worker reason={reason} exit_code={137 if reason == "OOMKilled" else 2} restart_count={r.restarts} back-off={wait}s "Back-off restarting failed container"',
        )

    def terminate(self, pool: WorkerPool, r: Replica, t: int) -> None:
        """Stop a replica now: what it held goes back to its queue."""
        r.state = "terminated"
        q = self.queues[pool.cfg.queue]
        for run, _ in r.inflight:
            q.fail(run, t)
        r.inflight.clear()
        r.inflight_n = 0
        r.slots.clear()

    def scale(self, pool: WorkerPool, n: int, t: int) -> int:
        """Scale a pool to n replicas now: new ones start, removed ones stop (what they held goes
        back to the queue). Returns how many replicas were added (negative: removed)."""
        delta, removed = pool.scale(t, n)
        for r in removed:
            self.terminate(pool, r, t)
        return delta

    def roll_out(self, t: int, pool: WorkerPool, version: str, percent: int) -> None:
        """Replace a share of the pool's replicas, oldest first, with ones running `version`."""
        live = pool.live
        n = max(1, round(len(live) * percent / 100)) if live else 0
        if percent >= 100:
            for host in pool.hosts.values():  # installed on every host, empty ones included
                host.version = version
        for i, r in enumerate(sorted(live, key=lambda r: r.started)):
            if i >= n or r.version == version:
                continue
            at = t + i * ROLLOUT_STEP_S // 2
            self.terminate(pool, r, at)
            pool.replace(r, at, version)

    def connections(self) -> int:
        """Database connections the workers hold (two per running replica)."""
        return sum(running for running, _ in self.counts.values()) * 2

    def cost_per_hour(self) -> float:
        return sum(self.counts[n][1] * p.cfg.cost_per_replica_hour for n, p in self.pools.items())
