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

from oncall_dojo.game.evidence import key_signals, seen_before_acting
from oncall_dojo.game.fmt import mmss
from oncall_dojo.game.injects import stakeholder_credit
from oncall_dojo.game.needless import needless_actions
from oncall_dojo.game.result import GRADES, Item, Result
from oncall_dojo.game.session import Session
from oncall_dojo.game.times import SPEND_BURST, measure_times, timeline
from oncall_dojo.sim.components.clusters import rows_lost, writes_lost
from oncall_dojo.sim.data.schema import KEYED
from oncall_dojo.sim.observability.metrics import LATENCY_BUCKETS, Fn, Query
from oncall_dojo.sim.text import count

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
    "diagnosis": 10,  # the right part and mechanism declared (4 for the right part alone)
    "red_herring": 3,  # deducted for naming a part that only looked guilty
    "evidence": 5,  # key signals looked at before the first change
    "comms": 5,  # status updates during impact (half of it for telling harmed customers, if any)
    "needless": 3,  # deducted per needless or destructive action...
    "needless_max": 10,  # ...and at most this much in all
}
"""Every weight of the score, in points. Each item scales its weight by a measured factor
between 0 and 1 (see `_linear`); the items add up to 100 in any incident."""
BURN_ZERO = 0.5
"""Burning half of the month's error budget in one incident earns no impact points."""
LATE_ZERO = 0.5
"""Half of one kind of work (orders to charge, receipts to send, orders to ship...) done late
or never earns no impact points."""
SPEND_GOOD = 1.15
"""Spending up to this multiple of the normal rate (before any fault) costs no spend points."""
SPEND_ZERO = 10.0
"""Spending at this multiple of the normal rate (a runaway bill) earns no impact points."""
UNITS = {
    "charge": "orders to charge",
    "email": "emails to send",
    "fulfillment": "orders to ship",
}
"""What one message of a queue of each kind is, for the business (a `generic` queue's messages
are that queue's jobs)."""
WRONG_ZERO = 0.02
"""Two percent of the incident's orders left wrong earns no impact points."""


def _linear(value: float, good: float, zero: float) -> float:
    """1 at or below `good`, 0 at or above `zero`, linear between."""
    if value <= good:
        return 1.0
    if value >= zero:
        return 0.0
    return 1.0 - (value - good) / (zero - good)


def business_units(s: Session) -> list[dict[str, Any]]:
    """Each queue's work in the business's units: how many were due, how many were done later
    than the queue's objective (those still waiting past it at the end included), and how many
    never will be (purged, or parked in the dead-letter queue at the end).

    `late` counts only work whose objective ran out after the page; work already late when the
    responder was paged is `already_late`, told but not held against them, as the requests'
    error budget is counted from the page too. Work that is never done counts whenever it
    was due: the responder can still redrive it."""
    out = []
    for name, qq in s.system.queues.items():
        kind = qq.cfg.kind
        never = qq.stats.purged + qq.dlq_depth
        out.append(
            {
                "queue": name,
                "unit": UNITS.get(kind, f"{name} jobs"),
                "total": qq.stats.produced,
                "late": (after := qq.late_due_from(s.page_tick)),
                "already_late": qq.stats.late - after,
                "never": never,
                "purged": qq.stats.purged,
            }
        )
    return out


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

    # -- customer impact, in the business's units -------------------------------------------
    total = q("http_requests_total", "increase")
    failed = q('http_requests_total{code=~"5.."}', "increase")
    throttled = q('http_requests_total{code="429"}', "increase")
    slow = _slow_requests(s)
    bad = failed + throttled + slow
    mean_rps = total / max(1, window)
    slo = sys_.cfg.slo
    budget = (1 - slo.availability) * mean_rps * 86_400 * slo.window_days
    burn = bad / budget if budget else 0.0
    budget_minutes = (1 - slo.availability) * 1440 * slo.window_days
    produced = sum(qq.stats.produced for qq in sys_.queues.values())
    late = sum(qq.stats.late for qq in sys_.queues.values())
    lost = sum(qq.stats.purged for qq in sys_.queues.values())
    parked = sum(qq.dlq_depth for qq in sys_.queues.values())
    waiting = sum(qq.depth + qq.inflight for qq in sys_.queues.values())
    units = business_units(s)
    orders = q("orders_created_total", "increase")
    data = _data_outcome(s) if sys_.app is not None else None
    wrong_now = len(sys_.records.corrupted)
    wrong_share = wrong_now / max(1.0, orders)
    start_rate = m.values[min(1, m.ticks - 1), sys_.g_cost] if m.ticks else 0.0  # before any fault
    spent = float(m.values[s.page_tick : t_end + 1, sys_.g_cost].sum()) / 3600.0
    baseline = start_rate * window / 3600.0
    ratio = spent / baseline if baseline else 1.0
    charged_twice = sys_.records.duplicate_charges
    factors = {
        "requests": _linear(burn, 0.0, BURN_ZERO),
        "wrong records": _linear(wrong_share, 0.0, WRONG_ZERO),
        "orders charged twice": _linear(charged_twice / max(1.0, orders), 0.0, WRONG_ZERO),
        "money spent": _linear(ratio, SPEND_BURST, SPEND_ZERO),
    }
    for u in units:
        if u["total"]:
            factors[u["unit"]] = _linear((u["late"] + u["never"]) / u["total"], 0.0, LATE_ZERO)
    if data is not None:
        factors["customers charged or emailed twice"] = _linear(
            data["harm_after_page"] / max(1, data["customers"]), 0.0, 1.0
        )
    worst = min(factors, key=lambda k: factors[k])
    impact_max = RUBRIC["impact"] if data is None else RUBRIC["impact_with_data"]
    pts = impact_max * factors[worst]
    said = [
        f"{int(failed + throttled):,} requests failed and {int(slow):,} were too slow, of {int(total):,} "
        f"({burn * budget_minutes:.1f} of the month's {budget_minutes:.0f} minutes of error budget)"
    ]
    said += [
        f"{u['unit']}: {u['late']:,} late and {u['never']:,} never, of {u['total']:,}"
        + (f" ({u['already_late']:,} already late when paged)" if u["already_late"] else "")
        for u in units
        if u["late"] or u["never"] or u["already_late"]
    ]
    if wrong_now:
        said.append(f"{wrong_now:,} customers' orders still wrong at the end")
    if charged_twice:
        cents = sys_.records.duplicate_cents(sys_.order_cents)
        said.append(
            f"{charged_twice:,} orders charged twice and not refunded (${cents / 100:,.2f})"
        )
    if ratio > SPEND_BURST:
        said.append(f"${spent:,.2f} spent, {ratio:.2f}x the normal rate")
    if data and data["harm_after_page"]:
        said.append(f"{data['harm_after_page']:,} repeat charges or emails after the page")
    items.append(
        Item(
            "impact",
            "Customer impact",
            round(pts, 1),
            impact_max,
            "; ".join(said) + f"; scored on the worst ({worst})",
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
            else "deleted unprocessed (purged), never to happen: "
            + ", ".join(f"{u['purged']:,} {u['unit']}" for u in units if u["purged"]),
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
    spend_pts = RUBRIC["spend"] * _linear(ratio, SPEND_GOOD, 2.0)
    items.append(
        Item(
            "spend",
            "Spend",
            round(spend_pts, 1),
            RUBRIC["spend"],
            f"${spent:,.2f} spent during the incident, {ratio:.2f}x the normal rate",
        )
    )
    wrong = len(rec.corrupted)
    ever = wrong + rec.repaired
    lost_writes = writes_lost(sys_.db, sys_.topology)
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
                    "mitigated": "customer impact was still growing at the end",
                    "resolved": "the cause was still present or the system unhealthy at the end",
                }[key],
            )
        else:
            pts = mx * _linear(v, par_s, 3 * par_s)
            detail = (
                f"{mmss(v)} (par {mmss(par_s)})"
                + {
                    "acknowledged": "",
                    "mitigated": ": from then on no requests failing at the fast-burn rate, no work "
                    "waiting past its objective, no new wrong writes or repeat charges, no "
                    "runaway spend",
                    "resolved": f": the cause gone at {mmss(times['cause_removed'] or 0)} and the "
                    f"system healthy from {mmss(times['healthy'] or 0)}",
                }[key]
            )
        items.append(Item(f"time_{key}", title, round(pts, 1), mx, detail))

    # -- diagnosis -----------------------------------------------------------------------
    items += _diagnosis_items(s)

    # -- conduct: evidence before acting, communication -----------------------------------
    signals = key_signals(s)
    if signals:
        got = [v for v, _, ok in signals if ok]
        ev_pts = RUBRIC["evidence"] * len(got) / len(signals)
        missing = [v for v, _, ok in signals if not ok]
        ev_detail = (
            f"looked at {len(got)} of {len(signals)} key signals before the first change"
            + (f"; not before acting: {', '.join(missing)}" if missing else "")
        )
    else:
        looked = seen_before_acting([(e.evidence, e.mutates) for e in s.entries])
        ev_pts = float(RUBRIC["evidence"]) if looked else 0.0
        ev_detail = (
            "investigated before changing anything" if looked else "changed things before looking"
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
        else f"{count(len(during), 'update')} during impact, the first at {mmss(during[0][0])}"
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
    needless = needless_actions(s)
    if needless:
        pen = min(float(RUBRIC["needless_max"]), float(RUBRIC["needless"]) * len(needless))
        items.append(
            Item("needless", "Needless or destructive actions", -pen, 0, "; ".join(needless))
        )
    if s.hints_taken:
        cost, taken = sum(inc.hints[i].cost for i in s.hints_taken), len(s.hints_taken)
        items.append(Item("hints", "Hints", -float(cost), 0, f"{count(taken, 'hint')} taken"))

    if s.declared_resolved_at is not None and (
        mitigated is None or s.declared_resolved_at < mitigated
    ):
        notes.append(
            f"declared resolved at {mmss(s.declared_resolved_at)} while customers were still affected"
        )
    harm = _irreversible_harm(s, units, data)
    total_pts = max(0.0, min(100.0, sum(i.points for i in items)))
    if harm and total_pts > HARM_CAP:
        items.append(
            Item(
                "harm_cap",
                "Irreversible harm",
                round(HARM_CAP - total_pts, 1),
                0,
                "; ".join(harm) + f": the score is capped at {HARM_CAP} (an F)",
            )
        )
        total_pts = HARM_CAP
    final = round(total_pts)
    grade = next(g for lim, g in GRADES if final >= lim)
    impact = {
        "requests_total": int(total),
        "requests_failed": int(failed),
        "requests_throttled": int(throttled),
        "requests_slow": int(slow),
        "error_budget_burned": round(burn, 4),
        "error_budget_minutes_burned": round(burn * budget_minutes, 1),
        "business_units": units,
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
        timeline(s, times),
        resolved,
        notes,
    )


DIAGNOSIS_PART_SHARE = 0.4
"""The share of the diagnosis points for naming the right part with the wrong mechanism."""


def _diagnosis_items(s: Session) -> list[Item]:
    rc = s.incident.root_cause
    full = RUBRIC["diagnosis"]
    d = s.diagnosis
    if d is None:
        return [Item("diagnosis", "Root cause", 0, full, "no root cause declared")]
    verdict = rc.judge(d.part, d.mechanism)
    said = f"{d.part}, {d.mechanism}"
    if verdict == "right":
        return [Item("diagnosis", "Root cause", full, full, f"correct: {said}")]
    if verdict == "part":
        return [
            Item(
                "diagnosis",
                "Root cause",
                round(full * DIAGNOSIS_PART_SHARE, 1),
                full,
                f"the right part ({d.part}), but not {d.mechanism}",
            )
        ]
    items = [Item("diagnosis", "Root cause", 0, full, f"declared {said}: not the cause")]
    if verdict == "red herring":
        why = next(h.why_not for h in rc.red_herrings if h.part == d.part)
        items.append(
            Item(
                "red_herring",
                "Red herring named as the cause",
                -RUBRIC["red_herring"],
                0,
                f"{d.part}: {why}",
            )
        )
    return items


HARM_CAP = 59
"""The most a game that did irreversible harm can score: an F, below a clean fix even when it is
slow and silent (the minimal playthrough of every incident is graded at least C)."""


def _irreversible_harm(
    s: Session, units: list[dict[str, Any]], data: dict[str, Any] | None
) -> list[str]:
    """What was done that cannot be undone: work purged, correct rows changed or deleted,
    committed writes lost in a failover, customers charged twice and never refunded."""
    sys_ = s.system
    harm = [f"{u['purged']:,} {u['unit']} purged" for u in units if u["purged"]]
    if data is not None and data["collateral"]:
        harm.append(f"{data['collateral']:,} correct rows changed or deleted")
    if lost_writes := writes_lost(sys_.db, sys_.topology):
        harm.append(f"{lost_writes:,} committed writes lost in a failover")
    dups = sys_.records.duplicate_charges
    if dups:
        cents = sys_.records.duplicate_cents(sys_.order_cents)
        harm.append(f"{dups:,} duplicate charges never refunded (${cents / 100:,.2f})")
    return harm


COLLATERAL_ZERO = 200
"""Correct rows changed or deleted at which the data repair earns nothing (and costs 10 points)."""
LOST_ROWS_ZERO = 200
"""Committed rows lost in a failover (and not put back) at which the data repair earns nothing."""


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
    lost = rows_lost(app) if app.lost else {}
    for table in KEYED:  # rows matched by what they are: a failover's are not the player's doing
        if table in lost and table in collateral:
            collateral[table] = max(0, collateral[table] - lost[table])
            if not collateral[table]:
                del collateral[table]
    n_coll = sum(collateral.values())
    cf = _linear(n_coll, 0, COLLATERAL_ZERO)
    n_lost = sum(lost.values())
    lf = _linear(n_lost, 0, LOST_ROWS_ZERO)
    items = []
    parts = [
        f"{inv.name}: {end[inv.name]:,} left of {peak[inv.name]:,} at worst"
        for inv in cfg.invariants
    ]
    items.append(
        Item(
            "data",
            "Data repaired",
            round(RUBRIC["data_repaired"] * fixed * cf * lf, 1),
            RUBRIC["data_repaired"],
            ("; ".join(parts) or "no data checks")
            + (f"; scaled down for {n_coll:,} correct rows damaged" if n_coll else "")
            + (
                f"; scaled down for {n_lost:,} committed rows lost in a failover ("
                + ", ".join(f"{n:,} in {t}" for t, n in lost.items())
                + ")"
                if n_lost
                else ""
            ),
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
    impact: dict[str, Any] = {
        "repeat_charges_and_emails_after_page": harm_after,
        "invariant_violations": end,
        "invariant_violations_peak": peak,
        "correct_rows_damaged": collateral,
        "wrong_refunds": wrong_refunds,
        "customers_harmed": len(harmed),
        "customers_notified": told,
        "customers_notified_needlessly": spam,
        "shipping_labels": app.parcels,
    }
    if app.lost:
        impact["rows_lost_in_failover"] = lost
    return {
        "items": items,
        "collateral": n_coll,
        "wrong_refunds": wrong_refunds,
        "harmed": len(harmed),
        "told": told,
        "spam": spam,
        "harm_after_page": harm_after,
        "customers": app.customers,
        "impact": impact,
    }


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
