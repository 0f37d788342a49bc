"""Interview exercises (`dojo interview`): a hosted game with one candidate and interviewers.

The game is a team game (`net.host`) whose seats are an interviewer (the host's own
terminal), the candidate, and more interviewers. An interviewer has the facilitator's
powers (pause, resume, release a hint, end, private notes), sees the answer, and also can:

- nudge the candidate ("what are you thinking?"): shown on the candidate's screen, recorded;
- extend the time box by some minutes.

The candidate plays as a player does: the ops console, `say` and `note` lines to think
aloud, and `diagnose PART MECHANISM [NOTES]`, whose notes are the diagnosis in their own
words. What the candidate's client receives is what a player's does (`Host` never sends a
seat without the `answer` power the cause, the reference, notes or the seed).

The time box runs on the game's clock (player seconds since the page, so a pause stops it):
warnings when 10 and 2 minutes are left, and at the end play stops and the outcome is
measured. Every interview action (nudges, extensions, warnings, the candidate leaving and
coming back) is recorded as a `facilitator` event of the session, so the scorecard can
show it and the time lost to disconnects.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from typing import Any

from oncall_dojo.game.rubric import WORDS_MARKS, check_mark, load
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.net.host import Host, Member, Peer, Refused
from oncall_dojo.net.hosting import HostError, resume_game, save_tokens, start_data
from oncall_dojo.net.roles import Roles, Seat, new_seats
from oncall_dojo.sim.text import clean
from oncall_dojo.store import interviews as records
from oncall_dojo.store.events import INTERVIEW_MODE
from oncall_dojo.store.recorder import Recorder
from oncall_dojo.store.records import Store

INTERVIEW_ROLES = ("interviewer", "candidate")
INTERVIEW_POWERS: dict[str, frozenset[str]] = {
    "interviewer": frozenset({"say", "facilitate", "answer"}),
    "candidate": frozenset({"investigate", "act", "status", "declare", "say", "note"}),
}
WARN_AT_S = (600, 120)
"""Warnings when this many seconds of the time box are left."""
DEFAULT_MINUTES = 45
DEFAULT_NUDGE = "What are you thinking right now? Talk me through it."
MAX_EXTEND_MIN = 120
WARMUP_TEXT = (
    "Warm-up: this is the tutorial incident. It is NOT scored and nobody judges it: it is "
    "here so you can learn the game (the console, the panes, `help`) before the exercise. "
    "Ask the interviewer anything."
)
INTERVIEW_ACTIONS = ("nudge", "extend", "mark")
"""Interviewer actions beyond the facilitator's."""
INTERVIEWER_WORDS = ("pause", "resume", "hint", "end", "note", *INTERVIEW_ACTIONS)
"""What an interviewer types at a console: at the host's own, or at a second interviewer's
seat, whose lines reach the host as commands (`InterviewHost.command`)."""


def file_digest(path: Any) -> str:
    """The SHA-256 of an incident file's bytes (a loop pins it)."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def interview_seats(interviewers: int = 1) -> list[str]:
    """The host's interviewer seat, the candidate's, and `interviewers` more."""
    return ["interviewer", "candidate", *["interviewer"] * interviewers]


class InterviewHost(Host):
    """A `Host` for one interview (see the module's doc)."""

    def __init__(
        self,
        session: Session,
        seats: list[Seat],
        roles: Roles,
        recorder: Recorder | None = None,
        *,
        minutes: int = DEFAULT_MINUTES,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        on_candidate: Callable[[str], None] | None = None,
        warmup: bool = False,
    ) -> None:
        super().__init__(session, seats, roles, recorder, speed=speed, clock=clock)
        self.warmup = warmup
        """A warm-up: the tutorial incident, not scored (the outcome is never measured)."""
        self.deadline = max(60, int(minutes) * 60)
        """Player seconds (since the page) at which the time box ends."""
        self.warned: set[int] = set()
        self.on_candidate = on_candidate
        """Called with the candidate's name when they take their seat (the record keeps it)."""
        self.away_since: int | None = None
        self.away_s = 0
        """Player seconds the candidate was disconnected, in all."""
        self.time_up = False
        self.marker: Callable[[str, str], str] | None = None
        """Keeps a rubric mark given during the exercise: (by, "LINE MARK [NOTE]") -> what
        was kept; set when the interview is recorded (the marks live beside the record)."""
        self.looks: list[tuple[int, str]] = []
        """(at, what) each time the candidate opened another pane or view."""

    # -- who is who ----------------------------------------------------------------------
    @property
    def candidate(self) -> Member | None:
        return next((m for m in self.members.values() if m.role == "candidate"), None)

    def seat_players(self, bindings: dict[int, tuple[str, str]]) -> None:
        for index, (name, role) in bindings.items():
            if 0 <= index < len(self.seats) and name not in self.members:
                self.seats[index].player = name
                self.members[name] = Member(name, role, index)

    def join(
        self, token: str, name: str, peer: Peer | None = None, seat_key: str = ""
    ) -> p.Welcome:
        before = set(self.members)
        welcome = super().join(token, name, peer, seat_key)
        m = self.members.get(welcome.you)
        if m is not None and m.role == "candidate":
            if welcome.you not in before and self.on_candidate is not None:
                self.on_candidate(welcome.you)
            if peer is not None:
                # after the welcome the server sends when this returns: a seat's app shows
                # what comes before its welcome on no screen the candidate sees
                frame = p.encode(self._banner())
                try:
                    asyncio.get_running_loop().call_soon(peer.send, frame)
                except RuntimeError:  # no event loop (a test's direct join)
                    peer.send(frame)
            if peer is not None and self.away_since is not None and not self.over:
                lost = max(0, self.session.now - self.away_since)
                self.away_s += lost
                self.away_since = None
                self._record(
                    "facilitator",
                    {"player": welcome.you, "action": "back", "away_s": lost},
                )
                self._tell_interviewers(f"{welcome.you} is back (away {lost}s)")
                self._sheet_changed()
        return welcome

    def _banner(self) -> p.Said:
        """What the candidate reads first: what kind of exercise this is."""
        if self.warmup:
            text = WARMUP_TEXT
        else:
            text = (
                f"Interview exercise: you have {self.deadline // 60} minutes of play. Think "
                "aloud with `say TEXT` or `note TEXT`; declare the cause with `diagnose PART "
                "MECHANISM` and, after it, your own words. The interviewer may pause, nudge "
                "or give a hint."
            )
        return p.Said(at=self.session.now, player="", text=text, kind="notice")

    def leave(self, name: str, peer: Peer) -> None:
        super().leave(name, peer)
        m = self.members.get(name)
        if m is not None and m.role == "candidate" and not m.online and not self.over:
            self.away_since = self.session.now
            self._record("facilitator", {"player": name, "action": "away"})
            self._tell_interviewers(f"{name} disconnected; the time lost is counted")
            self._sheet_changed()

    # -- what the interviewers see beside the game -----------------------------------------
    def sheet(self) -> p.Sheet:
        return p.Sheet(
            deadline=self.deadline,
            away_s=self.away_s,
            away_since=self.away_since,
            looks=list(self.looks),
            notes=list(self.notes),
        )

    def secret(self) -> dict[str, Any]:
        """The facilitator's secret, and the interview's sheet (a second interviewer's seat
        starts from it; `Sheet` messages keep it current)."""
        return {**super().secret(), "interview": self.sheet().model_dump(exclude={"v", "t"})}

    def _sheet_changed(self) -> None:
        self._send(self.sheet(), "answer")

    def note(self, by: str, text: str) -> None:
        super().note(by, text)
        self._sheet_changed()

    def _tell_interviewers(self, text: str) -> None:
        """A notice for the interviewers' side only (the candidate is not told)."""
        self._send(p.Said(at=self.session.now, player="", text=text, kind="notice"), "answer")

    def look(self, name: str, what: str) -> None:
        """What the candidate looks at is kept with its time (and recorded) when it changes."""
        m = self.members.get(name)
        what = clean(what).strip()[:100]
        if m is not None and m.role == "candidate" and what and what != m.looking:
            # kept before the host tells its listeners (the interviewer's console reads it)
            self.looks.append((self.session.now, what))
            if not self.over:
                self._record("facilitator", {"player": name, "action": "look", "what": what})
            super().look(name, what)
            self._sheet_changed()
            return
        super().look(name, what)

    # -- the interviewer's words at a console --------------------------------------------
    def command(self, name: str, text: str, id: int = 0) -> p.Reply:
        """An interviewer's line: every interviewer word (`INTERVIEWER_WORDS`) is their action,
        done in their name (a second interviewer's seat sends its lines so); `note TEXT` is
        private (never the team's note)."""
        word, _, rest = clean(text).strip().partition(" ")
        if self.may(name, "facilitate") and word in INTERVIEWER_WORDS:
            try:
                out = self.facilitate(name, word, rest.strip())
            except Refused as exc:
                return self._refuse(id, str(exc))
            return p.Reply(id=id, seq=-1, kind="meta", output=out)
        return super().command(name, text, id)

    def facilitate(self, by: str, action: str, arg: str = "") -> str:
        if action == "nudge":
            return self.nudge(by, arg)
        if action == "mark":
            self._facilitator(by)
            if self.marker is None:
                raise Refused("marks are kept only for a recorded interview")
            try:
                return self.marker(by, arg)
            except ValueError as exc:
                raise Refused(str(exc)) from None
        if action == "extend":
            try:
                minutes = int(arg.strip() or "5")
            except ValueError:
                raise Refused("extend N: N is a number of minutes, e.g. `extend 5`") from None
            return self.extend(by, minutes)
        return super().facilitate(by, action, arg)

    # -- interviewer actions -------------------------------------------------------------
    def nudge(self, by: str, text: str = "") -> str:
        """Ask the candidate something; it shows on their screen and is recorded."""
        self._facilitator(by)
        if self.over:
            raise Refused("the exercise is over")
        text = clean(text).strip()[: p.MAX_TEXT] or DEFAULT_NUDGE
        self._record("facilitator", {"player": by, "action": "nudge", "text": text})
        self._notice(f"{by} asks: {text}")
        return f"nudged: {text}"

    def extend(self, by: str, minutes: int) -> str:
        """Give the candidate `minutes` more (the warnings come again as the end nears)."""
        self._facilitator(by)
        if self.over:
            raise Refused("the exercise is over")
        if not 1 <= minutes <= MAX_EXTEND_MIN:
            raise Refused(f"extend by 1 to {MAX_EXTEND_MIN} minutes")
        self.deadline += minutes * 60
        left = self.deadline - self.session.now
        self.warned = {w for w in self.warned if left <= w}
        self._record("facilitator", {"player": by, "action": "extend", "minutes": minutes})
        self._notice(f"{by} gave {minutes} more minutes: {self.left_text()} left")
        self._sheet_changed()
        return f"extended by {minutes} min; the time box ends at {_mmss(self.deadline)}"

    def left_text(self) -> str:
        left = max(0, self.deadline - self.session.now)
        return f"{left // 60} min {left % 60:02d} s"

    # -- the time box --------------------------------------------------------------------
    def tick(self) -> None:
        super().tick()
        self.time_box()

    def max_step(self) -> int:
        """Play never runs past the time box's end, whatever the tick's real delay."""
        return max(0, self.deadline - self.session.now)

    def time_box(self) -> None:
        if self.over:
            return
        left = self.deadline - self.session.now
        for w in WARN_AT_S:
            if left <= w and w not in self.warned and self.deadline > w:
                self.warned.add(w)
                self._record("facilitator", {"player": "", "action": "warn", "left_s": w})
                self._notice(f"{w // 60} minutes left in this exercise")
        if left <= 0:
            self.time_up = True
            self._record("facilitator", {"player": "", "action": "time-up"})
            if self.recorder is not None:
                self.recorder.quitting()
            self._notice("Time is up: play stops here and the outcome is measured")
            self.finishing = True

    async def finish(self) -> p.Finished:
        if not self.warmup:
            return await super().finish()
        # a warm-up is never scored: nobody is told an outcome, and nothing was recorded
        if self.result_message is None:
            self.finishing = True
            self._notice(
                "The warm-up is over; it was not scored. The interviewer will send you the "
                "link to the exercise."
            )
            self.result_message = p.Finished(score=0, grade="-", resolved=False, items=[])
        return self.result_message


def _mmss(at: int) -> str:
    return f"{at // 60:02d}:{at % 60:02d}"


def interview_roles() -> Roles:
    return Roles(dict(INTERVIEW_POWERS))


def new_interview(
    incident: Incident,
    seed: int,
    *,
    host_name: str,
    store: Store | None,
    minutes: int = DEFAULT_MINUTES,
    loop: str | None = None,
    interviewers: int = 1,
    speed: float = 1.0,
    rubric: str | None = None,
    warmup: bool = False,
    warn: Callable[[str], None] | None = None,
    session_id: str | None = None,
) -> InterviewHost:
    """A fresh interview, recorded as a new `interview` session (with its row in the
    interviewer's database); the host sits in seat 0 as an interviewer."""
    roles = interview_roles()
    seats = new_seats(interview_seats(interviewers))
    session = Session(incident, seed)
    session.player = host_name
    extra = start_data(seats, roles, speed)
    extra["interview"] = {"minutes": minutes, "loop": loop, "rubric": rubric}
    kw: dict[str, Any] = {} if warn is None else {"warn": warn}
    recorder = Recorder(
        store,
        host_name,
        INTERVIEW_MODE,
        start_extra=extra,
        unavailable=None if store is not None else "no database",
        session_id=session_id,
        **kw,
    )
    recorder.started(session, 0)
    sid = recorder.session_id
    if store is not None and sid is not None and not warmup:
        records.add_interview(store, sid, host_name, loop)
        save_tokens(store, sid, seats)

    def on_candidate(name: str) -> None:
        if store is not None and sid is not None and recorder.keeping:
            records.set_candidate(store, sid, name)

    host = InterviewHost(
        session,
        seats,
        roles,
        recorder,
        minutes=minutes,
        speed=speed,
        on_candidate=on_candidate,
        warmup=warmup,
    )
    if store is not None and sid is not None and not warmup:
        host.marker = _marker(store, sid, rubric)
    if seats[0].token is not None:
        host.join(seats[0].token, host_name)
    return host


def resume_interview(
    store: Store,
    sid: str,
    load_incident: Callable[[str], Incident],
    *,
    warn: Callable[[str], None] | None = None,
) -> InterviewHost:
    """The interview `sid`, rebuilt from its record where it stood when its host died
    (`net.hosting.resume_game`, as `dojo host --resume` does for a team game). The record
    stays one interview: the same session and row, the same seats and tokens. The time box
    goes on from the game's clock as recorded, with every extension and warning given
    before; a candidate who was seated is away until they reconnect (the time lost from now
    is counted, as for any disconnect)."""
    conf: dict[str, Any] = {}

    def on_candidate(name: str) -> None:
        if host.recorder is not None and host.recorder.keeping:
            records.set_candidate(store, sid, name)

    def make(
        session: Session, seats: list[Seat], roles: Roles, recorder: Recorder, speed: float
    ) -> Host:
        # the record verified and its start is an interview's (`resume_game` checked both)
        conf.update(store.events(sid)[0].data.get("interview") or {})
        return InterviewHost(
            session,
            seats,
            roles,
            recorder,
            minutes=int(conf.get("minutes") or DEFAULT_MINUTES),
            speed=speed,
            on_candidate=on_candidate,
        )

    host = resume_game(store, sid, load_incident, warn=warn, mode=INTERVIEW_MODE, make=make)
    assert isinstance(host, InterviewHost)
    try:
        host.marker = _marker(store, sid, conf.get("rubric"))
    except (OSError, ValueError) as exc:
        raise HostError(
            f"cannot resume {sid}: its rubric {conf.get('rubric')!r} cannot be read ({exc})"
        ) from None
    for ev in store.events(sid):
        d = ev.data
        if ev.type != "facilitator":
            continue
        action = d.get("action")
        if action == "extend":
            host.deadline += int(d.get("minutes", 0)) * 60
        elif action == "warn":
            host.warned.add(int(d.get("left_s", 0)))
        elif action == "look":
            host.looks.append((ev.at, str(d.get("what", ""))))
        elif action == "away":
            host.away_since = ev.at
        elif action == "back":
            host.away_s += int(d.get("away_s", 0))
            host.away_since = None
        elif action == "time-up":
            host.time_up = True
    cand = host.candidate
    if cand is not None and host.away_since is None and not host.over:
        # the candidate's connection went with the old host: away until they are back
        host.away_since = host.session.now
        host._record("facilitator", {"player": cand.name, "action": "away"})
    return host


def _marker(store: Store, sid: str, rubric_path: str | None) -> Callable[[str, str], str]:
    """`mark LINE 1-4 [NOTE]` or `mark words right|partly|wrong [NOTE]` at the interviewer's
    console, kept in the interview's row as `dojo interview mark` keeps it."""
    loaded = load(rubric_path)

    def mark(by: str, arg: str) -> str:
        line, _, rest = clean(arg).strip().partition(" ")
        value, _, note = rest.strip().partition(" ")
        if not line or not value:
            raise ValueError("mark LINE 1-4 [NOTE], or mark words right|partly|wrong [NOTE]")
        data = records.marks(store, sid)
        if line == "words":
            if value not in WORDS_MARKS:
                raise ValueError(f"the words are marked {', '.join(WORDS_MARKS)}")
            data["words"] = {"mark": value, "note": note.strip(), "by": by}
            shown = f"words: {value}"
        else:
            ident, n = check_mark(loaded.rubric, line, value)
            data.setdefault("lines", {})[ident] = {"mark": n, "note": note.strip(), "by": by}
            data["rubric"] = {"name": loaded.rubric.name, "sha256": loaded.sha256}
            shown = f"{loaded.rubric.line(ident).title}: {n}"
        records.set_marks(store, sid, data)
        return f"marked {shown}"

    return mark


__all__ = [
    "DEFAULT_MINUTES",
    "INTERVIEWER_WORDS",
    "INTERVIEW_ROLES",
    "InterviewHost",
    "file_digest",
    "interview_roles",
    "new_interview",
    "resume_interview",
]
