"""Actions: commands that change the system (and `ack`, which starts the response).

Each handler parses its words, looks up what they name, refuses what it cannot
parse, and words the outcome; the change itself is a verb of `sim.ops`, which
records it with the player as its author.
"""

from __future__ import annotations

import re

from oncall_dojo.game import views
from oncall_dojo.game.fmt import mmss
from oncall_dojo.game.grammar import (
    Reply,
    command,
    need,
    options,
    pool_named,
    queue_named,
    scalar,
    whole,
)
from oncall_dojo.game.session import Session
from oncall_dojo.sim import ops
from oncall_dojo.sim.components.autoscaler import autoscaler_name
from oncall_dojo.sim.components.hosts import process_on
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.text import count


@command("ack", "act", "ack", "Acknowledge the page (stops the escalation timer).", ("alert",))
def _ack(s: Session, args: list[str], by: str) -> Reply:
    if s.acked_at is not None:
        raise Refusal(f"already acknowledged at {mmss(s.acked_at)}")
    s.acked_at = s.now
    ops.acknowledge(s.system, s.now)
    return f"Acknowledged {s.incident.page.alert} at {mmss(s.now)}.", None


@command(
    "restart",
    "act",
    "restart SERVICE [REPLICA|HOST]",
    "Restart a service (rolling) or one replica (or the processes on a host): api, a worker pool, cache, postgres, ledger, broker.",
    ("service",),
)
def _restart(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "restart SERVICE [REPLICA|HOST]")
    sys_ = s.system
    target = args[0]
    if target in sys_.pools:
        pool = sys_.pools[target]
        replica = args[1] if len(args) > 1 else None
        if replica is not None and replica in pool.hosts:
            if process_on(pool, replica) is None:
                raise Refusal(
                    f"{replica} runs no process ({pool.hosts[replica].state}); see `workers {target}`"
                )
        elif replica is not None and not any(r.name == replica for r in pool.live):
            raise Refusal(f"no replica {replica!r} in {target}; see `workers {target}`")
        n = ops.restart_replicas(sys_, pool, by, replica)
        return (
            f"Restarting {count(n, 'replica')} of {target}; each takes about {pool.cfg.startup_s}s to become ready. In-flight messages return to the queue after the visibility timeout.",
            None,
        )
    if target == "api":
        ops.restart_api(sys_, by)
        return (
            "Rolling restart of the API: replicas are replaced one at a time; the API holds no state, so this changes little.",
            None,
        )
    if target == "cache":
        ops.restart_cache(sys_, by)
        return (
            "Cache restarted: it is empty and every read goes to the database until it refills.",
            None,
        )
    if target == "postgres":
        killed = ops.restart_postgres(sys_, by)
        return (
            f"Postgres restarting: every connection dropped ({killed} long-running sessions killed); writes fail for about {ops.POSTGRES_RESTART_S}s.",
            None,
        )
    if target == "broker":
        lost = ops.restart_broker(sys_, by)
        return (
            f"Broker restarting: nobody can publish for about {sys_.cfg.broker.restart_s}s"
            + (
                f"; {count(lost, 'message')} waiting on transient queues were dropped."
                if lost
                else "; persistent messages survive."
            ),
            None,
        )
    if target == "ledger":
        if ops.restart_ledger(sys_, by):
            return (
                "Ledger restarted. It resynced from its replica and came back read-only again.",
                None,
            )
        return "Ledger restarted.", None
    raise Refusal(
        f"no service {target!r}; restartable: api, {', '.join(sys_.pools)}, cache, postgres, ledger, broker"
    )


@command(
    "scale",
    "act",
    "scale SERVICE N",
    "Set the number of replicas of a worker pool or the API.",
    ("service",),
)
def _scale(s: Session, args: list[str], by: str) -> Reply:
    need(args, 2, "scale SERVICE N")
    n = whole(args[1], "replicas", 0, 500)
    if args[0] == "api":
        have = ops.scale_api(s.system, n, by)
        return f"API scaled from {have} to {count(n, 'replica')}.", None
    pool = pool_named(s, args[0])
    before, delta = ops.scale(s.system, pool, n, by)
    auto = pool.cfg.autoscale
    if auto is not None and auto.enabled and not _frozen(s, autoscaler_name(pool.name)):
        return (
            f"{pool.name}: scaled from {before} to {count(n, 'replica')}. Its autoscaler is on and will set the "
            f"count again within 15s (between {auto.min_replicas} and {auto.max_replicas}); "
            f"`autoscale {pool.name} max=N` caps it, `autoscale {pool.name} off` stops it.",
            None,
        )
    if delta > 0:
        return (
            f"{pool.name}: {count(delta, 'new replica')} starting (about {pool.cfg.startup_s}s to ready).",
            None,
        )
    return f"{pool.name}: scaled from {before} to {count(n, 'replica')}.", None


AUTOSCALE_USAGE = "autoscale POOL [on|off] [min=N] [max=N]"


@command(
    "autoscale",
    "act",
    AUTOSCALE_USAGE,
    "Show or change a pool's autoscaler: turn it on or off, set its bounds.",
    ("pool",),
)
def _autoscale(s: Session, args: list[str], by: str) -> Reply:
    pos, opts = options(args, {"min", "max"}, AUTOSCALE_USAGE)
    need(pos, 1, AUTOSCALE_USAGE)
    pool = pool_named(s, pos[0])
    a = pool.cfg.autoscale
    if a is None:
        raise Refusal(f"{pool.name} has no autoscaler; `scale {pool.name} N` sets its replicas")
    if len(pos) > 2 or (len(pos) == 2 and pos[1] not in ("on", "off")):
        raise Refusal(f"usage: {AUTOSCALE_USAGE}")
    if len(pos) == 1 and not opts:
        name = autoscaler_name(pool.name)
        frozen = f"; FROZEN (`thaw {name}` lets it act)" if _frozen(s, name) else ""
        aim = (
            f"{a.target_cpu:.0%} CPU per replica"
            if a.metric == "cpu"
            else f"{a.target_per_replica} waiting messages per replica"
        )
        return (
            f"{pool.name} autoscaler: {'on' if a.enabled else 'off'} {a.min_replicas}-{a.max_replicas} "
            f"replicas, aiming at {aim}; "
            f"{count(len(pool.live), 'replica')} now (cluster quota {pool.cfg.max_replicas}){frozen}.",
            None,
        )
    lo = whole(opts["min"], "min", 0, 500) if "min" in opts else None
    hi = whole(opts["max"], "max", 1, 500) if "max" in opts else None
    enabled = pos[1] == "on" if len(pos) == 2 else None
    _, after, scaled_from = ops.autoscale(s.system, pool, by, enabled, lo, hi)
    if scaled_from is not None:
        return (
            f"{pool.name} autoscaler: {after}; scaled down from {scaled_from} to {count(a.max_replicas, 'replica')}.",
            None,
        )
    tail = (
        ""
        if a.enabled
        else f"; the pool stays at {count(len(pool.live), 'replica')} until you `scale` it"
    )
    return f"{pool.name} autoscaler: {after}{tail}.", None


@command(
    "cordon",
    "act",
    "cordon HOST",
    "Mark a pool's host unschedulable: its process runs on, nothing new starts there.",
    ("host",),
)
def _cordon(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "cordon HOST")
    host = ops.cordon(s.system, args[0], by)
    return (
        f"{host.name} cordoned: its {host.pool} process runs on; one restarted or replaced does "
        f"not come back until `uncordon {host.name}`.",
        None,
    )


@command(
    "drain",
    "act",
    "drain HOST",
    "Cordon a host and evict its process (what it held goes back to the queue).",
    ("host",),
)
def _drain(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "drain HOST")
    evicted = ops.drain(s.system, args[0], by)
    name = args[0]
    return (
        f"{name} drained: "
        + (
            "its process was evicted; in-flight messages return to the queue after the visibility timeout."
            if evicted
            else "it ran no process."
        )
        + f" `uncordon {name}` lets it take one again.",
        None,
    )


@command(
    "uncordon",
    "act",
    "uncordon HOST",
    "Let a cordoned or drained host take processes again.",
    ("host",),
)
def _uncordon(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "uncordon HOST")
    pool, host = ops.host_named(s.system, args[0])
    started = ops.uncordon(s.system, args[0], by)
    tail = (
        f"; a {pool.name} process starts on it ({host.version}, about {pool.cfg.startup_s}s to ready)."
        if started
        else "."
    )
    return f"{host.name} schedulable again{tail}", None


def _frozen(s: Session, name: str) -> bool:
    a = s.system.automation.get(name)
    return a is not None and a.frozen


@command(
    "freeze",
    "act",
    "freeze NAME",
    "Stop an automation (autoscaler, deploy bot, auto-failover) from acting; `automation` lists them.",
    ("automation",),
)
def _freeze(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "freeze NAME")
    a = ops.freeze(s.system, args[0], by)
    return (
        f"{a.name} ({a.kind}) frozen: it leaves {a.target} as it is until `thaw {a.name}`.",
        None,
    )


@command(
    "thaw",
    "act",
    "thaw NAME",
    "Let a frozen automation act again, on the state it now finds.",
    ("automation",),
)
def _thaw(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "thaw NAME")
    a = ops.thaw(s.system, args[0], by)
    return f"{a.name} ({a.kind}) thawed: it acts again on what it finds now.", None


@command(
    "rollback",
    "act",
    "rollback SERVICE",
    "Roll a service back to the version it ran before its last deploy.",
    ("service",),
)
def _rollback(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "rollback SERVICE")
    svc = args[0]
    current, target = ops.rollback(s.system, svc, by)
    return f"Rolling {svc} back from {current} to {target}; replicas are replaced gradually.", None


DEPLOY_USAGE = "deploy SERVICE VERSION [percent=100]"


@command(
    "deploy",
    "act",
    DEPLOY_USAGE,
    "Deploy a known version (a fix, or an earlier release).",
    ("service", "version"),
)
def _deploy(s: Session, args: list[str], by: str) -> Reply:
    pos, opts = options(args, {"percent"}, DEPLOY_USAGE)
    need(pos, 2, DEPLOY_USAGE)
    svc, version = pos[0], pos[1]
    percent = whole(opts.get("percent", "100"), "percent", 1, 100)
    ops.deploy(s.system, svc, version, by, percent=percent)
    return f"Deploying {svc} {version} to {percent}% of replicas.", None


@command("flag", "act", "flag NAME VALUE", "Set a feature flag (on/off or a value).", ("flag",))
def _flag(s: Session, args: list[str], by: str) -> Reply:
    need(args, 2, "flag NAME VALUE")
    ops.set_flag(s.system, args[0], scalar(args[1]), by)
    return f"Flag {args[0]} = {args[1]}.", None


@command("config", "act", "config KEY VALUE", "Set a runtime config key.", ("config",))
def _config(s: Session, args: list[str], by: str) -> Reply:
    need(args, 2, "config KEY VALUE")
    if not re.fullmatch(r"[a-z][a-z0-9_.-]*", args[0]):
        raise Refusal(f"config keys look like payments.retry.backoff, got {args[0]!r}")
    ops.set_config(s.system, args[0], scalar(args[1]), by)
    return f"Config {args[0]} = {args[1]}.", None


@command(
    "pause",
    "act",
    "pause QUEUE",
    "Pause the consumers of a queue (messages wait, nothing is lost).",
    ("queue",),
)
def _pause(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "pause QUEUE")
    q = queue_named(s, args[0])
    ops.pause_consumers(s.system, q, by)
    return f"Consumers of {q.name} paused; in-flight messages finish, new ones wait.", None


@command("resume", "act", "resume QUEUE", "Resume the consumers of a queue.", ("queue",))
def _resume(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "resume QUEUE")
    q = queue_named(s, args[0])
    ops.resume_consumers(s.system, q, by)
    return f"Consumers of {q.name} resumed.", None


@command(
    "purge",
    "act",
    "purge QUEUE",
    "Delete every waiting message of a queue. They are gone for good.",
    ("queue",),
)
def _purge(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "purge QUEUE")
    q = queue_named(s, args[0])
    lost = ops.purge(s.system, q, by)
    return f"Purged {q.name}: {count(lost, 'message')} deleted. Nobody will process them.", None


@command(
    "dlq move",
    "act",
    "dlq move QUEUE MSG_ID|top|all",
    "Move one waiting message (`top`: the one delivered most often; `all`: every waiting one) to the dead-letter queue.",
    ("queue", "message"),
)
def _dlq_move(s: Session, args: list[str], by: str) -> Reply:
    need(args, 2, "dlq move QUEUE MSG_ID|top|all")
    q = queue_named(s, args[0])
    if args[1] == "all":
        moved = ops.park_all(s.system, q, by)
        return (
            f"Parked {moved:,} waiting messages of {q.name} in {q.name}.dlq (kept on disk, not lost; "
            f"`dlq replay {q.name}` puts them back).",
            None,
        )
    msg_id = args[1]
    if msg_id == "top":
        top = q.top_delivered(1)
        if not top:
            raise Refusal(f"no waiting message on {q.name} has been delivered more than once")
        msg_id = "msg_" + top[0][0]
    run = ops.park(s.system, q, msg_id, by)
    return (
        f"Moved {msg_id} to {q.name}.dlq (it had been delivered {count(run.deliveries, 'time')}).",
        None,
    )


@command(
    "dlq replay",
    "act",
    "dlq replay QUEUE [MSG_ID...] [limit=N]",
    "Move dead-lettered messages (all, the ones named, or the oldest N) back onto the queue.",
    ("queue", "message"),
)
def _dlq_replay(s: Session, args: list[str], by: str) -> Reply:
    usage = "dlq replay QUEUE [MSG_ID...] [limit=N]"
    args, opts = options(args, {"limit"}, usage)
    need(args, 1, usage)
    q = queue_named(s, args[0])
    if not q.dlq:
        raise Refusal(f"{q.name}.dlq is empty")
    if "limit" in opts:
        if len(args) > 1:
            raise Refusal(f"give message ids or limit=N, not both. usage: {usage}")
        left = q.dlq_depth
        moved = ops.replay_oldest(s.system, q, whole(opts["limit"], "limit", 1, 10**7), by)
        return (
            f"Replayed the oldest {count(moved, 'message')} from {q.name}.dlq onto {q.name}; "
            f"{left - moved:,} still parked.",
            None,
        )
    only = None
    if len(args) > 1:
        only = set()
        for mid in args[1:]:
            seq = q.seq_of(mid)
            if seq is None or not any(r.first <= seq < r.first + r.count for r in q.dlq):
                raise Refusal(f"{mid} is not in {q.name}.dlq; see `messages {q.name} dlq`")
            only.add(seq)
    moved = ops.replay(s.system, q, by, only)
    return f"Replayed {count(moved, 'message')} from {q.name}.dlq onto {q.name}.", None


@command("kill", "act", "kill PID", "Cancel a database session (see `db queries`).", ("pid",))
def _kill(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "kill PID")
    pid = whole(args[0], "pid")
    if all(b.pid != pid for b in s.system.db.all_backends()):
        app = [a for a in views.db_sessions(s) if a.pid == pid]
        if app:
            behind = f" behind {app[0].blocked_by[0]}" if app[0].blocked_by else ""
            raise Refusal(
                f"pid {pid} is one of the API's pooled connections, running a request's query "
                f"(it waits{behind}): cancelling it frees nothing, the next request takes the "
                "connection and does the same; cancel what it waits for (`db locks`)"
                if behind
                else f"pid {pid} is one of the API's pooled connections, running a request's "
                "query: cancelling it fails that one request and frees nothing"
            )
    b = ops.kill(s.system, pid, by)
    return f"Cancelled pid {b.pid} ({b.kind}, running {s.system.t - b.started}s): {b.sql}", None


INDEX_USAGE = "index create NAME TABLE COLUMNS [concurrently]"


@command(
    "index create",
    "act",
    INDEX_USAGE,
    "Build an index; without `concurrently` it blocks writes to the table until done.",
    ("none", "table"),
)
def _index(s: Session, args: list[str], by: str) -> Reply:
    need(args, 3, INDEX_USAGE)
    conc = len(args) > 3 and args[3] in ("concurrently", "--concurrently")
    if len(args) > 3 and not conc:
        raise Refusal(f"usage: {INDEX_USAGE}")
    b = ops.create_index(s.system, args[0], args[1], args[2], conc, by)
    how = "without blocking writes" if conc else "BLOCKING writes to " + args[1]
    return f"Building {args[0]} on {args[1]}({args[2]}) {how}; about {b.runs_s}s.", None


FAILOVER_USAGE = "failover postgres|ledger|CLUSTER [REPLICA]"


@command(
    "failover",
    "act",
    FAILOVER_USAGE,
    "Promote a database replica (the one named, or the one furthest along). Writes it had not "
    "replayed are lost.",
    args=("cluster", "replica"),
)
def _failover(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, FAILOVER_USAGE)
    if args[0] == "ledger":
        was = ops.failover_ledger(s.system, by)
        return "Promoted ledger-1; it accepts writes." + (
            "" if was else " (ledger-0 was healthy.)"
        ), None
    replica = args[1] if len(args) > 1 else None
    if args[0] == "postgres" and replica is None:
        lag, lost = ops.failover_postgres(s.system, by)
        return (
            f"Promoted the replica (it was {lag:.0f}s behind): {lost:,} writes lost; about 30s of failed writes while clients reconnect.",
            None,
        )
    if args[0] not in ops.clusters(s.system):
        raise Refusal(
            f"failover what? `failover postgres`, `failover ledger` or a cluster: "
            f"{', '.join(ops.clusters(s.system))}"
        )
    f = ops.failover_cluster(s.system, args[0], replica, by)
    rows = ", ".join(f"{n:,} {t}" for t, n in sorted(f.rows.items()))
    return (
        f"Promoted {f.new} to primary of {f.cluster} (it was {f.lag_s:.0f}s behind): "
        f"{f.lost:,} writes lost" + (f" ({rows} rows)" if rows else "") + f"; {f.old} is left "
        f"diverged. About {f.down_s}s of failed "
        "queries while clients reconnect.",
        None,
    )


@command(
    "ratelimit",
    "act",
    "ratelimit ROUTE RPS|off",
    "Cap requests per second on a route at the load balancer (excess gets 429).",
    ("route",),
)
def _ratelimit(s: Session, args: list[str], by: str) -> Reply:
    if len(args) >= 3:  # `ratelimit POST /api/checkout 5`
        args = [f"{args[0]} {args[1]}", *args[2:]]
    need(args, 2, "ratelimit ROUTE RPS|off")
    route = args[0]
    if route not in s.system.cfg.api.routes:
        raise Refusal(
            f"no route {route!r}; routes: {', '.join(repr(r) for r in s.system.cfg.api.routes)}"
        )
    if args[1] == "off":
        ops.rate_limit(s.system, route, None, by)
        return f"Rate limit on {route} removed.", None
    n = whole(args[1], "rps", 0, 100_000)
    ops.rate_limit(s.system, route, n, by)
    return f"{route} limited to {n} requests/s; the rest get 429.", None


@command(
    "ramp",
    "act",
    "ramp ROUTE FROM_RPS TO_RPS SECONDS|off",
    "Admit a route's traffic gradually at the load balancer: from FROM_RPS up to TO_RPS over SECONDS (excess gets 429), then in full.",
    ("route",),
)
def _ramp(s: Session, args: list[str], by: str) -> Reply:
    usage = "ramp ROUTE FROM_RPS TO_RPS SECONDS|off"
    if len(args) >= 2 and args[0] not in s.system.cfg.api.routes:
        # `ramp POST /api/checkout 5 60 300`: the route is two words
        args = [f"{args[0]} {args[1]}", *args[2:]]
    need(args, 2, usage)
    route = args[0]
    if route not in s.system.cfg.api.routes:
        raise Refusal(
            f"no route {route!r}; routes: {', '.join(repr(r) for r in s.system.cfg.api.routes)}"
        )
    if args[1] == "off":
        ops.ramp(s.system, route, None, by)
        return f"Ramp on {route} stopped: the route is let through in full.", None
    need(args, 4, usage)
    start = whole(args[1], "from rps", 0, 100_000)
    end = whole(args[2], "to rps", 1, 100_000)
    seconds = whole(args[3], "seconds", 1, 86_400)
    ops.ramp(s.system, route, (start, end, seconds), by)
    return (
        f"{route} ramps from {start} to {end} requests/s over {seconds}s; the rest get 429 until then.",
        None,
    )


@command("cache flush", "act", "cache flush", "Empty the cache.")
def _cache_flush(s: Session, args: list[str], by: str) -> Reply:
    ops.flush_cache(s.system, by)
    return "Cache flushed: every read misses until it refills from the database.", None
