"""Play: the one path from a typed line to the model, the record and the score.

`perform` runs a command line for a player and appends its `Entry`; `wait`
lets simulated time pass; `run_script` plays timed commands; `finish` runs the
system to the horizon and scores it. The console, the TUI, replays, reference
playthroughs and the tests all play through these functions, and every event
(command, clock, finished) reaches the session's listeners from here or from
the session's clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from oncall_dojo.game.ahead import Ahead
from oncall_dojo.game.commands import resolve, split
from oncall_dojo.game.entry import Entry
from oncall_dojo.game.grammar import LINE_MAX_BYTES, parse_duration, too_long
from oncall_dojo.game.injects import away_reason
from oncall_dojo.game.result import Result
from oncall_dojo.game.scoring import score
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import parse_timed
from oncall_dojo.sim.errors import Refusal

WAIT_DEFAULT_S = 60
"""`wait` without a duration waits a minute."""


def perform(session: Session, text: str, player: str | None = None) -> Entry:
    """Run one command line for `player` (the session's own player by default) and record it.

    A refused command (or any command once play is over) changes nothing and is recorded
    as refused, with the reason as its output. A query the player cancels while it runs
    (`cancel_running`) raises `Cancelled`: nothing was performed, and nothing is recorded."""
    text = text.strip()
    if too_long(text):  # refused by its length; recorded by a prefix that is refused the same way
        text = text[: LINE_MAX_BYTES + 1]
    who = session.player if player is None else player
    at, tick = session.now, session.system.t
    if session.ended or session.declared_resolved_at is not None:
        entry = Entry(
            at, tick, text, "refused", "the incident is over; see the debrief", player=who
        )
    elif (gone := away_reason(session, who)) is not None:
        entry = Entry(at, tick, text, "refused", gone, player=who)
    else:
        try:
            cmd, args = resolve(split(text))
            output, evidence = cmd.handler(session, args, who)
            if evidence is not None and evidence.kind != cmd.evidence:
                raise AssertionError(f"{cmd.name} showed {evidence.kind}, not {cmd.evidence}")
            key = evidence.key if evidence is not None else None
            entry = Entry(at, tick, text, cmd.kind, output, key, cmd.name, cmd.mutates, who)
        except Refusal as exc:
            entry = Entry(at, tick, text, "refused", exc.reason, player=who)
    session.entries.append(entry)
    session.emit(
        {
            "type": "command",
            "tick": entry.tick,
            "at": entry.at,
            "command": entry.command,
            "kind": entry.kind,
            "name": entry.name,
            "output": entry.output,
            "evidence": entry.evidence,
            "player": entry.player,
        }
    )
    return entry


def cancel_running(session: Session) -> None:
    """Cancel the player's SQL statement running now or about to start (safe from a signal
    handler or another thread): the `perform` running it raises `Cancelled`, and so does every
    later one until `clear_cancel`. A command that runs no SQL is not affected."""
    app = session.system.app
    if app is not None:
        app.interrupt()


def clear_cancel(session: Session) -> None:
    """Let the player's SQL run again after `cancel_running` (before the next command)."""
    app = session.system.app
    if app is not None:
        app.clear_cancel()


def wait_seconds(text: str) -> int | None:
    """The seconds a `wait [DURATION]` line asks for, or None if the line is not a wait.
    Raises `Refusal` for a duration it cannot read."""
    words = text.split()
    if not words or words[0] != "wait":
        return None
    return parse_duration(words[1]) if len(words) > 1 else WAIT_DEFAULT_S


def wait(session: Session, seconds: int, step: int = 1) -> Iterator[int]:
    """Let `seconds` of simulated time pass (never past the end), `step` seconds at a time,
    yielding the seconds each step ran, so the caller can record or redraw in between."""
    left = min(seconds, session.remaining)
    while left > 0 and not session.ended:
        n = min(step, left)
        session.advance(n)
        left -= n
        yield n


def run_script(session: Session, lines: list[str], keep_logs: bool = True) -> None:
    """Play timed commands (`MM:SS command`), then finish (see `finish` for `keep_logs`)."""
    for line in lines:
        parsed = parse_timed(line)
        if parsed is None:
            raise ValueError(f"not a timed command: {line!r}")
        at, cmd = parsed
        if session.ended or session.declared_resolved_at is not None:
            break
        session.advance_to(at)
        if session.ended:
            break
        perform(session, cmd)
    finish(session, keep_logs)


def finish(session: Session, keep_logs: bool = True, ahead: Ahead | None = None) -> Result:
    """Run the system to the horizon and score the outcome (once; later calls return it).

    Without `keep_logs`, no log line is kept from the end of play on: for a headless play
    nobody reads further (the score, the metrics and every draw are the same either way).
    Then `ahead` may have run the rest in a worker process: its system is taken as soon as it
    is there, waited for while the worker is on it, and the rest simulated here when no worker
    is (see `game.ahead`)."""
    if session.result is None:
        if not keep_logs:
            session.system.logs.mute()
        session.schedule.clear()  # play is over: injects due later never reach anyone
        session.calls.clear()  # and the teams paged are called off
        if ahead is None or ahead.session is not session or keep_logs or not session.remaining:
            session.advance(session.remaining)
        else:
            _run_out(session, ahead)
        session.ended = True
        for q in session.system.queues.values():
            q.finish(session.system.t)
        session.result = result = score(session)
        session.emit(
            {
                "type": "finished",
                "tick": session.system.t,
                "score": result.score,
                "grade": result.grade,
            }
        )
    return session.result


AHEAD_STEP = 20
"""Seconds simulated here between two looks for the system played ahead (a few milliseconds)."""
AHEAD_WAIT_S = 0.005
"""How long to wait between two looks while the worker is on the latest copy."""


def _run_out(session: Session, ahead: Ahead) -> None:
    """`session.advance(session.remaining)`, adopting the system `ahead` ran to the horizon as
    soon as it has it: while its worker is on the latest copy it is waited for (it started
    first), else the rest is simulated here meanwhile. The listeners hear of the clock once, at
    the horizon, either way."""
    while session.remaining:
        done = ahead.finished()
        if done is not None:
            session.adopt(*done)
            break
        if ahead.on_course():
            time.sleep(AHEAD_WAIT_S)
        else:
            session.advance(min(AHEAD_STEP, session.remaining), tell=False)
    ahead.stop()
    session.tell_clock()
