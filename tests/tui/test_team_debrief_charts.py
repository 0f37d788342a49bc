"""The team debrief's charts: each player's actions on a row of their own under each key
metric, labelled with the player's name and numbered as in the legend, which says who did
what."""

from __future__ import annotations

from textual.app import App

from oncall_dojo.game.play import finish, perform
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.tui.report import key_metrics
from oncall_dojo.tui.screens.debrief import DebriefScreen
from oncall_dojo.tui.widgets.timeline import LABEL_W, TimelineChart

from .helpers import sync


def team_session(inc: Incident) -> Session:
    s = Session(inc, 4)
    for at, who, line in [
        (15, "dana", "ack"),
        (100, "lee", "dlq move payments top"),
        (110, "lee", "restart billing"),
        (140, "dana", "restart billing"),
        (900, "lee", "resolve"),
    ]:
        s.advance_to(at)
        perform(s, line, who)
    finish(s)
    return s


def rows(chart: TimelineChart) -> list[str]:
    return chart.render().plain.splitlines()


@sync
async def test_each_players_actions_have_their_own_row(poison: Incident) -> None:
    s = team_session(poison)
    app: App[None] = App()
    async with app.run_test(size=(140, 60)) as pilot:
        await app.push_screen(DebriefScreen(s, team=True))
        await pilot.pause()
        chart = app.screen.query_one(TimelineChart)
        acts = [(e.at, e.command, e.player) for e in s.entries if e.kind == "act"]
        assert acts[0][2] == "dana" and acts[1][2] == "lee"
        assert chart.by_player and chart.players() == ["dana", "lee"]
        lines = rows(chart)
        first_metric = key_metrics(s.incident)[0][0]
        start = lines.index(first_metric)
        block = lines[start + 1 : start + 1 + 2 + 2]  # the team's chart, then a row per player
        assert block[0].startswith("Team")
        dana, lee = block[2], block[3]
        assert dana.startswith("dana") and lee.startswith("lee")
        # each row marks only its player's actions, numbered as in the legend
        dana_marks, lee_marks = dana[LABEL_W:], lee[LABEL_W:]
        assert "1" in dana_marks and "1" not in lee_marks
        assert ("2" in lee_marks or "+" in lee_marks) and "2" not in dana_marks
        assert dana_marks.index("1") < len(lee_marks.rstrip())
        text = "\n".join(lines)
        assert "The team's actions, by player" in text
        for i, (at, cmd, who) in enumerate(acts):
            assert f"{i + 1} {at // 60:02d}:{at % 60:02d} {cmd}  ({who})" in text
        assert chart.get_content_height(None, None, 140) >= len(lines)  # type: ignore[arg-type]


@sync
async def test_a_solo_debrief_keeps_one_row_of_marks(poison: Incident) -> None:
    s = team_session(poison)
    app: App[None] = App()
    async with app.run_test(size=(140, 60)) as pilot:
        await app.push_screen(DebriefScreen(s))
        await pilot.pause()
        chart = app.screen.query_one(TimelineChart)
        text = chart.render().plain
        assert chart.players() == [] and "Your actions" in text and "(lee)" not in text
