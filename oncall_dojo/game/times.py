"""When an incident was mitigated and resolved, measured from the model, and the timeline of
a session: when customer impact stopped growing, when every cause was gone, when the system was
healthy for good."""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from oncall_dojo.game.session import Session
from oncall_dojo.sim.observability.metrics import Query

SPEND_BURST = 2.0
"""Spending up to this multiple of the normal rate costs no impact points; spending faster is
customer impact still growing (the business's money)."""
SAMPLE_S = 5


def _healthy_series(s: Session) -> list[tuple[int, bool]]:
    sys_ = s.system
    conds = s.incident.resolution.conditions
    out = []
    for t in range(s.page_tick, sys_.t, SAMPLE_S):
        out.append((t, all(sys_.metrics.holds(c, t) for c in conds)))
    return out


FAST_BURN = 14.4
"""Requests failing (or too slow) at this multiple of the SLO's error rate count as customer
impact still growing (the paging burn rate of the SRE Workbook's multi-window alerts)."""
GROWTH_WINDOW_S = 60
BURN_LONG_WINDOW_S = 300
"""Requests count as impact still growing only when the bad fraction is over the fast-burn
rate over both the last minute and the last five minutes, as a multi-window burn-rate alert
pages: the short window says it is still happening, the long one that it is not a blip."""
GROWTH_STEP_S = 10


def impact_growing(s: Session, t: int, harm: list[int] | None = None) -> bool:
    """Whether customer impact was still growing in the minute before tick `t`: requests
    failing or too slow at the fast-burn rate, work waiting past its queue's objective, wrong
    orders being written, customers charged or emailed twice, or money spent at more than
    twice the normal rate. `harm`: the application database's harm ticks, sorted (sorted here
    when not given; a caller asking for many ticks sorts them once)."""
    sys_ = s.system
    m = sys_.metrics
    normal = m.values[min(1, m.ticks - 1), sys_.g_cost] if m.ticks else 0.0
    if normal and m.values[t, sys_.g_cost] > SPEND_BURST * normal:
        return True

    def inc(sel: str, window: int = GROWTH_WINDOW_S) -> float:
        return m.query(Query(metric=sel, fn="increase", window=window), t) or 0.0

    def burning(window: int) -> bool:
        total = inc("http_requests_total", window)
        bad = inc('http_requests_total{code=~"5..|429"}', window) + inc(
            "http_requests_slow_total", window
        )
        return bool(total) and bad / total > FAST_BURN * (1 - sys_.cfg.slo.availability)

    if burning(GROWTH_WINDOW_S) and burning(BURN_LONG_WINDOW_S):
        return True
    for name, qq in sys_.queues.items():
        age = m.query(
            Query(metric=f'queue_oldest_message_age_seconds{{queue="{name}"}}', fn="last"), t
        )
        if age is not None and age > qq.cfg.objective_s:
            return True
    if inc("orders_written_invalid_total") > 0:
        return True
    app = sys_.app
    if app is None:
        return False
    if harm is None:
        harm = sorted(app.harm_ticks)
    # any harm tick h with t - GROWTH_WINDOW_S < h <= t
    return bisect_right(harm, t) > bisect_right(harm, t - GROWTH_WINDOW_S)


def measure_times(s: Session) -> dict[str, int | None]:
    """From the model: when customer impact stopped growing (mitigated), when every cause was
    gone, and when both held and the system was back within its resolution conditions for good
    (resolved). Player seconds from the page; None when it had not happened by the end."""
    sys_ = s.system
    end = sys_.t - 1
    last_growth: int | None = None
    harm = sorted(sys_.app.harm_ticks) if sys_.app is not None else None
    for t in range(s.page_tick + GROWTH_STEP_S, end + 1, GROWTH_STEP_S):
        if impact_growing(s, t, harm):
            last_growth = t
    if last_growth is None:
        mitigated: int | None = 0
    elif end - last_growth < GROWTH_STEP_S:
        mitigated = None  # still growing at the end
    else:
        mitigated = last_growth - s.page_tick
    healthy = _healthy_series(s)
    need = s.incident.resolution.for_s
    streak_start: int | None = None
    for t, ok in healthy:
        if ok and streak_start is None:
            streak_start = t
        elif not ok:
            streak_start = None
    healthy_from = (
        streak_start - s.page_tick
        if streak_start is not None and sys_.t - streak_start >= need
        else None
    )
    causes = [f for f in s.fault_runs if f.spec.cause]
    cause_gone: int | None = None
    if causes and all(f.started is not None and not f.active(sys_) for f in causes):
        cause_gone = max((f.ended or f.started or 0) for f in causes) - s.page_tick
    resolved = None
    if mitigated is not None and cause_gone is not None and healthy_from is not None:
        resolved = max(mitigated, cause_gone, healthy_from)
    return {
        "acknowledged": s.acked_at,
        "mitigated": mitigated,
        "cause_removed": cause_gone,
        "healthy": healthy_from,
        "resolved": resolved,
        "declared_resolved": s.declared_resolved_at,
        "first_action": s.first_action_at(),
    }


def timeline(s: Session, times: dict[str, int | None]) -> list[dict[str, Any]]:
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
    for key, text in (
        ("mitigated", "mitigated: customer impact stopped growing"),
        ("cause_removed", "cause removed"),
        ("resolved", "resolved: the cause gone and the system healthy"),
    ):
        v = times[key]
        if v is not None:
            ev.append({"at": v, "kind": "outcome", "text": text})
    ev.sort(key=lambda x: (x["at"], x["kind"]))
    return ev
