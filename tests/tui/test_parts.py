"""The TUI's pure parts: pacing, completion, charts, the log query -> command mapping, the debrief's runs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from oncall_dojo.game.markdown import render
from oncall_dojo.game.report import from_session
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.tui.charts import block_rows, downsample, marker_row
from oncall_dojo.tui.completion import complete
from oncall_dojo.tui.pacing import Pacer
from oncall_dojo.tui.report import comparison_run, unseen
from oncall_dojo.tui.screens.incident import logs_command


def test_pacing_gives_whole_ticks_by_speed() -> None:
    p = Pacer(speed=1)
    assert sum(p.due(0.1) for _ in range(10)) == 1
    p.set_speed(20)
    assert [p.due(0.1) for _ in range(3)] == [2, 2, 2]
    p.paused = True
    assert p.due(0.1) == 0
    assert p.faster() == 1


def test_completion_of_commands_and_of_names_that_exist(paged: Session) -> None:
    assert complete("q", paged) == ("queue", ["queue", "queues"])
    assert complete("queue p", paged) == ("queue payments ", [])
    assert complete("dlq m", paged) == ("dlq move ", [])
    _, found = complete("dlq move payments ", paged)
    assert "top" in found and any(f.startswith("msg_") for f in found)
    assert complete("logs billing level=w", paged) == ("logs billing level=warn ", [])
    assert complete("diagnose queue:p", paged) == ("diagnose queue:payments ", [])
    assert complete("diagnose queue:payments poi", paged) == (
        "diagnose queue:payments poison-message ",
        [],
    )
    assert complete("nonsense ", paged) == ("nonsense ", [])


def test_charts_downsample_by_max_and_draw_blocks() -> None:
    vals = np.arange(100, dtype=float)
    assert downsample(vals, 10).tolist() == [
        9.0,
        19.0,
        29.0,
        39.0,
        49.0,
        59.0,
        69.0,
        79.0,
        89.0,
        99.0,
    ]
    rows = block_rows(np.array([0.0, 5.0, 10.0]), 2, 0.0, 10.0)
    assert rows == ["  █", " ██"]
    assert marker_row(10, 0, 100, [0, 55, 99]) == "▲    ▲   ▲"


def test_a_log_query_is_recorded_as_the_same_logs_command() -> None:
    assert logs_command("service:billing level:warn") == "logs service:billing level:warn"
    assert logs_command('"charge failed" /msg_\\w+/') == 'logs "charge failed" /msg_\\w+/'
    assert logs_command('"unclosed') is None
    assert logs_command("-service:api") == "logs -service:api"


def test_the_debrief_runs_equal_the_headless_play_and_export(
    poison: Incident, play: Callable[..., Session]
) -> None:
    actions = poison.playthroughs.reference.actions
    run = comparison_run(poison, 1, actions, "Reference")
    session = play(actions, 1)  # the same run as `check.play`, shared by the tests
    headless = session.result
    assert headless is not None and run.result.to_json() == headless.to_json()
    assert run.outcome.entries == session.entries
    assert run.outcome.end == session.system.t == session.page_tick + session.horizon
    assert run.outcome.metrics.ticks == session.system.metrics.ticks
    for name in ("http_requests_total", "http_request_duration_seconds"):
        got = run.outcome.metrics.range(name, 0, run.outcome.end, "rate", 60)
        assert np.array_equal(
            got, session.system.metrics.range(name, 0, session.system.t, "rate", 60)
        )
    assert comparison_run(poison, 1, actions, "Again").outcome is run.outcome  # kept, not replayed
    assert unseen(session) == []
    text = render(from_session(session, session_id="s1", player="alice"))
    assert "## Score" in text and "| Session | `s1` |" in text and "| Player | alice |" in text
    assert "| 02:10 | changed | `dlq move payments top` |" in text


def test_the_ops_console_shows_control_characters_as_escapes() -> None:
    from oncall_dojo.game.entry import Entry
    from oncall_dojo.tui.widgets.console import OpsConsole

    for kind in ("meta", "refused"):
        e = Entry(5, 5, 'update "\x1b[2J\x9bhi"', kind, "ok: \x1b[31mred\x07\nnext\u202e")
        for quiet in (False, True):
            plain = OpsConsole.format(e, quiet=quiet).plain
            assert not any(c in plain for c in "\x1b\x07\x9b\u202e"), plain
            assert '> update "\\x1b[2J\\x9bhi"' in plain
        assert "ok: \\x1b[31mred\\x07\nnext\\u202e" in OpsConsole.format(e).plain
