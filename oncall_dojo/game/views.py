"""Plain-text views of a session, used by the console and the headless commands.

Each function reads the session and returns text; none changes anything.
"""

from __future__ import annotations

import math
from typing import cast, get_args

import numpy as np

from oncall_dojo.game.fmt import human, mmss
from oncall_dojo.game.health import fails_messages
from oncall_dojo.game.session import Session
from oncall_dojo.game.trend import past_trend
from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.components.clusters import Topology
from oncall_dojo.sim.components.pool import WorkerPool
from oncall_dojo.sim.components.shards import engine_summary
from oncall_dojo.sim.dbactivity import APP_USER, Activity, sessions
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.observability.logquery import Query as LogQuery
from oncall_dojo.sim.observability.logsearch import search
from oncall_dojo.sim.observability.metrics import Fn, Query, Selector
from oncall_dojo.sim.operations import Operation
from oncall_dojo.sim.text import count
from oncall_dojo.sim.topology import DEFAULT_CLUSTER

FNS: tuple[str, ...] = get_args(Fn)


SPARK = "▁▂▃▄▅▆▇█"


def what_really_happened(incident: Incident) -> str:
    """The debrief's "What really happened" (Markdown): the cause, and the public write-up the
    incident is modelled on. Never shown before the game ends."""
    text = incident.root_cause.explanation.strip()
    if incident.source.strip():
        text += f"\n\nModelled on: {incident.source.strip()}"
    return text


def sparkline(values: np.ndarray, width: int = 40) -> str:
    vals = values[~np.isnan(values)] if values.size else values
    if vals.size == 0:
        return ""
    if vals.size > width:
        step = vals.size / width
        vals = np.array(
            [
                vals[int(i * step) : max(int(i * step) + 1, int((i + 1) * step))].max()
                for i in range(width)
            ]
        )
    lo, hi = float(vals.min()), float(vals.max())
    if hi - lo < 1e-12:
        return SPARK[0] * len(vals)
    return "".join(SPARK[min(7, int((v - lo) / (hi - lo) * 7.999))] for v in vals)


def alerts(s: Session) -> str:
    sys_ = s.system
    t = sys_.t
    rows = []
    for st in sorted(
        sys_.alerts.states.values(),
        key=lambda x: (x.state != "firing", x.state != "pending", x.rule.name),
    ):
        if st.state == "inactive":
            continue
        since = mmss(t - st.since)
        ack = " (acked)" if st.acked_at is not None else ""
        rows.append(
            f"  {st.state.upper():<8} {st.rule.severity:<6} {st.rule.name:<32} for {since:>6}{ack}  {sys_.alerts.summary(st)}"
        )
    recent = [e for e in sys_.alerts.events if e.tick >= s.page_tick - 1800][-8:]
    out = ["Active alerts:" if rows else "No alerts firing or pending.", *rows]
    if recent:
        out.append("Recent transitions:")
        out += [f"  {mmss(e.tick - s.page_tick):>7}  {e.state:<8} {e.name}" for e in recent]
    return "\n".join(out)


def system_map(s: Session) -> str:
    sys_ = s.system
    m = sys_.metrics
    t = sys_.t - 1

    def q(sel: str, fn: Fn = "last", window: int = 60, over: str | None = None) -> float | None:
        return m.query(Query(metric=sel, fn=fn, window=window, over=over), t)

    err = q('http_requests_total{code=~"5..|429"}', "rate", 60, "http_requests_total") or 0.0
    p99 = q("http_request_duration_seconds", "p99", 60)
    rps = q("http_requests_total", "rate", 60) or 0.0
    lines = [
        f"{'api':<20} {'DEGRADED' if err > 0.01 or (p99 or 0) > sys_.cfg.slo.latency_s else 'ok':<9} "
        f"{rps:6.1f} req/s  errors {err:6.2%}  p99 {human(p99)}s  replicas {sum(sys_.api_versions.values())} "
        f"({', '.join(f'{v}x{n}' for v, n in sorted(sys_.api_versions.items()))})",
    ]
    for name, qu in sys_.queues.items():
        age = int(qu.oldest_age(sys_.t))
        state = "LAGGING" if age > qu.cfg.objective_s else "ok"
        lines.append(
            f"{'queue ' + name:<20} {state:<9} depth {qu.depth:>7,}  oldest {mmss(age):>7}  in flight {qu.inflight:>4}  dlq {qu.dlq_depth:>5,}"
            + ("  consumers PAUSED" if name in sys_.consumers_paused else "")
        )
    for name, p in sys_.pools.items():
        live = p.live
        ready = p.running
        state = "ok" if ready == len(live) and live else ("DOWN" if ready == 0 else "DEGRADED")
        if state == "ok" and fails_messages(s, name, max(0, sys_.t - 60), sys_.t):
            state = "FAILING"  # every process ready, and more than 1% of its messages fail
        lines.append(
            f"{'workers ' + name:<20} {state:<9} {ready}/{len(live)} ready  restarts {p.restarts_total}  versions {','.join(sorted({r.version for r in live}))}"
            + (_hosts_summary(p) if p.hosts else "")
        )
    db = sys_.db
    lines.append(
        f"{'postgres':<20} {'ok' if db.cpu_util < 0.85 and not db.backends else 'WATCH':<9} cpu {db.cpu_util:5.0%}  "
        f"pool {sys_.pool_in_use:.0f}/{sys_.cfg.api.pool_size}  disk {db.disk_used_gb / db.disk_gb:5.1%}  "
        f"replica lag {db.replication_lag_s:.0f}s  sessions {len(db.backends)}"
    )
    if sys_.topology is not None:
        lines += topology_lines(sys_.topology)
    lines.append(
        f"{'cache':<20} {'ok' if sys_.cache_hit > 0.8 * sys_.cfg.cache.hit_ratio else 'COLD':<9} hit ratio {sys_.cache_hit:.2f}"
    )
    lines.append(f"{'ledger':<20} {'READ-ONLY' if sys_.ledger_error else 'ok':<9}")
    lines.append(
        f"{'payment provider':<20} {'DEGRADED' if sys_.provider_latency_x > 1.5 or sys_.provider_extra_error > 0.02 else 'ok':<9} latency {sys_.provider_latency_s() * 1000:.0f}ms  load {sys_.provider_load:.0%}"
    )
    lines.append(
        f"{'spend':<20} ${sys_.cost_dollars:,.2f} so far at ${m.values[t, sys_.g_cost] if t >= 0 else 0:,.2f}/h"
    )
    return "\n".join(lines)


def logs(s: Session, query: LogQuery, since_s: int | None, limit: int) -> str:
    """The newest `limit` lines matching `query` (of the last `since_s` seconds), oldest first."""
    store = s.system.logs
    since_tick = -math.inf if since_s is None else s.system.t - since_s
    found = search(store, query, since_tick)
    if not len(found):
        window = "" if since_s is None else f" (last {since_s // 60} min)"
        return f"No log lines match{window}."
    return "\n".join(store.render(int(i)) for i in found[-limit:])


def metric_list(s: Session) -> str:
    m = s.system.metrics
    seen: dict[str, str] = {}
    for series in [*m.series, *m.hist_series]:
        seen.setdefault(series.name, f"{series.kind:<9} {series.help}")
    return "\n".join(f"  {n:<44} {seen[n]}" for n in sorted(seen))


def metric(s: Session, selector: str, fn_name: str | None, window: int) -> str:
    m = s.system.metrics
    sel = Selector.parse(selector)
    t = s.system.t - 1
    idx, hist = m.select(selector)
    if not idx:
        close = [n for n in m.names() if sel.name in n or n in sel.name]
        raise Refusal(
            f"no series match {selector}"
            + (f"; similar: {', '.join(close[:5])}" if close else "; `metrics` lists them")
        )
    kind = "histogram" if hist else m.series[idx[0]].kind
    fn_name = fn_name or {"counter": "rate", "gauge": "last", "histogram": "p99"}[kind]
    if fn_name not in FNS:
        raise Refusal(f"unknown fn {fn_name!r}; one of: {', '.join(FNS)}")
    fn = cast(Fn, fn_name)
    out = [f"{fn}({selector}[{window}s]) at {mmss(s.now)}:"]
    series_list = m.hist_series if hist else m.series
    start = max(0, s.system.t - 3600)
    for i in idx[:12]:
        key = series_list[i].key
        v = m.query(Query(metric=key, fn=fn, window=window), t)
        step = max(1, (s.system.t - start) // 40)
        hist_vals = m.range(
            key,
            start,
            s.system.t,
            fn="rate" if fn in ("rate", "increase") else (fn if hist else "max"),
            step=step,
        )
        out.append(f"  {key:<70} {human(v):>8}  {sparkline(hist_vals)}")
        if not hist:
            out += _past(s, i)
    if len(idx) > 12:
        total = m.query(Query(metric=selector, fn=fn, window=window), t)
        out.append(f"  ... {len(idx) - 12} more series; sum {human(total)}")
    return "\n".join(out)


def _past(s: Session, series: int) -> list[str]:
    world = s.system.world
    if world is None:
        return []
    m = s.system.metrics
    at_start = float(m.values[0, series]) if m.ticks else 0.0
    return next(
        (past_trend(r.spec, at_start) for r in world.resources.values() if r.gauge == series), []
    )


def queues(s: Session) -> str:
    sys_ = s.system
    out = [
        f"  {'queue':<14}{'depth':>9}{'oldest':>9}{'in flight':>11}{'dlq':>7}{'in/s':>8}{'out/s':>8}"
    ]
    m = sys_.metrics
    for name, q in sys_.queues.items():
        enq = (
            m.query(
                Query(metric=f'queue_enqueued_total{{queue="{name}"}}', fn="rate", window=60),
                sys_.t - 1,
            )
            or 0
        )
        ack = (
            m.query(
                Query(metric=f'queue_acked_total{{queue="{name}"}}', fn="rate", window=60),
                sys_.t - 1,
            )
            or 0
        )
        paused = "  (consumers paused)" if name in sys_.consumers_paused else ""
        out.append(
            f"  {name:<14}{q.depth:>9,}{mmss(int(q.oldest_age(sys_.t))):>9}{q.inflight:>11,}{q.dlq_depth:>7,}{enq:>8.1f}{ack:>8.1f}{paused}"
        )
    return "\n".join(out)


def queue(s: Session, name: str) -> str:
    sys_ = s.system
    q = sys_.queues[name]
    st = q.stats
    pools = [p.name for p in sys_.pools.values() if p.cfg.queue == name]
    lines = [
        f"queue {name} ({q.cfg.kind}); consumed by {', '.join(pools) or 'nobody'}"
        + ("; consumers PAUSED" if name in sys_.consumers_paused else ""),
        f"  depth {q.depth:,}   oldest {mmss(int(q.oldest_age(sys_.t)))}   in flight {q.inflight:,}   dead letters {q.dlq_depth:,}",
        f"  visibility timeout {q.cfg.visibility_timeout_s}s   max receives {q.cfg.max_receive_count or 'unlimited'}   objective {q.cfg.objective_s}s",
        f"  since start: enqueued {st.produced:,}  acknowledged {st.acked:,}  purged {st.purged:,}  dead-lettered {st.dead_lettered:,}  replayed {st.replayed:,}",
    ]
    top = q.top_delivered(5)
    if top:
        lines.append("  most delivered waiting messages:")
        lines += [
            f"    msg_{mid}  receive_count={r.deliveries}  enqueued {mmss(r.enq - s.page_tick)}"
            for mid, r in top
        ]
    return "\n".join(lines)


def messages(s: Session, name: str, dlq: bool) -> str:
    q = s.system.queues[name]
    if dlq:
        if not q.dlq:
            return f"{name}.dlq is empty."
        rows: list[str] = []
        for run in q.dlq[:20]:
            for seq in range(run.first, run.first + min(run.count, 20 - len(rows))):
                rows.append(
                    f"  msg_{q.msg_id(seq)}  receive_count={run.deliveries}  enqueued {mmss(run.enq - s.page_tick)}"
                    + ("  replayed" if run.replayed else "")
                )
        return f"{name}.dlq: {count(q.dlq_depth, 'message')}\n" + "\n".join(rows)
    msgs = q.messages(20)
    if not msgs:
        return f"{name} has no waiting messages."
    return f"{name}: oldest {len(msgs)} of {q.depth:,} waiting\n" + "\n".join(
        f"  msg_{mid}  receive_count={run.deliveries}  enqueued {mmss(run.enq - s.page_tick)}"
        for mid, run, _ in msgs
    )


def workers(s: Session, pool_name: str | None) -> str:
    sys_ = s.system
    out = []
    for name, p in sys_.pools.items():
        if pool_name and name != pool_name:
            continue
        live = p.live
        out.append(
            f"{name}: {p.running}/{len(live)} ready, consuming {p.cfg.queue}, concurrency {p.cfg.concurrency}, memory limit {p.cfg.memory_limit_mb:.0f}Mi"
        )
        for r in sorted(live, key=lambda r: r.name):
            state = {
                "backoff": "CrashLoopBackOff",
                "starting": "ContainerCreating" if r.restarts == 0 else "Starting",
                "running": "Running",
                "unready": "Running, not ready",
            }.get(r.state, r.state)
            age = mmss(sys_.t - r.started)
            out.append(
                f"  {r.name:<30} {state:<18} {r.version:<10} restarts {r.restarts:<3} mem {r.memory:5.0f}Mi  age {age}"
                + (f"  on {r.host}" if r.host else "")
            )
        if p.hosts:
            out += _hosts(p)
    return "\n".join(out)


HOST_STATES = {
    "ready": "Ready",
    "not_ready": "NotReady",
    "cordoned": "Ready,SchedulingDisabled",
    "drained": "Ready,SchedulingDisabled",
    "down": "NotReady (unreachable)",
}
"""A host's state as `kubectl get nodes` shows it."""


def _hosts_summary(p: WorkerPool) -> str:
    ready = sum(1 for h in p.hosts.values() if h.state == "ready")
    return f"  hosts {ready}/{len(p.hosts)} ready"


def _hosts(p: WorkerPool) -> list[str]:
    """A pool's hosts: state, site, version installed, disk, and the processes on each."""
    procs = {h: [r.name for r in p.live if r.host == h] for h in p.hosts}
    out = [f"  hosts of {p.name}:"]
    for h in p.hosts.values():
        disk = f"disk {h.disk_used_gb:.0f}/{h.disk_gb:.0f}G ({h.disk_used_gb / h.disk_gb:.0%})"
        site = f"  site {h.site}" if h.site else ""
        out.append(
            f"    {h.name:<16} {HOST_STATES[h.state]:<26} {h.version:<10} {disk:<24} "
            f"{', '.join(procs[h.name]) or 'no process'}{site}"
        )
    return out


def changes(s: Session) -> str:
    sys_ = s.system
    rows = []
    for c in sys_.changes[-30:]:
        when = mmss(c.tick - s.page_tick)
        what = f"{c.before} -> {c.after}" if c.before else c.after
        rows.append(
            f"  {when:>8}  {c.kind:<9} {c.target:<22} {what:<36} by {c.author}"
            + (f"  ({c.note})" if c.note else "")
        )
    return "Changes (time relative to the page):\n" + ("\n".join(rows) if rows else "  none")


def database(s: Session, what: str) -> str:
    db = s.system.db
    if what == "queries":
        return db_queries(s)
    if what == "locks":
        return db_locks(s)
    if what == "indexes":
        rows = [f"  {n:<28} on {tbl}" for n, tbl in sorted(db.indexes.items())]
        building = [
            f"  {b.index:<28} on {b.table} (building, {'blocking writes' if b.blocks_writes else 'concurrently'})"
            for b in db.all_backends()
            if b.kind == "index_build"
        ]
        return "Indexes:\n" + "\n".join(rows + building)
    shapes = sorted(db.cfg.shapes, key=lambda sh: -db.latency_ms(sh))
    rows = [
        f"  {sh:<16} {db.latency_ms(sh):>9.1f} ms {'SEQ SCAN' if db.uses_seq_scan(sh) else '':<9} {db.cfg.shapes[sh].sql}"
        for sh in shapes
    ]
    topo = s.system.topology
    return (
        f"postgres primary: cpu {db.cpu_util:.0%}, disk {db.disk_used_gb:.1f}/{db.disk_gb:.0f} GB, replica lag {db.replication_lag_s:.0f}s,"
        f" {count(len(db.backends), 'long-running session')}{', READ-ONLY' if db.read_only else ''}\n"
        + (
            ""
            if topo is None
            else "Clusters:\n" + "\n".join(topology_lines(topo, detail=True)) + "\n"
        )
        + "Mean time per query shape:\n"
        + "\n".join(rows)
    )


def topology_lines(topo: Topology, detail: bool = False) -> list[str]:
    """A line per database cluster (its primary and each replica's lag), then per link."""
    out = []
    for c in topo.clusters.values():
        where = f" in {c.site}" if c.site else ""
        reps = []
        for m in c.members.values():
            at = f"@{m.site}" if m.site and m.site != c.site else ""
            if m.diverged:
                reps.append(f"{m.name}{at} {'REBUILDING' if m.rebuilding else 'DIVERGED'}")
            else:
                state = " paused" if m.paused else ""
                reps.append(f"{m.name}{at} lag {topo.lag_s(c, m):.0f}s{state}")
        lagging = any(not m.diverged and topo.lag_s(c, m) > 30 for m in c.members.values())
        state = "FAILOVER" if c.down_until >= 0 else ("LAGGING" if lagging else "ok")
        auto = c.spec.auto_failover
        extra = ""
        if c.spec.engine is not None:
            busy, extra = engine_summary(topo.db.engine(min(c.tables)))
            state = "WATCH" if busy and state == "ok" else state
        if auto is not None:
            extra = f"  auto-failover {auto.called(c.name)}{' FROZEN' if c.frozen else ''}"
        if detail and c.writes_lost:
            extra += f"  {c.writes_lost:,} writes lost in failovers"
        if detail and c.name != DEFAULT_CLUSTER:
            extra += f"  tables {', '.join(sorted(c.tables))}"
        out.append(
            f"{'cluster ' + c.name:<20} {state:<9} primary {c.primary}{where}  "
            f"replicas {', '.join(reps) or 'none'}{extra}"
        )
    for link in topo.links.values():
        a, b = link.sites
        out.append(
            f"{'link ' + link.name:<20} {link.state:<9} {a} <-> {b}  rtt {link.latency_ms:.0f}ms"
            f"  loss {link.loss:.1%}"
        )
    return out


def db_sessions(s: Session) -> list[Activity]:
    sys_ = s.system
    return sessions(sys_.db, sys_.cfg, sys_.pool_in_use, sys_.cache_hit, sys_.t)


def _runtime(secs: float) -> str:
    if secs >= 60:
        return mmss(int(secs))
    return f"{secs:.1f}s" if secs >= 0.1 else f"{secs * 1000:.0f}ms"


def db_queries(s: Session) -> str:
    """Every session of the database with what it waits for (`pg_stat_activity`)."""
    acts = db_sessions(s)
    if not acts:
        return "No session is running a query right now."
    apps = sum(1 for a in acts if a.user == APP_USER)
    waiting = sum(1 for a in acts if a.waiting)
    parts = [count(len(acts) - apps, "long-running query", "long-running queries")] * (
        len(acts) > apps
    )
    if apps:
        pool = f"{s.system.pool_in_use:.0f}/{s.system.cfg.api.pool_size}"
        parts.append(f"{count(apps, 'API connection')} (pool {pool})")
    head = f"{count(len(acts), 'session')}: {', '.join(parts)}" + (
        f"; {waiting} waiting for a lock (`db locks` shows who blocks whom)" if waiting else ""
    )
    rows = [head, f"  {'pid':>6}  {'user':<10} {'waiting for':<24} {'runtime':>8}  query"]
    for a in acts:
        wait = (
            f"Lock, behind {a.blocked_by[0]}"
            if a.waiting and a.blocked_by
            else ("Lock" if a.waiting else "-")
        )
        rows.append(f"  {a.pid:>6}  {a.user:<10} {wait:<24} {_runtime(a.runtime_s):>8}  {a.query}")
    return "\n".join(rows)


def db_locks(s: Session) -> str:
    """Who blocks whom, as a tree from the sessions that block and wait for nobody
    (`pg_blocking_pids`); the API's connections grouped by query under the session they wait for."""
    acts = db_sessions(s)
    waiting = [a for a in acts if a.waiting]
    if not waiting:
        return "No session waits for a lock."
    by_pid = {a.pid: a for a in acts}
    under: dict[int, list[Activity]] = {}
    for a in waiting:
        for b in a.blocked_by[:1]:
            under.setdefault(b, []).append(a)
    roots = [a for a in acts if a.pid in under and not a.blocked_by]
    lines = ["Lock waits on postgres (who blocks whom, as pg_blocking_pids):"]

    def held(a: Activity, many: bool = False) -> str:
        verb = ("wait for" if many else "waits for") if a.waiting else "holds"
        return f"{verb} {a.lock} on {a.table}"

    def walk(a: Activity, depth: int) -> None:
        pad = "  " + "   " * depth + ("└─ " if depth else "")
        lines.append(f"{pad}{a.pid} {a.user}  {held(a)}  {_runtime(a.runtime_s)}  {a.query}")
        kids = under.get(a.pid, [])
        backends = [k for k in kids if k.user != APP_USER]
        for k in backends:
            walk(k, depth + 1)
        groups: dict[str, list[Activity]] = {}
        for k in kids:
            if k.user == APP_USER:
                groups.setdefault(k.query, []).append(k)
        for query, ks in groups.items():
            longest = max(k.runtime_s for k in ks)
            lines.append(
                f"  {'   ' * (depth + 1)}└─ {count(len(ks), 'API connection')} {held(ks[0], len(ks) > 1)}, "
                f"the longest {_runtime(longest)}: {query}"
            )

    for r in roots:
        walk(r, 0)
    stray = [a for a in waiting if a.blocked_by and a.blocked_by[0] not in by_pid]
    for a in stray:
        lines.append(f"  {a.pid} {a.user}  {held(a)}")
    return "\n".join(lines)


def jobs(s: Session) -> str:
    js = s.system.jobs
    ops = operations(s) if has_operations(s) else ""
    if not js:
        return ops or "No jobs."
    rows = []
    for j in js.values():
        total = j.cfg.total
        prog = (
            f"{j.progress:,}/{total:,} ({j.progress / total:.0%})"
            if total
            else count(j.items_done, "item")
        )
        rows.append(
            f"  {j.name:<24} {j.cfg.kind:<8} {j.state:<8} {prog:<24} {j.cfg.rate_per_s:g}/s  checkpoint={'yes' if j.cfg.checkpoint else 'NO'}  runs={j.runs}"
        )
    return "\n".join(rows) + (f"\n{ops}" if ops else "")


def has_operations(s: Session) -> bool:
    world = s.system.world
    return world is not None and world.operations is not None


def operations(s: Session) -> str:
    """The incident's operations, shown like jobs: state, progress, rate, ETA."""
    if not has_operations(s):
        return "No operations."
    ops = s.system.world.operations.ops
    return "\n".join(["Operations:", *(operation_line(s, op) for op in ops.values())])


def operation_line(s: Session, op: Operation) -> str:
    """One operation on two lines, to fit an 80-column console: `NAME KIND STATE on COMPONENT
    runs=N`, then its progress, rate and ETA."""
    sys_ = s.system
    spec = op.spec
    state = op.state
    if state == "ready":
        prog, rate, eta = "-", f"{human(spec.rate)}/s", "-"
    elif state == "done":
        prog, rate = "100%", "-"
        eta = f"finished {mmss(op.finished[-1] - s.page_tick)}"
    else:
        prog = f"{op.progress(sys_):.0%} ({human(op.remaining(sys_))} left)"
        inflow = op.inflow_rate()
        rate = f"{human(op.rate_now or spec.rate)}/s"
        if inflow:
            rate += f" +{human(inflow)}/s in"
        if state == "failed":
            eta = f"failed {mmss(op.failed_at[-1] - s.page_tick)}: {op.error}"
        elif state == "paused":
            eta = "paused"
        else:
            left = op.eta_s(sys_)
            eta = (
                "ETA never (inflow outruns it)" if left is None else f"ETA {mmss(math.ceil(left))}"
            )
    return (
        f"  {op.name:<24} {spec.kind:<11} {state:<8} on {spec.target}  runs={op.runs}\n"
        f"      {prog:<24} {rate:<22} {eta}"
    )


def flags(s: Session) -> str:
    sys_ = s.system
    flag_rows = [f"  {k:<36} {v}" for k, v in sorted(sys_.flags.items())] or ["  none"]
    config_rows = [f"  {k:<36} {v}" for k, v in sorted(sys_.config.items())] or ["  none"]
    return "\n".join(["Flags:", *flag_rows, "Config:", *config_rows])


def automation(s: Session) -> str:
    """Every automation: what it manages, frozen or not, what it did last (time relative to
    the page)."""
    rows = []
    for a in s.system.automation:
        last = (
            f"{mmss(a.last_at - s.page_tick)} {a.last}" if a.last_at is not None else "nothing yet"
        )
        rows.append(
            f"  {a.name:<24} {a.kind:<14} {'FROZEN' if a.frozen else 'active':<7} {a.target}\n"
            f"  {'':<24} last: {last}"
        )
    if not rows:
        return "No automation: nothing here changes the system by itself."
    head = f"  {'name':<24} {'kind':<14} {'state':<7} manages"
    return (
        "Automation (`freeze NAME` stops one, `thaw NAME` lets it act again):\n"
        + head
        + "\n"
        + "\n".join(rows)
    )
