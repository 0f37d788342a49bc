"""Starting a team game, resuming one after the host died, and serving it until it ends.

A team game is one session in the host's database (mode `team`): its start event keeps
each seat's role and token digest and each role's powers, so `dojo host --resume`
rebuilds the game from the record alone. The tokens themselves (needed only to print the
links again) are kept beside the database in `hosts/SESSION.json`, readable by its owner
only, never in the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncall_dojo.game.injects import schedule
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.net.host import Host
from oncall_dojo.net.replica import command_step, inject_step
from oncall_dojo.net.roles import Roles, Seat, new_seats
from oncall_dojo.net.server import Limits, Server
from oncall_dojo.net.web import WebPlay
from oncall_dojo.store.events import TEAM_MODE, Event, verify_chain
from oncall_dojo.store.recorder import Recorder
from oncall_dojo.store.records import Store
from oncall_dojo.store.replay import rebuild


class HostError(Exception):
    """A team game that cannot be started or resumed; the text says why."""


def _tokens_file(store: Store | None, sid: str) -> Path | None:
    if store is None:
        return None
    return store.path.parent / "hosts" / f"{sid}.json"


def save_tokens(store: Store | None, sid: str | None, seats: list[Seat]) -> None:
    """Keep the tokens (for printing the links again on resume), owner-readable only."""
    path = _tokens_file(store, sid) if sid else None
    if path is None:
        return
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"tokens": [s.token for s in seats]}, f)


def _load_tokens(store: Store | None, sid: str, seats: list[Seat]) -> None:
    path = _tokens_file(store, sid)
    if path is None or not path.exists():
        return
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        tokens = json.loads(path.read_text(encoding="utf-8"))["tokens"]
        for seat, token in zip(seats, tokens, strict=False):
            if isinstance(token, str) and seat.admits(token):
                seat.token = token


def start_data(seats: list[Seat], roles: Roles, speed: float) -> dict[str, Any]:
    return {
        "seats": [{"role": s.role, "token_sha256": s.token_digest} for s in seats],
        "powers": {r: sorted(ps) for r, ps in roles.powers.items()},
        "speed": speed,
    }


def new_game(
    incident: Incident,
    seed: int,
    seat_roles: list[str],
    roles: Roles,
    *,
    host_name: str,
    store: Store | None,
    speed: float = 1.0,
    warn: Callable[[str], None] | None = None,
) -> Host:
    """A fresh team game, recorded as a new `team` session; the host sits in seat 0 as the
    facilitator."""
    seats = new_seats(seat_roles)
    session = Session(incident, seed)
    session.player = host_name
    schedule(session)  # the incident's timed injects fire on their own in a team game
    kw: dict[str, Any] = {} if warn is None else {"warn": warn}
    recorder = Recorder(
        store,
        host_name,
        TEAM_MODE,
        start_extra=start_data(seats, roles, speed),
        unavailable=None if store is not None else "no database",
        **kw,
    )
    recorder.started(session, 0)
    save_tokens(store, recorder.session_id, seats)
    host = Host(session, seats, roles, recorder, speed=speed)
    if seats[0].token is not None:
        host.join(seats[0].token, host_name)
    return host


def resume_game(
    store: Store,
    sid: str,
    load: Callable[[str], Incident],
    *,
    warn: Callable[[str], None] | None = None,
    mode: str = TEAM_MODE,
    make: Callable[[Session, list[Seat], Roles, Recorder, float], Host] | None = None,
) -> Host:
    """The team game `sid`, rebuilt from its record where it stood when the host died.
    `mode` and `make` resume another hosted kind (`net.interview`: its own host class)."""
    head, events = store.resume_head(sid)
    problems = verify_chain(events)
    if problems:
        raise HostError(f"cannot resume {sid}: its record does not verify ({problems[0].message})")
    start = events[0].data
    if start.get("mode") != mode:
        if mode != TEAM_MODE:
            raise HostError(f"session {sid} is not {mode_name(mode)}")
        raise HostError(f"session {sid} is not a team game (`dojo play --resume` continues it)")
    if any(e.type == "finished" for e in events):
        raise HostError(f"session {sid} is over; `dojo report {sid}` has its report")
    incident = load(str(start["incident"]))
    if incident.version != start.get("incident_version"):
        raise HostError(
            f"session {sid} played {incident.id} version {start.get('incident_version')}; "
            f"the incident is now version {incident.version}"
        )
    rb = rebuild(incident, events)
    if rb.mismatches:
        raise HostError(f"cannot resume {sid} exactly: " + "; ".join(rb.mismatches[:3]))
    seats = [Seat(i, str(s["role"]), str(s["token_sha256"])) for i, s in enumerate(start["seats"])]
    roles = Roles({r: frozenset(ps) for r, ps in dict(start["powers"]).items()})
    _load_tokens(store, sid, seats)
    kw: dict[str, Any] = {} if warn is None else {"warn": warn}
    recorder = Recorder(store, str(start["player"]), mode, head=head, **kw)
    if start.get("injects"):
        schedule(rb.session)  # the timed injects not fired before the host died
    recorder.started(rb.session, 0)
    speed = float(start.get("speed", 1.0))
    if make is None:
        host = Host(rb.session, seats, roles, recorder, speed=speed)
    else:
        host = make(rb.session, seats, roles, recorder, speed)
    restore(host, events)
    if rb.quit:
        host.finishing = True  # the facilitator had ended it: measure the outcome now
    return host


def mode_name(mode: str) -> str:
    return "a team game" if mode == TEAM_MODE else f"an {mode}" if mode[0] in "aeiou" else mode


def restore(host: Host, events: list[Any]) -> None:
    """Put a resumed game's team state back from its record (the session itself is rebuilt
    by `store.replay.rebuild`): who sits where in which role, the feed, the talk, the notes,
    the speed and pause."""
    bindings: dict[int, tuple[str, str]] = {}
    by_name: dict[str, int] = {}
    entries = iter(host.session.entries)
    for ev in events:
        d = ev.data
        if ev.type == "join":
            bindings[int(d["seat"])] = (str(d["player"]), str(d["role"]))
            by_name[str(d["player"])] = int(d["seat"])
        elif ev.type == "role" and str(d.get("player")) in by_name:
            seat = by_name[str(d["player"])]
            bindings[seat] = (bindings[seat][0], str(d["role"]))
        elif ev.type == "command":
            entry = next(entries, None)
            if entry is None:
                continue
            host.feed.append(
                p.Line(
                    seq=len(host.feed),
                    at=entry.at,
                    player=entry.player,
                    command=entry.command,
                    kind=entry.kind,
                    refused=entry.output if entry.kind == "refused" else "",
                )
            )
            host.outputs.append(entry.output)
            host.seatfeed.steps.append(command_step(entry))
        elif ev.type == "inject":
            host.seatfeed.steps.append(inject_step({**d, "at": ev.at, "tick": ev.tick}))
        elif ev.type == "say":
            host.said.append(
                p.Said(at=ev.at, player=str(d["player"]), text=str(d["text"]), kind=d["kind"])
            )
        elif ev.type == "facilitator":
            action = d.get("action")
            if action == "note":
                host.notes.append((ev.at, str(d["player"]), str(d["text"])))
            elif action == "speed":
                host.speed = float(d["speed"])
            elif action in ("pause", "resume"):
                host.paused = action == "pause"
    host.seat_players(bindings)


def latest_team_session(store: Store, player: str, mode: str = TEAM_MODE) -> str | None:
    rows = [r for r in store.unfinished(player) if r.get("mode") == mode]
    return str(rows[0]["session"]) if rows else None


@dataclass
class Served:
    host: Host
    server: Server
    links: list[tuple[str, str, str | None]]
    """(role, link, player already seated) for each seat."""
    browser_links: list[tuple[str, str]] = field(default_factory=list)
    """(role, page) for each player's seat whose token this machine keeps, with `web`."""
    web: Any = None
    """The seats' screens (`net.web.WebPlay`): relayed terminals, and browser pages."""
    closed: bool = False
    scratch: str | None = None
    """A private directory (the Unix socket, the browser apps' log), removed at the end."""


async def open_game(
    host: Host,
    address: str = "127.0.0.1",
    port: int = 8765,
    ssl_context: ssl.SSLContext | None = None,
    limits: Limits | None = None,
    web: bool = False,
) -> Served:
    """Serve `host` on `address:port`, with each player's seat's screen for `dojo join` in a
    terminal (the relay) and, with `web`, as a browser page too (textual-serve); the seats'
    app processes join through a private Unix socket."""
    unix_path = None
    server = Server(host, limits)
    scratch = tempfile.mkdtemp(prefix="dojo-web-")  # 0700
    if hasattr(socket, "AF_UNIX") and len(scratch) < 90:
        unix_path = os.path.join(scratch, "host.sock")
    play = WebPlay(host, server.link, unix_path, os.path.join(scratch, "apps.log"), pages=web)
    server.extra_routes = play.add_routes
    if web:
        server.web_path = play.page_path
    try:
        await server.start(address, port, ssl_context, unix_path)
    except BaseException:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    links = [
        (s.role, server.link(s.token) if s.token else "(link not kept on this machine)", s.player)
        for s in host.seats
    ]
    pages = [
        (s.role, page)
        for s in host.seats
        if s.token and s.role != "facilitator" and (page := server.browser_link(s.token))
    ]
    return Served(host, server, links, pages, play, scratch=scratch)


async def close_game(served: Served) -> None:
    """Stop serving: the browser pages' apps, the clients' sockets, the scratch directory
    (once: a second call does nothing)."""
    if served.closed:
        return
    served.closed = True
    try:
        if served.web is not None:
            await served.web.close()
        await served.server.stop()
    finally:
        if served.scratch is not None:
            shutil.rmtree(served.scratch, ignore_errors=True)


async def serve(served: Served, linger_s: float = 3.0) -> p.Finished:
    """Run the game's clock until it is over, tell everyone the outcome, then close."""
    try:
        result = await served.host.run()
        await asyncio.sleep(linger_s)  # let the clients read the outcome
        return result
    finally:
        await close_game(served)


__all__ = [
    "Event",
    "HostError",
    "Served",
    "close_game",
    "latest_team_session",
    "new_game",
    "open_game",
    "resume_game",
    "serve",
]
