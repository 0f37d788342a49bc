"""The interviewer's console (`dojo interview` in a terminal), driven by Pilot over a real
interview host (no network: the candidate acts through the host's API as the server would)."""

from __future__ import annotations

from textual.widgets import RichLog

from oncall_dojo.incident.model import Incident
from oncall_dojo.net.interview import InterviewHost, new_interview
from oncall_dojo.tui.host_app import HostApp
from oncall_dojo.tui.report import key_metrics
from oncall_dojo.tui.screens.interviewer import InterviewerScreen
from oncall_dojo.tui.screens.links import LinksScreen
from oncall_dojo.tui.widgets.timeline import LABEL_W, TimelineChart

from .helpers import sync, text_of, typed, wait_for


def interview(incident: Incident) -> InterviewHost:
    host = new_interview(incident.for_seed(7), 7, host_name="ivy", store=None, minutes=30)
    token = host.seats[1].token
    assert token is not None
    host.join(token, "cam")
    return host


def log_text(screen: InterviewerScreen) -> str:
    log = screen.query_one("#iv-cand", RichLog)
    return "\n".join(line.text for line in log.lines)


@sync
async def test_the_interviewer_sees_the_candidate_and_acts(poison: Incident) -> None:
    host = interview(poison)
    # before the console opened (a resumed host, a late interviewer): shown from the host's
    # feed, talk and notes, in the order they happened
    host.command("cam", "alerts")
    host.session.advance(5)
    host.command("cam", "say the page is about payments")
    host.note("ivy", "went to the alerts first")
    app = HostApp(host, "ivy", screen=InterviewerScreen)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InterviewerScreen))
        screen = app.screen
        assert isinstance(screen, InterviewerScreen)
        host.command("cam", "queues")
        host.session.advance(90)  # the host's clock (not running here) moves the game on
        host.command("cam", "note the payments queue is the odd one out")
        host.look("cam", "logs: billing level=warn")
        host.command("cam", "restart billing")
        await pilot.pause()
        await wait_for(pilot, lambda: "restart billing" in log_text(screen))
        text = log_text(screen)
        early = ["cam > alerts", "cam say: the page is about payments", "ivy note: went to the"]
        assert all(e in text for e in early)
        assert sorted(early, key=text.index) == early
        # every command with its output, and the thinking aloud
        assert "cam > alerts" in text and "Active alerts" in text
        assert "cam > queues" in text and "payments" in text
        assert "the payments queue is the odd one out" in text
        # the answer and the reference, the time box, the panes, the metrics
        side = text_of(screen, "#fac-answer")
        assert "Root cause:" in side and "Reference timeline" in side
        await wait_for(pilot, lambda: "Time box:" in text_of(screen, "#fac-clock"))
        assert "logs: billing level=warn" in text_of(screen, "#iv-panes")
        # the key metrics charted (the debrief's chart), the candidate's action marked on it
        assert "Key metrics" in text_of(screen, "#iv-metrics")
        chart = screen.query_one("#iv-timeline", TimelineChart)
        await wait_for(pilot, lambda: chart.players() == ["cam"])
        lines = chart.render().plain.splitlines()
        for title, _, _ in key_metrics(host.session.incident):
            assert title in lines
        first = lines.index(key_metrics(host.session.incident)[0][0])
        bars, marks = lines[first + 1 : first + 3], lines[first + 3]
        assert bars[0].startswith("cam") and any(set(b[LABEL_W:]) - {" "} for b in bars)
        assert marks.startswith("cam") and "1" in marks[LABEL_W:]
        acted = next(e.at for e in host.session.entries if e.command == "restart billing")
        assert f"  1 {acted // 60:02d}:{acted % 60:02d} restart billing  (cam)" in lines
        # the interviewer's actions go to the host
        await typed(pilot, "note asked about the queue before restarting")
        await typed(pilot, "nudge Why restart billing?")
        await typed(pilot, "extend 5")
        await typed(pilot, "mark safety 3")  # not recorded here: marks need the record
        assert "only for a recorded interview" in text_of(screen, "#fac-said")
        await typed(pilot, "inject fault x")  # a facilitator's word, not an interviewer's
        assert "not an interviewer action" in text_of(screen, "#fac-said")
        await typed(pilot, "links")  # the links whole, to copy, as at the facilitator's line
        await wait_for(pilot, lambda: isinstance(app.screen, LinksScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert [n[2] for n in host.notes][1:] == ["asked about the queue before restarting"]
        await wait_for(pilot, lambda: "asked about the queue" in text_of(screen, "#fac-notes"))
        notes = text_of(screen, "#fac-notes")  # each note with who wrote it
        assert "[00:05] ivy: went to the alerts first" in notes
        assert "ivy: asked about the queue before restarting" in notes
        assert any("ivy asks: Why restart billing?" in s.text for s in host.said)
        assert host.deadline == 35 * 60
        await wait_for(pilot, lambda: "Why restart billing?" in log_text(screen))
        await pilot.press("f5")
        assert host.paused
        await pilot.press("f7")
        assert sum("asks:" in s.text for s in host.said) == 2


class Unreadable:
    """Stands for the metrics while the outcome is measured in a worker thread."""

    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"the console read the metrics ({name}) while they were measured")


@sync
async def test_the_chart_reads_nothing_while_the_outcome_is_measured(poison: Incident) -> None:
    """Measuring the outcome advances the session in a worker thread: the console's chart
    keeps what it drew and reads nothing of the session's metrics meanwhile (reading them
    then broke the measuring: `ValueError: cannot reshape array` in the metrics store)."""
    host = interview(poison)
    host.session.advance(30)
    host.command("cam", "restart billing")
    host.session.advance(60)
    app = HostApp(host, "ivy", screen=InterviewerScreen)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InterviewerScreen))
        screen = app.screen
        assert isinstance(screen, InterviewerScreen)
        chart = screen.query_one("#iv-timeline", TimelineChart)
        await wait_for(pilot, lambda: "restart billing  (cam)" in chart.render().plain)
        drawn = chart.render().plain
        host.finishing = True  # the host's clock stopped; the measuring starts
        metrics, host.session.system.metrics = host.session.system.metrics, Unreadable()  # type: ignore[assignment]
        try:
            screen._side()
            await pilot.resize_terminal(120, 40)
            await pilot.pause()
            assert chart.render().plain == drawn
        finally:
            host.session.system.metrics = metrics
        await host.finish()  # measured: the chart draws again, to the end of the incident
        screen._side()
        assert chart.render().plain != drawn and "restart billing  (cam)" in chart.render().plain


@sync
async def test_a_console_opened_while_the_outcome_is_measured_reads_nothing(
    poison: Incident,
) -> None:
    """A resumed host whose time box had run out measures the outcome as its console opens:
    the chart waits for the measuring instead of drawing from the session meanwhile."""
    host = interview(poison)
    host.session.advance(60)
    host.finishing = True
    metrics, host.session.system.metrics = host.session.system.metrics, Unreadable()  # type: ignore[assignment]
    app = HostApp(host, "ivy", screen=InterviewerScreen)
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, InterviewerScreen))
            chart = app.screen.query_one("#iv-timeline", TimelineChart)
            await pilot.pause()
            assert "drawn when the outcome is measured" in chart.render().plain
    finally:
        host.session.system.metrics = metrics
