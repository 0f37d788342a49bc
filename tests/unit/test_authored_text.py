"""Authored text for effects: the error an API fault fails requests with (`message_error`), and
the log lines a fault writes (`logs`: service, level, text, fields, repeated with `every_s`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from oncall_dojo.game.session import Session
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.sim import ops
from oncall_dojo.sim.config import VersionTraits
from oncall_dojo.sim.faults import BadDeploy, ConfigChange
from oncall_dojo.sim.faults.base import LogLine
from oncall_dojo.sim.system import System

from .simkit import found, run, system

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "broken" / "fault-unknown-queue.yaml"


def api_errors(s: System) -> list[str]:
    return [line for line in found(s, "service:api level:error") if "status=500" in line]


def test_an_api_fault_fails_requests_with_the_error_its_traits_name() -> None:
    said = "pq: could not serialize access due to concurrent update"
    spec = BadDeploy(
        kind="bad_deploy",
        at=5,
        service="api",
        version="v3.41.1",
        traits=VersionTraits(error_rate={"*": 0.3}, message_error=said),
    )
    s = system(None, spec)
    run(s, 120)
    lines = api_errors(s)
    assert lines
    assert all(f'error="{said}"' in line for line in lines)
    assert not any("serializeOrder" in line for line in lines)


def test_without_an_authored_error_the_api_still_fails_with_the_serializer_bug() -> None:
    spec = BadDeploy(
        kind="bad_deploy",
        at=5,
        service="api",
        version="v3.41.1",
        traits=VersionTraits(error_rate={"*": 0.3}),
    )
    s = system(None, spec)
    run(s, 120)
    lines = api_errors(s)
    assert lines
    assert all("at serializeOrder (orders/serialize.ts:88) [v3.41.1]" in line for line in lines)


def test_a_config_change_can_give_the_api_errors_and_their_text_while_it_stands() -> None:
    spec = ConfigChange(
        kind="config_change",
        at=5,
        key="orders.tax_service",
        value="tax-v2",
        traits={"api": VersionTraits(error_rate={"*": 0.5}, message_error="tax-v2: 404 Not Found")},
    )
    s = system({"config": {"orders.tax_service": "tax-v1"}}, spec)
    run(s, 60)
    assert api_errors(s) and all("tax-v2: 404 Not Found" in line for line in api_errors(s))
    ops.set_config(s, "orders.tax_service", "tax-v1", "sre")
    run(s, 5)
    before = len(api_errors(s))
    run(s, 60)
    assert len(api_errors(s)) == before  # fixed: no more failures


def test_a_fault_writes_its_authored_lines_once_and_its_repeated_ones_while_it_lasts() -> None:
    spec = ConfigChange(
        kind="config_change",
        at=10,
        key="waf.ruleset",
        value="r2",
        logs=[
            LogLine(
                service="waf", level="info", text="waf-0 loaded rule set", fields={"rules": 412}
            ),
            LogLine(
                service="postgres",
                level="error",
                text="postgres-0 WARNING: slow rule",
                fields={"rule": "942100", "detail": "catastrophic backtracking", "hot": True},
                every_s=30,
            ),
        ],
    )
    s = system({"config": {"waf.ruleset": "r1"}}, spec)
    run(s, 100)  # begins at 10: lines at 10, 40, 70 and 100 is not yet run
    once = found(s, "service:waf")
    assert len(once) == 1
    assert "INFO" in once[0] and once[0].endswith("waf-0 loaded rule set rules=412")
    repeated = found(s, "service:postgres level:error")
    assert len(repeated) == 3
    assert all(
        line.endswith(
            'postgres-0 WARNING: slow rule rule=942100 detail="catastrophic backtracking" hot=true'
        )
        for line in repeated
    )
    ops.set_config(s, "waf.ruleset", "r1", "sre")
    run(s, 120)
    assert len(found(s, "service:postgres level:error")) == 3  # fixed: the warnings stop
    assert len(found(s, "service:waf")) == 1


def test_authored_lines_may_use_vary_values(tmp_path: Path) -> None:
    text = FIXTURE.read_text(encoding="utf-8").replace("queue: paymnts", "queue: payments")
    text = text.replace("id: fault-unknown-queue", "id: told")
    text = text.replace(
        "duration_s: 3600\n",
        "duration_s: 3600\nvary:\n  slot: {choices: [analytics_slot, debezium_slot]}\n",
    )
    text = text.replace(
        "    label: a malformed charge request\n",
        "    label: a malformed charge request\n"
        "    logs:\n"
        "      - service: postgres\n"
        '        text: "postgres-0 WARNING: slot ${slot} retains WAL"\n'
        '        fields: {slot: "${slot}"}\n',
    )
    path = tmp_path / "told.yaml"
    path.write_text(text, encoding="utf-8")
    seen = set()
    for seed in (1, 2, 3, 4, 5, 6):
        inc = load_incident(path, seed=seed)
        slot = inc.picked["slot"]
        (line,) = inc.faults[1].logs
        assert line.render() == f"postgres-0 WARNING: slot {slot} retains WAL slot={slot}"
        seen.add(slot)
    assert seen == {"analytics_slot", "debezium_slot"}


@pytest.mark.parametrize("every", [0, -5])
def test_a_repeat_period_must_be_positive(every: int) -> None:
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        LogLine(service="api", text="x", every_s=every)


def test_a_default_alert_pages_with_the_text_the_incident_writes(tmp_path: Path) -> None:
    text = FIXTURE.read_text(encoding="utf-8").replace("queue: paymnts", "queue: payments")
    text = text.replace("id: fault-unknown-queue", "id: paged")
    text = text.replace(
        "duration_s: 3600\n",
        "duration_s: 3600\n"
        "vary:\n  desk: {choices: [payments-desk, billing-desk]}\n"
        "alerts:\n  texts:\n"
        '    QueueAgeHigh_payments: "${desk}: oldest charge {value}s old, objective {threshold}s"\n',
    )
    path = tmp_path / "paged.yaml"
    path.write_text(text, encoding="utf-8")
    inc = load_incident(path, seed=1)
    s = Session(inc, 1)  # runs until the page fires
    (paged,) = [e for e in s.system.alerts.events if e.name == "QueueAgeHigh_payments"]
    desk = inc.picked["desk"]
    assert re.fullmatch(rf"{desk}: oldest charge [0-9.]+s old, objective 300s", paged.summary)
    others = [e for e in s.system.alerts.events if e.name != "QueueAgeHigh_payments"]
    assert all("objective" not in e.summary for e in others)
