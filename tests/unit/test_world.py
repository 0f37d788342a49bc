"""An incident's own resources and timed events, played: the value follows its rate, the
threshold acts on the model from the tick it is crossed, the gauge carries the author's name,
and an event changes its component at its tick without a change-history entry unless recorded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.sim.observability.metrics import Query
from oncall_dojo.sim.system import System

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "world" / "wal-volume.yaml"
FREE = 'node_filesystem_avail_bytes{mountpoint="/var/lib/postgresql/wal"}'
SLOT = 'pg_replication_slot_retained_bytes{slot_name="analytics"}'
PANIC = 'PANIC: could not write to file "pg_wal/xlogtemp.4711": No space left on device'


def at(sys: System, metric: str, t: int, fn: str = "last", window: int = 1) -> float:
    v = sys.metrics.query(Query(metric=metric, fn=fn, window=window), t)  # type: ignore[arg-type]
    assert v is not None, metric
    return v


def lines_at(sys: System, text: str) -> list[tuple[int, str]]:
    """(tick, line) of every log line containing `text`."""
    out = []
    for i in range(len(sys.logs.lines)):
        line = sys.logs.render(i)
        if text in line:
            t = next(t for t in range(sys.t) if line.startswith(sys.logs.timestamp(t)[:19]))
            out.append((t, line))
    return out


@pytest.fixture(scope="module")
def played() -> Session:
    s = Session(load_checked(FIXTURE), seed=1)
    s.advance(s.remaining)
    return s


def free_bytes(t: int) -> float:
    """What the file's rates imply: -5 MB a second from 5 GB, -10 MB a second from tick 600
    (the event: the rate in effect at a tick moves the value over that second), never below 0."""
    v = 5.0e9 - 5.0e6 * t if t < 600 else 5.0e9 - 5.0e6 * 599 - 1.0e7 * (t - 599)
    return max(0.0, v)


def test_the_gauge_has_the_authors_name_and_labels(played: Session) -> None:
    series = {s.key: s for s in played.system.metrics.series}
    assert series[FREE].kind == "gauge"
    assert series[FREE].help == "Free bytes on the WAL volume"
    assert SLOT in series


def test_the_value_follows_its_rate_and_stops_at_its_floor(played: Session) -> None:
    sys = played.system
    for t in (0, 1, 250, 599, 600, 601, 700, 799, 800, 801, 1000, sys.t - 1):
        assert at(sys, FREE, t) == free_bytes(t), t


def test_writes_fail_from_the_tick_after_the_volume_is_full(played: Session) -> None:
    sys = played.system
    full = next(t for t in range(sys.t) if at(sys, FREE, t) <= 0)
    assert full == 800  # 2 GB left at 600, 10 MB a second
    cart = 'http_requests_total{route="POST /api/cart",code="500"}'
    cart_ok = 'http_requests_total{route="POST /api/cart",code="201"}'
    assert at(sys, cart, full, fn="increase", window=full) == 0
    after = sys.t - 1 - full
    assert at(sys, cart, sys.t - 1, fn="increase", window=after) > 50
    assert at(sys, cart_ok, sys.t - 1, fn="increase", window=after) == 0
    # the error is the author's, logged by whoever wrote: the API and the consumers
    errors = lines_at(sys, PANIC)
    assert errors and min(t for t, _ in errors) == full + 1
    assert any(" status=500 " in line for _, line in errors)
    assert any("queue=fulfillment" in line for _, line in errors)


def test_a_threshold_writes_its_lines_when_crossed_and_again_while_it_holds(
    played: Session,
) -> None:
    sys = played.system
    warned = [t for t, _ in lines_at(sys, 'replication slot "analytics" is retaining WAL')]
    crossed = next(t for t in range(sys.t) if at(sys, FREE, t) <= 1.0e9)
    assert crossed == 700
    assert warned[:3] == [crossed, crossed + 60, crossed + 120]


def test_the_alert_rule_reads_the_gauge(played: Session) -> None:
    sys = played.system
    below = next(t for t in range(sys.t) if at(sys, FREE, t) < 1.5e9)
    assert below == 650
    assert played.page_tick > below + 30  # `for: 30`, evaluated on its interval


def test_a_rate_tied_to_a_route_counts_its_successful_requests(played: Session) -> None:
    sys = played.system
    ok = 'http_requests_total{route="POST /api/checkout",code="201"}'
    served = at(sys, ok, sys.t - 1, fn="increase", window=sys.t)
    assert served > 1000
    assert at(sys, SLOT, sys.t - 1) == 16384 * served
    # and it stops growing while checkout fails
    end = sys.t - 1
    assert at(sys, SLOT, end) == at(sys, SLOT, 820)


def test_events_change_their_component_at_their_tick(played: Session) -> None:
    sys = played.system
    desired = 'worker_replicas_desired{pool="billing"}'
    assert (at(sys, desired, 299), at(sys, desired, 300)) == (2, 1)
    assert [t for t, _ in lines_at(sys, "kubelet-node-3 node lost")] == [300]
    errors = 'payment_provider_requests_total{result="error"}'
    assert at(sys, errors, 399, fn="increase", window=100) < 5
    assert at(sys, errors, 499, fn="increase", window=100) > 20


def test_only_a_recorded_event_is_in_the_change_history(played: Session) -> None:
    sys = played.system
    events = [c for c in sys.changes if c.tick in (300, 400, 600)]
    assert [(c.tick, c.kind, c.target, c.after, c.author) for c in events] == [
        (400, "audit", "payment-provider", "provider maintenance window opened", "statuspage")
    ]
    assert [c.kind for c in sys.changes if c.tick >= 0] == ["deploy", "audit"]


def test_the_same_seed_plays_the_same_run() -> None:
    runs = []
    for _ in range(2):
        s = Session(load_checked(FIXTURE), seed=3)
        s.advance(200)
        sys = s.system
        n = sys.t
        runs.append(
            (
                sys.metrics.values[:n].tobytes(),
                [sys.logs.render(i) for i in range(len(sys.logs.lines))],
            )
        )
    assert runs[0] == runs[1]
