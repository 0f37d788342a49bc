"""The days before the run that `metrics` draws for a resource with a `past`."""

from __future__ import annotations

from oncall_dojo.game.trend import WIDTH, past_trend, past_values
from oncall_dojo.sim.resources import ResourceSpec


def spec(**extra: object) -> ResourceSpec:
    return ResourceSpec.model_validate({"metric": "process_open_fds", "start": 180, **extra})


LEAK = [
    {"ago_s": 604800, "value": 180},
    {"ago_s": 432000, "value": 180},  # the release: flat before it
    {"ago_s": 200060, "value": 740},  # the climb
    {"ago_s": 200000, "value": 180},  # a restart
]


def test_each_bucket_holds_the_highest_value_in_it_so_a_drop_shows() -> None:
    vals = past_values(spec(past=LEAK), at_start=900)
    assert len(vals) == WIDTH
    before = int(WIDTH * (604800 - 432000) / 604800)
    assert max(vals[:before]) == 180  # flat until the release
    assert max(vals) == 900  # the value the run starts from ends the line
    top = vals.index(740.0)  # the climb's peak is kept, not sampled away
    assert vals[top + 1] < 400  # and the restart after it shows as a drop
    assert vals[-1] == 900


def test_the_lines_metrics_adds_name_the_span_and_the_range() -> None:
    lines = past_trend(spec(past=LEAK), at_start=900)
    assert lines[0] == "  the 7d before the page (low 180, high 900):"
    assert len(lines[1].strip()) == WIDTH and lines[1].strip()[0] == "▁"
    assert lines[1].strip()[-1] == "█"
    assert lines[2].split() == ["-7d", "page"]


def test_a_resource_without_a_past_adds_nothing() -> None:
    assert past_trend(spec(), at_start=500) == []
