"""The map's health of a worker pool counts the messages it fails: a pool whose processes are
all ready but which failed more than 1% of the messages it finished in the last minute shows
FAILING (the rule the score's needless restarts use), measured from its own counters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oncall_dojo.game.health import FAILING_SHARE, fails_messages
from oncall_dojo.game.needless import pool_was_troubled
from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked

ROOT = Path(__file__).resolve().parents[2]


def map_states(s: Session) -> dict[str, str]:
    out = perform(s, "map").output
    return {
        line[:20].strip(): line[21:].split()[0] for line in out.splitlines() if line[21:].split()
    }


def failed_share(s: Session, pool: str, window: int = 60) -> float:
    vals = s.system.metrics.values
    g = s.system.g_w[pool]
    lo, hi = max(0, s.system.t - window), s.system.t
    failed = float(vals[lo:hi, g["err"]].sum())
    return failed / (failed + float(vals[lo:hi, g["ok"]].sum()))


def test_pools_that_fail_their_messages_with_every_process_ready_show_failing() -> None:
    """every-site-failing: name resolution fails everywhere, so each pool's outside calls
    fail while all its processes run."""
    s = Session(load_checked(ROOT / "incidents" / "every-site-failing.yaml"), 1)
    s.advance(60)
    states = map_states(s)
    for pool in ("billing", "mailer", "fulfillment"):
        p = s.system.pools[pool]
        assert p.running == len(p.live) > 0
        assert failed_share(s, pool) > FAILING_SHARE
        assert states[f"workers {pool}"] == "FAILING"
        assert pool_was_troubled(s, pool, s.system.t)  # the same rule, over five minutes


def test_a_pool_that_fails_nothing_is_ok_and_a_crashing_one_stays_down() -> None:
    """payments-stuck: the mailer and fulfillment fail nothing and show ok; billing, dying on
    the poison message, shows its readiness, not FAILING."""
    s = Session(load_checked(ROOT / "incidents" / "payments-stuck.yaml"), 1)
    s.advance(60)
    states = map_states(s)
    for pool in ("mailer", "fulfillment"):
        assert not fails_messages(s, pool, s.system.t - 60, s.system.t)
        assert states[f"workers {pool}"] == "ok"
    assert states["workers billing"] in ("DOWN", "DEGRADED")


def test_the_health_follows_the_last_minute() -> None:
    """A pool that failed its messages and stopped is ok again once a minute has passed with
    none failed (its counters, not a flag)."""
    s = Session(load_checked(ROOT / "incidents" / "every-site-failing.yaml"), 1)
    s.advance(30)
    assert map_states(s)["workers mailer"] == "FAILING"
    assert perform(s, "pause emails").kind == "act"  # the mailer finishes nothing more
    s.advance(90)
    vals: Any = s.system.metrics.values
    g = s.system.g_w["mailer"]
    assert vals[s.system.t - 60 : s.system.t, g["err"]].sum() == 0
    assert map_states(s)["workers mailer"] == "ok"
