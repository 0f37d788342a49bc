"""Needless or destructive actions: what the score deducts for, read from the session's
entries and the metrics (moved out of `scoring` to keep each module small)."""

from __future__ import annotations

from oncall_dojo.game.fmt import mmss
from oncall_dojo.game.health import fails_messages
from oncall_dojo.game.session import Session


def needless_actions(s: Session) -> list[str]:
    """Actions that cost the response and fixed nothing, in words: a healthy pool restarted,
    the cache restarted or flushed, postgres restarted."""
    out = []
    for e in s.entries:
        if e.kind != "act":
            continue
        if e.name == "restart" and e.command.split()[1:2]:
            target = e.command.split()[1]
            if target in s.system.pools and not pool_was_troubled(s, target, e.tick):
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


def pool_was_troubled(s: Session, pool: str, tick: int) -> bool:
    """Whether a pool restarted, was short of ready replicas, let its queue wait past its
    objective or failed more than 1% of its messages in the five minutes before `tick`."""
    m = s.system.metrics
    g = s.system.g_w[pool]
    lo = max(0, tick - 300)
    restarts = m.values[lo:tick, g["restarts"]].sum()
    ready = m.values[tick - 1, g["running"]] if tick > 0 else 0
    desired = m.values[tick - 1, g["desired"]] if tick > 0 else 0
    queue = s.system.pools[pool].cfg.queue
    age = m.values[tick - 1, s.system.g_q[queue]["age"]] if tick > 0 else 0
    return bool(
        restarts > 0
        or ready < desired
        or age > s.system.queues[queue].cfg.objective_s
        or fails_messages(s, pool, lo, tick)
    )
