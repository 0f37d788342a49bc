"""The interview as a second interviewer's seat process follows it (`dojo join` with the
interviewer link): a host-shaped view built from what the host sends that seat, for the
interviewer's console (`tui.screens.interviewer`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oncall_dojo.net import protocol as p
from oncall_dojo.net.host import Refused
from oncall_dojo.net.replica import Replica
from oncall_dojo.sim.text import clean
from oncall_dojo.store.recorder import Recorder


class RemoteInterview:
    """The interview as a second interviewer's seat process follows it: shaped like the host
    where the interviewer's console reads it (`tui.screens.interviewer`), and built only from
    what the host sends that seat (its welcome with the answer and the sheet, the team's
    messages, the replica's steps). The console's actions go to the host as the
    interviewer's own lines (`send`), so the host does them in this interviewer's name; its
    replies come back as messages. Holds no authority: the host decides everything."""

    def __init__(self, replica: Replica, welcome: p.Welcome, send: Callable[[str], None]) -> None:
        self.replica = replica
        self.session = replica.session
        self.you = welcome.you
        self.send = send
        self.listeners: list[Callable[[Any, str], None]] = []
        self.recorder: Recorder | None = None
        self._welcome = welcome
        self.feed: list[p.Line] = []
        self.said: list[p.Said] = []
        self.members: list[p.Member] = []
        self.clock = welcome.clock
        self._secret: dict[str, Any] = {}
        self.sheet = p.Sheet(deadline=0)
        self.caught_up(welcome)

    # -- what the console reads ---------------------------------------------------------------
    @property
    def outputs(self) -> list[str]:
        """Each feed line's output, from the replica (which played every line the host did)."""
        return [e.output for e in self.session.entries]

    @property
    def paused(self) -> bool:
        return self.clock.paused

    @property
    def notes(self) -> list[tuple[int, str, str]]:
        return list(self.sheet.notes)

    @property
    def looks(self) -> list[tuple[int, str]]:
        return list(self.sheet.looks)

    @property
    def deadline(self) -> int:
        return self.sheet.deadline

    @property
    def away_s(self) -> int:
        return self.sheet.away_s

    @property
    def away_since(self) -> int | None:
        return self.sheet.away_since

    @property
    def candidate(self) -> p.Member | None:
        return next((m for m in self.members if m.role == "candidate"), None)

    def left_text(self) -> str:
        left = max(0, self.deadline - self.clock.at)
        return f"{left // 60} min {left % 60:02d} s"

    def clock_message(self) -> p.Clock:
        return self.clock

    def roster(self) -> list[p.Member]:
        return list(self.members)

    def secret(self) -> dict[str, Any]:
        return self._secret

    def welcome(self, name: str) -> p.Welcome:
        return self._welcome.model_copy(
            update={
                "feed": list(self.feed),
                "said": list(self.said),
                "roster": list(self.members),
                "clock": self.clock,
            }
        )

    def output(self, seq: int) -> p.Output:
        if not 0 <= seq < len(self.session.entries):
            raise Refused(f"no line {seq} in the team feed")
        return p.Output(seq=seq, output=self.session.entries[seq].output)

    # -- what the console does: the interviewer's lines, to the host --------------------------
    def facilitate(self, by: str, action: str, arg: str = "") -> str:
        self.send(f"{action} {arg}".strip())
        return ""

    def say(self, by: str, text: str) -> None:
        if not clean(text).strip():
            raise Refused("say what? (say TEXT)")
        self.send(f"say {text}")

    # -- the host's messages ------------------------------------------------------------------
    def caught_up(self, welcome: p.Welcome) -> None:
        """A welcome (the first, or after a reconnection): everything as the host has it."""
        self._welcome = welcome
        self.feed = list(welcome.feed)
        self.said = list(welcome.said)
        self.members = list(welcome.roster)
        self.clock = welcome.clock
        self._secret = dict(welcome.secret or {})
        sheet = self._secret.get("interview")
        if isinstance(sheet, dict):
            self.sheet = p.Sheet.model_validate(sheet)

    def host_message(self, msg: Any) -> None:
        """Follow one of the host's messages, then tell the console (Diverged escapes)."""
        audience = "all"
        if isinstance(msg, p.Welcome):
            if msg.replica is not None:
                self.replica.catch_up(msg.replica, msg.clock.at)
            self.caught_up(msg)
        elif isinstance(msg, p.Step | p.Sync):
            self.replica.on_message(msg)
            return
        elif isinstance(msg, p.Clock):
            self.replica.follow(msg.at)
            self.clock = msg
        elif isinstance(msg, p.Line):
            if msg.seq >= len(self.feed):
                self.feed.append(msg)
        elif isinstance(msg, p.Said):
            if msg.kind != "note" or msg.player == (self.candidate.name if self.candidate else ""):
                self.said.append(msg)
        elif isinstance(msg, p.Roster):
            self.members = list(msg.members)
        elif isinstance(msg, p.Sheet):
            self.sheet = msg
            audience = "answer"
        elif isinstance(msg, p.Reply):
            audience = self.you
        for listener in list(self.listeners):
            listener(msg, audience)


__all__ = ["RemoteInterview"]
