"""Evidence: which signal each view shows, and which of the incident's key signals the player
looked at before the first change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from oncall_dojo.game.session import Session
from oncall_dojo.sim.resources import ResourceSpec

EVIDENCE_EQUIVALENCES = (
    "`queue NAME`, `messages NAME` and a `queue_*` metric all show the queue signal: each"
    " covers `queues`, and `queue:NAME` and `messages:NAME` cover each other;",
    "`queues` (every queue at a glance) covers `queues` and each queue's `queue:NAME`, as it"
    " shows each queue's depth and oldest message, but not `messages:NAME`: it shows no"
    " messages;",
    "a `worker_*` or `kube_*` metric covers `workers`;",
    "`map` covers `queues` and `workers` (every queue and pool at a glance), not one of them;",
    "`resource:NAME` (one of the incident's `resources`, which no command records by that"
    " name) is covered by the metric query of its gauge (`metrics pg_replication_slots_active`"
    " for a gauge of that name, whatever its labels); a `builtin` one by the model's own view"
    " of it: `db` or `metrics node_filesystem_used_ratio` for `database.disk_used_gb`,"
    " `metrics db_pool_connections_in_use` for `api.pool_in_use`, and what covers"
    " `queue:NAME` for a `queue.depth`.",
)
"""How `signal` and `evidence_covered` read, in words for the reference (kept beside them)."""


def signal(view: str) -> tuple[str, str | None]:
    """The signal an evidence key shows, as (family, target): every view of one queue (`queue`,
    `messages`, a queue metric) is the queue signal, so `queue fulfillment` counts for `queues`;
    a worker metric counts for `workers`."""
    kind, _, target = view.partition(":")
    tgt = target or None
    if kind in ("queues", "queue", "messages"):
        return "queue", tgt
    if kind == "metrics" and tgt is not None:
        if tgt.startswith("queue_"):
            return "queue", None
        if tgt.startswith(("worker_", "kube_")):
            return "workers", None
    return kind, tgt


DERIVED_KINDS = frozenset({"resource"})
"""Evidence kinds an incident's `evidence` may name that no command records: each is covered by
the keys of the commands that show it (`resource_signals`)."""


def resource_signals(spec: ResourceSpec) -> tuple[str, ...]:
    """The evidence keys of the looks that show a resource's value: the metric query of its
    gauge, or for a `builtin` quantity the model's own gauge and view of it."""
    if spec.builtin == "database.disk_used_gb":
        return ("db", "metrics:node_filesystem_used_ratio")
    if spec.builtin == "api.pool_in_use":
        return ("metrics:db_pool_connections_in_use",)
    if spec.builtin == "queue.depth":
        return (f"queue:{spec.queue}",)
    return (f"metrics:{spec.metric}",)


def evidence_covered(
    view: str, seen: Iterable[str], resources: Mapping[str, ResourceSpec] | None = None
) -> bool:
    """Whether what was seen shows the signal `view` names, whichever command or pane showed
    it: the same family and target, or any target of the family when `view` names none; the
    map shows every queue and every worker pool at a glance, and `queues` every queue (as
    `queue:NAME`, not its messages); `resource:NAME` (one of `resources`, the incident's) is
    shown by the looks `resource_signals` names."""
    kind, _, name = view.partition(":")
    if kind == "resource":
        spec = (resources or {}).get(name)
        seen = list(seen)
        return spec is not None and any(evidence_covered(v, seen) for v in resource_signals(spec))
    family, target = signal(view)
    whole_queue = view.partition(":")[0] in ("queue", "queues")
    for x in seen:
        if x == "map" and target is None and family in ("queue", "workers"):
            return True
        if x == "queues" and family == "queue" and whole_queue:
            return True  # the listing shows every queue: each one was looked at
        f, t = signal(x)
        if f == family and (target is None or t == target):
            return True
    return False


def seen_before_acting(evidence: Sequence[tuple[str | None, bool]]) -> set[str]:
    """The evidence of the commands before the first one that changed the system, in the
    order they were performed (a look and a change at the same second count in that order);
    `evidence` is (evidence key, changed the system) per command."""
    out: set[str] = set()
    for key, mutates in evidence:
        if mutates:
            break
        if key:
            out.add(key)
    return out


def key_signals(s: Session) -> list[tuple[str, str, bool]]:
    """(view, why, looked at before the first change) for each of the incident's key
    evidence: the one rule behind the score's evidence item and the debrief's list."""
    seen = seen_before_acting([(e.evidence, e.mutates) for e in s.entries])
    res = s.incident.resources
    return [(e.view, e.why, evidence_covered(e.view, seen, res)) for e in s.incident.evidence]
