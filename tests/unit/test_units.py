"""Model values with units in the texts an author writes: an alert's `{value:UNIT}` and
`{threshold:UNIT}`, and `${... | UNIT}` in any text. The pager's words are checked against the
value the model measured when the alert fired."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter

from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.sim.observability.alerts import AlertRule
from oncall_dojo.sim.resources import ResourceSpec
from oncall_dojo.sim.system import System
from oncall_dojo.sim.units import UNITS, as_duration, in_bytes, value_problem
from oncall_dojo.sim.world import add_world

from .simkit import config, found, run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("unit", "value", "text"),
    [
        ("bytes", 7_247_300_890, "7.25 GB"),
        ("bytes", 2.4e6, "2.4 MB"),
        ("bytes", 6.4e10, "64 GB"),
        ("bytes", 999_600, "1 MB"),  # rounds up into the next unit, never "1e+03 kB"
        ("bytes", 512, "512 B"),
        ("bytes", -3e9, "-3 GB"),
        ("duration", 45, "45s"),
        ("duration", 270, "4m 30s"),
        ("duration", 7500, "2h 5m"),
        ("duration", 273_600, "3d 4h"),
        ("duration", 0.25, "250ms"),
        ("percent", 0.2539, "25.4%"),
        ("percent", 1, "100%"),
    ],
)
def test_a_value_in_its_unit(unit: str, value: float, text: str) -> None:
    assert UNITS[unit](value) == text


def test_the_guides_wal_alert_reads_its_measured_value_in_gb() -> None:
    """The resources example of docs/authoring.md: the volume runs down from 5 GB at 5 MB a
    second, and the page says how much is left in GB, as the gauge read it when it fired."""
    guide = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in guide.split("```yaml\n")[1:]]
    (body,) = [b for b in blocks if b.startswith("resources:\n  wal-volume:") and "alerts:" in b]
    doc = yaml.safe_load(body.replace("${slot}", "analytics"))
    rule = AlertRule.model_validate(doc["alerts"]["add"][0])
    s = System(config(), 1, [rule])
    add_world(s, TypeAdapter(dict[str, ResourceSpec]).validate_python(doc["resources"]), [])
    run(s, 900)
    (fired,) = [e for e in s.alerts.events if e.state == "firing"]
    free = s.metrics.values[fired.tick, s.world.resources["wal-volume"].gauge]
    assert 0 < free < 1.5e9
    assert fired.summary == f"WAL volume has {in_bytes(free)} free (page below 1.5 GB)"
    assert re.search(r"\d{4}", fired.summary) is None  # no raw byte count
    # the disk monitor's line, written when the volume went under 1 GB and each minute after
    gauge = s.world.resources["wal-volume"].gauge
    lines = found(s, "service:diskmon")
    assert len(lines) == 2  # at 800 s and 860 s (5 GB less 5 MB a second, 900 s run)
    for line, tick in zip(lines, (800, 860), strict=True):
        free_then = in_bytes(s.metrics.values[tick, gauge])
        assert line.endswith(f"diskmon-0 /var/lib/postgresql/wal: {free_then} free, below 1 GB")


def test_the_disk_page_and_the_debrief_speak_in_units() -> None:
    """database-disk-filling: the page gives the free space in GB, as the gauge read it; the
    explanation gives each checkout's WAL in MB, as the seed picked it."""
    inc = load_checked(ROOT / "incidents" / "database-disk-filling.yaml").for_seed(1)
    s = Session(inc, 1)
    (page,) = [e for e in s.system.alerts.events if e.name == inc.page.alert]
    state = s.system.alerts.states[inc.page.alert]
    assert state.value is not None and 1e9 < state.value < 8e9
    assert page.summary == f"WAL volume has {in_bytes(state.value)} free"
    per = inc.picked["per_checkout"]
    assert isinstance(per, int)
    assert f"about {in_bytes(per)} per" in " ".join(inc.root_cause.explanation.split())


def test_a_duration_reads_as_the_game_counts() -> None:
    assert as_duration(59.6) == "1m" and as_duration(3599.6) == "1h"


@pytest.mark.parametrize(
    ("text", "has_value", "problem"),
    [
        ("free: {value:bytes}", True, None),
        ("open: {value}", True, None),
        (
            "free: {value:gb}",
            True,
            "unknown unit `gb` in `{value:gb}`; units: bytes, duration, percent",
        ),
        (
            "free: {value}",
            False,
            "`{value}`: only the lines of a resource's threshold have a value to show",
        ),
        ('{"level": "warn"}', False, None),  # braces of the line's own stay as written
    ],
)
def test_a_log_lines_value_placeholders_are_checked(
    text: str, has_value: bool, problem: str | None
) -> None:
    assert value_problem(text, has_value) == problem
