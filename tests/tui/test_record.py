"""Every game played in the TUI reaches the record, however it ends.

Each test runs `dojo play` itself (`cli.main`), with stdin and stdout taken for a
terminal so that it opens the TUI, and the app driven by Pilot instead of a real
terminal: the recorder, the store and what runs after the app are exactly those
of a player's game. The record is then read back through `dojo history`,
`report`, `leaderboard` and `verify`.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from oncall_dojo.cli import main
from oncall_dojo.game.play import perform
from oncall_dojo.tui.app import DojoApp
from oncall_dojo.tui.screens.briefing import BriefingScreen
from oncall_dojo.tui.screens.debrief import DebriefScreen
from oncall_dojo.tui.screens.incident import IncidentScreen
from oncall_dojo.tui.screens.picker import PickerScreen

from .helpers import command, to_debrief, to_incident, wait_for

Scenario = Callable[[Pilot[None]], Awaitable[None]]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "dojo-home"
    monkeypatch.setenv("DOJO_HOME", str(d))
    monkeypatch.setenv("DOJO_PLAYER", "tester")
    return d


class Terminal:
    """`dojo play` in a terminal, the app run by Pilot; returns (exit code, stdout, stderr)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        self.apps: list[DojoApp] = []

    def play(self, scenario: Scenario, *args: str, tty: bool = True) -> tuple[int, str, str]:
        apps = self.apps

        def run_under_pilot(app: DojoApp, *_: Any, **__: Any) -> None:
            apps.append(app)
            app.start_paused = True  # time moves only when the scenario moves it

            async def drive() -> None:
                async with app.run_test(size=(160, 50), notifications=True) as pilot:
                    await scenario(pilot)
                    await pilot.pause()

            asyncio.run(drive())

        self.capsys.readouterr()
        with self.monkeypatch.context() as m:
            m.setattr(DojoApp, "run", run_under_pilot)
            m.setattr(sys, "stdin", io.StringIO("quit\n"))  # what the line console would read
            m.setattr(sys.stdin, "isatty", lambda: tty)
            m.setattr(sys.stdout, "isatty", lambda: tty, raising=False)
            code = main(["play", *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def dojo(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err

    def history(self) -> list[dict[str, Any]]:
        code, out, err = self.dojo("history", "--json")
        assert code == 0, err
        return list(json.loads(out))

    def board(self) -> list[dict[str, Any]]:
        code, out, err = self.dojo("leaderboard", "payments-stuck", "--json")
        assert code == 0, err
        return list(json.loads(out)["rows"])


@pytest.fixture
def term(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Terminal:
    return Terminal(monkeypatch, capsys)


async def resolve(pilot: Pilot[None]) -> DebriefScreen:
    """F9, confirmed; then the debrief (without waiting for its comparison runs)."""
    await pilot.press("f9")
    await pilot.click("#ok")
    return await to_debrief(pilot, with_comparison=False)


def assert_finished(term: Terminal, sid: str, score: int, grade: str) -> None:
    """The session reads finished, with this score, through every command that shows it."""
    row = next(r for r in term.history() if r["session"] == sid)
    assert row["ended_at"] is not None and (row["score"], row["grade"]) == (score, grade)
    code, out, err = term.dojo("report", sid)
    assert code == 0, err
    assert f"{score}/100" in out
    best = {r["player"]: r for r in term.board()}[row["player"]]
    assert best["score"] >= score  # ranked (best per player: ties go to the earlier game)
    code, out, _ = term.dojo("verify", sid)
    assert code == 0 and f"session {sid}: ok" in out


def test_a_game_resolved_in_the_tui_is_finished_on_the_record(term: Terminal) -> None:
    seen: dict[str, Any] = {}

    async def scenario(pilot: Pilot[None]) -> None:
        await to_incident(pilot)
        await command(pilot, "ack")
        await command(pilot, "queue payments")
        debrief = await resolve(pilot)
        seen["result"] = debrief.result

    code, _, err = term.play(scenario, "payments-stuck", "--seed", "1")
    assert code == 0, err
    [row] = term.history()
    result = seen["result"]
    assert_finished(term, row["session"], result.score, result.grade)
    assert row["outcome"] == ("resolved" if result.resolved else "unresolved")
    assert row["mode"] == "play" and row["player"] == "tester"


def test_a_game_that_runs_out_of_time_is_finished_on_the_record(term: Terminal) -> None:
    seen: dict[str, Any] = {}

    async def scenario(pilot: Pilot[None]) -> None:
        screen = await to_incident(pilot)
        await command(pilot, "ack")
        await command(pilot, f"wait {screen.session.horizon}s")
        debrief = await to_debrief(pilot, with_comparison=False)
        seen["result"] = debrief.result
        assert screen.session.declared_resolved_at is None

    code, _, err = term.play(scenario, "payments-stuck", "--seed", "2")
    assert code == 0, err
    [row] = term.history()
    assert_finished(term, row["session"], seen["result"].score, seen["result"].grade)


def test_a_game_quit_mid_play_is_kept_and_resumes_in_the_tui_then_reopens_as_its_debrief(
    term: Terminal,
) -> None:
    seen: dict[str, Any] = {}

    async def quit_mid_game(pilot: Pilot[None]) -> None:
        screen = await to_incident(pilot)
        await command(pilot, "ack")
        await command(pilot, "wait 2m")
        await command(pilot, "queue payments")
        seen["at"] = screen.session.now
        seen["commands"] = [e.command for e in screen.session.entries]
        await pilot.press("ctrl+q")

    code, _, err = term.play(quit_mid_game, "payments-stuck", "--seed", "3")
    assert code == 0, err
    [row] = term.history()
    sid = row["session"]
    assert row["ended_at"] is None and row["last_at"] == seen["at"]
    code, out, _ = term.dojo("history")
    assert f"unfinished at 02:00 (dojo play --resume {sid})" in out
    code, _, err = term.dojo("report", sid)
    assert code == 2 and "has not finished" in err
    assert term.board() == []
    assert term.dojo("verify", sid)[0] == 0

    async def resume_and_resolve(pilot: Pilot[None]) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentScreen))
        screen = app.screen
        assert isinstance(screen, IncidentScreen)
        assert screen.session.now == seen["at"]
        assert [e.command for e in screen.session.entries] == seen["commands"]
        await command(pilot, "dlq move payments top")
        debrief = await resolve(pilot)
        seen["result"] = debrief.result

    code, _, err = term.play(resume_and_resolve, "--resume")
    assert code == 0, err
    [row] = term.history()
    assert row["session"] == sid
    assert_finished(term, sid, seen["result"].score, seen["result"].grade)
    code, out, _ = term.dojo("replay", sid)
    assert code == 0 and "same outputs and the same score" in out

    # a finished game reopens as its debrief, never as live play, and adds nothing to the record
    events = len(json.loads(term.dojo("export", sid)[1])["sessions"][0]["events"])

    async def reopen(pilot: Pilot[None]) -> None:
        debrief = await to_debrief(pilot, with_comparison=False)
        assert debrief.result.score == seen["result"].score
        assert not any(isinstance(s, IncidentScreen) for s in pilot.app.screen_stack)

    code, _, err = term.play(reopen, "--resume", sid)
    assert code == 0, err
    assert len(json.loads(term.dojo("export", sid)[1])["sessions"][0]["events"]) == events


def test_a_game_declared_resolved_but_not_yet_measured_resumes_to_its_debrief(
    term: Terminal,
) -> None:
    """Killed while measuring: the record holds `resolve` but no score. Resuming measures it."""
    from oncall_dojo.game.session import Session
    from oncall_dojo.game.validate import load_checked
    from oncall_dojo.incident.packs import find
    from oncall_dojo.store import Recorder, Store

    st = Store.open()
    log = Recorder(st, "tester", "play")
    s = Session(load_checked(find("payments-stuck")), 4)
    log.started(s, 0)
    perform(s, "ack")
    s.advance(30)
    perform(s, "resolve")  # ... and the process dies before the outcome is measured
    log.checkpoint()
    sid = log.session_id
    assert sid is not None
    st.close()
    [row] = term.history()
    assert row["session"] == sid and row["ended_at"] is None
    seen: dict[str, Any] = {}

    async def reopen(pilot: Pilot[None]) -> None:
        debrief = await to_debrief(pilot, with_comparison=False)
        seen["result"] = debrief.result
        assert not any(isinstance(s, IncidentScreen) for s in pilot.app.screen_stack)

    code, _, err = term.play(reopen, "--resume", sid)
    assert code == 0, err
    assert_finished(term, sid, seen["result"].score, seen["result"].grade)


async def _another_incident(pilot: Pilot[None], seed: str, seen: list[Any]) -> None:
    """From the debrief, `n`: pick payments-stuck with a seed, play it, resolve it."""
    app = pilot.app
    await pilot.press("n")
    await wait_for(
        pilot, lambda: isinstance(app.screen, PickerScreen) and bool(app.screen.incidents)
    )
    picker = app.screen
    assert isinstance(picker, PickerScreen)
    from textual.widgets import DataTable, Input

    ids = [inc.id for inc in picker.incidents]
    picker.query_one(DataTable).move_cursor(row=ids.index("payments-stuck"))
    picker.query_one("#seed", Input).value = seed
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, BriefingScreen))
    await to_incident(pilot)
    await command(pilot, "ack")
    seen.append((await resolve(pilot)).result)


def test_another_incident_from_the_debrief_is_recorded_too_also_after_a_resume(
    term: Terminal,
) -> None:
    seen: list[Any] = []

    async def two_games(pilot: Pilot[None]) -> None:
        await to_incident(pilot)
        await command(pilot, "queue payments")
        seen.append((await resolve(pilot)).result)
        await _another_incident(pilot, "6", seen)

    code, _, err = term.play(two_games, "payments-stuck", "--seed", "5")
    assert code == 0, err
    rows = sorted(term.history(), key=lambda r: r["seed"])
    assert [r["seed"] for r in rows] == [5, 6]
    for row, result in zip(rows, seen, strict=True):
        assert_finished(term, row["session"], result.score, result.grade)

    async def quit_mid_game(pilot: Pilot[None]) -> None:
        await to_incident(pilot)
        await command(pilot, "ack")
        await pilot.press("ctrl+q")

    term.play(quit_mid_game, "payments-stuck", "--seed", "7")
    seen.clear()

    async def resume_then_another(pilot: Pilot[None]) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, IncidentScreen))
        seen.append((await resolve(pilot)).result)
        await _another_incident(pilot, "8", seen)

    code, _, err = term.play(resume_then_another, "--resume")
    assert code == 0, err
    rows = {r["seed"]: r for r in term.history()}
    assert sorted(rows) == [5, 6, 7, 8]
    assert_finished(term, rows[7]["session"], seen[0].score, seen[0].grade)
    assert_finished(term, rows[8]["session"], seen[1].score, seen[1].grade)
    [best] = term.board()
    assert best["sessions"] == 4  # every one of the four games is ranked


def toasts(app: DojoApp) -> list[str]:
    """The notifications on screen, as the player reads them."""
    return [str(t.render()) for t in app.screen.query("Toast")]


def test_the_player_is_told_when_the_record_stops_taking_writes(term: Terminal) -> None:
    """The disk fills mid-game: a notification says so at once, the game goes on to its
    debrief, and `dojo play` says so again on the terminal and exits 1."""

    async def scenario(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, DojoApp)
        await to_incident(pilot)
        await command(pilot, "ack")
        conn = app.play_log.store.c.conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from here on
        for _ in range(40):  # until the free space left in the file's pages is used up
            if app.play_log.broken:
                break
            await command(pilot, "logs billing")
        assert app.play_log.broken
        await pilot.pause()
        shown = " ".join(toasts(app))
        assert "not be kept" in shown and "disk is full" in shown
        debrief = await resolve(pilot)
        assert debrief.result.score >= 0

    code, _, err = term.play(scenario, "payments-stuck", "--seed", "1")
    assert code == 1
    assert "results were not kept" in err and "disk is full" in err
    [row] = term.history()
    assert row["ended_at"] is None  # what was written before the disk filled is intact
    assert term.dojo("verify", row["session"])[0] == 0


def test_an_export_that_cannot_be_written_is_reported_on_screen(tmp_path: Path) -> None:
    from .helpers import new_app, sync

    missing = tmp_path / "no-such-folder"

    @sync
    async def body() -> None:
        app = new_app(export_dir=missing)
        async with app.run_test(size=(160, 50), notifications=True) as pilot:
            await to_incident(pilot)
            debrief = await resolve(pilot)
            await pilot.press("e")
            await pilot.pause()
            assert debrief.exported is None
            shown = " ".join(toasts(app))
            assert "Could not export the debrief" in shown and "No such file" in shown
            assert "Could not export" in str(debrief.query_one("#export-status").render())

    body()


def test_the_debrief_export_is_the_report_of_the_record(
    term: Terminal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`e` on the debrief writes the report `dojo report` gives for the recorded session (one
    model, one renderer); only the wall-clock row, which only the record has, differs."""
    monkeypatch.chdir(tmp_path)
    seen: dict[str, Any] = {}

    async def scenario(pilot: Pilot[None]) -> None:
        await to_incident(pilot)
        await command(pilot, "ack")
        await command(pilot, "workers billing")
        debrief = await resolve(pilot)
        await pilot.press("e")
        seen["path"] = debrief.exported

    code, _, err = term.play(scenario, "payments-stuck", "--seed", "1")
    assert code == 0, err
    [row] = term.history()
    code, out, err = term.dojo("report", row["session"])
    assert code == 0, err
    exported = seen["path"].read_text(encoding="utf-8")

    def body(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith("| Played |")]

    assert body(exported) == body(out)
    assert f"| Session | `{row['session']}` |" in exported and "| Player | tester |" in exported


@pytest.mark.parametrize(
    ("tty", "flags", "driver", "tui"),
    [
        (True, (), None, True),  # a terminal: the full-screen game
        (True, ("--console",), None, False),  # asked for the line console
        (False, (), None, False),  # piped: the line console
        # a web server (textual-serve) runs the app over pipes and says so in TEXTUAL_DRIVER
        (False, (), "textual.drivers.web_driver:WebDriver", True),
        (False, ("--console",), "textual.drivers.web_driver:WebDriver", False),
    ],
)
def test_dojo_play_picks_the_full_screen_game_or_the_line_console(
    term: Terminal,
    monkeypatch: pytest.MonkeyPatch,
    tty: bool,
    flags: tuple[str, ...],
    driver: str | None,
    tui: bool,
) -> None:
    if driver is None:
        monkeypatch.delenv("TEXTUAL_DRIVER", raising=False)
    else:
        monkeypatch.setenv("TEXTUAL_DRIVER", driver)

    async def briefing(pilot: Pilot[None]) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, BriefingScreen))

    code, out, err = term.play(briefing, "payments-stuck", "--seed", "1", *flags, tty=tty)
    assert code == 0, err
    assert len(term.apps) == (1 if tui else 0)
    assert ("dojo>" in out) is not tui  # the line console's prompt


def test_f7_f8_and_the_palette_reach_the_record_and_the_picker_shows_the_best_score(
    term: Terminal,
) -> None:
    """The dialogs and the command palette perform commands the record keeps, as the console
    does; the picker then shows the best recorded score of the incident."""
    from textual.command import CommandPalette
    from textual.widgets import TextArea

    from oncall_dojo.tui.screens.dialogs import HintDialog, StatusUpdateDialog

    update = "Card charges are delayed; orders are safe. Next update in 15 minutes."
    seen: dict[str, Any] = {}

    async def scenario(pilot: Pilot[None]) -> None:
        app = pilot.app
        await to_incident(pilot)
        await pilot.press("ctrl+p")  # the palette's "Acknowledge the page"
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Acknowledge the page")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentScreen))
        await pilot.press("f7")
        await wait_for(pilot, lambda: isinstance(app.screen, StatusUpdateDialog))
        app.screen.query_one(TextArea).load_text(update)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentScreen))
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, HintDialog))
        await pilot.click("#ok")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentScreen))
        debrief = await resolve(pilot)
        seen["result"] = debrief.result

    code, _, err = term.play(scenario, "payments-stuck", "--seed", "1")
    assert code == 0, err
    [row] = term.history()
    sid = row["session"]
    result = seen["result"]
    assert_finished(term, sid, result.score, result.grade)
    code, out, err = term.dojo("report", sid, "--format", "json")
    assert code == 0, err
    acts = [e["text"] for e in json.loads(out)["timeline"] if e["kind"] in ("act", "meta")]
    assert acts[:2] == ["ack", f"update '{update}'"] and "hint take" in acts, acts
    hints = [i for i in json.loads(out)["breakdown"] if i["key"] == "hints"]
    assert [h["points"] for h in hints] == [-5.0]

    async def picker(pilot: Pilot[None]) -> None:
        app = pilot.app
        await wait_for(
            pilot, lambda: isinstance(app.screen, PickerScreen) and bool(app.screen.best)
        )
        screen = app.screen
        assert isinstance(screen, PickerScreen)
        row = [inc.id for inc in screen.incidents].index("payments-stuck")
        screen.query_one("DataTable").move_cursor(row=row)
        await pilot.pause()
        teaser = str(screen.query_one("#teaser").render())
        seen["teaser"] = teaser
        await pilot.press("ctrl+q")

    code, _, err = term.play(picker)
    assert code == 0, err
    assert f"{result.score}/100 ({result.grade})" in seen["teaser"], seen["teaser"]
