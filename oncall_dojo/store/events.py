"""The event log: append-only, each event chained to the one before by a hash.

`hash = sha256(prev_hash + canonical JSON of the event)`, where the event is its
session id, sequence number, type, simulated tick, player time, wall time and
data. The first event of a session (`start`, seq 0) follows `GENESIS`. Changing
a byte of any event, deleting one or moving one breaks the chain at that event.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

GENESIS = "0" * 64
TEAM_MODE = "team"
"""The mode of a hosted team game's session (`dojo host`)."""
INTERVIEW_MODE = "interview"
"""The mode of an interview exercise's session (`dojo interview`): kept, never ranked."""
TEAM_TYPES = ("join", "role", "say", "facilitator")
"""Events only a team game records; none changes the simulated system, so a replay skips them."""
TYPES = ("start", "command", "clock", "wait", "quit", "finished", "inject", *TEAM_TYPES)
_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical(obj: Any) -> str:
    """One spelling of a JSON value: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def valid_text(obj: Any) -> Any:
    """`obj` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(obj, str):
        if _SURROGATE.search(obj) is None:
            return obj
        return _SURROGATE.sub("\ufffd", obj)
    if isinstance(obj, dict):
        items = [(valid_text(k), valid_text(v)) for k, v in obj.items()]
        if all(a is k and b is v for (a, b), (k, v) in zip(items, obj.items(), strict=True)):
            return obj
        return dict(items)
    if isinstance(obj, list | tuple):
        values = [valid_text(v) for v in obj]
        if all(a is b for a, b in zip(values, obj, strict=True)):
            return obj
        return values
    return obj


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(body)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Event:
    session_id: str
    seq: int
    type: str
    tick: int
    at: int
    wall: str
    data: dict[str, Any]
    prev_hash: str = GENESIS
    hash: str = ""
    raw: str | None = field(default=None, compare=False)
    """The data as stored, when read back from the database."""

    def body(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "seq": self.seq,
            "type": self.type,
            "tick": self.tick,
            "at": self.at,
            "wall": self.wall,
            "data": self.data,
        }

    def sealed(self, prev_hash: str) -> Event:
        """This event linked after `prev_hash`, with its own hash.

        Text that is not valid Unicode (lone surrogates: bytes that were not UTF-8, decoded
        with surrogateescape) is stored with U+FFFD in their place, so it can be hashed."""
        ev = replace(self, prev_hash=prev_hash, hash="", raw=None, data=valid_text(self.data))
        return replace(ev, hash=chain_hash(prev_hash, ev.body()))

    def to_row(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "seq": self.seq,
            "type": self.type,
            "tick": self.tick,
            "at": self.at,
            "wall": self.wall,
            "data": canonical(self.data),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "player": who if isinstance(who := self.data.get("player"), str) else None,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Event:
        raw = row["data"]
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                data = {"unreadable": raw}
        except (TypeError, ValueError):
            data = {"unreadable": raw}
        return cls(
            row["session_id"],
            row["seq"],
            row["type"],
            row["tick"],
            row["at"],
            row["wall"],
            data,
            row["prev_hash"],
            row["hash"],
            raw=raw,
        )

    def to_json(self) -> dict[str, Any]:
        return {**self.body(), "prev_hash": self.prev_hash, "hash": self.hash}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Event:
        data = d["data"]
        if not isinstance(data, dict):
            raise ValueError("event data must be an object")
        return cls(
            str(d["session"]),
            int(d["seq"]),
            str(d["type"]),
            int(d["tick"]),
            int(d["at"]),
            str(d["wall"]),
            data,
            str(d["prev_hash"]),
            str(d["hash"]),
        )

    def describe(self) -> str:
        """`event 7 (command `restart billing` at 02:20)`."""
        at = f"{self.at // 60:02d}:{self.at % 60:02d}" if self.at >= 0 else str(self.at)
        what = self.type
        if self.type == "command" and isinstance(self.data.get("command"), str):
            what = f"command `{self.data['command']}`"
        return f"event {self.seq} ({what} at {at})"


@dataclass
class Problem:
    seq: int | None
    message: str


def verify_chain(events: list[Event]) -> list[Problem]:
    """Every way the stored events differ from an untouched log, first problem first."""
    if not events:
        return [Problem(None, "the session has no events")]
    problems: list[Problem] = []
    where = {ev.hash: ev for ev in events}
    ends: dict[str, int] = {}
    prev: Event | None = None
    for ev in events:
        want_seq = 0 if prev is None else prev.seq + 1
        if ev.seq > want_seq:
            gap = (
                f"event {want_seq}"
                if ev.seq == want_seq + 1
                else f"events {want_seq} to {ev.seq - 1}"
            )
            problems.append(
                Problem(
                    want_seq,
                    f"{gap} missing: the log jumps from event {want_seq - 1} to event {ev.seq} (deleted?)",
                )
            )
        elif ev.seq < want_seq:
            problems.append(Problem(ev.seq, f"event {ev.seq} appears twice"))
        want_prev = GENESIS if prev is None else prev.hash
        if ev.prev_hash != want_prev:
            origin = where.get(ev.prev_hash)
            if ev.prev_hash == GENESIS:
                problems.append(
                    Problem(ev.seq, f"{ev.describe()} claims to be the first event of the session")
                )
            elif origin is not None and origin is not ev:
                problems.append(
                    Problem(
                        ev.seq,
                        f"{ev.describe()} is out of order: it was recorded right after "
                        f"event {origin.seq} (events were reordered)",
                    )
                )
            else:
                problems.append(
                    Problem(
                        ev.seq,
                        f"{ev.describe()} does not follow the event before it: "
                        "the event recorded before it is missing or was changed",
                    )
                )
        intact = ev.raw is None or ev.raw == canonical(ev.data)
        if not intact or chain_hash(ev.prev_hash, ev.body()) != ev.hash:
            problems.append(
                Problem(ev.seq, f"{ev.describe()} was altered: its contents do not match its hash")
            )
        if prev is None and ev.type != "start":
            problems.append(Problem(ev.seq, f"{ev.describe()} should be the session's start event"))
        if prev is not None:
            problems.extend(_order_problems(prev, ev, ends))
        if ev.type in ("quit", "finished"):
            ends[ev.type] = ends.get(ev.type, 0) + 1
        prev = ev
    return problems


def _order_problems(prev: Event, ev: Event, ends: dict[str, int]) -> list[Problem]:
    """Time never goes backwards, and a session ends at most once: what one game can record."""
    out = []
    if ev.tick < prev.tick or ev.at < prev.at:
        out.append(
            Problem(
                ev.seq,
                f"{ev.describe()} goes back in time from {prev.describe()} "
                "(two games were recorded into one session?)",
            )
        )
    if ends.get(ev.type):
        out.append(
            Problem(
                ev.seq,
                f"{ev.describe()} is a second {ev.type} of the session "
                "(two games were recorded into one session?)",
            )
        )
    if ends.get("finished"):
        out.append(Problem(ev.seq, f"{ev.describe()} comes after the session finished"))
    elif ends.get("quit") and ev.type == "command":
        out.append(Problem(ev.seq, f"{ev.describe()} comes after the player quit"))
    return out
