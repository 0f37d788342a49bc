"""Fixes without loopholes: a fault made by a flag or config value clears only through the values
its file names under `fixed_by` (by default the value before the change); any other value leaves
the fault, and what it does to the services, in place."""

from __future__ import annotations

from typing import Any

import pytest

from oncall_dojo.sim import ops
from oncall_dojo.sim.components.traits import same_value
from oncall_dojo.sim.config import VersionTraits
from oncall_dojo.sim.faults import ConfigChange, RetryStorm, ReusedFlag, WorkerCrashLoop
from oncall_dojo.sim.system import System

from .simkit import found, run, system

SLOW = VersionTraits(latency_x=3.0)


def waf(**extra: Any) -> tuple[System, ConfigChange]:
    spec = ConfigChange(
        kind="config_change",
        at=5,
        key="waf.ruleset",
        value="2026.03.14-1",
        traits={"mailer": SLOW},
        **extra,
    )
    s = system({"config": {"waf.ruleset": "2026.03.12-4"}}, spec)
    run(s, 10)
    return s, spec


def slowed(s: System) -> bool:
    return s.traits("mailer", s.cfg.workers["mailer"].version).latency_x == 3.0


def test_any_other_value_leaves_a_config_fault_and_its_traits_in_place() -> None:
    s, _ = waf()
    f = s.faults[0]
    assert f.active(s) and slowed(s)
    for wrong in ("whatever", "2026.03.14-2", "", 3):
        ops.set_config(s, "waf.ruleset", wrong, "sre")
        run(s, 2)
        assert f.active(s), wrong
        assert slowed(s), wrong
        assert f.ended is None
    ops.set_config(s, "waf.ruleset", "2026.03.12-4", "sre")  # the value before the change
    run(s, 2)
    assert not f.active(s)
    assert not slowed(s)
    assert f.ended is not None


def test_fixed_by_names_the_values_that_fix_it_and_the_previous_value_is_then_not_one() -> None:
    s, _ = waf(fixed_by=["2026.03.14-2", "2026.03.15-1"])
    f = s.faults[0]
    ops.set_config(s, "waf.ruleset", "2026.03.12-4", "sre")
    run(s, 2)
    assert f.active(s) and slowed(s)
    ops.set_config(s, "waf.ruleset", "2026.03.15-1", "sre")
    run(s, 2)
    assert not f.active(s) and not slowed(s)
    ops.set_config(s, "waf.ruleset", "2026.03.14-1", "sre")  # the faulty value again: it is back
    run(s, 2)
    assert f.active(s) and slowed(s)


def test_a_flag_fault_is_not_cleared_by_another_flag_value() -> None:
    spec = ConfigChange(
        kind="flag_change", at=5, key="checkout.v2", value=True, traits={"mailer": SLOW}
    )
    s = system({"flags": {"checkout.v2": False}}, spec)
    run(s, 10)
    f = s.faults[0]
    for wrong in ("disabled", "maybe", 2):
        ops.set_flag(s, "checkout.v2", wrong, "sre")
        run(s, 2)
        assert f.active(s) and slowed(s), wrong
    ops.set_flag(s, "checkout.v2", "off", "sre")  # typed as the console reads it: false
    run(s, 2)
    assert not f.active(s) and not slowed(s)


def test_retries_without_backoff_need_a_named_backoff_policy() -> None:
    s = system(None, RetryStorm(kind="retry_storm", at=5, max_attempts=6))
    run(s, 10)
    f = s.faults[0]
    ops.set_config(s, "payments.retry.backoff", "whatever", "sre")
    run(s, 2)
    assert f.active(s)
    ops.set_config(s, "payments.retry.max_attempts", 1, "sre")  # the model's lever: no retries
    run(s, 2)
    assert not f.active(s)
    ops.set_config(s, "payments.retry.max_attempts", 3, "sre")
    run(s, 2)
    assert f.active(s)  # retries are back, still without a backoff
    ops.set_config(s, "payments.retry.backoff", "exponential", "sre")  # the policy before
    run(s, 2)
    assert not f.active(s)

    named = system(None, RetryStorm(kind="retry_storm", at=5, fixed_by=["jittered"]))
    run(named, 10)
    ops.set_config(named, "payments.retry.backoff", "exponential", "sre")
    run(named, 2)
    assert named.faults[0].active(named)
    ops.set_config(named, "payments.retry.backoff", "jittered", "sre")
    run(named, 2)
    assert not named.faults[0].active(named)


def test_a_reused_flag_stays_awake_on_old_replicas_whatever_else_it_is_set_to() -> None:
    legacy = VersionTraits(latency_x=3.0)
    spec = ReusedFlag(
        kind="reused_flag",
        at=5,
        key="billing.split_capture",
        pool="billing",
        legacy_versions=["v2.8.3"],
        legacy=legacy,
    )
    s = system({"flags": {"billing.split_capture": False}}, spec)
    run(s, 10)
    f = s.faults[0]
    version = s.pools["billing"].live[0].version
    assert version == "v2.8.3"
    assert f.active(s) and s.traits("billing", version).latency_x == 3.0
    ops.set_flag(s, "billing.split_capture", "disabled", "sre")
    run(s, 2)
    assert f.active(s) and s.traits("billing", version).latency_x == 3.0
    ops.set_flag(s, "billing.split_capture", False, "sre")
    run(s, 2)
    assert not f.active(s) and s.traits("billing", version).latency_x == 1.0


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("3", 3, True),
        ("on", True, True),
        ("off", False, True),
        ("2026.03.12-4", "2026.03.12-4", True),
        ("1.5", 1.5, True),
        ("exponential", "Exponential", False),
        ("3", "3.1", False),
    ],
)
def test_values_compare_as_the_console_reads_them(a: Any, b: Any, same: bool) -> None:
    assert same_value(a, b) is same


def crash_loop(fixed_by: list[Any]) -> System:
    spec = WorkerCrashLoop(
        kind="worker_crash_loop",
        at=5,
        pool="fulfillment",
        version="v4.3.0",
        requires_config="fulfillment.carrier_api_url",
        fixed_by=fixed_by,
    )
    s = system(None, spec)
    run(s, 30)
    return s


def ready(s: System) -> int:
    return sum(r.state == "running" for r in s.pools["fulfillment"].live)


def test_a_crash_loop_needing_a_config_key_ends_only_with_a_value_it_names() -> None:
    s = crash_loop(["https://api.courier.example/v2"])
    f = s.faults[0]
    assert f.active(s) and ready(s) == 0
    assert found(s, 'service:fulfillment "is not set"')
    ops.set_config(s, "fulfillment.carrier_api_url", "whatever", "sre")
    ops.restart_replicas(s, s.pools["fulfillment"], "sre")
    run(s, 60)
    assert f.active(s) and ready(s) == 0 and f.ended is None
    assert found(s, "service:fulfillment \"invalid value 'whatever'\"")
    ops.set_config(s, "fulfillment.carrier_api_url", "https://api.courier.example/v2", "sre")
    ops.restart_replicas(s, s.pools["fulfillment"], "sre")
    run(s, 60)
    assert not f.active(s) and f.ended is not None
    assert ready(s) == len(s.pools["fulfillment"].live) > 0
