"""`dojo play`: the full-screen game (imported lazily, so no other command loads textual),
the line console, and resuming an interrupted session."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from oncall_dojo.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    add_dirs_option,
    add_player_options,
    check_dirs,
    err,
    extra_dirs,
    load_incident,
    player_name,
    reading,
    recorder,
    session_id,
    usage,
)


def cmd_play(args: argparse.Namespace) -> int:
    import secrets

    from oncall_dojo.incident.packs import discover

    tui = not args.console and sys.stdin.isatty() and sys.stdout.isatty()
    check_dirs(args)
    discover(extra_dirs(args))  # an id in two files is an error before anything starts
    if args.resume is not None:
        return _resume(args, tui)
    if tui:
        from oncall_dojo.tui import run  # lazily: headless commands never import textual

        factory = None if args.no_record else (lambda: recorder(args, "play"))
        return run(args.incident, args.seed, extra_dirs(args), play_log=factory,
                   best_scores=lambda: _best_scores(args))  # fmt: skip
    from oncall_dojo.game.console import run_console

    seed = args.seed
    inc = None
    if args.incident:
        seed = secrets.randbelow(1_000_000) if seed is None else seed
        inc = load_incident(args.incident, args, seed=seed)
    log = None if args.no_record else recorder(args, "play")
    return run_console(inc, seed, extra_dirs(args), out=sys.stdout, inp=sys.stdin, log=log)


def _resume(args: argparse.Namespace, tui: bool = False) -> int:
    from oncall_dojo.game.console import THINK_S, run_console
    from oncall_dojo.store import Recorder
    from oncall_dojo.store.events import verify_chain
    from oncall_dojo.store.replay import rebuild

    store = reading()
    if args.resume:
        sid = session_id(store, args.resume)
    else:
        rows = store.unfinished(player_name(args)) if store is not None else []
        if not rows:
            return usage(
                f"no unfinished session for player {player_name(args)!r} (`dojo history` lists sessions)"
            )
        sid = rows[0]["session"]
    row = store.session(sid)
    if row["ended_at"] is not None:
        return usage(f"session {sid} has finished ({row['score']}/100); see `dojo report {sid}`")
    events = store.events(sid)
    problems = verify_chain(events)
    if problems:
        return usage(
            f"cannot resume session {sid}: its record does not verify ({problems[0].message})"
        )
    inc = load_incident(row["incident"], args)
    if inc.version != row["incident_version"]:
        return usage(
            f"session {sid} played {inc.id} version {row['incident_version']}; the incident is now version {inc.version}"
        )
    rb = rebuild(inc, events)
    if rb.mismatches:
        err(f"cannot resume session {sid} exactly: " + "; ".join(rb.mismatches[:3]))
        return EXIT_FAIL
    log = Recorder(store, row["player"], row["mode"], head=store.head(sid))
    if rb.quit:
        log.started(rb.session, THINK_S)
        print(rb.session.finish().render())
        return EXIT_OK
    if tui:
        from oncall_dojo.tui import run

        return run(None, None, extra_dirs(args), resume=(rb.session, log))
    return run_console(
        None, None, extra_dirs(args), out=sys.stdout, inp=sys.stdin, log=log, session=rb.session
    )


def _best_scores(args: argparse.Namespace) -> dict[tuple[str, int], tuple[int, str]]:
    """The player's best scores, or nothing if the record cannot be read (the game plays on)."""
    from oncall_dojo.store import StoreError

    try:
        store = _reading_quietly()
        return store.best_scores(player_name(args)) if store is not None else {}
    except (StoreError, OSError):
        return {}


def _reading_quietly() -> Any:
    from oncall_dojo.store.records import open_for_reading

    return open_for_reading()


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser(
        "play", help="play an incident (the default; the full-screen game, or --console)"
    )
    sp.add_argument("incident", nargs="?", help="incident id or path (omit to choose)")
    sp.add_argument("--seed", type=int, default=None, help="seed (default: random)")
    sp.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="SESSION",
        help="continue a session that was interrupted (default: your latest)",
    )
    sp.add_argument(
        "--console",
        action="store_true",
        help="play at the line console instead of the full-screen game",
    )
    add_player_options(sp)
    add_dirs_option(sp)
    sp.set_defaults(func=cmd_play)
