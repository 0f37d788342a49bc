"""Verbs on the model: what an operator can do to the system, each recording its own change.

Every verb takes the system, what to act on and its `author` (a player's name,
or a bot's), changes the model at the current tick and appends the `Change` it
made with that author, the way faults do (`deploy(..., "deploy-bot")`). A verb
refuses (raises `Refusal`) what the model cannot do, and then has changed
nothing. Business outcomes have one owner here: a refund is booked in the
application database and in `System.records` by `refund_payments` alone.

The command layer (`oncall_dojo.game`) parses words, looks names up, refuses
what it cannot parse and words the outcome; it never reaches into the model.
"""

from __future__ import annotations

import difflib

from oncall_dojo.sim.automation import Automation
from oncall_dojo.sim.components.clusters import ALL_TABLES, Failover, lose_rows
from oncall_dojo.sim.components.database import Backend
from oncall_dojo.sim.components.hosts import process_on
from oncall_dojo.sim.components.pool import Host, WorkerPool
from oncall_dojo.sim.components.queue import Queue, Run
from oncall_dojo.sim.data.appdb import AppDb
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.operations import Operation
from oncall_dojo.sim.system import Job, System
from oncall_dojo.sim.text import count
from oncall_dojo.sim.topology import DEFAULT_CLUSTER

Value = bool | int | float | str
"""A flag or config value."""
POSTGRES_RESTART_S = 45
"""Writes fail for this long while Postgres restarts."""


# ------------------------------------------------------------------------------------ restart
def restart_replicas(sys: System, pool: WorkerPool, author: str, replica: str | None = None) -> int:
    """Replace every live replica of a pool (or the one named, or those on the host named), each
    on its own version, five seconds apart. What they held goes back to the queue. Returns how
    many were restarted."""
    t = sys.t
    chosen = [r for r in pool.live if replica is None or replica in (r.name, r.host)]
    if not chosen:
        raise Refusal(
            f"{pool.name} has no replica {replica!r} running"
            if replica
            else f"{pool.name} has no replicas to restart"
        )
    for i, r in enumerate(chosen):
        sys.restart_replica(pool, r, t + i * 5)  # a restart keeps each replica's version
    sys.record_change(
        t, "restart", pool.name, count(len(chosen), "replica", sep=False), "restarted", author
    )
    return len(chosen)


def restart_api(sys: System, author: str) -> None:
    """A rolling restart of the stateless API: recorded, and nothing else changes."""
    sys.record_change(sys.t, "restart", "api", "", "rolling restart", author)


def restart_cache(sys: System, author: str) -> None:
    """The cache comes back empty: every read misses until it refills."""
    _empty_cache(sys)
    sys.record_change(sys.t, "restart", "cache", "", "restarted (empty)", author)


def flush_cache(sys: System, author: str) -> None:
    _empty_cache(sys)
    sys.record_change(sys.t, "flush", "cache", "", "flushed", author)


def _empty_cache(sys: System) -> None:
    sys.cache_hit = 0.0
    sys.cache_flushes += 1


def restart_postgres(sys: System, author: str) -> int:
    """Every connection drops and writes fail for a while. Returns the long sessions killed."""
    killed = sys.db.restart(sys.t, POSTGRES_RESTART_S)
    sys.record_change(sys.t, "restart", "postgres", "", "restarted", author)
    return killed


def restart_broker(sys: System, author: str) -> int:
    """Nobody can publish for a while. Returns the messages dropped from transient queues."""
    lost = sys.restart_broker(sys.t)
    sys.record_change(sys.t, "restart", "broker", "", "restarted", author)
    return lost


def restart_ledger(sys: System, author: str) -> bool:
    """The ledger restarts and resyncs from its replica. Returns whether it is still read-only."""
    sys.record_change(sys.t, "restart", "ledger", "", "restarted", author)
    return bool(sys.ledger_error)


# ------------------------------------------------------------------------------------ capacity
def scale_api(sys: System, n: int, author: str) -> int:
    """Set the API's replica count, adding or removing replicas of the current version.
    Returns the count before."""
    if n < 1:
        raise Refusal("the API needs at least one replica")
    have = sum(sys.api_versions.values())
    current = sys.api_versions.get(sys.api_version, 0) + (n - have)
    if current <= 0:
        raise Refusal(
            "scaling down that far would remove replicas of another version; finish the rollout first"
        )
    sys.api_versions[sys.api_version] = current
    sys.record_change(sys.t, "scale", "api", str(have), str(n), author)
    return have


def scale(sys: System, pool: WorkerPool, n: int, author: str) -> tuple[int, int]:
    """Scale a worker pool to n replicas now. Returns (replicas before, replicas added)."""
    before = len(pool.live)
    delta = sys.scale_pool(pool, n)
    sys.record_change(sys.t, "scale", pool.name, str(before), str(n), author)
    return before, delta


def autoscale(
    sys: System,
    pool: WorkerPool,
    author: str,
    enabled: bool | None = None,
    lo: int | None = None,
    hi: int | None = None,
) -> tuple[str, str, int | None]:
    """Turn a pool's autoscaler on or off and set its bounds; a pool above a new maximum is
    scaled down to it at once. Returns (before, after, replicas before such a scale-down)."""
    a = pool.cfg.autoscale
    if a is None:
        raise Refusal(f"{pool.name} has no autoscaler")
    lo = a.min_replicas if lo is None else lo
    hi = a.max_replicas if hi is None else hi
    if lo > hi:
        raise Refusal(f"min ({lo}) must not be above max ({hi})")
    before = f"{'on' if a.enabled else 'off'} {a.min_replicas}-{a.max_replicas}"
    a.min_replicas, a.max_replicas = lo, hi
    if enabled is not None:
        a.enabled = enabled
    after = f"{'on' if a.enabled else 'off'} {a.min_replicas}-{a.max_replicas}"
    sys.record_change(sys.t, "autoscale", pool.name, before, after, author)
    live = len(pool.live)
    if a.enabled and live > hi:
        sys.scale_pool(pool, hi)
        return before, after, live
    return before, after, None


# ------------------------------------------------------------------------------------ hosts
def host_named(sys: System, name: str) -> tuple[WorkerPool, Host]:
    """A named host and its pool, or a refusal naming the closest host."""
    fleet = sys.fleet
    if fleet is None:
        raise Refusal("this system's pools have no named hosts; `workers` lists the replicas")
    found = fleet.hosts.get(name)
    if found is None:
        close = difflib.get_close_matches(name, list(fleet.hosts), n=1)
        tip = f" (did you mean {close[0]!r}?)" if close else ""
        raise Refusal(f"no host {name!r}{tip}; hosts: {', '.join(fleet.hosts)}")
    return found


def cordon(sys: System, name: str, author: str) -> Host:
    """Mark a host unschedulable: its process runs on, nothing new starts there."""
    _, host = host_named(sys, name)
    if host.state != "ready":
        raise Refusal(f"{name} is {host.state.replace('_', ' ')}, not ready: nothing to cordon")
    assert sys.fleet is not None
    sys.fleet.set_state(name, "cordoned", sys.t)
    sys.record_change(sys.t, "cordon", name, "ready", "cordoned", author)
    return host


def drain(sys: System, name: str, author: str) -> bool:
    """Cordon a host and evict its process (what it held goes back to the queue). Returns
    whether a process was evicted."""
    pool, host = host_named(sys, name)
    if host.state not in ("ready", "cordoned"):
        raise Refusal(f"{name} is {host.state.replace('_', ' ')}: nothing to drain")
    evicted = process_on(pool, name) is not None
    before = host.state
    assert sys.fleet is not None
    sys.fleet.set_state(name, "drained", sys.t)
    sys.record_change(sys.t, "drain", name, before, "drained", author)
    return evicted


def uncordon(sys: System, name: str, author: str) -> bool:
    """Let a cordoned or drained host take processes again; an empty one starts its pool's
    process. Returns whether one started."""
    pool, host = host_named(sys, name)
    if host.state not in ("cordoned", "drained"):
        raise Refusal(f"{name} is {host.state.replace('_', ' ')}, not cordoned or drained")
    before = host.state
    had = process_on(pool, name) is not None
    assert sys.fleet is not None
    sys.fleet.set_state(name, "ready", sys.t)
    sys.record_change(sys.t, "uncordon", name, before, "ready", author)
    return not had


# ------------------------------------------------------------------------------------ automation
def freeze(sys: System, name: str, author: str) -> Automation:
    """Stop an automation (an autoscaler, a deploy bot, auto-failover) from acting until it is
    thawed; what it did stays done."""
    a = sys.automation.named(name)
    if a.frozen:
        raise Refusal(f"{a.name} is already frozen; `thaw {a.name}` lets it act again")
    a.frozen = True
    sys.record_change(sys.t, "freeze", a.name, "active", "frozen", author)
    return a


def thaw(sys: System, name: str, author: str) -> Automation:
    """Let a frozen automation act again, on the state it now finds."""
    a = sys.automation.named(name)
    if not a.frozen:
        raise Refusal(f"{a.name} is not frozen")
    a.frozen = False
    sys.record_change(sys.t, "thaw", a.name, "frozen", "active", author)
    return a


# ------------------------------------------------------------------------------------ releases
def _service(sys: System, svc: str) -> None:
    if svc not in sys.previous_versions:
        raise Refusal(f"no service {svc!r}; services: {', '.join(sys.services())}")


def rollback(sys: System, svc: str, author: str) -> tuple[str, str]:
    """Return a service to its stable version (a partial rollout), or to the version it ran
    before its last deploy. Returns (version left, version returned to)."""
    _service(sys, svc)
    stable = sys.api_version if svc == "api" else sys.pools[svc].version
    running = set(sys.api_versions) if svc == "api" else {r.version for r in sys.pools[svc].live}
    prev = sys.previous_versions[svc]
    if running - {stable}:
        # a partial rollout: return every replica to the stable version
        current, target = ",".join(sorted(running - {stable})), stable
        sys.deploy(sys.t, svc, target, author, note=f"rollback from {current}")
    elif prev:
        target, current = prev[-1], stable
        sys.deploy(sys.t, svc, target, author, note=f"rollback from {current}")
        prev.pop()  # the version we left
        prev.pop()  # the version we returned to is no longer "previous"
    else:
        raise Refusal(f"{svc} runs only {stable} and has no earlier version in its history")
    sys.changes[-1].kind = "rollback"
    return current, target


def deploy(sys: System, svc: str, version: str, author: str, percent: int = 100) -> None:
    """Deploy a build the registry knows (a fix, or an earlier release) to a share of replicas."""
    _service(sys, svc)
    known = set(sys.cfg.versions.get(svc, {})) | set(sys.previous_versions[svc])
    known |= {sys.cfg.api.version} if svc == "api" else {sys.cfg.workers[svc].version}
    if version not in known:
        raise Refusal(
            f"no build {version} of {svc} in the registry; known: {', '.join(sorted(known))}"
        )
    sys.deploy(sys.t, svc, version, author, percent=percent)


def set_flag(sys: System, name: str, value: Value, author: str) -> None:
    if name not in sys.flags:
        raise Refusal(f"no flag {name!r}; flags: {', '.join(sorted(sys.flags)) or 'none'}")
    _set(sys, "flag", name, value, author)


def set_config(sys: System, key: str, value: Value, author: str) -> None:
    _set(sys, "config", key, value, author)


def _set(sys: System, store: str, key: str, value: Value, author: str) -> None:
    target = sys.flags if store == "flag" else sys.config
    before = target.get(key)
    target[key] = value
    sys.record_change(sys.t, store, key, str(before), str(value), author)


def rate_limit(sys: System, route: str, rps: int | None, author: str) -> None:
    """Cap a route's requests per second at the load balancer (None: remove the cap)."""
    if rps is None:
        sys.rate_limits.pop(route, None)
        sys.record_change(sys.t, "ratelimit", route, "", "off", author)
        return
    sys.rate_limits[route] = float(rps)
    sys.record_change(sys.t, "ratelimit", route, "", f"{rps} rps", author)


def ramp(sys: System, route: str, rps: tuple[int, int, int] | None, author: str) -> None:
    """Admit a route's traffic gradually: from `start` requests per second up to `end` in a
    straight line over `seconds`, the rest rejected with 429; then the ramp ends. None: stop a
    ramp now."""
    ramps = sys.ramps
    if rps is None:
        if route not in ramps:
            raise Refusal(f"no ramp on {route}")
        del ramps[route]
        sys.record_change(sys.t, "ramp", route, "", "off", author)
        return
    start, end, seconds = rps
    if end <= start:
        raise Refusal(f"a ramp rises: the end rate ({end}) must be above the start ({start})")
    ramps[route] = (sys.t, float(start), float(end), seconds)
    sys.record_change(sys.t, "ramp", route, "", f"{start} -> {end} rps over {seconds}s", author)


# ------------------------------------------------------------------------------------ queues
def pause_consumers(sys: System, q: Queue, author: str) -> None:
    """Stop handing a queue's messages to its consumers; nothing is lost."""
    if q.name in sys.consumers_paused:
        raise Refusal(f"consumers of {q.name} are already paused")
    sys.consumers_paused.add(q.name)
    sys.record_change(sys.t, "config", f"{q.name}.consumers", "running", "paused", author)


def resume_consumers(sys: System, q: Queue, author: str) -> None:
    if q.name not in sys.consumers_paused:
        raise Refusal(f"consumers of {q.name} are not paused")
    sys.consumers_paused.discard(q.name)
    sys.record_change(sys.t, "config", f"{q.name}.consumers", "paused", "running", author)


def purge(sys: System, q: Queue, author: str) -> int:
    """Delete every waiting message: that work never happens. Returns how many."""
    if q.depth == 0:
        raise Refusal(f"{q.name} has no waiting messages")
    lost = q.purge()
    sys.record_change(sys.t, "purge", q.name, count(lost, "message", sep=False), "deleted", author)
    return lost


def park_all(sys: System, q: Queue, author: str) -> int:
    """Move every waiting message to the dead-letter queue (kept, not lost). Returns how many."""
    moved = q.park_all()
    if not moved:
        raise Refusal(f"{q.name} has no waiting messages")
    sys.record_change(
        sys.t, "park", q.name, count(moved, "message", sep=False), f"moved to {q.name}.dlq", author
    )
    return moved


def park(sys: System, q: Queue, msg_id: str, author: str) -> Run:
    """Move one waiting message to the dead-letter queue. Returns its run of messages.

    Not entered in the change history (the player's command is the record of it), so the
    `deploys` view reads as it always has; `author` is taken for the same call shape."""
    return q.move_to_dlq(msg_id)


def replay(sys: System, q: Queue, author: str, only: set[int] | None = None) -> int:
    """Put dead-lettered messages (all, or the sequence numbers given) back on the queue."""
    moved = q.replay_dlq(sys.t, only)
    sys.record_change(
        sys.t, "replay", q.name, count(moved, "message", sep=False), "replayed", author
    )
    return moved


def replay_oldest(sys: System, q: Queue, limit: int, author: str) -> int:
    """Put the oldest `limit` dead-lettered messages back on the queue. Returns how many."""
    moved = q.replay_oldest(sys.t, limit)
    sys.record_change(
        sys.t, "replay", q.name, count(moved, "message", sep=False), "replayed", author
    )
    return moved


# ------------------------------------------------------------------------------------ databases
def kill(sys: System, pid: int, author: str) -> Backend:
    """Cancel a long-running database session."""
    b = sys.db.kill(pid)
    sys.record_change(sys.t, "kill", "postgres", str(b.pid), "cancelled", author, b.sql)
    return b


def create_index(
    sys: System, name: str, table: str, columns: str, concurrently: bool, author: str
) -> Backend:
    """Start building an index; without `concurrently` it blocks writes to the table."""
    b = sys.db.create_index(sys.t, name, table, columns, concurrently)
    sys.record_change(sys.t, "index", name, "", "building", author, b.sql)
    return b


def failover_postgres(sys: System, author: str) -> tuple[float, int]:
    """Promote the replica. Returns (its lag in seconds, committed writes lost). The rows of the
    writes it had not replayed are removed from the application database."""
    if sys.topology is not None:
        f = sys.topology.failover(sys.t, DEFAULT_CLUSTER, None, author)
        return f.lag_s, f.lost
    lag = sys.db.replication_lag_s
    cut = sys.db.stream.cut()
    lost = sys.db.failover(sys.t)
    lose_rows(sys.app, ALL_TABLES, cut)
    sys.record_change(sys.t, "failover", "postgres", "pg-0", "pg-1", author)
    return lag, lost


def failover_cluster(sys: System, cluster: str, replica: str | None, author: str) -> Failover:
    """Promote a replica of a declared cluster (the one named, or the one furthest along).
    Writes it had not replayed are lost, and their rows removed from the application database."""
    if sys.topology is None or cluster not in sys.topology.clusters:
        raise Refusal(f"no database cluster {cluster!r}; clusters: {', '.join(clusters(sys))}")
    return sys.topology.failover(sys.t, cluster, replica, author)


def clusters(sys: System) -> list[str]:
    """The database clusters' names (the shop's own database first)."""
    return list(sys.topology.clusters) if sys.topology is not None else [DEFAULT_CLUSTER]


def failover_ledger(sys: System, author: str) -> bool:
    """Promote ledger-1, which accepts writes. Returns whether ledger-0 was failing."""
    was = bool(sys.ledger_error)
    sys.ledger_error = None
    sys.record_change(sys.t, "failover", "ledger", "ledger-0", "ledger-1", author)
    return was


def commit_sql(sys: System, author: str) -> tuple[int, str]:
    """Apply the player's previewed writes to the application database in one transaction.
    Returns (statements, rows changed per table). An `SqlError` means nothing changed."""
    app = _app(sys)
    sandbox = app.console()
    statements = len(sandbox.pending())
    res = sandbox.commit()
    app.after_player_write()
    changed = ", ".join(f"{n:,} in {t}" for t, n in sorted(res.changes.items())) or "no rows"
    sys.record_change(sys.t, "sql", "appdb", "", changed, author)
    return statements, changed


# ------------------------------------------------------------------------------------ jobs
def pause_job(sys: System, job: Job, author: str) -> None:
    """Pause a running job where it is (a failed one: cancel the scheduler's retry)."""
    if job.state == "failed" and job.retry_at is not None:
        job.retry_at = None
    elif job.state != "running":
        raise Refusal(f"job {job.name} is {job.state}, not running")
    job.state = "paused"
    sys.record_change(sys.t, "job", job.name, "", "pause", author)


def resume_job(sys: System, job: Job, author: str) -> None:
    if job.state != "paused":
        raise Refusal(f"job {job.name} is {job.state}, not paused")
    job.state = "running"
    sys.record_change(sys.t, "job", job.name, "", "resume", author)


def run_job(sys: System, job: Job, author: str, from_item: int | None = None) -> None:
    """Start a job: from `from_item`, from its checkpoint, or from the first item."""
    sys.start_job(sys.t, job.name, author, from_item=from_item)
    sys.record_change(sys.t, "job", job.name, "", "run", author)


# ------------------------------------------------------------------------------------ operations
def operation(sys: System, name: str) -> Operation:
    """The incident's operation `name` (refused when it declares no such operation)."""
    ops = sys.world.operations if sys.world is not None else None
    if ops is None:
        raise Refusal("this system has no operations to run")
    return ops.get(name)


def start_operation(sys: System, op: Operation, author: str) -> None:
    """Start a run of an operation; it works on its own from this second."""
    sys.world.operations.start(op, sys.t, author)
    sys.record_change(sys.t, "operation", op.name, "", "start", author, op.spec.kind)


def pause_operation(sys: System, op: Operation, author: str) -> None:
    """Pause a running operation where it is (what keeps arriving still adds to its work)."""
    sys.world.operations.pause(op, sys.t, author)
    sys.record_change(sys.t, "operation", op.name, "", "pause", author, op.spec.kind)


def resume_operation(sys: System, op: Operation, author: str) -> None:
    sys.world.operations.resume(op, sys.t, author)
    sys.record_change(sys.t, "operation", op.name, "", "resume", author, op.spec.kind)


# ------------------------------------------------------------------------------------ customers
def refund_payments(
    sys: System, ids: list[int], reason: str, author: str
) -> tuple[int, int, list[int]]:
    """Refund payments at the provider: each refund is booked in the application database
    (refunds, ledger) and in the provider's records. Returns (refunded, cents, ids skipped:
    not found, not succeeded or already refunded)."""
    app = _app(sys)
    rec = sys.records
    n = cents = 0
    skipped = []
    for pid, got in zip(ids, app.refund(sys.t, ids, reason), strict=True):
        if got is None:
            skipped.append(pid)
            continue
        order_id, amount = got
        k = order_id - app.history
        rec.refunded[k] = rec.refunded.get(k, 0) + 1
        n += 1
        cents += amount
    if not n:
        raise Refusal(
            "nothing to refund: "
            + ", ".join(f"payment {p}" for p in skipped[:5])
            + " not found, not succeeded or already refunded"
        )
    sys.record_change(sys.t, "refund", "payments-provider", "", f"{n} payments refunded", author)
    return n, cents, skipped


def refund_duplicate_charges(sys: System, author: str) -> int:
    """Without an application database: refund, at the provider, every charge beyond the
    first per order. Returns how many."""
    rec = sys.records
    n = 0
    for order, charged in rec.charges.items():
        extra = charged - 1 - rec.refunded.get(order, 0)
        if extra > 0:
            rec.refunded[order] = rec.refunded.get(order, 0) + extra
            n += extra
    if n == 0:
        raise Refusal("the provider shows no duplicate charges to refund")
    sys.record_change(
        sys.t,
        "refund",
        "payments-provider",
        "",
        count(n, "charge", sep=False) + " refunded",
        author,
    )
    return n


def notify(sys: System, customer_ids: list[int], author: str) -> int:
    """Email an apology to customers (ids outside the customer table are skipped)."""
    app = _app(sys)
    ids = [i for i in customer_ids if 1 <= i <= app.customers]
    if not ids:
        raise Refusal("the query returned no customer ids")
    for cid in ids:
        app.send_email(sys.t, cid, "incident-notice", "apology")
    sys.notified.update(ids)
    sys.record_change(sys.t, "notify", "customers", "", f"{len(ids)} notified", author)
    return len(ids)


def _app(sys: System) -> AppDb:
    if sys.app is None:
        raise Refusal("this incident has no application database to query")
    return sys.app


# ------------------------------------------------------------------------------------ the page
def acknowledge(sys: System, at: int) -> None:
    """Mark the alerts firing now as acknowledged at `at` (player seconds)."""
    for st in sys.alerts.firing():
        st.acked_at = at
