"""What a diagnosis names: a part of the system and a failure mechanism.

A player declares the cause the way a postmortem states it: *which part* of the system
failed or was changed (a component the system itself has: the API, a queue, a worker pool, a
job, a flag, a config key...) and *which mechanism* (from one catalog shared by every
incident). Both lists are the same whatever the answer: the catalog never changes between
incidents, and the parts come from the system's configuration in a fixed order, so neither
the list nor its order gives anything away.
"""

from __future__ import annotations

from collections.abc import Iterable

from oncall_dojo.sim.config import SystemConfig

MECHANISMS: dict[str, str] = {
    "capacity-shortfall": "Not enough replicas or capacity for the load",
    "traffic-surge": "More traffic than the system was sized for",
    "dependency-outage": "A dependency is down or refusing requests",
    "dependency-slowdown": "A dependency answers slowly",
    "bad-release": "A release brought a bug or a slower code path",
    "bad-config": "A configuration change set a harmful value",
    "missing-config": "A setting the code needs is absent",
    "credential-rejected": "A rotated, expired or revoked credential is refused",
    "poison-message": "One message fails every consumer that takes it",
    "schema-mismatch": "Producer, consumer or database disagree on a format",
    "wrong-data-written": "Code writes wrong values into records",
    "missing-index": "A query runs without the index it needs",
    "slow-query": "An expensive query hogs the database",
    "lock-contention": "Work waits behind a lock held by something else",
    "connection-exhaustion": "A connection pool or connection limit is used up",
    "resource-exhaustion": "Memory, disk or threads run out",
    "retry-amplification": "Retries multiply the load on something already struggling",
    "non-idempotent-retry": "A retried operation repeats its effect",
    "rerun-from-start": "A rerun repeats work that was already done",
    "runaway-job": "A job consumes far more than it was meant to",
    "feedback-loop": "Output feeds back into input, so the work keeps growing",
    "partial-rollout": "Instances run different versions of the code",
    "flag-misconfigured": "A feature flag switched on behaviour it should not have",
    "backpressure": "A full buffer or broker blocks the producers upstream",
    "cache-loss": "A cache was emptied, so every read falls through to the store behind it",
    "replication-lag": "A replica or follower falls behind its primary",
    "read-only-store": "A datastore refuses writes",
    "hardware-failure": "A host, disk or node fails",
    "network-partition": "Hosts cannot reach each other",
    "clock-skew": "Clocks disagree between hosts",
    "rate-limited": "A provider or proxy throttles our requests",
    "false-alarm": "The monitoring is wrong; nothing is broken",
}
"""Every failure mechanism a diagnosis may name, in the order the player sees them (the same in
every incident)."""

PLATFORM_PARTS: tuple[str, ...] = (
    "broker",
    "cache",
    "ledger",
    "payment-provider",
    "postgres",
    "api",
)
"""The parts every system has, first in every list (the same in every incident)."""


def parts_of(cfg: SystemConfig, resources: Iterable[str] = ()) -> list[str]:
    """The parts of a system a diagnosis may name: the platform's, then every queue, worker
    pool, job, feature flag and config key the configuration has, then its named hosts and
    deploy bots, its further database clusters, links and auto-failovers, then the incident's
    `resources` (a slot's retained WAL, a pool's open descriptors), each kind in name order."""
    parts = list(PLATFORM_PARTS)
    parts += [f"queue:{n}" for n in sorted(cfg.queues)]
    parts += [f"workers:{n}" for n in sorted(cfg.workers)]
    parts += [f"job:{n}" for n in sorted(cfg.jobs)]
    parts += [f"flag:{n}" for n in sorted(cfg.flags)]
    parts += [f"config:{n}" for n in sorted(cfg.config)]
    parts += [f"host:{h}" for h in sorted(h for p in cfg.workers.values() for h in p.hosts)]
    parts += [f"automation:{n}" for n in sorted(cfg.deploy_bots)]
    parts += [f"cluster:{n}" for n in sorted(cfg.clusters) if n != "postgres"]
    parts += [f"link:{n}" for n in sorted(cfg.links)]
    parts += sorted(
        f"automation:{c.auto_failover.called(n)}"
        for n, c in cfg.clusters.items()
        if c.auto_failover is not None
    )
    parts += [f"resource:{n}" for n in sorted(resources)]
    return parts
