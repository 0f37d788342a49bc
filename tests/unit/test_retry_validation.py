"""Every field of a retry policy is checked, with an error located at the place in the file that
is wrong (`path:line:col: key.path: message`), under `system.traffic.retry` and under a route's
own `retry`. Each case breaks one thing in tests/fixtures/world/retry-herd.yaml, which is valid
as it stands."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.model import incident_json_schema

from .located import Case, assert_located

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "world" / "retry-herd.yaml"
BASE = FIXTURE.read_text(encoding="utf-8")
POLICY = "retry: {max_attempts: null, backoff: fixed, base_s: 5, jitter: none}"
ROUTES = "  database:\n"


CASES = [
    Case(POLICY, "retry: {max_attempts: null, backoff: linear, base_s: 5, jitter: none}", 21, 42, "system.traffic.retry.backoff", "Input should be 'fixed' or 'exponential'"),
    Case(POLICY, "retry: {max_attempts: null, backoff: fixed, base_s: 5, jitter: some}", 21, 68, "system.traffic.retry.jitter", "Input should be 'none', 'full' or 'equal'"),
    Case(POLICY, "retry: {max_attempts: null, backoff: fixed, base_s: 0, jitter: none}", 21, 57, "system.traffic.retry.base_s", "Input should be greater than or equal to 0.01"),
    Case(POLICY, "retry: {max_attempts: null, backoff: fixed, base_s: .nan}", 21, 57, "system.traffic.retry.base_s", "Input should be a finite number"),
    Case(POLICY, "retry: {max_attempts: 0, backoff: fixed, base_s: 5, jitter: none}", 21, 27, "system.traffic.retry.max_attempts", "Input should be greater than or equal to 1"),
    Case(POLICY, "retry: {max_attempts: lots, backoff: fixed, base_s: 5, jitter: none}", 21, 27, "system.traffic.retry.max_attempts", "Input should be a valid integer"),
    Case(POLICY, "retry: {max_attempts: null, backoff: fixed, base_s: 5, jitter: none, timeout_s: -1}", 21, 85, "system.traffic.retry.timeout_s", "Input should be greater than 0"),
    Case(POLICY, "retry: {max_attempts: null, backoff: fixed, base_s: 5, jitter: none, timeout_s: .inf}", 21, 85, "system.traffic.retry.timeout_s", "Input should be a finite number"),
    Case(POLICY, "retry: {max_attemps: null, backoff: fixed, base_s: 5, jitter: none}", 21, 13, "system.traffic.retry", "unknown key 'max_attemps' (did you mean 'max_attempts'?)"),
    Case(POLICY, "retry: {max_attempts: null, backoff: exponential, base_s: 5, cap_s: 2}", 21, 12, "system.traffic.retry", "`cap_s` (2) must not be below `base_s` (5)"),
    Case(POLICY, "retry: fast", 21, 12, "system.traffic.retry", "Input should be a valid dictionary"),
    Case(ROUTES, '  api:\n    routes:\n      "GET /api/account": {share: 0.14, retry: {backoff: linear}}\n' + ROUTES, 24, 58, 'system.api.routes["GET /api/account"].retry.backoff', "Input should be 'fixed' or 'exponential'"),
    Case(ROUTES, '  api:\n    routes:\n      "GET /api/account":\n        retry:\n          max_attempts: 3\n          cap_s: 0\n' + ROUTES, 27, 18, 'system.api.routes["GET /api/account"].retry.cap_s', "Input should be greater than or equal to 0.01"),
    Case(ROUTES, '  api:\n    routes:\n      "GET /api/account":\n        retry:\n          jiter: full\n' + ROUTES, 26, 11, 'system.api.routes["GET /api/account"].retry', "unknown key 'jiter' (did you mean 'jitter'?)"),
]  # fmt: skip


def test_the_fixture_itself_is_valid() -> None:
    inc = load_incident(FIXTURE, expect_id="retry-herd")
    policy = inc.system_config().traffic.retry
    assert policy is not None
    assert (policy.max_attempts, policy.backoff, policy.base_s, policy.jitter) == (
        None,
        "fixed",
        5,
        "none",
    )


@pytest.mark.parametrize("c", CASES, ids=[f"{c.keypath}:{c.line}:{c.col}" for c in CASES])
def test_a_broken_retry_field_is_reported_where_it_is(c: Case) -> None:
    assert_located(BASE, c, "retry-herd.yaml")


def test_the_json_schema_describes_the_retry_policy() -> None:
    defs = incident_json_schema()["$defs"]
    policy = defs["RetryPolicy"]["properties"]
    assert set(policy) == {"max_attempts", "backoff", "base_s", "cap_s", "jitter", "timeout_s"}
    assert policy["backoff"]["enum"] == ["fixed", "exponential"]
    assert "RetryPolicy" in str(defs["TrafficConfig"]["properties"]["retry"])
    assert "RetryPolicy" in str(defs["RouteConfig"]["properties"]["retry"])
