"""When a worker pool counts as troubled for failing its messages: one rule for the map's
health and for the score's needless restarts."""

from __future__ import annotations

from oncall_dojo.game.session import Session

FAILING_SHARE = 0.01
"""A pool that fails more than this share of the messages it finishes is failing them."""


def fails_messages(s: Session, pool: str, lo: int, hi: int) -> bool:
    """Whether the pool failed more than `FAILING_SHARE` of the messages it finished in ticks
    lo to hi - 1 (the workers' `worker_jobs_total` by result)."""
    m = s.system.metrics
    g = s.system.g_w[pool]
    failed = m.values[lo:hi, g["err"]].sum()
    done = failed + m.values[lo:hi, g["ok"]].sum()
    return bool(done > 0 and failed > FAILING_SHARE * done)
