"""`dojo play`: the full-screen game (imported lazily, so no other command loads textual),
the line console, and resuming an interrupted session."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from oncall_dojo.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    SEED_MAX,
    add_dirs_option,
    add_player_options,
    check_dirs,
    err,
    extra_dirs,
    load_incident,
    player_name,
    reading,
    recorder,
    seed_arg,
    session_id,
    usage,
)


def cmd_play(args: argparse.Namespace) -> int:
    import secrets

    from oncall_dojo.incident.packs import discover

    tui = wants_tui(args)
    check_dirs(args)
    discover(extra_dirs(args))  # an id in two files is an error before anything starts
    if args.resume is not None:
        return _resume(args, tui)
    if tui:
        return _run_tui(args, args.incident, args.seed)
    from oncall_dojo.game.console import run_console

    seed = args.seed
    inc = None
    if args.incident:
        seed = secrets.randbelow(1_000_000) if seed is None else seed
        inc = load_incident(args.incident, args, seed=seed)
    log = None if args.no_record else recorder(args, "play")
    code = run_console(
        inc, seed, extra_dirs(args), out=sys.stdout, inp=sys.stdin, log=log, cancel_key=True
    )
    return _kept(log, code)


def wants_tui(args: argparse.Namespace) -> bool:
    """The full-screen game unless --console: in a terminal, or when a web server runs the
    app over pipes (textual-serve sets TEXTUAL_DRIVER, and stdin is then not a TTY)."""
    if args.console:
        return False
    if os.environ.get("TEXTUAL_DRIVER"):
        return True
    return sys.stdin.isatty() and sys.stdout.isatty()


def _resume(args: argparse.Namespace, tui: bool = False) -> int:
    from oncall_dojo.game.console import THINK_S, run_console
    from oncall_dojo.game.injects import schedule
    from oncall_dojo.game.play import finish
    from oncall_dojo.incident.packs import find
    from oncall_dojo.store import Recorder
    from oncall_dojo.store.events import verify_chain
    from oncall_dojo.store.lease import SessionBusy
    from oncall_dojo.store.replay import rebuild

    store = reading(write=True)
    if args.resume:
        sid = session_id(store, args.resume)
    else:
        rows = store.unfinished(player_name(args)) if store is not None else []
        if not rows:
            return usage(
                f"no unfinished session for player {player_name(args)!r} (`dojo history` lists sessions)"
            )
        sid = rows[0]["session"]
    try:  # held until this process ends: a second resume of the session is refused
        head, events = store.resume_head(sid)
    except SessionBusy as exc:
        return usage(f"cannot resume: {exc}")
    row = store.session(sid)
    problems = verify_chain(events)
    if problems:
        return usage(
            f"cannot resume session {sid}: its record does not verify ({problems[0].message})"
        )
    try:
        find(row["incident"], extra_dirs(args))
    except LookupError:
        return usage(
            f"cannot resume session {sid}: it played {row['incident']!r}, which is not among the "
            "incidents found; if its file is in a folder of your own, add --incidents FOLDER"
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
    s = rb.session
    if events[0].data.get("injects"):
        schedule(s)  # the timed injects not fired yet
    if rb.finished is None and (rb.quit or s.declared_resolved_at is not None or s.ended):
        # play was over (quit, resolved or out of time) but the outcome was not measured
        # before the process stopped: measure it now, on the record
        log = Recorder(store, row["player"], row["mode"], head=head)
        log.started(s, THINK_S)
        if tui:
            print("Measuring the outcome to the end of the incident...", flush=True)
        finish(s)
        if not log.keeping:
            err(f"results were not kept: {log.broken}")
            return EXIT_FAIL
    if s.result is not None or rb.finished is not None:  # over: reopens as its debrief
        result = finish(s)
        if tui:
            return _run_tui(args, None, None, resume=(s, None))
        print(result.render())
        print(f"(session {sid} is over; `dojo report {sid}` has the full report)")
        return EXIT_OK
    log = Recorder(store, row["player"], row["mode"], head=head)
    if tui:
        return _run_tui(args, None, None, resume=(s, log))
    code = run_console(
        None,
        None,
        extra_dirs(args),
        out=sys.stdout,
        inp=sys.stdin,
        log=log,
        session=s,
        cancel_key=True,
    )
    return _kept(log, code)


def _run_tui(
    args: argparse.Namespace,
    incident: str | None,
    seed: int | None,
    resume: tuple[Any, Any] | None = None,
    tutorial: bool = False,
) -> int:
    """The full-screen game; each game started from it (`n` from a debrief too) is recorded.
    The picker offers the tutorial to a player with nothing recorded yet."""
    from oncall_dojo.tui import run  # lazily: headless commands never import textual

    factory = None if args.no_record else (lambda: recorder(args, "play"))
    first = incident is None and resume is None and not _played_before(args)
    return run(
        incident,
        seed,
        extra_dirs(args),
        play_log=factory,
        resume=resume,
        best_scores=lambda: _best_scores(args),
        pressure=getattr(args, "pressure", False),
        tutorial=tutorial,
        offer_tutorial=first,
    )


def cmd_tutorial(args: argparse.Namespace) -> int:
    """`dojo tutorial`: the guided first incident, in the full-screen game, recorded."""
    from oncall_dojo.tui.tutorial import INCIDENT, SEED

    if not wants_tui(args):
        err("the tutorial needs a terminal (it is the full-screen game)")
        return EXIT_FAIL
    return _run_tui(args, INCIDENT, SEED, tutorial=True)


def _played_before(args: argparse.Namespace) -> bool:
    """The player has a recorded session (an unreadable record counts as yes: no offer)."""
    from oncall_dojo.store import StoreError

    try:
        store = _reading_quietly()
        return store is not None and bool(store.history(player_name(args), limit=1))
    except (StoreError, OSError):
        return True


def _kept(log: Any, code: int) -> int:
    """A console game whose record failed exits 1 (the warning was shown when it failed)."""
    if log is not None and not log.keeping and code == EXIT_OK:
        err(f"results were not kept: {log.broken}")
        return EXIT_FAIL
    return code


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
    sp.add_argument(
        "--seed", type=seed_arg, default=None, help=f"seed, 0 to {SEED_MAX:,} (default: random)"
    )
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
    sp.add_argument(
        "--pressure",
        action="store_true",
        help="keep the clock running while a dialog, the help or the palette is open "
        "(by default it stops until you close it)",
    )
    add_player_options(sp)
    add_dirs_option(sp)
    sp.set_defaults(func=cmd_play)

    sp = sub.add_parser(
        "tutorial", help="a guided first incident (about 5 minutes; recorded like any game)"
    )
    sp.add_argument(
        "--pressure", action="store_true", help="keep the clock running while a dialog is open"
    )
    sp.set_defaults(func=cmd_tutorial, console=False)
    add_player_options(sp)
    add_dirs_option(sp)
