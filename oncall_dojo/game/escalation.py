"""Escalation in solo play: the team you page joins the call after a realistic delay and does
one bounded, visible thing, as a teammate would.

`escalate TEAM [TEXT]` pages one of the teams that own a part of the system (`teams`). The
team's on-call joins `JOIN_S` seconds later (an outside company's support takes
`VENDOR_JOIN_S`) and then either
- answers from their side: how their service stands at that moment and the last change
  they made to it; or
- when TEXT is a console command that changes the system (`escalate billing restart
  billing`), runs that command as themselves and says what came of it.

Each join is an entry of the session (the colleague is its player, a changing command is an
act like any other), made by the session's clock, so a replay of the recorded commands
makes it again at the same tick. Joins still due when play ends never happen: everyone is
called off once the incident is declared over.
"""

from __future__ import annotations

from oncall_dojo.game import views
from oncall_dojo.game.entry import Entry
from oncall_dojo.game.fmt import mmss
from oncall_dojo.game.grammar import resolve, split
from oncall_dojo.game.session import Call, Session
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.text import count

JOIN_S = 240
"""An internal team's on-call acknowledges the page and joins the call in about 4 minutes."""
VENDOR_JOIN_S = 600
"""An outside company's support answers a priority ticket in about 10 minutes."""
DATABASE = "postgres"
PROVIDER = "payments-provider"
PLATFORM = "platform"
ALIASES = {"database": DATABASE, "db": DATABASE, "dba": DATABASE, "provider": PROVIDER}


def teams(s: Session) -> list[str]:
    """The teams that can be paged: each owns a part of the system."""
    return ["api", *s.system.pools, DATABASE, PLATFORM, PROVIDER]


def team_named(s: Session, name: str) -> str:
    team = ALIASES.get(name, name)
    if team not in teams(s):
        raise Refusal(f"no team {name!r} to page; teams: {', '.join(teams(s))}")
    return team


def page(s: Session, team: str, ask: str, by: str) -> str:
    """Page `team` now; returns what the player is told. Refuses an action asked of a team
    that cannot take it."""
    action = _action(ask)
    if action is not None and team == PROVIDER:
        raise Refusal(
            "the payment provider's support can tell you how their side stands, but cannot "
            "change your system; ask them a question instead"
        )
    delay = VENDOR_JOIN_S if team == PROVIDER else JOIN_S
    call = Call(s.now + delay, team, ask, by)
    s.calls.append(call)
    s.calls.sort(key=lambda c: c.due)
    s.on_join = join_due
    who = "Their support answers" if team == PROVIDER else f"{colleague(team)} joins the call"
    task = f" and will run `{ask}`" if action is not None else ""
    return f"Paged {team}. {who} in about {delay // 60} minutes (at {mmss(call.due)}){task}."


def colleague(team: str) -> str:
    """How a team's on-call is named as a player."""
    return f"{team} support" if team == PROVIDER else f"{team} on-call"


def join_due(s: Session) -> None:
    """Every paged team whose time has come joins now (called by the session's clock)."""
    while s.calls and s.calls[0].due <= s.now:
        call = s.calls.pop(0)
        entry = _joined(s, call)
        s.entries.append(entry)
        s.emit(
            {
                "type": "joined",
                "tick": entry.tick,
                "at": entry.at,
                "player": entry.player,
                "public": f"{entry.player}: {entry.output}",
            }
        )


def _action(ask: str) -> str | None:
    """`ask` when it is a console command that changes the system, else None."""
    try:
        cmd, _ = resolve(split(ask))
    except Refusal:
        return None
    return ask if cmd.mutates else None


def _joined(s: Session, call: Call) -> Entry:
    who = colleague(call.team)
    at, tick = s.now, s.system.t
    if _action(call.ask) is not None:
        cmd, args = resolve(split(call.ask))
        try:
            output, _ = cmd.handler(s, args, who)
        except Refusal as exc:
            text = f"Joined the call, but could not run `{call.ask}`: {exc.reason}"
            return Entry(at, tick, call.ask, "refused", text, None, cmd.name, False, who)
        text = f"Joined the call and ran `{call.ask}`: {output}"
        return Entry(at, tick, call.ask, "act", text, None, cmd.name, cmd.mutates, who)
    text = "Joined the call. From our side: " + status(s, call.team)
    asked = f"escalate {call.team} {call.ask}".strip()
    return Entry(at, tick, asked, "meta", text, None, "escalate", False, who)


def status(s: Session, team: str) -> str:
    """What a team's on-call reports about their service now: its line of the system map, and
    the last change anyone made to it."""
    lines = views.system_map(s).splitlines()
    key = {
        "api": "api ",
        DATABASE: "postgres ",
        PROVIDER: "payment provider ",
    }.get(team, f"workers {team} ")
    if team == PLATFORM:
        mine = [ln for ln in lines if ln.startswith(("workers ", "cache ", "spend "))]
    else:
        mine = [ln for ln in lines if ln.startswith(key)]
    said = "; ".join(" ".join(ln.split()) for ln in mine)
    if team == DATABASE:
        said += _lock_waits(s)
    if team == PROVIDER:
        return said + "."
    targets = {"api": {"api"}, DATABASE: {"postgres", "ledger"}}.get(
        team, set(s.system.pools) | {"cache", "broker"} if team == PLATFORM else {team}
    )
    changes = [c for c in s.system.changes if c.target in targets]
    if not changes:
        return said + ". No change of ours on record."
    c = changes[-1]
    what = f"{c.before} -> {c.after}" if c.before else c.after
    return f"{said}. Last change: {c.kind} {c.target} {what} at {mmss(c.tick - s.page_tick)} by {c.author}."


def _lock_waits(s: Session) -> str:
    """What the database's on-call says of its lock queue: how many wait, and behind whom."""
    acts = views.db_sessions(s)
    waiting = [a for a in acts if a.waiting]
    if not waiting:
        return "; no session waits for a lock"
    by_pid = {a.pid: a for a in acts}
    head = waiting[0]
    while head.blocked_by and head.blocked_by[0] in by_pid:
        head = by_pid[head.blocked_by[0]]
    return (
        f"; {count(len(waiting), 'session')} wait for a lock, at the head of the queue pid "
        f"{head.pid} ({head.user}, {mmss(int(head.runtime_s))}): {head.query}"
    )
