"""A line-based console to play an incident in any terminal.

Simulated time moves only when you let it: every command takes
`THINK_S` seconds of simulated time (reading and typing are not free), and
`wait DURATION` lets the system run. `quit` (or `resolve`) ends play, and the
outcome is measured to the end of the incident. Input that ends before then (the end
of a piped script, ctrl+d) ends nothing: the game is left unfinished, unscored, and a
recorded one can be resumed with `dojo play --resume`.

ctrl+c (when the console owns it: `cancel_key`) cancels the SQL statement that is running,
which then changes nothing and is not recorded, and play goes on; at the prompt it stops
play without measuring the outcome, so a recorded game can be resumed.

The console keeps no record itself: give it a `PlayLog` (the store's recorder)
and it reports what the player asked for (waits, quitting) and checkpoints the
clock before every prompt, so a killed game can be resumed where it stood.
"""

from __future__ import annotations

import secrets
import signal
import sys
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Protocol, TextIO

from oncall_dojo.game.fmt import mmss
from oncall_dojo.game.grammar import LINE_MAX_BYTES, LINE_REFUSAL, too_long
from oncall_dojo.game.play import (
    cancel_running,
    clear_cancel,
    finish,
    perform,
    wait,
    wait_seconds,
)
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.game.views import what_really_happened
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.packs import discover
from oncall_dojo.incident.yamlload import YamlModelError
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.sqlsandbox import Cancelled
from oncall_dojo.sim.text import shown, whole

THINK_S = 10
WAIT_STEP_S = 30
"""Long waits advance in steps of this many seconds, so the clock is recorded as it goes."""
EXIT_INTERRUPTED = 130
"""What `run_console` returns when ctrl+c at the prompt stopped play (as a shell reports SIGINT)."""
NOTHING_TO_CANCEL = (
    "(ctrl+c cancels a running query, and none was running; ctrl+c at the prompt stops playing)"
)


class PlayLog(Protocol):
    """Where the console reports play as it happens (the store's `Recorder` is one)."""

    def started(self, session: Session, think_s: int) -> str | None:
        """Play began or resumed; returns a line to show the player, if any."""

    def waiting(self, until: int) -> None:
        """The player asked time to run until `until` (player seconds)."""

    def quitting(self) -> None:
        """The player stopped playing; the outcome is measured next."""

    def checkpoint(self) -> None:
        """The console is about to wait for input: everything so far must be kept."""

    @property
    def session_id(self) -> str | None:
        """The recorded session's id (None while nothing is recorded)."""

    @property
    def keeping(self) -> bool:
        """Whether the record is still being written."""


class CancelKey:
    """ctrl+c at the console, in the main thread: while a command runs it cancels the running
    SQL statement (`cancel_running`) and play goes on; at the prompt it raises
    KeyboardInterrupt, so reading stops. The previous handler is put back on exit."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.at_prompt = False
        self.pressed = False
        """ctrl+c came while a command ran (cleared by the console when it has said so)."""
        self._old: Any = None
        self._installed = False

    def __enter__(self) -> CancelKey:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._old)
            self._installed = False

    def ready(self) -> None:
        """At the prompt: the next ctrl+c stops reading; the last one's cancel is over."""
        self.pressed = False
        clear_cancel(self.session)
        self.at_prompt = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.at_prompt:
            raise KeyboardInterrupt
        self.pressed = True
        cancel_running(self.session)


def read_line(inp: TextIO) -> tuple[str, bool]:
    """The next line, and whether it is whole: a line past the command line's cap is read
    on (and dropped) to its end a block at a time, never held whole. Bytes that were not
    UTF-8 come back as U+FFFD."""
    line = inp.readline(LINE_MAX_BYTES + 2)
    if too_long(line.rstrip("\r\n")):
        while line and not line.endswith("\n"):
            line = inp.readline(LINE_MAX_BYTES)
        return "\n", False
    # bytes that were not UTF-8 become U+FFFD here, once, for every command (they reached
    # the SQL console as surrogates, which SQLite cannot encode)
    return whole(line), True


def choose(extra: list[Path], out: TextIO, inp: TextIO) -> Incident | None:
    found = []
    for f in discover(extra):
        try:
            found.append(load_checked(f.path))
        except YamlModelError as exc:
            print(f"(skipping {f.path.name}: {str(exc).splitlines()[0]})", file=out)
    if not found:
        print("No incidents found.", file=out)
        return None
    for i, inc in enumerate(found, 1):
        print(
            f"  {i:>2}. [{inc.difficulty:<6}] {inc.title}  ({inc.id})\n      {inc.summary}",
            file=out,
        )
    while True:
        out.write("Pick an incident (number or id, empty to quit): ")
        out.flush()
        line = inp.readline()
        if not line or not line.strip():
            return None
        choice = line.strip()
        if choice.isdigit() and 1 <= int(choice) <= len(found):
            return found[int(choice) - 1]
        for inc in found:
            if inc.id == choice:
                return inc
        print(f"No incident {choice!r}.", file=out)


def run_console(
    incident: Incident | None,
    seed: int | None,
    extra: list[Path],
    out: TextIO = sys.stdout,
    inp: TextIO = sys.stdin,
    log: PlayLog | None = None,
    session: Session | None = None,
    cancel_key: bool = False,
) -> int:
    """Play at the console; `session` continues a rebuilt (resumed) session instead of a new one.

    With `cancel_key` (the `dojo` command, in its main thread) ctrl+c cancels a running query,
    and at the prompt stops play unmeasured: it returns `EXIT_INTERRUPTED`, the game kept."""
    if session is not None:
        incident = session.incident
    elif incident is None:
        incident = choose(extra, out, inp)
        if incident is None:
            return 0
    if session is None:
        seed = secrets.randbelow(1_000_000) if seed is None else seed
        print(
            f"\n=== {incident.title} ===  (seed {seed}; replay with: dojo play {incident.id} --seed {seed})\n",
            file=out,
        )
        s = Session(incident, seed)
        print(s.incident.briefing.strip(), file=out)
    else:
        s = session
        print(f"\n=== {incident.title} ===  (seed {s.seed}; resumed at {mmss(s.now)})\n", file=out)
    incident = s.incident  # the seed's own version: names and times vary by seed
    page = s.system.alerts.states[incident.page.alert]
    print(f"\n*** PAGE *** {incident.page.alert}: {s.system.alerts.summary(page)}", file=out)
    if incident.page.text:
        print(incident.page.text.strip(), file=out)
    if session is not None and s.entries:
        print("\nSo far:", file=out)
        for e in s.entries:
            print(
                f"  {mmss(e.at)} {'!' if e.kind == 'refused' else '>'} {shown(e.command)}", file=out
            )
    note = log.started(s, THINK_S) if log is not None else None
    if note:
        print(note, file=out)
    print(
        "\nType `help` for commands, `wait 1m` to let time pass, `quit` to stop and be scored.\n",
        file=out,
    )
    if cancel_key:
        with CancelKey(s) as key:
            how = _play(s, out, inp, log, key)
    else:
        how = _play(s, out, inp, log, None)
    if how == "ctrl+c":
        _left_unfinished(s, log, out, "Stopped by ctrl+c")
        return EXIT_INTERRUPTED
    if how == "eof":  # the input ended: the player did not end the game
        _left_unfinished(s, log, out, "The input ended")
        return 0
    print("\nMeasuring the outcome to the end of the incident...", file=out)
    result = finish(s)
    print(result.render(), file=out)
    print(f"\nWhat really happened: {what_really_happened(s.incident)}", file=out)
    return 0


def _play(s: Session, out: TextIO, inp: TextIO, log: PlayLog | None, key: CancelKey | None) -> str:
    """The prompt loop, until play is over or the player quits ("over"), the input ends
    ("eof") or ctrl+c at the prompt ("ctrl+c")."""
    while not s.ended and s.declared_resolved_at is None:
        if log is not None:
            log.checkpoint()
        try:
            if key is not None:
                key.ready()  # before the prompt shows: a ctrl+c from then on stops reading
            out.write(f"[{mmss(s.now)}] dojo> ")
            out.flush()
            line, whole = read_line(inp)
            if key is not None:
                key.at_prompt = False
        except KeyboardInterrupt:
            return "ctrl+c"
        if not line:
            return "eof"
        if not whole:
            print(f"  ! {LINE_REFUSAL}", file=out)
            continue
        text = line.strip()
        if not inp.isatty():
            out.write(shown(text) + "\n")  # a transcript reads like the session it was
        if not text:
            continue
        if text in ("quit", "exit"):
            if log is not None:
                log.quitting()
            return "over"
        try:
            secs = wait_seconds(text)
        except Refusal as exc:
            print(f"  ! {exc.reason}", file=out)
            continue
        if secs is not None:
            if log is not None:
                log.waiting(min(s.now + secs, s.horizon))
            seen = len(s.entries)
            for _ in wait(s, secs, WAIT_STEP_S):
                pass  # each step is a clock event: the record keeps up
            _others(s, seen, out)
            if key is not None and key.pressed:
                print(NOTHING_TO_CANCEL, file=out)
            continue
        try:
            entry = perform(s, text)
        except Cancelled as exc:  # not performed and not recorded: as if never typed
            print(f"  ! {exc.message} (ctrl+c at the prompt stops playing)", file=out)
            continue
        prefix = "  ! " if entry.kind == "refused" else ""
        print(prefix + shown(entry.output, keep_lines=True), file=out)
        if key is not None and key.pressed:
            print(NOTHING_TO_CANCEL, file=out)
        seen = len(s.entries)
        s.advance(THINK_S)
        _others(s, seen, out)
    return "over"


def _others(s: Session, seen: int, out: TextIO) -> None:
    """What others did while time passed (a paged team joining), after entry `seen`."""
    for e in s.entries[seen:]:
        print(f"  [{mmss(e.at)}] {e.player}: {shown(e.output, keep_lines=True)}", file=out)


def _left_unfinished(s: Session, log: PlayLog | None, out: TextIO, why: str) -> None:
    """The input ended (or ctrl+c at the prompt) before play did: nothing is measured or
    scored, and the record (if any) stays an unfinished session `dojo play --resume` continues."""
    print(
        f"\n\n{why} at {mmss(s.now)} before the game did: it is left unfinished, not scored.",
        file=out,
    )
    sid = log.session_id if log is not None and log.keeping else None
    if sid is not None:
        print(f"Continue it with: dojo play --resume {sid}", file=out)
    else:
        print("It was not recorded, so it cannot be resumed.", file=out)
    out.flush()
