"""`dojo interview`: interview exercises, and the interviewer's records of them.

    dojo interview INCIDENT [--seed N | --loop NAME] [--minutes 45]   run one
    dojo interview --loop NAME                                        the loop's incident
    dojo interview --resume [SESSION]                                 after the host died
    dojo interview warmup                                             the tutorial, not scored
    dojo interview list [--json]
    dojo interview mark CANDIDATE LINE MARK [NOTE...]                 a rubric line, 1 to 4
    dojo interview mark CANDIDATE words right|partly|wrong [NOTE...]  the diagnosis in words
    dojo interview scorecard CANDIDATE [--format md|json|html] [-o FILE]
    dojo interview export CANDIDATE
    dojo interview delete CANDIDATE --yes

CANDIDATE is the candidate's name as they joined, or the interview's session id (a unique
prefix will do). The network package loads only when an exercise runs.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable
from typing import Any

from oncall_dojo.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    SEED_MAX,
    add_dirs_option,
    check_dirs,
    err,
    extra_dirs,
    load_incident,
    player_name,
    reading,
    seed_arg,
    usage,
)
from oncall_dojo.cli.team import listen_arg, speed_arg

WORDS = ("list", "export", "delete", "mark", "scorecard", "warmup")

INTERVIEWER_HELP = """Interviewer console: note TEXT (private, on the timeline), nudge [TEXT],
hint, pause, resume, extend N (minutes), mark LINE 1-4 [NOTE], end, who, links. The candidate's commands appear below."""


def minutes_arg(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of minutes") from None
    if not 1 <= v <= 240:
        raise argparse.ArgumentTypeError("the time box is 1 to 240 minutes")
    return v


def cmd_interview(args: argparse.Namespace) -> int:
    what = args.what
    if what == "list":
        return _list(args)
    if what in ("export", "delete", "mark", "scorecard"):
        if not args.rest:
            return usage(f"dojo interview {what} CANDIDATE: whose? (`dojo interview list`)")
        return {"export": _export, "delete": _delete, "mark": _mark, "scorecard": _scorecard}[what](
            args
        )
    if args.rest:
        return usage(f"dojo interview: unexpected {' '.join(args.rest)!r}")
    if args.resume is not None:
        if what or args.loop or args.seed is not None or args.minutes is not None:
            return usage(
                "--resume continues an interview as it was recorded: no incident, --loop, "
                "--seed or --minutes"
            )
        return _resume(args)
    if what == "warmup":
        return _run(args, warmup=True)
    return _run(args)


# -- running one ---------------------------------------------------------------------------
def _run(args: argparse.Namespace, warmup: bool = False) -> int:
    import asyncio
    import secrets

    from oncall_dojo.incident.packs import find
    from oncall_dojo.net.interview import file_digest, new_interview
    from oncall_dojo.store import Store, StoreError
    from oncall_dojo.store.interviews import LoopChanged, get_loop, pin_loop

    check_dirs(args)
    if args.rubric:
        _rubric(args)  # a broken rubric file is told now, not when the first mark is given
    if args.seed is not None and args.loop:
        return usage("--seed and --loop: a loop fixes the seed for all its candidates; give one")
    name = player_name(args)
    try:
        store = None if warmup else Store.open()
    except StoreError as exc:
        return usage(str(exc))
    minutes = args.minutes
    ident: str | None
    if warmup:
        from oncall_dojo.tui.tutorial import INCIDENT, SEED

        ident, seed, loop_name = INCIDENT, SEED, None
        minutes = minutes or 15
    else:
        loop_name = args.loop
        loop = get_loop(store, loop_name) if store is not None and loop_name else None
        ident = args.what or (loop["incident"] if loop else None)
        if not ident:
            return usage("dojo interview INCIDENT: which incident? (`dojo list` shows them)")
        if loop is not None:
            seed = int(loop["seed"])
            if minutes is not None and minutes != loop["minutes"]:
                return usage(
                    f"loop {loop_name!r} gives every candidate {loop['minutes']} minutes; "
                    "drop --minutes (or start another loop)"
                )
            minutes = int(loop["minutes"])
        else:
            seed = secrets.randbelow(1_000_000) if args.seed is None else args.seed
            minutes = minutes or 45
        try:
            path = find(ident, extra_dirs(args))
        except LookupError:
            load_incident(ident, args)  # says which incidents there are
            return EXIT_FAIL
        if loop_name and store is not None:
            base = load_incident(ident, args)
            try:
                pin_loop(
                    store,
                    loop_name,
                    incident=base.id,
                    version=base.version,
                    sha256=file_digest(path),
                    seed=seed,
                    minutes=minutes,
                )
            except LoopChanged as exc:
                return usage(str(exc))
    inc = load_incident(ident, args, seed=seed)
    host = new_interview(
        inc,
        seed,
        host_name=name,
        store=store,
        minutes=minutes,
        loop=loop_name,
        rubric=args.rubric,
        interviewers=args.interviewers,
        speed=args.speed,
        warmup=warmup,
    )
    return asyncio.run(_serve(host, args, warmup))


def _resume(args: argparse.Namespace) -> int:
    """`dojo interview --resume [SESSION]`: the interview whose host died, from its record
    (the latest unfinished one this interviewer hosted, without SESSION)."""
    import asyncio

    from oncall_dojo.cli.common import session_id
    from oncall_dojo.net.hosting import HostError, latest_team_session
    from oncall_dojo.net.interview import resume_interview
    from oncall_dojo.store import Store, StoreError
    from oncall_dojo.store.events import INTERVIEW_MODE

    check_dirs(args)
    name = player_name(args)
    try:
        store = Store.open()
    except StoreError as exc:
        return usage(str(exc))
    sid = (
        session_id(store, args.resume)
        if args.resume
        else latest_team_session(store, name, INTERVIEW_MODE)
    )
    if sid is None:
        return usage(f"no unfinished interview hosted by {name!r} to resume")
    try:
        host = resume_interview(store, sid, lambda ident: load_incident(ident, args))
    except HostError as exc:
        return usage(str(exc))
    return asyncio.run(_serve(host, args, False, resumed=True))


async def _serve(host: Any, args: argparse.Namespace, warmup: bool, resumed: bool = False) -> int:
    import asyncio

    from oncall_dojo.net.hosting import open_game, serve

    address, port = args.listen
    try:
        served = await open_game(host, address, port, None, web=not args.no_web)
    except OSError as exc:
        err(f"cannot listen on {address}:{port}: {exc.strerror or exc}")
        return EXIT_FAIL
    out = sys.stdout
    sid = host.recorder.session_id if host.recorder is not None else None
    kind = "Warm-up (not scored, not recorded)" if warmup else "Interview"
    out.write(f"{kind}: {host.session.incident.title}  (session {sid or 'not recorded'})\n")
    if resumed:
        out.write(
            f"Resumed at {host.session.now // 60:02d}:{host.session.now % 60:02d} of play"
            f"{' (paused)' if host.paused else ''}; the candidate reconnects by themselves "
            "(a browser page: reload it).\n"
        )
    out.write(
        f"Time box: {host.deadline // 60} minutes of play"
        + (f", {host.left_text()} left" if resumed else "")
        + f". Listening on {served.server.scheme}://{address}:{served.server.port}\n\n"
    )
    pages = [page for role, page in served.browser_links if role == "candidate"]
    write_links(out, served)
    out.write("\n" + INTERVIEWER_HELP + "\n\n")
    out.flush()
    you = host.recorder.player if host.recorder is not None else next(iter(host.members), "")
    if not args.no_console and not args.line and sys.stdin.isatty() and sys.stdout.isatty():
        from oncall_dojo.tui.host_app import HostApp
        from oncall_dojo.tui.screens.interviewer import InterviewerScreen

        game = asyncio.create_task(serve(served, linger_s=args.linger))
        app = HostApp(
            host,
            you,
            links=list(served.links),
            pages=[("candidate", pg) for pg in pages],
            screen=InterviewerScreen,
        )
        app.title = "oncall-dojo: interviewer"
        await app.run_async()
        if not host.over:
            host.end(you)
        result = await game
    else:
        from oncall_dojo.cli.team import _printer

        host.listeners.append(_printer(out))
        console = (
            None
            if args.no_console
            else asyncio.create_task(_console(host, you, out, lambda: write_links(out, served)))
        )
        try:
            result = await serve(served, linger_s=args.linger)
        finally:
            if console is not None:
                console.cancel()
    if warmup:
        out.write("\nThe warm-up is over (not scored, not recorded).\n")
        out.flush()
        return EXIT_OK
    out.write(f"\nOutcome {result.score}/100, grade {result.grade}\n")
    if sid:
        out.write(
            f"Recorded as interview {sid}. Mark the rubric and print the scorecard:\n"
            f"  dojo interview mark {sid} LINE 1-4 [NOTE]\n"
            f"  dojo interview scorecard {sid} --format html -o scorecard.html\n"
        )
    out.flush()
    if host.recorder is not None and host.recorder.store is not None and not host.recorder.keeping:
        err(f"the record was not kept: {host.recorder.broken}")
        return EXIT_FAIL
    return EXIT_OK


def write_links(out: Any, served: Any) -> None:
    """The candidate's browser page and terminal link (and who took it), then another
    interviewer's."""
    cand = [(link, who) for role, link, who in served.links if role == "candidate"]
    pages = [page for role, page in served.browser_links if role == "candidate"]
    out.write("Candidate (send them one of these; nothing to install for the browser):\n")
    for page in pages:
        out.write(f"  browser:   {page}\n")
    for link, who in cand:
        out.write(f"  terminal:  dojo join {link} --as {shlex.quote(who) if who else 'NAME'}\n")
    others = [link for role, link, who in served.links[1:] if role == "interviewer"]
    if others:
        out.write("\nAnother interviewer:\n")
        for link in others:
            out.write(f"  dojo join {link} --as NAME\n")


async def _console(host: Any, you: str, out: Any, links: Callable[[], None] | None = None) -> None:
    """The interviewer's line console (stdin): private notes, nudges, hints, the clock, and
    `links` to print the candidate's links again."""
    from oncall_dojo.cli.team import line_console

    await line_console(
        host,
        you,
        out,
        ("pause", "resume", "hint", "end", "note", "nudge", "extend", "mark"),
        unknown="not an interviewer action: {word}",
        echo=lambda word, shown: shown != "done",
        links=links,
    )


# -- the records ---------------------------------------------------------------------------
def _store_or_exit(write: bool = False) -> Any:
    store = reading(write=write)
    if store is None:
        raise SystemExit(usage("no interviews recorded yet"))
    return store


def _chosen(store: Any, who: str) -> list[dict[str, Any]]:
    """The interviews of candidate `who` (a name), or the one whose session id starts so."""
    from oncall_dojo.store import SessionNotFound
    from oncall_dojo.store.interviews import interviews

    rows = interviews(store, candidate=who)
    if rows:
        return rows
    try:
        sid = store.resolve(who)
    except SessionNotFound:
        raise SystemExit(
            usage(f"no interview of a candidate {who!r} (`dojo interview list` shows them)")
        ) from None
    rows = interviews(store, candidate=sid)
    if not rows:
        raise SystemExit(usage(f"session {sid} is not an interview"))
    return rows


def _list(args: argparse.Namespace) -> int:
    from oncall_dojo.sim.text import shown
    from oncall_dojo.store.interviews import interviews

    store = reading()
    rows = interviews(store) if store is not None else []
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        print("No interviews recorded yet.")
        return EXIT_OK
    for r in rows:
        state = (
            "unfinished"
            if r["ended_at"] is None
            else f"{r['score']}/100 {r['grade']} {r['outcome']}"
        )
        rubric = r["marks"].get("lines") or {}
        marked = f"rubric {len(rubric)} line(s)" if rubric else "rubric not marked"
        loop = f"loop {r['loop']}" if r["loop"] else "no loop"
        print(
            f"{r['session']}  {r['started_at']}  {shown(r['candidate'] or '(nobody joined)'):<20} "
            f"{r['incident']} v{r['incident_version']}  {shown(loop)}  {state}  {marked}"
        )
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    """Everything kept about a candidate, for a data-protection request: each interview's
    row and marks, and its session's full record."""
    from oncall_dojo.sim.text import json_safe
    from oncall_dojo.store.exchange import export

    store = _store_or_exit()
    rows = _chosen(store, args.rest[0])
    doc = {
        "format": "oncall-dojo/interview-export",
        "version": 1,
        "candidate": args.rest[0],
        "interviews": rows,
        "sessions": export(store, [r["session"] for r in rows])["sessions"],
    }
    print(json_safe(json.dumps(doc, indent=1, ensure_ascii=False)))
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    from oncall_dojo.store.interviews import delete_session

    store = _store_or_exit(write=True)
    rows = _chosen(store, args.rest[0])
    ids = [r["session"] for r in rows]
    if not args.yes:
        print(
            f"This deletes {len(ids)} interview(s) of {args.rest[0]!r} for good: "
            f"{', '.join(ids)}. Run again with --yes."
        )
        return EXIT_FAIL
    for sid in ids:
        stone = delete_session(store, sid, "dojo interview delete")
        tokens = store.path.parent / "hosts" / f"{sid}.json"
        tokens.unlink(missing_ok=True)
        print(
            f"deleted interview {sid}: {stone['events']} events removed; a tombstone keeps the "
            "id and the chain head (`dojo verify` checks nothing is left)"
        )
    return EXIT_OK


def _rubric(args: argparse.Namespace) -> Any:
    from oncall_dojo.game.rubric import load
    from oncall_dojo.incident.yamlload import YamlModelError

    try:
        return load(args.rubric)
    except YamlModelError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(usage(f"{args.rubric} is not a valid rubric (see above)")) from None
    except OSError as exc:
        raise SystemExit(usage(f"cannot read the rubric: {exc}")) from None


def _mark(args: argparse.Namespace) -> int:
    """`mark CANDIDATE LINE MARK [NOTE...]`, or `mark CANDIDATE words right|partly|wrong
    [NOTE...]`: on the candidate's latest interview (or the session named)."""
    from oncall_dojo.game.rubric import WORDS_MARKS, BadMark, check_mark
    from oncall_dojo.sim.text import clean
    from oncall_dojo.store.interviews import marks, set_marks

    if len(args.rest) < 3:
        return usage(
            "dojo interview mark CANDIDATE LINE 1-4 [NOTE...] "
            "(or: mark CANDIDATE words right|partly|wrong [NOTE...])"
        )
    who, line, value, *note_words = args.rest
    note = clean(" ".join(note_words)).strip()[:2000]
    loaded = _rubric(args)
    store = _store_or_exit(write=True)
    row = _chosen(store, who)[0]
    sid = row["session"]
    data = marks(store, sid)
    by = player_name(args)
    if line == "words":
        if value not in WORDS_MARKS:
            return usage(f"the words are marked {', '.join(WORDS_MARKS)}, not {value!r}")
        data["words"] = {"mark": value, "note": note, "by": by}
        shown = f"the diagnosis in the candidate's words: {value}"
    else:
        try:
            ident, n = check_mark(loaded.rubric, line, value)
        except BadMark as exc:
            return usage(str(exc))
        data.setdefault("lines", {})[ident] = {"mark": n, "note": note, "by": by}
        data["rubric"] = {"name": loaded.rubric.name, "sha256": loaded.sha256}
        shown = f"{loaded.rubric.line(ident).title}: {n} ({loaded.rubric.line(ident).anchor(n)})"
    set_marks(store, sid, data)
    print(f"interview {sid} ({row['candidate']}): {shown}")
    return EXIT_OK


def _scorecard(args: argparse.Namespace) -> int:
    from oncall_dojo.cli.record import _incident_or_none
    from oncall_dojo.game import scorecard as card
    from oncall_dojo.sim.text import json_safe
    from oncall_dojo.store.interviews import scorecard

    loaded = _rubric(args)
    store = _store_or_exit()
    row = _chosen(store, args.rest[0])[0]
    if row["ended_at"] is None:
        return usage(f"interview {row['session']} has not finished: no scorecard yet")
    inc = _incident_or_none(row["incident"], args)
    data = scorecard(store, row["session"], inc, loaded)
    if args.format == "json":
        text = json_safe(json.dumps(data, indent=2, ensure_ascii=False)) + "\n"
    elif args.format == "html":
        text = card.html(data)
    else:
        text = card.markdown(data)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.output} ({args.format})")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser(
        "interview",
        help="run an interview exercise (a candidate, interviewers, sealed answers), "
        "or list, mark, export and delete interview records",
        description=(__doc__ or "").split("\n\n")[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument(
        "what",
        nargs="?",
        metavar="INCIDENT|" + "|".join(WORDS),
        help="the incident to run, or what to do with the records",
    )
    sp.add_argument("rest", nargs="*", metavar="ARG", help=argparse.SUPPRESS)
    sp.add_argument(
        "--seed", type=seed_arg, default=None, help=f"seed, 0 to {SEED_MAX:,} (default: random)"
    )
    sp.add_argument(
        "--loop",
        metavar="NAME",
        help="a hiring loop: its first interview fixes the incident version and seed, and "
        "every later candidate of the loop gets the same exercise",
    )
    sp.add_argument(
        "--minutes",
        type=minutes_arg,
        default=None,
        help="the time box in minutes of play (default 45; warnings at 10 and 2 left)",
    )
    sp.add_argument(
        "--listen",
        type=listen_arg,
        default=("127.0.0.1", 8765),
        metavar="HOST:PORT",
        help="where to listen (default 127.0.0.1:8765; port 0 picks one)",
    )
    sp.add_argument(
        "--interviewers", type=int, default=1, help="seats for more interviewers (default 1)"
    )
    sp.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="SESSION",
        help="continue an interview whose host died (default: your latest unfinished one); "
        "the candidate reconnects by themselves, the time box goes on where it was",
    )
    sp.add_argument("--speed", type=speed_arg, default=1.0, help=argparse.SUPPRESS)
    sp.add_argument("--player", metavar="NAME", help="your name (default: $DOJO_PLAYER)")
    sp.add_argument("--no-web", action="store_true", help="no browser page for the candidate")
    sp.add_argument("--line", action="store_true", help="the line console even in a terminal")
    sp.add_argument("--no-console", action="store_true", help="read no actions from stdin")
    sp.add_argument("--json", action="store_true", help="list: as JSON")
    sp.add_argument("--yes", action="store_true", help="delete: really delete")
    sp.add_argument(
        "--format",
        choices=("md", "json", "html"),
        default="md",
        help="scorecard: Markdown, JSON or HTML (default: md)",
    )
    sp.add_argument("-o", "--output", metavar="FILE", help="scorecard: write to FILE")
    sp.add_argument("--rubric", metavar="FILE", help="a rubric file of your own (YAML)")
    sp.add_argument("--linger", type=float, default=3.0, help=argparse.SUPPRESS)
    add_dirs_option(sp)
    sp.set_defaults(func=cmd_interview)


__all__ = ["add_parsers", "cmd_interview"]
