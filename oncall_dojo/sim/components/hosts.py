"""Hosts: the named machines of a worker pool, each with the version installed on it, a disk
and a state.

A pool with `hosts` starts one process on each host that is up and schedulable, instead of
`replicas` on anonymous nodes; scaled (by hand or by its autoscaler), it places new processes
on the schedulable hosts with the fewest and removes them from the hosts with the most
(`WorkerPool.scale`). What a host's state does, it does to every process on it. A host is `ready`; `not_ready` (up, failing its health checks:
its process takes no work, and what it held is redelivered after the visibility timeout);
`cordoned` (its process runs on, nothing new starts there: a process that is restarted or
replaced does not come back until it is uncordoned); `drained` (cordoned, its process evicted);
or `down` (its process is gone until it is back). A process started on a host runs the version
installed there. When a host's volume is full its process dies, and keeps dying at each start
until space is freed; a resource's `crash` threshold may name the hosts whose processes it
kills. Each host is exported as a real exporter would, with a `site` label when it has one:
`up{job="node",instance=HOST}` (0 while it is down), `node_filesystem_size_bytes` and
`node_filesystem_avail_bytes{instance=HOST,mountpoint="/"}` from its node exporter,
`kube_node_status_condition{node=HOST,condition="Ready",status="true"}` (0 while it is down or
not ready) and `kube_node_spec_unschedulable{node=HOST}` (1 while cordoned or drained) from
kube-state-metrics. A system without hosts has no `Fleet`, and its ticks are as before.
"""

from __future__ import annotations

from oncall_dojo.sim.components.pool import DISK_FULL_PANIC, Host, Replica, WorkerPool
from oncall_dojo.sim.components.workers import Workers
from oncall_dojo.sim.config import WorkerPoolConfig
from oncall_dojo.sim.hostconfig import HostState

GB = 1_073_741_824
RUNS_PROCESS: tuple[HostState, ...] = ("ready", "not_ready", "cordoned")
"""States in which a host keeps the process it has."""


def place_hosts(pool: WorkerPool, cfg: WorkerPoolConfig) -> None:
    """Give a pool its hosts and a process on each one that runs one, before the first tick."""
    for name, h in cfg.hosts.items():
        host = Host(
            name, pool.name, h.site, h.version or pool.version, h.state, h.disk_gb, h.disk_used_gb
        )
        pool.hosts[name] = host
        if h.state in RUNS_PROCESS:
            r = pool.new_replica(-cfg.startup_s - 600, version=host.version, host=name)
            r.state, r.memory = "running", cfg.memory_mb
            if h.state == "not_ready":
                r.state = "unready"


def process_on(pool: WorkerPool, host: str) -> Replica | None:
    """The live process on a host, if any."""
    for r in pool.replicas:
        if r.host == host and r.state != "terminated":
            return r
    return None


def processes_on(pool: WorkerPool, host: str) -> list[Replica]:
    """The live processes on a host (one, unless the pool was scaled up)."""
    return [r for r in pool.replicas if r.host == host and r.state != "terminated"]


class Fleet:
    """Every named host of the system's pools: their states, disks and series."""

    def __init__(self, pools: dict[str, WorkerPool], workers: Workers) -> None:
        self.workers = workers
        self.tm = tm = workers.tm
        self.hosts: dict[str, tuple[WorkerPool, Host]] = {}
        metrics = tm.metrics
        for pool in pools.values():
            for name, host in pool.hosts.items():
                self.hosts[name] = (pool, host)
                site = {"site": host.site} if host.site else {}
                host.gauges = (
                    metrics.gauge(
                        "up", "1 if the target's exporter answered the scrape", job="node",
                        instance=name, **site,
                    ),
                    metrics.gauge(
                        "kube_node_status_condition", "The node's condition (1: holds)",
                        node=name, condition="Ready", status="true", **site,
                    ),
                    metrics.gauge(
                        "kube_node_spec_unschedulable", "1 if the node is cordoned",
                        node=name, **site,
                    ),
                    metrics.gauge(
                        "node_filesystem_size_bytes", "Filesystem size in bytes",
                        instance=name, mountpoint="/", **site,
                    ),
                    metrics.gauge(
                        "node_filesystem_avail_bytes", "Filesystem space available in bytes",
                        instance=name, mountpoint="/", **site,
                    ),
                )  # fmt: skip
                self.record(host)
        self.filling: list[Host] = []
        """Hosts whose volume fills or frees up by itself."""

    def record(self, host: Host) -> None:
        row = self.tm.metrics.row
        up, ready, unschedulable, size, avail = host.gauges
        row[up] = 0.0 if host.state == "down" else 1.0
        row[ready] = 1.0 if host.state in ("ready", "cordoned", "drained") else 0.0
        row[unschedulable] = 1.0 if host.state in ("cordoned", "drained") else 0.0
        row[size] = host.disk_gb * GB
        row[avail] = max(0.0, host.disk_gb - host.disk_used_gb) * GB

    # ------------------------------------------------------------------ state
    def set_state(self, name: str, state: HostState, t: int) -> HostState:
        """Move a host to a state now, with what that does to its process; returns the state
        it had."""
        pool, host = self.hosts[name]
        before, host.state = host.state, state
        procs = processes_on(pool, name)
        if state in ("down", "drained"):
            for r in procs:
                self.workers.terminate(pool, r, t)
        elif state == "not_ready":
            for r in procs:
                if r.state != "unready":
                    self.workers.terminate(pool, r, t)  # what it held is redelivered
                    r.state = "unready"
        elif any(r.state == "unready" for r in procs):  # healthy again: ready at once
            for r in procs:
                if r.state == "unready":
                    r.state, r.ready_at = "starting", t
        elif not procs and state == "ready":
            self.start(pool, host, t)
        self.record(host)
        return before

    def start(self, pool: WorkerPool, host: Host, t: int) -> Replica:
        """Start a process on a host (the version installed there)."""
        return pool.new_replica(t, version=host.version, host=host.name)

    # ------------------------------------------------------------------ disks
    def set_disk(
        self, name: str, t: int, used_gb: float | None, fill_gb_per_s: float | None
    ) -> None:
        pool, host = self.hosts[name]
        if fill_gb_per_s is not None:
            host.fill_gb_per_s = fill_gb_per_s
            if fill_gb_per_s and host not in self.filling:
                self.filling.append(host)
            elif not fill_gb_per_s and host in self.filling:
                self.filling.remove(host)
        if used_gb is not None:
            self._use(pool, host, used_gb, t)

    def tick(self, t: int) -> None:
        for host in self.filling:
            pool = self.hosts[host.name][0]
            self._use(pool, host, host.disk_used_gb + host.fill_gb_per_s, t)

    def _use(self, pool: WorkerPool, host: Host, used_gb: float, t: int) -> None:
        was_full = host.full
        host.disk_used_gb = min(host.disk_gb, max(0.0, used_gb))
        self.record(host)
        if host.full and not was_full:
            self.crash(pool, host, t, DISK_FULL_PANIC)

    def crash(self, pool: WorkerPool, host: Host, t: int, error: str) -> None:
        """The running processes on a host die with `error` (restarted with back-off)."""
        for r in processes_on(pool, host.name):
            if r.state == "running":
                self.workers.crash(pool, r, t, error, "Error")
