"""The interviewer's console for `dojo interview`: the facilitator console, turned to one
candidate.

Left, the candidate's log: every command they run with its output, their `say`/`note`
lines (thinking aloud), the panes they open and when, and the interviewers' nudges and
notes, all stamped with the game's time; below it, the team pane. Right, what only the
interviewers see: the clock and the time box, the root cause and the reference, the key
metrics from the page to now, charted as the debrief charts them (`TimelineChart`), with
the candidate's actions marked on a row of their own and listed, the candidate's panes,
and the private notes. The line at the bottom takes `note TEXT`, `nudge [TEXT]`, `hint`, `pause`,
`resume`, `extend N`, `mark LINE 1-4 [NOTE]`, `end`, `say TEXT`; F5 pauses or resumes, F6 releases a hint, F7
nudges. The screen renders the host's state and messages and holds no game state.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from pydantic import BaseModel
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Input, RichLog, Static

from oncall_dojo.game.fmt import mmss
from oncall_dojo.net import protocol as p
from oncall_dojo.net.host import Refused
from oncall_dojo.net.interview import INTERVIEWER_WORDS, InterviewHost
from oncall_dojo.net.interview_remote import RemoteInterview
from oncall_dojo.tui.report import key_metrics
from oncall_dojo.tui.screens.facilitator import FacilitatorScreen
from oncall_dojo.tui.widgets.team import TeamPane
from oncall_dojo.tui.widgets.timeline import Live, LiveRun, TimelineChart

INTERVIEW_ACTIONS = INTERVIEWER_WORDS


class InterviewerScreen(FacilitatorScreen):
    CSS_PATH = "interviewer.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5", "toggle_pause", "Pause/resume"),
        Binding("f6", "hint", "Release hint"),
        Binding("f7", "nudge", "Nudge"),
    ]

    def __init__(
        self,
        host: InterviewHost | RemoteInterview,
        you: str,
        links: list[tuple[str, str, str | None]] | None = None,
        pages: list[tuple[str, str]] | None = None,
    ) -> None:
        """`host` is the interview's host (the host's own terminal), or a second interviewer's
        `RemoteInterview` (their seat process, relayed by `dojo join`): the console reads the
        same things of both, and its actions reach the host in this interviewer's name."""
        super().__init__(cast(Any, host), you, links, pages)

    def compose(self) -> ComposeResult:
        with Horizontal(id="iv-main"):
            with Vertical(id="iv-left"):
                yield RichLog(id="iv-cand", wrap=True, markup=False, max_lines=20000)
                yield TeamPane(id="fac-team")
            with VerticalScroll(id="fac-side"):
                # what changes as the candidate plays first; the links and the answer sheet below
                yield Static("", id="fac-clock")
                yield Static(
                    Text("Key metrics, page to now (the candidate's actions marked)", "bold"),
                    id="iv-metrics",
                )
                yield TimelineChart(
                    [LiveRun("candidate", Live(self.host.session))],
                    key_metrics(self.host.session.incident),
                    id="iv-timeline",
                    by_player=True,
                    heading="The candidate's actions",
                    hold=self._measuring,
                )
                yield Static("", id="iv-panes")
                yield Static("", id="fac-notes")
                yield Static("", id="fac-answer")
                yield Static("", id="fac-links")
                yield Static("", id="fac-injects")
        yield Static("", id="fac-said")
        yield Input(
            placeholder="interviewer> note TEXT | nudge [TEXT] | hint | pause | extend 5 | end",
            id="fac-line",
            select_on_focus=False,
        )
        yield Footer()

    def on_mount(self) -> None:
        # FacilitatorScreen.on_mount runs too (Textual calls each class's handler)
        log = self.query_one("#iv-cand", RichLog)
        log.border_title = "The candidate: commands and outputs, thinking aloud, panes"
        # what happened before the console opened (a late second interviewer, a resumed
        # host): the commands, the talk and the private notes, in the order they happened
        host = self.host
        outputs = host.outputs
        notes = [p.Said(at=at, player=by, text=text, kind="note") for at, by, text in host.notes]
        items: list[p.Line | p.Said] = [*host.feed, *host.said, *notes]
        for item in sorted(items, key=lambda m: m.at):
            if isinstance(item, p.Line):
                out = outputs[item.seq] if item.seq < len(outputs) else ""
                self._candidate_line(item, out)
            else:
                self._candidate_said(item)
        self.set_interval(1.0, self._side)

    @property
    def candidate(self) -> str:
        m = getattr(self.host, "candidate", None)
        return m.name if m is not None else ""

    # -- the host's messages ----------------------------------------------------------------
    def _heard(self, msg: BaseModel, audience: str) -> None:
        super()._heard(msg, audience)
        if audience not in ("all", "answer", self.you):
            return
        if isinstance(msg, p.Finished) and isinstance(self.host, RemoteInterview):
            self._say(
                f"Finished: {msg.score:g}/100, grade {msg.grade}. The interview's record is the "
                "host's: marks given here with `mark` are kept there."
            )
        elif isinstance(msg, p.Finished):
            sid = self.host.recorder.session_id if self.host.recorder is not None else None
            self._say(
                f"Finished: {msg.score:g}/100, grade {msg.grade}. Ctrl+Q, then mark the rubric "
                f"and print the scorecard (dojo interview scorecard {sid or 'CANDIDATE'})"
            )
        if isinstance(msg, p.Reply) and msg.seq < 0:  # a second interviewer's line, answered
            if msg.output not in ("", "done"):
                self._say(("! " if msg.kind == "refused" else "") + msg.output)
            self._side()
        if isinstance(msg, p.Line):
            out = self.host.outputs[msg.seq] if msg.seq < len(self.host.outputs) else ""
            self._candidate_line(msg, out)
        elif isinstance(msg, p.Said):
            self._candidate_said(msg)
        elif isinstance(msg, p.Roster):
            self._panes()

    def _candidate_said(self, msg: p.Said) -> None:
        log = self.query_one("#iv-cand", RichLog)
        who = msg.player or "***"
        style = {"note": "yellow", "say": "green", "notice": "magenta"}[msg.kind]
        if msg.player and msg.player != self.candidate and msg.kind == "note":
            style = "bold yellow"  # an interviewer's private note
        log.write(Text(f"[{mmss(msg.at)}] {who} {msg.kind}: {msg.text}", style=style))

    def _candidate_line(self, line: p.Line, output: str) -> None:
        log = self.query_one("#iv-cand", RichLog)
        mine = line.player == self.candidate
        mark = "!" if line.kind == "refused" else ">"
        head = Text(f"[{mmss(line.at)}] {line.player} {mark} {line.command}")
        head.stylize("bold" if mine else "dim")
        log.write(head)
        if output:
            log.write(Text(output, style="red" if line.kind == "refused" else ""))

    # -- the side ---------------------------------------------------------------------------
    def _side(self) -> None:
        super()._side()
        h: Any = self.host
        c = h.clock_message()
        box = Text.assemble(
            ("Clock ", "bold"),
            f"{mmss(c.at)} / {mmss(c.horizon)}  ",
            ("PAUSED" if c.paused else f"{c.speed:g}x", "bold yellow" if c.paused else "green"),
        )
        if hasattr(h, "deadline"):
            box.append(f"\nTime box: {h.left_text()} left (ends {mmss(h.deadline)})")
            if getattr(h, "away_since", None) is not None:
                lost = f" ({h.away_s}s lost before)" if h.away_s else ""
                box.append(
                    f"\nCandidate disconnected since {mmss(h.away_since)}{lost}", style="yellow"
                )
            elif getattr(h, "away_s", 0):
                box.append(f"\nCandidate was disconnected: {h.away_s}s lost in all", style="yellow")
        self.query_one("#fac-clock", Static).update(box)
        notes = Text()
        notes.append("The interviewers' notes (note TEXT; the candidate never sees them)\n", "bold")
        for at, by, text in h.notes:
            notes.append(f"  [{mmss(at)}] ")
            notes.append(by, style="bold yellow" if by != self.you else "bold")
            notes.append(f": {text}\n")
        self.query_one("#fac-notes", Static).update(notes)
        self._metrics()
        self._panes()

    def _measuring(self) -> bool:
        """The host is measuring the outcome in a worker thread, which advances the session:
        nothing here may read its metrics meanwhile (the chart keeps what it drew)."""
        h: Any = self.host
        return bool(getattr(h, "finishing", False)) and getattr(h, "result_message", 1) is None

    def _metrics(self) -> None:
        """The key metrics' chart, redrawn to now; its run is labelled with the candidate."""
        chart = self.query_one("#iv-timeline", TimelineChart)
        if self._measuring():
            return
        name = self.candidate or "candidate"
        if chart.runs and chart.runs[0].label != name:
            chart.set_runs([LiveRun(name, Live(self.host.session))])
        else:
            chart.refresh(layout=True)

    def _panes(self) -> None:
        looks = getattr(self.host, "looks", [])
        t = Text()
        t.append("Panes the candidate opened\n", style="bold")
        for at, what in looks[-12:]:
            t.append(f"  [{mmss(at)}] {what}\n")
        if not looks:
            t.append("  (none yet)\n", style="dim")
        self.query_one("#iv-panes", Static).update(t)

    # -- the interviewer's actions ----------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        # the line is done by FacilitatorScreen's handler (Textual calls each class's); stopped
        # here, so that a seat's app does not send it to the host a second time
        event.stop()

    def act(self, line: str) -> None:
        word, _, arg = line.partition(" ")
        if word == "links":  # the candidate's links whole, to copy (F8), as the facilitator's
            super().act(line)
            return
        if word not in INTERVIEW_ACTIONS and word != "say":
            self._say(
                f"! not an interviewer action: {word} (one of {', '.join(INTERVIEW_ACTIONS)}, "
                "say TEXT, links)"
            )
            return
        try:
            if word == "say":
                self.host.say(self.you, arg)
                shown = ""
            else:
                shown = self.host.facilitate(self.you, word, arg)
        except Refused as exc:
            self._say(f"! {exc}")
            return
        self._say("" if shown in ("", "done") else shown)
        self._side()

    def action_nudge(self) -> None:
        self.act("nudge")
