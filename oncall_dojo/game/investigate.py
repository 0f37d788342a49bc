"""Investigations: commands that read the system and change nothing.

What a player looks at is recorded as evidence (`logs:billing`, `queue:payments`),
which the score reads to see whether they looked before they acted.
"""

from __future__ import annotations

from oncall_dojo.game import views
from oncall_dojo.game.grammar import (
    Evidence,
    Reply,
    command,
    need,
    options,
    parse_duration,
    pool_named,
    queue_named,
)
from oncall_dojo.game.logrequest import CONSOLE_HELP, LOG_USAGE, log_request
from oncall_dojo.game.session import Session
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.observability.logquery import help_text
from oncall_dojo.sim.observability.metrics import SelectorError


@command(
    "alerts",
    "investigate",
    "alerts",
    "Alerts firing and pending, and what fired earlier.",
    evidence="alerts",
)
def _alerts(s: Session, args: list[str], by: str) -> Reply:
    return views.alerts(s), Evidence("alerts")


@command(
    "map",
    "investigate",
    "map",
    "The system at a glance: every component and its health.",
    evidence="map",
)
def _map(s: Session, args: list[str], by: str) -> Reply:
    return views.system_map(s), Evidence("map")


@command(
    "logs",
    "investigate",
    LOG_USAGE,
    "Search the logs with a log query (`help logs`), newest last.",
    ("service",),
    evidence="logs",
    details=help_text() + "\n\n" + CONSOLE_HELP,
)
def _logs(s: Session, args: list[str], by: str) -> Reply:
    req = log_request(args[0] if args else "", s.system.logs.service_names)
    return views.logs(s, req.query, req.since_s, req.limit), Evidence("logs", req.service or "all")


METRICS_USAGE = "metrics [SELECTOR] [fn=rate|avg|max|p99...] [window=5m]"


@command(
    "metrics",
    "investigate",
    METRICS_USAGE,
    "List metrics, or show a series: now, over the last hour, and a sparkline.",
    ("metric",),
    evidence="metrics",
)
def _metrics(s: Session, args: list[str], by: str) -> Reply:
    pos, opts = options(args, {"fn", "window"}, METRICS_USAGE)
    if not pos:
        return views.metric_list(s), Evidence("metrics")
    selector = " ".join(pos)
    window = parse_duration(opts.get("window", "5m"))
    if not 1 <= window <= 86_400:
        raise Refusal(f"window must be between 1s and 24h, got {opts.get('window')}")
    try:
        out = views.metric(s, selector, opts.get("fn"), window)
    except SelectorError as exc:
        raise Refusal(str(exc)) from None
    name = selector.split("{", 1)[0].strip()
    return out, Evidence("metrics", name)


@command(
    "queues",
    "investigate",
    "queues",
    "Every queue: depth, oldest message, in flight, dead letters.",
    evidence="queues",
)
def _queues(s: Session, args: list[str], by: str) -> Reply:
    return views.queues(s), Evidence("queues")


@command(
    "queue",
    "investigate",
    "queue NAME",
    "One queue in detail, with the most-redelivered messages.",
    ("queue",),
    evidence="queue",
)
def _queue_show(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "queue NAME")
    q = queue_named(s, args[0])
    return views.queue(s, q.name), Evidence("queue", q.name)


@command(
    "messages",
    "investigate",
    "messages QUEUE [dlq]",
    "The oldest waiting messages of a queue (or its dead-letter queue).",
    ("queue",),
    evidence="messages",
)
def _messages(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "messages QUEUE [dlq]")
    q = queue_named(s, args[0])
    dlq = args[0].endswith(".dlq") or (len(args) > 1 and args[1] == "dlq")
    return views.messages(s, q.name, dlq), Evidence("messages", q.name)


@command(
    "workers",
    "investigate",
    "workers [POOL]",
    "Worker replicas: state, version, restarts, memory.",
    ("pool",),
    evidence="workers",
)
def _workers(s: Session, args: list[str], by: str) -> Reply:
    if args:
        p = pool_named(s, args[0])
        return views.workers(s, p.name), Evidence("workers", p.name)
    return views.workers(s, None), Evidence("workers")


@command(
    "automation",
    "investigate",
    "automation",
    "What acts by itself (autoscalers, deploy bots, auto-failover): frozen or not, what it did last.",
    evidence="automation",
)
def _automation(s: Session, args: list[str], by: str) -> Reply:
    return views.automation(s), Evidence("automation")


@command(
    "deploys",
    "investigate",
    "deploys",
    "Change history: deploys, rollbacks, flags, config, migrations.",
    evidence="deploys",
)
def _deploys(s: Session, args: list[str], by: str) -> Reply:
    return views.changes(s), Evidence("deploys")


@command(
    "db",
    "investigate",
    "db [queries|locks|indexes]",
    "Database health; `db queries` lists every session and what it waits for, `db locks` "
    "who blocks whom (a tree), `db indexes` the indexes.",
    evidence="db",
)
def _db(s: Session, args: list[str], by: str) -> Reply:
    what = args[0] if args else "stats"
    if what not in ("stats", "queries", "locks", "indexes"):
        raise Refusal(
            "usage: db [queries|locks|indexes]  (to act: `kill PID`, `index create ...`, `failover postgres`)"
        )
    return views.database(s, what), Evidence("db", what)


@command(
    "jobs",
    "investigate",
    "jobs",
    "Scheduled and backfill jobs with their progress.",
    evidence="jobs",
)
def _jobs(s: Session, args: list[str], by: str) -> Reply:
    return views.jobs(s), Evidence("jobs")


@command(
    "operations",
    "investigate",
    "operations",
    "Operations you can run (resync, reindex, restore...) with their progress, rate and ETA.",
    evidence="jobs",
)
def _operations(s: Session, args: list[str], by: str) -> Reply:
    return views.operations(s), Evidence("jobs")


@command("flags", "investigate", "flags", "Feature flags and runtime config.", evidence="flags")
def _flags(s: Session, args: list[str], by: str) -> Reply:
    return views.flags(s), Evidence("flags")


@command(
    "runbook",
    "investigate",
    "runbook [NAME]",
    "List the runbooks, or open one.",
    ("runbook",),
    evidence="runbook",
)
def _runbook(s: Session, args: list[str], by: str) -> Reply:
    books = s.incident.runbooks
    if not args:
        return "Runbooks: " + (", ".join(sorted(books)) or "none"), Evidence("runbook")
    if args[0] not in books:
        raise Refusal(f"no runbook {args[0]!r}; runbooks: {', '.join(sorted(books)) or 'none'}")
    return books[args[0]].strip(), Evidence("runbook", args[0])
