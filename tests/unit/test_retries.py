"""A herd of retrying clients after recovery, and the levers against it.

tests/fixtures/world/retry-herd.yaml: 150 requests a second whose clients retry every 5 s, no
jitter, until they succeed; a release fails every request from tick 60, the page fires at 136.
Rolling it back at 02:00 (tick 256) removes the bug, but every client of the last three minutes
is waiting to retry: they come back together, the database (1.2 cores) runs out of CPU, requests
fail again and are retried again, and the herd only grows. Admitting each route at about twice
its normal rate (`ratelimit`, or a `ramp`) lets the database serve what it admits while the herd
drains at the admitted rate less the fresh traffic.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from oncall_dojo.game.check import play_session
from oncall_dojo.game.play import finish
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.observability.metrics import Query
from oncall_dojo.sim.system import System
from oncall_dojo.tui.dashboards import panels, series

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "world" / "retry-herd.yaml"
PAGE = 136
ROLLBACK = PAGE + 120
LIMITS = {"GET /api/products": 126, "GET /api/orders/:id": 72, "GET /api/account": 42,
          "POST /api/cart": 30, "POST /api/checkout": 30}  # fmt: skip
ALL = "http_requests_total"
BAD = 'http_requests_total{code=~"5..|429"}'
LIMITED = 'http_requests_total{code="429"}'
RETRIES = "http_client_retries_total"


def at(sys: System, metric: str, t: int, fn: str = "rate", window: int = 60) -> float:
    v = sys.metrics.query(Query(metric=metric, fn=fn, window=window), t)  # type: ignore[arg-type]
    assert v is not None, metric
    return v


@pytest.fixture(scope="module")
def incident() -> Incident:
    return load_checked(FIXTURE)


@pytest.fixture(scope="module")
def plays(incident: Incident) -> dict[str, Session]:
    fresh = {r: 150 * s for r, s in zip(LIMITS, (0.42, 0.24, 0.14, 0.10, 0.10), strict=True)}
    ramp = ["00:20 ack", "02:00 rollback api"] + [
        f"02:20 ramp {r} {round(n)} {round(3 * n)} 300" for r, n in fresh.items()
    ]
    return {
        "rollback": play_session(incident, 1, incident.playthroughs.harmful[0].actions),
        "limit": play_session(incident, 1, incident.playthroughs.reference.actions),
        "ramp": play_session(incident, 1, ramp),
    }


def test_the_page_fires_when_the_release_has_failed_every_request(
    plays: dict[str, Session],
) -> None:
    sys = plays["rollback"].system
    assert sys.t == PAGE + 1200
    # the release is still rolling out (a replica every 20 s): most requests fail, and the
    # clients' retries already outnumber the fresh requests
    assert at(sys, BAD, PAGE, window=30) > 0.5 * at(sys, ALL, PAGE, window=30)
    assert at(sys, RETRIES, PAGE, window=30) > 150


def test_rolling_back_alone_leaves_the_herd_failing(plays: dict[str, Session]) -> None:
    sys = plays["rollback"].system
    end = sys.t - 1
    # the bug is gone, yet in the last five minutes almost nothing succeeds: the clients' retries
    # keep the database at full CPU, and the herd keeps growing
    ok = at(sys, ALL, end, window=300) - at(sys, BAD, end, window=300)
    assert ok < 0.8 * 150
    assert at(sys, BAD, end, window=300) > 50 * 150
    assert at(sys, RETRIES, end, window=300) > 50 * 150
    assert at(sys, "pg_cpu_utilization", end, fn="min", window=300) == 1.0
    assert sys.api.herd is not None and sys.api.herd.waiting() > 30_000
    assert at(sys, RETRIES, end) > at(sys, RETRIES, ROLLBACK + 240)
    assert not finish(plays["rollback"]).resolved


def test_a_rate_limit_lets_the_database_serve_while_the_herd_drains(
    plays: dict[str, Session],
) -> None:
    sys = plays["limit"].system
    t = ROLLBACK + 20 + 180  # limited since ROLLBACK + 20
    # admitted: the limits' sum, about; served without a failure, the rest rejected with 429
    admitted = at(sys, ALL, t) - at(sys, LIMITED, t)
    assert admitted == pytest.approx(sum(LIMITS.values()), rel=0.1)
    assert at(sys, BAD, t) == pytest.approx(at(sys, LIMITED, t))
    assert at(sys, "pg_cpu_utilization", t, fn="max") < 0.5
    # drained in about four minutes (docs/authoring.md), before the limits are lifted at 08:00
    limited_at = ROLLBACK + 20
    drained = next(
        t for t in range(limited_at, sys.t) if at(sys, RETRIES, t, fn="increase", window=1) == 0
    )
    assert 180 <= drained - limited_at <= 300
    # drained before the limits are lifted at 08:00: the last ten minutes are clean
    end = sys.t - 1
    assert at(sys, BAD, end, fn="increase", window=600) == 0
    assert at(sys, RETRIES, end, fn="increase", window=600) == 0
    assert at(sys, ALL, end, window=600) == pytest.approx(150, rel=0.05)
    assert sys.api.herd is not None and sys.api.herd.waiting() == 0
    limited, alone = finish(plays["limit"]), finish(plays["rollback"])
    assert limited.resolved
    assert limited.score >= alone.score + 15


def test_a_ramp_drains_the_herd_too(plays: dict[str, Session]) -> None:
    sys = plays["ramp"].system
    assert sys.ramps == {}  # every ramp ended by itself
    end = sys.t - 1
    assert at(sys, BAD, end, fn="increase", window=600) == 0
    assert sys.api.herd is not None and sys.api.herd.waiting() == 0
    assert finish(plays["ramp"]).resolved
    ramps = [c for c in sys.changes if c.kind == "ramp"]
    assert len(ramps) == len(LIMITS) and {c.author for c in ramps} == {"you"}


def test_the_same_seed_plays_the_same_herd(incident: Incident, plays: dict[str, Session]) -> None:
    again = play_session(incident, 1, incident.playthroughs.reference.actions).system
    first = plays["limit"].system
    assert again.metrics.values.tobytes() == first.metrics.values.tobytes()
    lines = len(first.logs.lines)
    assert len(again.logs.lines) == lines > 10_000
    assert [again.logs.render(i) for i in range(lines)] == [
        first.logs.render(i) for i in range(lines)
    ]


def test_the_guides_retry_example_is_valid_and_does_what_it_says() -> None:
    """The retry policy example of docs/authoring.md validates as written: every route's clients
    get the traffic's policy, checkout its own."""
    guide = (FIXTURE.parents[3] / "docs" / "authoring.md").read_text(encoding="utf-8")
    section = guide.split("## Clients that retry, and the herd after recovery", 1)[1]
    body = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = SystemConfig.with_overrides(yaml.safe_load(body)["system"])
    herd = System(cfg, 1).api.herd
    assert herd is not None and set(herd.routes) == set(cfg.api.routes)
    checkout = herd.routes["POST /api/checkout"].policy
    assert (checkout.max_attempts, checkout.jitter, checkout.timeout_s) == (4, "full", 10)
    app = herd.routes["GET /api/products"].policy
    assert (app.max_attempts, app.backoff, app.base_s) == (None, "fixed", 5)


def test_the_api_charts_show_retries_where_clients_retry(plays: dict[str, Session]) -> None:
    labels = [p.label for p in panels(plays["limit"], "api")]
    assert labels[-2:] == ["retries", "rate limited"]
    points = series(plays["limit"], "http_client_retries_total", "rate", 0, PAGE + 600, 60)
    assert points.max() > 1000 and points[-1] == 0
    plain = Session(
        load_checked(FIXTURE.parents[2].parent / "incidents" / "payments-stuck.yaml"), 1
    )
    assert "retries" not in [p.label for p in panels(plain, "api")]
