"""Injects in play: firing them (by hand or on schedule), their effects, and what they earn.

`fire` applies one inject to a session at the current time, records it in `session.injected`
and tells the listeners (the recorder writes an `inject` event; a replay fires the recorded
ones again at their time, with `replay_fired`). A fault inject starts a fault at this tick; a
stakeholder inject adds an `Ask` the team answers with `answer`; an unavailable inject makes
the game refuse one player's commands for a while. `schedule` queues an incident's timed
injects so that the session's clock fires them (before the tick they are due at).
"""

from __future__ import annotations

import shlex
from typing import Any

from pydantic import TypeAdapter, ValidationError

from oncall_dojo.game.fmt import mmss
from oncall_dojo.game.session import Ask, Session
from oncall_dojo.incident.injects import Inject
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.faults import FAULT_TYPES, AnyFault, Fault
from oncall_dojo.sim.text import count

FACILITATOR = "facilitator"
"""Who fires an inject when nobody is named (and every scheduled one)."""
_FAULT_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyFault)


def fire(
    session: Session, inject: Inject, by: str = FACILITATOR, key: str | None = None
) -> dict[str, Any]:
    """Apply `inject` now and record it; returns the recorded data. Raises `Refusal` when the
    game is over or the inject names no one to make unavailable."""
    s = session
    if s.ended or s.declared_resolved_at is not None:
        raise Refusal("the incident is over")
    key = key or _next_key(s, inject.id)
    data: dict[str, Any] = {"key": key, "by": by, "inject": inject.to_data()}
    if inject.fault is not None:
        spec = inject.fault.model_copy(update={"at": s.system.t, "when": None})
        run = Fault(spec, len(s.fault_runs))
        s.fault_runs.append(run)
        if s.system.faults is not s.fault_runs:
            s.system.faults.append(run)
    elif inject.stakeholder is not None:
        m = inject.stakeholder
        s.asks.append(Ask(key, s.now, m.sender, m.channel, m.text, m.answer_within_s))
    else:
        assert inject.unavailable is not None
        who = inject.unavailable.player or last_player(s)
        if not who:
            raise Refusal("nobody to make unavailable: name a player")
        data["away"] = who
        s.away[who] = (s.now + inject.unavailable.for_s, inject.unavailable.text)
    record = {"at": s.now, "tick": s.system.t, **data}
    s.injected.append(record)
    s.emit({"type": "inject", "tick": s.system.t, "at": s.now, **data, "public": public(s, record)})
    return record


def replay_fired(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    """Fire a recorded inject again (a replay, a resumed game): `data` as `fire` returned it."""
    inject = Inject.model_validate(data["inject"])
    if inject.unavailable is not None and data.get("away"):
        inject = inject.model_copy(
            update={"unavailable": inject.unavailable.model_copy(update={"player": data["away"]})}
        )
    return fire(session, inject, str(data.get("by") or FACILITATOR), key=str(data["key"]))


def library_fault(kind: str, params: dict[str, Any], ident: str | None = None) -> Inject:
    """An inject of a fault from the library: `kind` with its parameters (strings are read as
    the fault's field types). Raises `Refusal` naming what is wrong."""
    kinds = sorted(_fault_kinds())
    if kind not in kinds:
        raise Refusal(f"no fault kind {kind!r}; kinds: {', '.join(kinds)}")
    if "at" in params or "when" in params:
        raise Refusal("an injected fault begins when it is fired: leave out `at` and `when`")
    try:
        _FAULT_ADAPTER.validate_python({**params, "kind": kind, "at": 0}, strict=False)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"][1:]) or kind
        raise Refusal(f"{where}: {err['msg']}") from None
    return Inject.model_validate(
        {"id": ident or kind.replace("_", "-"), "fault": {**params, "kind": kind}}
    )


def _fault_kinds() -> list[str]:
    out = []
    for t in FAULT_TYPES:
        ann = t.model_fields["kind"].annotation
        out += list(getattr(ann, "__args__", ()))
    return out


def schedule(session: Session) -> None:
    """Queue the incident's timed injects on the session's clock (those not fired yet, so a
    resumed game does not fire one twice)."""
    fired = {r["key"] for r in session.injected}
    due: list[tuple[int, str, Any]] = []
    for inj in session.incident.injects:
        for n, at in enumerate(inj.times()):
            key = inj.id if n == 0 else f"{inj.id}-{n + 1}"
            if key not in fired and at >= session.now:
                due.append((at, key, inj))
    due.sort(key=lambda d: (d[0], d[1]))
    session.schedule = due
    session.on_due = _fire_due


def _fire_due(session: Session) -> None:
    while session.schedule and session.schedule[0][0] <= session.now:
        _, key, inj = session.schedule.pop(0)
        try:
            fire(session, inj, key=key)
        except Refusal:
            continue  # nobody to make unavailable yet: the inject has no effect


def _next_key(s: Session, ident: str) -> str:
    keys = {r["key"] for r in s.injected}
    if ident not in keys:
        return ident
    n = 2
    while f"{ident}-{n}" in keys:
        n += 1
    return f"{ident}-{n}"


def last_player(s: Session) -> str:
    """The player who ran the latest command (the session's own player when none has)."""
    return next((e.player for e in reversed(s.entries) if e.player), s.player)


def public(s: Session, record: dict[str, Any]) -> str:
    """What the team is told of a fired inject: a stakeholder's message, who is away. A fault
    inject says nothing: the team meets its symptoms."""
    inj = record["inject"]
    if "stakeholder" in inj:
        m = inj["stakeholder"]
        return f"[{m.get('channel', 'chat')}] {m['from']}: {m['text']}  (answer with `answer TEXT`)"
    if "unavailable" in inj:
        back = mmss(record["at"] + int(inj["unavailable"].get("for_s", 600)))
        return f"{record.get('away')} is unavailable until {back}: {inj['unavailable'].get('text', '')}"
    return ""


def away_reason(s: Session, player: str) -> str | None:
    """Why `player` cannot act now (None: they can)."""
    gone = s.away.get(player)
    if gone is None or s.now >= gone[0]:
        return None
    return f"{player} is unavailable until {mmss(gone[0])}: {gone[1]}"


def stakeholder_credit(s: Session) -> tuple[float, str] | None:
    """The share (0-1) of the answers' credit earned, and its wording; None when no stakeholder
    wrote. An answer within the message's time earns full credit, a later one half."""
    if not s.asks:
        return None
    got = 0.0
    on_time = late = 0
    for a in s.asks:
        t = a.answered_at
        if t is None:
            continue
        if t - a.at <= a.within_s:
            got, on_time = got + 1.0, on_time + 1
        else:
            got, late = got + 0.5, late + 1
    n = len(s.asks)
    words = f"{on_time} of {count(n, 'stakeholder message')} answered in time" + (
        f", {late} late" if late else ""
    )
    return got / n, words


FACILITATOR_USAGE = (
    "inject ID                        fire one of the incident's injects",
    "inject fault KIND [FIELD=VALUE]  a fault from the library, with its parameters",
    'inject ask FROM "TEXT"           a stakeholder\'s message the team must answer',
    "inject away PLAYER [SECONDS]     make a player unavailable",
)
"""The facilitator's inject lines (the team's commands cannot fire injects)."""


def parse_inject(session: Session, line: str) -> Inject:
    """The inject a facilitator's line asks for (see `FACILITATOR_USAGE`). Raises `Refusal`."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise Refusal(f"cannot read the line: {exc}") from None
    if words and words[0] == "inject":
        words = words[1:]
    if not words:
        raise Refusal("usage:\n  " + "\n  ".join(FACILITATOR_USAGE))
    head, rest = words[0], words[1:]
    known = {i.id: i for i in session.incident.injects}
    if head in known:
        return known[head]
    n = len(session.injected) + 1
    if head == "fault" and rest:
        params: dict[str, Any] = {}
        for w in rest[1:]:
            k, eq, v = w.partition("=")
            if not eq or not k:
                raise Refusal(f"expected FIELD=VALUE, got {w!r}")
            params[k] = v
        return library_fault(rest[0], params, ident=f"fault-{n}")
    if head == "ask" and len(rest) >= 2:
        return Inject.model_validate(
            {"id": f"ask-{n}", "stakeholder": {"from": rest[0], "text": " ".join(rest[1:])}}
        )
    if head == "away" and rest:
        secs = 600
        if len(rest) > 1:
            if not rest[1].isdigit() or not 30 <= int(rest[1]) <= 3600:
                raise Refusal("SECONDS is a number from 30 to 3600")
            secs = int(rest[1])
        return Inject.model_validate(
            {"id": f"away-{n}", "unavailable": {"player": rest[0], "for_s": secs}}
        )
    ids = ", ".join(known) or "none in this incident"
    raise Refusal(
        f"no inject {head!r} (the incident's: {ids}); usage:\n  " + "\n  ".join(FACILITATOR_USAGE)
    )
