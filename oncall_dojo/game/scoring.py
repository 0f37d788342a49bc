"""Scoring from the measured outcome of a session.

Every point comes from something the simulation measured: requests that
failed or were too slow, messages that waited too long or were lost, charges
made twice, records left wrong, money spent, when impact ended and when the
cause was gone, what the player looked at before acting, whether they said
what was happening. Nothing here knows which command is "wrong"; a purge
scores badly because the queue model lost the messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oncall_dojo.game.fmt import mmss
from oncall_dojo.game.injects import stakeholder_credit
from oncall_dojo.game.result import GRADES, Item, Result
from oncall_dojo.game.session import Session
from oncall_dojo.sim.observability.metrics import LATENCY_BUCKETS, Fn, Query

RUBRIC: dict[str, float] = {
    "impact": 35.0,  # the worst of failed requests, late background work and wrong records
    "impact_with_data": 27.5,  # the same, in an incident with an application database
    "work_lost": 10,  # messages deleted unprocessed
    "money": 5,  # duplicate charges outstanding, refunds of charges customers owed
    "spend": 2.5,  # spend against the rate when paged
    "data": 7.5,  # records left wrong, writes lost in a failover
    "data_repaired": 15,  # in an incident with an application database: invariants repaired
    "collateral": 10,  # deducted at most: correct rows changed or deleted
    "time_acknowledged": 4,
    "time_mitigated": 8,
    "time_resolved": 8,
    "diagnosis": 10,  # the right root cause declared
    "evidence": 5,  # key signals looked at before the first change
    "comms": 5,  # status updates during impact (half of it for telling harmed customers, if any)
    "needless": 3,  # deducted per needless or destructive action...
    "needless_max": 10,  # ...and at most this much in all
}
"""Every weight of the score, in points. Each item scales its weight by a measured factor
between 0 and 1 (see `_linear`); the items add up to 100 in any incident."""
BURN_ZERO = 0.25
"""Burning a quarter of the month's error budget in one incident earns no impact points."""
LATE_ZERO = 0.25
"""A quarter of the background work late (or never done) earns no impact points."""
WRONG_ZERO = 0.02
"""Two percent of the incident's orders left wrong earns no impact points."""
SAMPLE_S = 5


def _linear(value: float, good: float, zero: float) -> float:
    """1 at or below `good`, 0 at or above `zero`, linear between."""
    if value <= good:
        return 1.0
    if value >= zero:
        return 0.0
    return 1.0 - (value - good) / (zero - good)


def _healthy_series(s: Session) -> list[tuple[int, bool]]:
    sys_ = s.system
    conds = s.incident.resolution.conditions
    out = []
    for t in range(s.page_tick, sys_.t, SAMPLE_S):
        out.append((t, all(sys_.metrics.holds(c, t) for c in conds)))
    return out


def measure_times(s: Session) -> dict[str, int | None]:
    sys_ = s.system
    healthy = _healthy_series(s)
    need = s.incident.resolution.for_s
    mitigated: int | None = None
    streak_start: int | None = None
    for t, ok in healthy:
        if ok and streak_start is None:
            streak_start = t
        elif not ok:
            streak_start = None
    if streak_start is not None and sys_.t - streak_start >= need:
        mitigated = streak_start - s.page_tick
    causes = [f for f in s.fault_runs if f.spec.cause]
    cause_gone: int | None = None
    if causes and all(f.started is not None and not f.active(sys_) for f in causes):
        cause_gone = max((f.ended or f.started or 0) for f in causes) - s.page_tick
    resolved = None
    if mitigated is not None and cause_gone is not None:
        resolved = max(mitigated, cause_gone)
    return {
        "acknowledged": s.acked_at,
        "mitigated": mitigated,
        "cause_removed": cause_gone,
        "resolved": resolved,
        "declared_resolved": s.declared_resolved_at,
        "first_action": s.first_action_at(),
    }


def score(s: Session) -> Result:
    sys_ = s.system
    inc = s.incident
    t_end = sys_.t - 1
    window = t_end - s.page_tick + 1
    m = sys_.metrics
    items: list[Item] = []
    notes: list[str] = []

    def q(metric: str, fn: Fn, over: str | None = None) -> float:
        return m.query(Query(metric=metric, fn=fn, window=window, over=over), t_end) or 0.0

    # -- customer impact: failed and too-slow requests, and work that came too late -------
    total = q("http_requests_total", "increase")
    failed = q('http_requests_total{code=~"5.."}', "increase")
    throttled = q('http_requests_total{code="429"}', "increase")
    slow = _slow_requests(s)
    bad = failed + throttled + slow
    mean_rps = total / max(1, window)
    budget = (1 - sys_.cfg.slo.availability) * mean_rps * 86_400 * sys_.cfg.slo.window_days
    burn = bad / budget if budget else 0.0
    produced = sum(qq.stats.produced for qq in sys_.queues.values())
    late = sum(qq.stats.late for qq in sys_.queues.values())
    lost = sum(qq.stats.purged for qq in sys_.queues.values())
    parked = sum(qq.dlq_depth for qq in sys_.queues.values())
    waiting = sum(qq.depth + qq.inflight for qq in sys_.queues.values())
    late_share = (late + lost + parked) / max(1, produced)
    orders = q("orders_created_total", "increase")
    data = _data_outcome(s) if sys_.app is not None else None
    wrong_now = len(sys_.records.corrupted)
    wrong_share = wrong_now / max(1.0, orders)
    factors = {
        "requests": _linear(burn, 0.0, BURN_ZERO),
        "background work": _linear(late_share, 0.0, LATE_ZERO),
        "wrong records": _linear(wrong_share, 0.0, WRONG_ZERO),
    }
    if data is not None:
        factors["customers charged or emailed twice"] = _linear(
            data["harm_after_page"] / max(1, data["customers"]), 0.0, 1.0
        )
    worst = min(factors, key=lambda k: factors[k])
    impact_max = RUBRIC["impact"] if data is None else RUBRIC["impact_with_data"]
    pts = impact_max * factors[worst]
    items.append(
        Item(
            "impact",
            "Customer impact",
            round(pts, 1),
            impact_max,
            f"{int(failed):,} failed, {int(throttled):,} throttled and {int(slow):,} too-slow requests of {int(total):,} "
            f"({burn:.1%} of the month's error budget); {late + lost + parked:,} of {produced:,} messages late or never processed "
            f"({late_share:.1%}); {wrong_now:,} customers' orders still wrong at the end"
            + (
                f"; {data['harm_after_page']:,} repeat charges or emails after the page"
                if data
                else ""
            )
            + f"; scored on the worst ({worst})"
            + (f"; {parked:,} messages still parked in dead-letter queues" if parked else ""),
        )
    )
    loss_pts = RUBRIC["work_lost"] * _linear(lost / max(1, produced), 0.0, 0.01)
    items.append(
        Item(
            "work_lost",
            "Work lost",
            round(loss_pts, 1),
            RUBRIC["work_lost"],
            "no message was lost"
            if not lost
            else f"{lost:,} messages were deleted unprocessed (purged): that work will never happen",
        )
    )

    # -- money and data ----------------------------------------------------------------
    rec = sys_.records
    dups = rec.duplicate_charges
    refunded = sum(rec.refunded.values())
    dup_cents = rec.duplicate_cents(sys_.order_cents)
    wrong_refunds = data["wrong_refunds"] if data else 0
    money_pts = RUBRIC["money"] * _linear(dups + wrong_refunds, 0, 50)
    items.append(
        Item(
            "money",
            "Customers charged twice",
            round(money_pts, 1),
            RUBRIC["money"],
            (
                "no customer was charged twice"
                if not dups and not refunded
                else f"{dups:,} duplicate charges outstanding (${dup_cents / 100:,.2f})"
                + (f"; {refunded:,} refunded" if refunded else "")
            )
            + (f"; {wrong_refunds:,} refunds of charges customers owed" if wrong_refunds else ""),
        )
    )
    start_rate = m.values[s.page_tick, sys_.g_cost] if s.page_tick < m.ticks else 0.0
    spent = float(m.values[s.page_tick : t_end + 1, sys_.g_cost].sum()) / 3600.0
    baseline = start_rate * window / 3600.0
    ratio = spent / baseline if baseline else 1.0
    spend_pts = RUBRIC["spend"] * _linear(ratio, 1.15, 2.0)
    items.append(
        Item(
            "spend",
            "Spend",
            round(spend_pts, 1),
            RUBRIC["spend"],
            f"${spent:,.2f} spent during the incident, {ratio:.2f}x the rate when you were paged",
        )
    )
    wrong = len(rec.corrupted)
    ever = wrong + rec.repaired
    lost_writes = sys_.db.writes_lost
    data_pts = (
        RUBRIC["data"] * (1.0 if ever == 0 else rec.repaired / ever) * _linear(lost_writes, 0, 100)
    )
    detail = (
        "no records left wrong"
        if not wrong
        else f"{wrong:,} order records left wrong ({rec.repaired:,} repaired)"
    )
    if ever and not wrong:
        detail = f"all {ever:,} corrupted records repaired"
    if lost_writes:
        detail += f"; {lost_writes:,} committed writes lost in a failover"
    if data is None:
        items.append(Item("data", "Data left wrong", round(data_pts, 1), RUBRIC["data"], detail))
    else:
        items.extend(data["items"])

    # -- time against par --------------------------------------------------------------
    times = measure_times(s)
    par = inc.par
    for key, title, par_s in (
        ("acknowledged", "Time to acknowledge", par.acknowledge_s),
        ("mitigated", "Time to mitigate", par.mitigate_s),
        ("resolved", "Time to resolve", par.resolve_s),
    ):
        mx = RUBRIC[f"time_{key}"]
        v = times[key]
        if v is None:
            pts, detail = (
                0.0,
                {
                    "acknowledged": "never acknowledged",
                    "mitigated": "customer impact had not ended at the end",
                    "resolved": "the cause was still present or the system unhealthy at the end",
                }[key],
            )
        else:
            pts = mx * _linear(v, par_s, 3 * par_s)
            detail = f"{mmss(v)} (par {mmss(par_s)})"
        items.append(Item(f"time_{key}", title, round(pts, 1), mx, detail))

    # -- diagnosis -----------------------------------------------------------------------
    rc = inc.root_cause
    if s.diagnosis is None:
        items.append(
            Item("diagnosis", "Root cause", 0, RUBRIC["diagnosis"], "no root cause declared")
        )
    elif s.diagnosis[0] == rc.answer:
        items.append(
            Item(
                "diagnosis",
                "Root cause",
                RUBRIC["diagnosis"],
                RUBRIC["diagnosis"],
                f"correct: {next(o.text for o in rc.options if o.id == rc.answer)}",
            )
        )
    else:
        wrong_opt = next(o for o in rc.options if o.id == s.diagnosis[0])
        items.append(
            Item(
                "diagnosis",
                "Root cause",
                0,
                RUBRIC["diagnosis"],
                f"declared {wrong_opt.id}, but {wrong_opt.why_not or 'that was not it'}",
            )
        )

    # -- conduct: evidence before acting, communication -----------------------------------
    first_act = s.first_action_at()
    seen_before = set(s.evidence_seen(first_act))
    key_ev = [e.view for e in inc.evidence]
    if key_ev:
        got = [e for e in key_ev if evidence_covered(e, seen_before)]
        ev_pts = RUBRIC["evidence"] * len(got) / len(key_ev)
        missing = [e for e in key_ev if e not in got]
        ev_detail = f"looked at {len(got)} of {len(key_ev)} key signals before the first change" + (
            f"; not before acting: {', '.join(missing)}" if missing else ""
        )
    else:
        ev_pts = float(RUBRIC["evidence"]) if seen_before else 0.0
        ev_detail = (
            "investigated before changing anything"
            if seen_before
            else "changed things before looking"
        )
    items.append(
        Item("evidence", "Evidence before acting", round(ev_pts, 1), RUBRIC["evidence"], ev_detail)
    )
    mitigated = times["mitigated"]
    during = [u for u in s.status_updates if mitigated is None or u[0] <= mitigated]
    full = float(RUBRIC["comms"])
    comm_pts = full if during and during[0][0] <= 900 else (full / 2 if during else 0.0)
    comm_detail = (
        "no status update while customers were affected"
        if not during
        else f"{len(during)} update(s) during impact, the first at {mmss(during[0][0])}"
        + ("" if during[0][0] <= 900 else " (more than 15 minutes in)")
    )
    if data and data["harmed"]:
        # customers who were charged or emailed twice are owed a word of their own
        harmed, told, spam = data["harmed"], data["told"], data["spam"]
        comm_pts = comm_pts / 2 + full / 2 * (told / harmed) * _linear(spam, 0, 200)
        comm_detail += f"; {told:,} of {harmed:,} affected customers notified" + (
            f", and {spam:,} unaffected customers too" if spam else ""
        )
    if (asked := stakeholder_credit(s)) is not None:
        # a stakeholder who wrote is owed an answer, scored like the updates: half of the item
        comm_pts = comm_pts / 2 + full / 2 * asked[0]
        comm_detail += f"; {asked[1]}"
    items.append(Item("comms", "Status updates", round(comm_pts, 1), RUBRIC["comms"], comm_detail))

    # -- deductions: needless or destructive actions, hints ---------------------------------
    needless = _needless_actions(s)
    if needless:
        pen = min(float(RUBRIC["needless_max"]), float(RUBRIC["needless"]) * len(needless))
        items.append(
            Item("needless", "Needless or destructive actions", -pen, 0, "; ".join(needless))
        )
    if s.hints_taken:
        cost = sum(inc.hints[i].cost for i in s.hints_taken)
        items.append(Item("hints", "Hints", -float(cost), 0, f"{len(s.hints_taken)} hint(s) taken"))

    if s.declared_resolved_at is not None and (
        mitigated is None or s.declared_resolved_at < mitigated
    ):
        notes.append(
            f"declared resolved at {mmss(s.declared_resolved_at)} while customers were still affected"
        )
    total_pts = max(0.0, min(100.0, sum(i.points for i in items)))
    final = round(total_pts)
    grade = next(g for lim, g in GRADES if final >= lim)
    impact = {
        "requests_total": int(total),
        "requests_failed": int(failed),
        "requests_throttled": int(throttled),
        "requests_slow": int(slow),
        "error_budget_burned": round(burn, 4),
        "messages_produced": produced,
        "messages_late": late,
        "messages_lost": lost,
        "messages_dead_lettered": parked,
        "messages_waiting": waiting,
        "duplicate_charges": dups,
        "duplicate_cents": dup_cents,
        "refunded_charges": refunded,
        "records_wrong": wrong,
        "records_repaired": rec.repaired,
        "writes_lost": lost_writes,
        "spend_dollars": round(spent, 2),
    }
    if data is not None:
        impact.update(data["impact"])
    resolved = times["resolved"] is not None
    return Result(
        inc.id,
        inc.version,
        s.seed,
        final,
        grade,
        items,
        impact,
        times,
        _timeline(s, times),
        resolved,
        notes,
    )


COLLATERAL_ZERO = 200
"""Correct rows changed or deleted at which the data repair earns nothing (and costs 10 points)."""


def _data_outcome(s: Session) -> dict[str, Any]:
    """The application database at the end: invariants, collateral damage, refunds, notices."""
    sys_ = s.system
    app = sys_.app
    cfg = sys_.cfg.appdb
    assert app is not None and cfg is not None
    end = sys_.check_data()
    m = sys_.metrics
    peak = {}
    for inv in cfg.invariants:
        col = m.values[: m.ticks, sys_.g_invariants[inv.name]]
        peak[inv.name] = max(end[inv.name], int(col.max()) if len(col) else 0)
    left, worst = sum(end.values()), sum(peak.values())
    fixed = 1.0 if worst == 0 else 1.0 - left / worst
    collateral = app.collateral()
    n_coll = sum(collateral.values())
    cf = _linear(n_coll, 0, COLLATERAL_ZERO)
    items = []
    parts = [
        f"{inv.name}: {end[inv.name]:,} left of {peak[inv.name]:,} at worst"
        for inv in cfg.invariants
    ]
    items.append(
        Item(
            "data",
            "Data repaired",
            round(RUBRIC["data_repaired"] * fixed * cf, 1),
            RUBRIC["data_repaired"],
            ("; ".join(parts) or "no data checks")
            + (f"; scaled down for {n_coll:,} correct rows damaged" if n_coll else ""),
        )
    )
    if n_coll:
        items.append(
            Item(
                "collateral",
                "Correct rows damaged",
                round(-RUBRIC["collateral"] * (1 - cf), 1),
                0,
                "changed or deleted rows that were right: "
                + ", ".join(f"{n:,} in {t}" for t, n in sorted(collateral.items())),
            )
        )
    rec = sys_.records
    wrong_refunds = 0
    for k, n in rec.refunded.items():
        owed_once = rec.charges.get(k, 1 if k <= 0 else 0)
        wrong_refunds += max(0, n - max(0, owed_once - 1))
    harmed = {app.order(k).customer_id for k, n in rec.charges.items() if n > 1}
    harmed |= {
        c
        for (c, camp), n in app.emails_sent.items()
        if n > 1 and camp not in ("receipt", "incident-notice")
    }
    told = len(harmed & sys_.notified)
    harm_after = sum(1 for t in app.harm_ticks if t >= s.page_tick)
    spam = len(sys_.notified - harmed)
    return {
        "items": items,
        "wrong_refunds": wrong_refunds,
        "harmed": len(harmed),
        "told": told,
        "spam": spam,
        "harm_after_page": harm_after,
        "customers": app.customers,
        "impact": {
            "repeat_charges_and_emails_after_page": harm_after,
            "invariant_violations": end,
            "invariant_violations_peak": peak,
            "correct_rows_damaged": collateral,
            "wrong_refunds": wrong_refunds,
            "customers_harmed": len(harmed),
            "customers_notified": told,
            "customers_notified_needlessly": spam,
            "shipping_labels": app.parcels,
        },
    }


def evidence_covered(view: str, seen: set[str]) -> bool:
    if view in seen:
        return True
    if ":" not in view:
        return any(x.split(":", 1)[0] == view for x in seen)
    kind, target = view.split(":", 1)
    # `logs:all` covers every service's logs only if the player filtered nothing
    return kind == "logs" and "logs:all" in seen and target == "all"


def _slow_requests(s: Session) -> float:
    """Successful requests slower than the SLO threshold, from the latency histograms."""
    m = s.system.metrics
    limit = s.system.cfg.slo.latency_s
    cut = next(i for i, b in enumerate(LATENCY_BUCKETS) if b >= limit)
    idx = list(range(len(m.hist_series)))
    counts = m.hvalues[s.page_tick : m.ticks][:, idx, cut + 1 :].sum()
    # requests that failed are already counted as failed; 504s sit in the top buckets
    timeouts = (
        m.query(
            Query(
                metric='http_requests_total{code="504"}',
                fn="increase",
                window=m.ticks - s.page_tick,
            ),
            m.ticks - 1,
        )
        or 0.0
    )
    return float(max(0.0, float(np.asarray(counts)) - timeouts))


def _needless_actions(s: Session) -> list[str]:
    out = []
    for e in s.entries:
        if e.kind != "act":
            continue
        if e.name == "restart" and e.command.split()[1:2]:
            target = e.command.split()[1]
            if target in s.system.pools and not _pool_was_troubled(s, target, e.tick):
                out.append(f"restarted {target} at {mmss(e.at)} although it was healthy")
            if target in ("cache",):
                out.append(f"restarted the cache at {mmss(e.at)}: it came back empty")
            if target == "postgres":
                out.append(
                    f"restarted postgres at {mmss(e.at)}: every connection and running query was killed, and the evidence with them"
                )
        if e.name == "cache flush":
            out.append(f"flushed the cache at {mmss(e.at)}: every read went to the database")
    return out


def _pool_was_troubled(s: Session, pool: str, tick: int) -> bool:
    m = s.system.metrics
    g = s.system.g_w[pool]
    lo = max(0, tick - 300)
    restarts = m.values[lo:tick, g["restarts"]].sum()
    ready = m.values[tick - 1, g["running"]] if tick > 0 else 0
    desired = m.values[tick - 1, g["desired"]] if tick > 0 else 0
    queue = s.system.pools[pool].cfg.queue
    age = m.values[tick - 1, s.system.g_q[queue]["age"]] if tick > 0 else 0
    return bool(restarts > 0 or ready < desired or age > s.system.queues[queue].cfg.objective_s)


def _timeline(s: Session, times: dict[str, int | None]) -> list[dict[str, Any]]:
    sys_ = s.system
    ev: list[dict[str, Any]] = [
        {"at": 0, "kind": "page", "text": f"paged by {s.incident.page.alert}"}
    ]
    for f in s.fault_runs:
        if f.started is not None and f.started >= s.page_tick - 3600:
            ev.append(
                {
                    "at": f.started - s.page_tick,
                    "kind": "fault",
                    "text": f"{f.spec.kind} began" + ("" if f.spec.cause else " (red herring)"),
                }
            )
    for a in sys_.alerts.events:
        if a.tick >= s.page_tick:
            ev.append({"at": a.tick - s.page_tick, "kind": "alert", "text": f"{a.name} {a.state}"})
    for e in s.entries:
        ev.append({"at": e.at, "kind": e.kind, "text": e.command})
    for key in ("mitigated", "cause_removed", "resolved"):
        v = times[key]
        if v is not None:
            ev.append({"at": v, "kind": "outcome", "text": key.replace("_", " ")})
    ev.sort(key=lambda x: (x["at"], x["kind"]))
    return ev
