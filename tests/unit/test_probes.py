"""`dojo check` tries a wrong value for each remedy: the reference with the remedy value replaced
must not resolve the incident, and when it does the failure is located in the file."""

from __future__ import annotations

from typing import Any

import pytest
from suite import bundled

from oncall_dojo.cli import main
from oncall_dojo.game.check import check_incident
from oncall_dojo.game.plays import PlayCache, playthroughs
from oncall_dojo.game.probes import probes
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.components.traits import Unless, same_value
from oncall_dojo.sim.config import VersionTraits
from oncall_dojo.sim.faults.base import deploy_version
from oncall_dojo.sim.faults.releases import WorkerCrashLoop
from oncall_dojo.sim.faults.settings import SettingFault


def bundled_incident(name: str) -> Incident:
    found = next(f for f in bundled() if f.path.stem == name)
    return load_checked(found.path).for_seed(1)


def test_the_probe_is_the_reference_with_the_remedy_value_replaced() -> None:
    inc = bundled_incident("latency-budget-burn")
    (probe,) = probes(inc)
    old, new = inc.picked["old_rules"], inc.picked["new_rules"]
    ref = inc.playthroughs.reference.actions
    changed = [(a, b) for a, b in zip(ref, probe.actions, strict=True) if a != b]
    assert changed == [
        (f"02:00 config waf.ruleset {old}", f"02:00 config waf.ruleset {probe.wrong}")
    ]
    assert not same_value(probe.wrong, old) and not same_value(probe.wrong, new)
    assert probe.fault == ("faults", 1, "key")  # no fixed_by: the value before is the remedy
    assert probe.action == ("playthroughs", "reference", "actions", ref.index(changed[0][0]))
    assert playthroughs(inc)[probe.name] == probe.actions


def test_a_reused_flag_probe_leaves_out_the_rollout_that_would_end_it_anyway() -> None:
    inc = bundled_incident("charges-exceed-orders")
    (probe,) = probes(inc)
    flag = inc.picked["flag"]
    assert f"01:40 flag {flag} {probe.wrong}" in probe.actions
    assert not any(" deploy billing" in a or " rollback billing" in a for a in probe.actions)
    assert probe.wrong in ("disabled", "enabled")


def test_a_fault_the_reference_removes_otherwise_has_no_probe() -> None:
    assert probes(bundled_incident("payments-stuck")) == []


class _AnyOtherValue(Unless):
    """The rule before remedies were named: any value but the faulty one removed the fault."""

    def __init__(self, faulty: Any) -> None:
        super().__init__([])
        self.faulty = faulty

    def fixed(self, have: Any) -> bool:
        return not same_value(have, self.faulty)


@pytest.fixture
def loophole(monkeypatch: pytest.MonkeyPatch) -> None:
    def remember(self: SettingFault, before: Any, state: dict[str, Any]) -> Unless:
        fixes = state["fixed_by"] = _AnyOtherValue(self.value)
        return fixes

    monkeypatch.setattr(SettingFault, "_remember", remember)


def test_the_wrong_value_does_not_resolve_a_bundled_incident() -> None:
    inc = bundled_incident("missing-receipts")
    report = check_incident(inc, (1,), cache=PlayCache.default())  # the run's: test_check's plays
    (seed,) = report.seeds
    assert list(seed.probes) == ["wrong-value:mailer.smtp.key_version"]
    assert not seed.probes["wrong-value:mailer.smtp.key_version"].resolved
    assert seed.located == []


def test_check_reports_a_wrong_value_that_resolves_the_incident_at_its_lines(
    loophole: None, capsys: pytest.CaptureFixture[str]
) -> None:
    found = next(f for f in bundled() if f.path.stem == "missing-receipts")
    assert main(["check", str(found.path), "--seeds", "1", "--no-cache", "--jobs", "1"]) == 1
    out = capsys.readouterr().out
    assert "missing-receipts: FAILED" in out
    text = found.path.read_text(encoding="utf-8").splitlines()
    key_line = next(i for i, t in enumerate(text, 1) if "key: mailer.smtp.key_version" in t)
    action_line = next(
        i for i, t in enumerate(text, 1) if '"02:00 config mailer.smtp.key_version' in t
    )
    assert f"{found.path}:{key_line}:10: faults[1].key: setting mailer.smtp.key_version to " in out
    assert "still resolves the incident" in out
    assert f"{found.path}:{action_line}:9: playthroughs.reference.actions[" in out


def setting_the_key(inc: Incident) -> Incident:
    """orders-not-shipping with the reference's rollback replaced by setting the key the crashing
    version needs to the value it expects."""
    out = inc.model_copy(deep=True)
    key = inc.picked["key"]
    actions = out.playthroughs.reference.actions
    at = actions.index("02:00 rollback fulfillment")
    actions[at] = f"02:00 config {key} https://api.courier.example/v2"
    actions.insert(at + 1, "02:10 restart fulfillment")
    return out


def test_a_crash_loop_probe_tries_a_wrong_value_for_the_key_it_needs() -> None:
    inc = setting_the_key(bundled_incident("orders-not-shipping"))
    (probe,) = probes(inc)
    key = inc.picked["key"]
    assert f"02:00 config {key} {probe.wrong}" in probe.actions
    assert probe.wrong == "https://api.courier.example/v2-typo"
    assert probe.fault == ("faults", 1, "fixed_by")
    report = check_incident(inc, (1,))
    (seed,) = report.seeds
    assert seed.reference.resolved
    assert not seed.probes[probe.name].resolved
    assert seed.located == []


def test_check_locates_a_crash_loop_that_any_value_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    inc = setting_the_key(bundled_incident("orders-not-shipping"))

    def any_value(self: WorkerCrashLoop, sys: Any, t: int, state: dict[str, Any]) -> None:
        traits = VersionTraits(requires_config=self.requires_config)  # the rule before fixed_by
        deploy_version(sys, t, self.pool, self.version, traits, self.author)

    monkeypatch.setattr(WorkerCrashLoop, "begin", any_value)
    monkeypatch.setattr(WorkerCrashLoop, "active", lambda self, sys, state: False)
    (seed,) = check_incident(inc, (1,)).seeds
    assert [loc for loc, _ in seed.located] == [
        ("faults", 1, "fixed_by"),
        ("playthroughs", "reference", "actions", 5),
    ]
