"""The host of a team game: the one authority for simulated time and the order of commands.

`Host` wraps one `Session` and its `Recorder`. Every command reaches the system through
`game.play.perform` on the host, in the order the host received it, attributed to its
player; the clock runs here only (`tick`), at the facilitator's speed, and every client is
told where it stands. The host decides what each client may receive: a player gets what
the solo game shows a player (the briefing, the page, the feed of commands, their own
outputs, the clock, `say` lines, released hints), and only a seat with the `answer` power
(the facilitator) gets the root cause and the reference.

No networking here: the server (`net.server`) gives each connection a `Peer` and passes
its validated messages in; a local facilitator console calls the same methods directly.
Everything runs on one thread (the server's event loop), except the final measuring of the
outcome, which runs in a worker thread while the host refuses new commands.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from oncall_dojo.game import injects
from oncall_dojo.game.commands import resolve, split
from oncall_dojo.game.play import finish, perform
from oncall_dojo.game.session import Session
from oncall_dojo.game.views import what_really_happened
from oncall_dojo.net import protocol as p
from oncall_dojo.net.replica import SeatFeed
from oncall_dojo.net.roles import ROLES, Roles, Seat, power_for
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.text import clean
from oncall_dojo.store.recorder import Recorder

CLOCK_EVERY_S = 0.25
"""The least real time between two clock messages to clients."""
CHECKPOINT_EVERY_S = 1.0
"""The record's clock is written at least this often (real seconds) while time runs."""
MAX_SPEED = 120.0
TEAM_WORDS = ("say", "note", "handover")
"""Team commands a player types at the console; the game's grammar never sees them."""


class Peer(Protocol):
    """One connected client, as the server gives it to the host."""

    def send(self, frame: str) -> None:
        """Queue one encoded message for the client (never blocks)."""

    def close(self, reason: str) -> None:
        """Close the connection after what is queued."""


@dataclass
class Member:
    """A player who took a seat: their role now, their connections, what they look at."""

    name: str
    role: str
    seat: int
    peers: list[Peer] = field(default_factory=list)
    looking: str = ""

    @property
    def online(self) -> bool:
        return bool(self.peers)


class Refused(Exception):
    """A team action the host will not do; the text says why."""


Listener = Callable[[BaseModel, str], None]
"""Called with every message the host sends, and its audience: "all" (every client),
"answer" (seats with the answer power only) or a player's name (that player only)."""


class Host:
    """One team game (see the module's doc). Not thread-safe: call it from one thread."""

    def __init__(
        self,
        session: Session,
        seats: list[Seat],
        roles: Roles,
        recorder: Recorder | None = None,
        *,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.seats = seats
        self.roles = roles
        self.recorder = recorder
        self.speed = speed
        self.paused = False
        self.members: dict[str, Member] = {}
        self.feed: list[p.Line] = []
        self.outputs: list[str] = []
        self.said: list[p.Said] = []
        self.notes: list[tuple[int, str, str]] = []
        """The facilitator's private notes: (at, by, text)."""
        self.listeners: list[Listener] = []
        self.finishing = False
        self.result_message: p.Finished | None = None
        self._clock = clock
        self._carry = 0.0
        self._last_tick_wall = clock()
        self._last_clock_sent = 0.0
        self._last_checkpoint = clock()
        self._game = self._game_info()
        self._clock_waiters: list[asyncio.Future[None]] = []
        session.listeners.append(self._on_session)
        self.seatfeed = SeatFeed(session, lambda: self.finishing, clock=clock)
        """The seat processes' private stream (`net.replica`)."""

    # -- what players may see ------------------------------------------------------------
    def _game_info(self) -> p.Game:
        s = self.session
        inc = s.incident
        page = s.system.alerts.states[inc.page.alert]
        return p.Game(
            incident=inc.id,
            title=inc.title,
            briefing=inc.briefing.strip(),
            page=f"{inc.page.alert}: {s.system.alerts.summary(page)}",
            page_text=inc.page.text.strip(),
        )

    def secret(self) -> dict[str, Any]:
        """What only a seat with the `answer` power sees: the cause and the reference."""
        inc = self.session.incident
        return {
            "root_cause": inc.root_cause.answer.label,
            "explanation": what_really_happened(inc),
            "reference": list(inc.playthroughs.reference.actions),
            "seed": self.session.seed,
        }

    def clock_message(self) -> p.Clock:
        s = self.session
        return p.Clock(
            at=min(s.now, s.horizon), horizon=s.horizon, speed=self.speed, paused=self.paused
        )

    def roster(self) -> list[p.Member]:
        return [
            p.Member(name=m.name, role=m.role, online=m.online, looking=m.looking)
            for m in self.members.values()
        ]

    def powers(self, name: str) -> list[str]:
        m = self.members.get(name)
        return sorted(self.roles.powers.get(m.role, frozenset())) if m else []

    def may(self, name: str, power: str) -> bool:
        m = self.members.get(name)
        return m is not None and self.roles.may(m.role, power)

    def welcome(self, name: str) -> p.Welcome:
        """Everything a member needs to show the game as it stands (join and catching up)."""
        m = self.members[name]
        return p.Welcome(
            you=name,
            role=m.role,
            powers=self.powers(name),
            game=self._game,
            clock=self.clock_message(),
            roster=self.roster(),
            feed=list(self.feed),
            said=list(self.said),
            secret=self.secret() if self.may(name, "answer") else None,
        )

    # -- sending --------------------------------------------------------------------------
    def _send(self, msg: BaseModel, audience: str = "all", skip: Peer | None = None) -> None:
        """To every connection of the audience (but `skip`), and to the host's listeners."""
        frame = p.encode(msg)
        for m in self.members.values():
            if (
                audience == "all"
                or (audience == "answer" and self.roles.may(m.role, "answer"))
                or audience == m.name
            ):
                for peer in list(m.peers):
                    if peer is not skip:
                        peer.send(frame)
        for listener in list(self.listeners):
            listener(msg, audience)

    def _notice(self, text: str) -> None:
        said = p.Said(at=self.session.now, player="", text=text, kind="notice")
        self.said.append(said)
        self._send(said)

    def _roster_changed(self) -> None:
        self._send(p.Roster(members=self.roster()))

    def _record(self, type_: str, data: dict[str, Any]) -> None:
        if self.recorder is not None:
            self.recorder.team(type_, data)

    # -- joining --------------------------------------------------------------------------
    def join(
        self, token: str, name: str, peer: Peer | None = None, seat_key: str = ""
    ) -> p.Welcome:
        """Seat `name` with `token` (or reconnect them); Refused if the token or name will not do.
        With the host's seat key, the connection is a seat process's (`net.replica`)."""
        name = clean(name).strip()
        if not name:
            raise Refused("a player needs a name (--as NAME)")
        if seat_key and not self.seatfeed.admits(seat_key):
            raise Refused("not a seat process of this host (wrong seat key)")
        seat = next((s for s in self.seats if s.admits(token)), None)
        if seat is None:
            raise Refused("this join link is not one of this game's (wrong token)")
        if seat.player is not None and seat.player != name:
            raise Refused(
                f"this join link was already used by {seat.player}; ask the host for your own"
            )
        if seat.player is None:
            taken = self.members.get(name)
            if taken is not None:
                raise Refused(f"the name {name!r} is taken in this game; join --as another name")
            seat.player = name
            self.members[name] = Member(name, seat.role, seat.index)
            self._record("join", {"player": name, "role": seat.role, "seat": seat.index})
            self._notice(f"{name} joined as {seat.role}")
        m = self.members[name]
        if peer is not None:
            m.peers.append(peer)
            if seat_key:
                self.seatfeed.peers.append(peer)
        # to the others, with this member online; the new connection's welcome carries it
        self._send(p.Roster(members=self.roster()), skip=peer)
        welcome = self.welcome(name)
        if seat_key:
            welcome = welcome.model_copy(update={"replica": self.seatfeed.start()})
        return welcome

    def leave(self, name: str, peer: Peer) -> None:
        m = self.members.get(name)
        if peer in self.seatfeed.peers:
            self.seatfeed.peers.remove(peer)
        if m is not None and peer in m.peers:
            m.peers.remove(peer)
            if not m.peers:
                m.looking = ""
            self._roster_changed()

    def seat_players(self, bindings: dict[int, tuple[str, str]]) -> None:
        """Seat players again as a resumed game's record had them: {seat: (name, role)}."""
        for index, (name, role) in bindings.items():
            if 0 <= index < len(self.seats) and name not in self.members:
                self.seats[index].player = name
                self.members[name] = Member(name, role if role in ROLES else "observer", index)

    # -- playing --------------------------------------------------------------------------
    @property
    def over(self) -> bool:
        s = self.session
        return self.finishing or s.ended or s.declared_resolved_at is not None

    def command(self, name: str, text: str, id: int = 0) -> p.Reply:
        """Play one line for member `name`: a team word (say, note, handover) or a game
        command, which the host performs in the order received and records with its player."""
        text = clean(text).strip()
        word, _, rest = text.partition(" ")
        if word in TEAM_WORDS:
            return self._team_command(name, word, rest.strip(), id)
        if self.over:
            return self._refuse(id, "the incident is over; see the debrief")
        if word == "wait":
            return self._refuse(id, "the host keeps time for the whole team; you cannot wait here")
        target, _, why = rest.strip().partition(" ")
        if word == "escalate" and target in self.members and target != name:
            return self._page(name, target, why.strip(), id)
        try:
            cmd, _ = resolve(split(text))
            need = power_for(cmd.name, cmd.kind)
        except Refusal:
            need = "investigate"  # perform refuses it and records why
        if not self.may(name, need):
            role = self.members[name].role if name in self.members else "none"
            return self._refuse(
                id, f"your role ({role}) may not {need}; the commander can hand out roles"
            )
        entry = perform(self.session, text, name)
        seq = len(self.feed)
        refused = entry.output if entry.kind == "refused" else ""
        line = p.Line(
            seq=seq,
            at=entry.at,
            player=name,
            command=entry.command,
            kind=entry.kind,
            refused=refused,
        )
        self.feed.append(line)
        self.outputs.append(entry.output)
        self._send(line)
        reply = p.Reply(id=id, seq=seq, kind=entry.kind, output=entry.output)
        self._send(reply, name)
        if entry.name == "hint" and entry.kind != "refused" and entry.output.startswith("Hint "):
            self._notice(f"{name} took a hint: {entry.output}")
        return reply

    def _page(self, name: str, target: str, why: str, id: int) -> p.Reply:
        """`escalate PLAYER [TEXT]` in a team game pages a real player: the team reads it as a
        line of talk (recorded like one), and the player paged is told directly."""
        try:
            self._talk(name, f"paged {target}" + (f": {why}" if why else ""), "status", "say")
        except Refused as exc:
            return self._refuse(id, str(exc))
        paged = p.Said(
            at=self.session.now,
            player="",
            text=f"{name} paged you: {why or 'join in'}",
            kind="notice",
        )
        self._send(paged, target)
        return p.Reply(id=id, seq=-1, kind="meta", output=f"Paged {target}.")

    def _refuse(self, id: int, reason: str) -> p.Reply:
        return p.Reply(id=id, seq=-1, kind="refused", output=reason)

    def _team_command(self, name: str, word: str, rest: str, id: int) -> p.Reply:
        try:
            if word == "say":
                self.say(name, rest)
                return p.Reply(id=id, seq=-1, kind="meta", output="")
            if word == "note":
                self.team_note(name, rest)
                return p.Reply(id=id, seq=-1, kind="meta", output="Noted.")
            self.handover(name, rest)
            return p.Reply(id=id, seq=-1, kind="meta", output=f"{rest} is the commander now.")
        except Refused as exc:
            return self._refuse(id, str(exc))

    def output(self, seq: int) -> p.Output:
        if not 0 <= seq < len(self.outputs):
            raise Refused(f"no line {seq} in the team feed")
        return p.Output(seq=seq, output=self.outputs[seq])

    def say(self, name: str, text: str) -> None:
        self._talk(name, text, "say", "say")

    def team_note(self, name: str, text: str) -> None:
        self._talk(name, text, "note", "note")

    def _talk(self, name: str, text: str, power: str, kind: str) -> None:
        text = clean(text).strip()[: p.MAX_TEXT]
        if not text:
            raise Refused(f"{kind} what? ({kind} TEXT)")
        if not self.may(name, power):
            raise Refused(f"your role may not {power}")
        said = p.Said(at=self.session.now, player=name, text=text, kind=kind)
        self.said.append(said)
        self._record("say", {"player": name, "text": text, "kind": kind})
        self._send(said)

    def look(self, name: str, what: str) -> None:
        m = self.members.get(name)
        what = clean(what).strip()[:100]
        if m is not None and m.looking != what:
            m.looking = what
            self._roster_changed()

    # -- roles ----------------------------------------------------------------------------
    def commander(self) -> str | None:
        return next((m.name for m in self.members.values() if m.role == "commander"), None)

    def handover(self, by: str, to: str) -> None:
        """The commander hands the role to `to`, and takes `to`'s role in exchange."""
        if self.commander() != by:
            raise Refused("only the commander can hand over command")
        target = self.members.get(to)
        if target is None or to == by:
            raise Refused(f"no other player {to!r} in this game (who: {', '.join(self.members)})")
        if target.role == "facilitator":
            raise Refused("the facilitator cannot take command")
        self._set_role(to, "commander", by, old_commander_role=target.role)

    def assign(self, by: str, name: str, role: str) -> None:
        """The facilitator puts a player in a role (a commander's old role swaps as in handover)."""
        if not self.may(by, "facilitate"):
            raise Refused("only the facilitator assigns roles")
        if name not in self.members or role not in ROLES or role == "facilitator":
            raise Refused(f"no player {name!r}, or no role {role!r}")
        if self.members[name].role == "facilitator":
            raise Refused("the facilitator keeps their seat")
        self._set_role(name, role, by, old_commander_role=self.members[name].role)

    def _set_role(self, name: str, role: str, by: str, old_commander_role: str) -> None:
        prev = None
        if role == "commander":
            prev = self.commander()
            if prev is not None and prev != name:
                self.members[prev].role = old_commander_role
                self._record("role", {"player": prev, "role": old_commander_role, "by": by})
        frm = self.members[name].role
        self.members[name].role = role
        self._record("role", {"player": name, "role": role, "from": frm, "by": by})
        self._notice(f"{name} is {role} now (from {frm}, by {by})")
        self._roster_changed()
        for who in dict.fromkeys((name, prev)):  # whose powers changed (each once)
            if who is not None and who in self.members:
                # powers changed: a fresh welcome carries them (and anything they may now see)
                self._send(self.welcome(who), who)

    # -- the facilitator ------------------------------------------------------------------
    def _facilitator(self, by: str) -> None:
        if not self.may(by, "facilitate"):
            raise Refused("only the facilitator can do that")

    def pause(self, by: str) -> None:
        self._facilitator(by)
        if not self.paused:
            self.paused = True
            self._record("facilitator", {"player": by, "action": "pause"})
            self._notice(f"{by} paused the game")
            self._send(self.clock_message())

    def resume(self, by: str) -> None:
        self._facilitator(by)
        if self.paused:
            self.paused = False
            self._last_tick_wall = self._clock()
            self._record("facilitator", {"player": by, "action": "resume"})
            self._notice(f"{by} resumed the game")
            self._send(self.clock_message())

    def set_speed(self, by: str, speed: float) -> None:
        self._facilitator(by)
        if not 0 < speed <= MAX_SPEED:
            raise Refused(f"speed must be above 0 and at most {MAX_SPEED:g}")
        self.tick()  # time so far ran at the old speed
        self.speed = float(speed)
        self._record("facilitator", {"player": by, "action": "speed", "speed": self.speed})
        self._notice(f"{by} set the clock to {self.speed:g}x")
        self._send(self.clock_message())

    def release_hint(self, by: str) -> str:
        """Take the incident's next hint for the team (scored as a hint) and show it to all."""
        self._facilitator(by)
        if self.over:
            raise Refused("the incident is over")
        if len(self.session.hints_taken) >= len(self.session.incident.hints):
            raise Refused("no more hints")  # refused before it becomes an entry without a feed line
        entry = perform(self.session, "hint take", by)
        if entry.kind == "refused":
            raise Refused(entry.output)
        line = p.Line(
            seq=len(self.feed), at=entry.at, player=by, command=entry.command, kind=entry.kind
        )
        self.feed.append(line)
        self.outputs.append(entry.output)
        self._send(line)
        self._notice(f"Hint released by {by}: {entry.output}")
        return entry.output

    def note(self, by: str, text: str) -> None:
        """A private note of the facilitator's, stamped onto the timeline (never to players)."""
        self._facilitator(by)
        text = clean(text).strip()[: p.MAX_TEXT]
        if not text:
            raise Refused("note what? (note TEXT)")
        self.notes.append((self.session.now, by, text))
        self._record("facilitator", {"player": by, "action": "note", "text": text})
        self._send(p.Said(at=self.session.now, player=by, text=text, kind="note"), "answer")

    def end(self, by: str) -> None:
        """End play for everyone now; the outcome is measured to the horizon (`run`)."""
        self._facilitator(by)
        if self.over:
            return
        self._record("facilitator", {"player": by, "action": "end"})
        if self.recorder is not None:
            self.recorder.quitting()
        self._notice(f"{by} ended the game")
        self.finishing = True

    def inject(self, by: str, line: str) -> str:
        """Fire an inject now (`game.injects`): one of the incident's, a fault from the library,
        a stakeholder's message or a player made unavailable. The session records it; the
        team hears of it through `_on_session` (a fault only through its symptoms)."""
        self._facilitator(by)
        if self.over:
            raise Refused("the incident is over")
        try:
            rec = injects.fire(self.session, injects.parse_inject(self.session, line), by)
        except Refusal as exc:
            raise Refused(exc.reason) from None
        return f"fired {rec['key']} at {rec['at'] // 60:02d}:{rec['at'] % 60:02d}"

    def _on_session(self, event: dict[str, Any]) -> None:
        """Tell the team of an inject as it fires (by the facilitator or on its schedule), and
        of a paged team joining the call."""
        if event.get("type") in ("inject", "joined") and event.get("public"):
            self._notice(str(event["public"]))

    def facilitate(self, by: str, action: str, arg: str = "") -> str:
        """One facilitator action by name (the protocol's `facilitate` message)."""
        match action:
            case "pause":
                self.pause(by)
            case "resume":
                self.resume(by)
            case "speed":
                try:
                    self.set_speed(by, float(arg))
                except ValueError:
                    raise Refused("speed X: X is a number, e.g. `speed 20`") from None
            case "hint":
                return self.release_hint(by)
            case "end":
                self.end(by)
            case "note":
                self.note(by, arg)
            case "role":
                who, _, role = arg.strip().partition(" ")
                self.assign(by, who, role.strip())
            case "inject":
                return self.inject(by, arg)
            case _:
                raise Refused(f"no facilitator action {action!r}")
        return "done"

    # -- time -----------------------------------------------------------------------------
    def tick(self) -> None:
        """Let simulated time catch up with real time at the current speed (the host's loop
        calls this often); also sends the clock and checkpoints the record."""
        now = self._clock()
        dt, self._last_tick_wall = now - self._last_tick_wall, now
        if self.paused or self.over:
            return
        self._carry += dt * self.speed
        n = min(int(self._carry), self.max_step())
        if n > 0:
            self._carry -= n
            self.session.advance(n)
        if now - self._last_clock_sent >= CLOCK_EVERY_S or self.session.ended:
            self._last_clock_sent = now
            self._send(self.clock_message())
            self.seatfeed.sync()
        if self.recorder is not None and now - self._last_checkpoint >= CHECKPOINT_EVERY_S:
            self._last_checkpoint = now
            self.recorder.checkpoint()

    def max_step(self) -> int:
        """The most simulated seconds one tick may advance: no limit here (an interview's
        time box ends play at its deadline exactly, however late a tick comes)."""
        return 2**31

    async def finish(self) -> p.Finished:
        """Measure the outcome to the horizon (in a worker thread), record it and tell everyone."""
        if self.result_message is not None:
            return self.result_message
        self.finishing = True
        self._notice("Play is over. Measuring the outcome to the end of the incident...")
        result = await asyncio.to_thread(finish, self.session)
        if self.recorder is not None:
            self.recorder.flush()
        items = [
            {"title": it.title, "points": it.points, "max": it.max, "detail": it.detail}
            for it in result.items
        ]
        msg = p.Finished(
            score=result.score, grade=result.grade, resolved=result.resolved, items=items
        )
        # the items' details explain the answer (why a declared cause was wrong): the debrief
        # in full goes to the seats that may see the answer; players get the marks
        brief = [{k: v for k, v in it.items() if k != "detail"} for it in items]
        public = msg.model_copy(update={"items": brief})
        self.result_message = public
        for m in self.members.values():
            frame = p.encode(msg if self.roles.may(m.role, "answer") else public)
            for peer in list(m.peers):
                peer.send(frame)
        for listener in list(self.listeners):  # a listener may leave as it hears the end
            listener(msg, "answer")
            listener(public, "all")
        self._send(self.clock_message())
        return msg

    async def run(self, interval: float = 0.05) -> p.Finished:
        """The host's clock: tick until play is over, then finish."""
        while not self.over:
            self.tick()
            await asyncio.sleep(interval)
        return await self.finish()
