"""`dojo host` and `dojo join`: team games over the network (imported lazily: the network
package and aiohttp load only for these two commands)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oncall_dojo.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    SEED_MAX,
    add_dirs_option,
    check_dirs,
    err,
    load_incident,
    player_name,
    seed_arg,
    session_id,
    usage,
)

FACILITATOR_HELP = """Facilitator console: pause, resume, speed X, hint, end, note TEXT,
role NAME ROLE, inject ID (or: inject fault KIND FIELD=VALUE..., inject ask FROM "TEXT",
inject away PLAYER [SECONDS]), say TEXT, who, links. Players' commands appear below as they happen."""


def listen_arg(text: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:PORT`)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:8765")
    return host.strip("[]") or "127.0.0.1", int(port)


def speed_arg(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < v <= 120:
        raise argparse.ArgumentTypeError("the speed is above 0 and at most 120")
    return v


def cmd_host(args: argparse.Namespace) -> int:
    import asyncio
    import secrets

    from oncall_dojo.net.hosting import HostError, latest_team_session, new_game, resume_game
    from oncall_dojo.net.roles import DEFAULT_SPEC, SpecError, parse_spec
    from oncall_dojo.net.server import tls_context
    from oncall_dojo.store import Store, StoreError

    check_dirs(args)
    if (args.cert is None) != (args.key is None):
        return usage("--cert and --key go together")
    ssl_ctx = None
    if args.cert is not None:
        try:
            ssl_ctx = tls_context(Path(args.cert), Path(args.key))
        except (OSError, ValueError) as exc:
            return usage(f"cannot use --cert/--key: {exc}")
    address, port = args.listen
    if address not in ("127.0.0.1", "::1", "localhost") and ssl_ctx is None:
        err(
            f"warning: listening on {address} without TLS; tokens travel in clear text "
            "(use --cert/--key, or a TLS reverse proxy: see docs/team-games.md)"
        )
    name = player_name(args)
    try:
        store = None if args.no_record else Store.open()
    except StoreError as exc:
        return usage(str(exc))
    try:
        if args.resume is not None:
            if store is None:
                return usage("--resume needs the record (drop --no-record)")
            sid = (
                session_id(store, args.resume) if args.resume else latest_team_session(store, name)
            )
            if sid is None:
                return usage(f"no unfinished team game hosted by {name!r} to resume")
            host = resume_game(store, sid, lambda ident: load_incident(ident, args))
        else:
            if not args.incident:
                return usage("dojo host INCIDENT: which incident? (`dojo list` shows them)")
            try:
                seat_roles, roles = parse_spec(args.roles or DEFAULT_SPEC)
            except SpecError as exc:
                return usage(str(exc))
            seed = secrets.randbelow(1_000_000) if args.seed is None else args.seed
            inc = load_incident(args.incident, args, seed=seed)
            host = new_game(
                inc, seed, seat_roles, roles, host_name=name, store=store, speed=args.speed
            )
    except HostError as exc:
        return usage(str(exc))
    return asyncio.run(_host(host, address, port, ssl_ctx, args))


async def _host(host: Any, address: str, port: int, ssl_ctx: Any, args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from oncall_dojo.net.hosting import close_game, open_game

    try:
        served = await open_game(host, address, port, ssl_ctx, web=args.web)
    except OSError as exc:
        err(f"cannot listen on {address}:{port}: {exc.strerror or exc}")
        return EXIT_FAIL
    # SIGTERM or SIGINT: stop serving and remove the private folder; the game stays
    # resumable (`dojo host --resume`), as after a crash
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    stopped: list[int] = []

    def stop(sig: int) -> None:
        stopped.append(sig)
        args.signalled = True
        app = getattr(args, "tui", None)
        if app is not None and app.is_running:
            app.exit()  # the full-screen console puts the terminal back, then we stop
        else:
            main.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig)
    try:
        return await _hosting(host, served, address, args)
    except asyncio.CancelledError:
        if not stopped:
            raise
        await close_game(served)
        sid = host.recorder.session_id if host.recorder is not None else None
        err(
            f"stopped by signal {stopped[0]}"
            + (f"; `dojo host --resume {sid}` continues" if sid else "")
        )
        return 128 + stopped[0]
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _hosting(host: Any, served: Any, address: str, args: argparse.Namespace) -> int:
    import asyncio

    from oncall_dojo.net.hosting import serve

    out = sys.stdout
    sid = host.recorder.session_id if host.recorder is not None else None
    out.write(f"Team game: {host.session.incident.title}  (session {sid or 'not recorded'})\n")
    out.write(f"Listening on {served.server.scheme}://{address}:{served.server.port}\n\n")
    write_links(out, served)
    out.write(FACILITATOR_HELP + "\n\n")
    out.flush()
    you = host.recorder.player if host.recorder is not None else None
    you = you or next(iter(host.members), "")
    if not args.no_console and not args.line and sys.stdin.isatty() and sys.stdout.isatty():
        return await _host_tui(host, you, served, args, sid)
    host.listeners.append(_printer(out))
    console = None
    if not args.no_console:
        console = asyncio.create_task(
            _facilitator_console(host, you, out, lambda: write_links(out, served))
        )
    try:
        result = await serve(served, linger_s=args.linger)
    finally:
        if console is not None:
            console.cancel()
    out.write(f"\nScore {result.score}/100, grade {result.grade}\n")
    if sid:
        out.write(f"Recorded as session {sid}: dojo report {sid}\n")
    out.flush()
    if host.recorder is not None and not host.recorder.keeping and sid:
        err(f"results were not kept: {host.recorder.broken}")
        return EXIT_FAIL
    return EXIT_OK


async def _host_tui(
    host: Any, you: str, served: Any, args: argparse.Namespace, sid: str | None
) -> int:
    """The facilitator console full screen, in this event loop beside the server."""
    import asyncio

    from oncall_dojo.net.hosting import serve
    from oncall_dojo.tui.host_app import HostApp  # lazily: only a terminal host loads textual

    game = asyncio.create_task(serve(served, linger_s=args.linger))
    args.tui = app = HostApp(
        host,
        you,
        links=[(role, link, who) for role, link, who in served.links],
        pages=list(served.browser_links),
    )
    await app.run_async()
    args.tui = None
    if getattr(args, "signalled", False):
        game.cancel()
        raise asyncio.CancelledError  # stopped by a signal: the game stays resumable
    if not host.over:
        host.end(you)  # the facilitator left the console: play ends, the outcome is measured
    result = await game
    print(f"Score {result.score:g}/100, grade {result.grade}")
    if sid:
        print(f"Recorded as session {sid}: dojo report {sid} has the team debrief")
    return EXIT_OK


def write_links(out: Any, served: Any) -> None:
    """Every seat's join link (and who took it), then the browser pages, if any."""
    for role, link, who in served.links:
        taken = f"  (taken by {who})" if who else ""
        out.write(f"  {role:<15} {link}{taken}\n")
    out.write("\nPlayers join with:  dojo join LINK --as NAME\n")
    if served.browser_links:
        out.write("\nOr in a browser (nothing to install), one page per seat:\n\n")
        for role, page in served.browser_links:
            out.write(f"  {role:<15} {page}\n")
        out.write("\n")


def _printer(out: Any) -> Any:
    from oncall_dojo.net import protocol as p
    from oncall_dojo.net.client import mmss

    def show(msg: Any, audience: str) -> None:
        if isinstance(msg, p.Line):
            mark = "!" if msg.kind == "refused" else ">"
            out.write(f"[{mmss(msg.at)}] {msg.player} {mark} {msg.command}\n")
        elif isinstance(msg, p.Said):
            out.write(f"[{mmss(msg.at)}] {msg.player or '***'} {msg.kind}: {msg.text}\n")
        else:
            return
        out.flush()

    return show


FACILITATOR_ACTIONS = ("pause", "resume", "speed", "hint", "end", "note", "role", "inject")


async def _facilitator_console(
    host: Any, you: str, out: Any, links: Callable[[], None] | None = None
) -> None:
    await line_console(
        host,
        you,
        out,
        FACILITATOR_ACTIONS,
        unknown=f"not a facilitator action: {{word}} ({FACILITATOR_HELP.splitlines()[0]})",
        echo=lambda word, shown: word in ("hint", "inject"),
        links=links,
    )


async def line_console(
    host: Any,
    you: str,
    out: Any,
    actions: tuple[str, ...],
    unknown: str,
    echo: Callable[[str, str], bool],
    links: Callable[[], None] | None = None,
) -> None:
    """The host's line console on stdin (the facilitator's, the interviewer's): `who`, `say
    TEXT`, `links` (when given: prints the join links again, as the full-screen console's F8
    shows them), and `actions`, each passed to `host.facilitate`; `echo(word, answer)` says
    whether to print the host's answer; `unknown` (with `{word}`) answers anything else."""
    import asyncio

    from oncall_dojo.net.host import Refused

    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return  # no console input (run in the background): the game goes on
        text = line.strip()
        if not text:
            continue
        word, _, arg = text.partition(" ")
        try:
            if word == "who":
                for m in host.roster():
                    out.write(
                        f"  {m.name:<20} {m.role:<15} {'online' if m.online else 'away'} {m.looking}\n"
                    )
            elif word == "say":
                host.say(you, arg)
            elif word == "links" and links is not None:
                links()
            elif word in actions:
                shown = host.facilitate(you, word, arg)
                if echo(word, shown):
                    out.write(f"  {shown}\n")
            else:
                out.write(f"  ! {unknown.format(word=word)}\n")
        except Refused as exc:
            out.write(f"  ! {exc}\n")
        out.flush()


def cmd_join(args: argparse.Namespace) -> int:
    import asyncio
    import os
    import ssl

    from oncall_dojo.net.client import JoinError, parse_link, run_console
    from oncall_dojo.sim.text import clean

    if args.from_env:
        return _join_from_env(os.environ)
    if not args.url:
        return usage("dojo join URL --as NAME: which game? (the link `dojo host` printed)")
    name = clean(args.name or "").strip()
    if not name:
        return usage("dojo join URL --as NAME: who are you?")
    try:
        parse_link(args.url)
    except JoinError as exc:
        return usage(str(exc))
    kw: dict[str, Any] = {"retry_for": args.retry_for}
    if args.cafile:
        kw["ssl_context"] = ssl.create_default_context(cafile=args.cafile)
    if not args.console:
        if sys.stdin.isatty() and sys.stdout.isatty():
            code = _relay(args.url, name, kw)
            if code is not None:
                return code
        else:
            err("not a terminal: playing at the line console")
    try:
        return asyncio.run(run_console(args.url, name, **kw))
    except JoinError as exc:
        err(str(exc))
        return EXIT_FAIL


def _relay(url: str, name: str, kw: dict[str, Any]) -> int | None:
    """The seat's incident screen, drawn on the host, relayed to this terminal in raw mode
    (`net.relay`); None when raw mode is not available here (the caller falls back to the
    line console)."""
    import asyncio
    import os
    import signal

    try:
        import termios
        import tty
    except ImportError:
        err(
            "this terminal cannot be switched to raw mode here (no termios, e.g. on Windows): "
            "playing at the line console, as with --console"
        )
        return None
    from oncall_dojo.net.client import JoinError
    from oncall_dojo.net.relay import RESET, Relay

    fd = sys.stdin.fileno()
    out = sys.stdout.buffer

    def size() -> tuple[int, int]:
        try:
            ts = os.get_terminal_size(sys.stdout.fileno())
        except OSError:
            return 80, 24
        return ts.columns, ts.lines

    relay = Relay(
        url, name, fd, out, size, ssl_context=kw.get("ssl_context"), retry_for=kw["retry_for"]
    )

    async def main() -> str:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        loop.add_signal_handler(signal.SIGWINCH, relay.resized)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, task.cancel)  # the terminal is restored on the way out
        return await relay.run()

    saved = termios.tcgetattr(fd)
    why, code = "", EXIT_OK
    try:
        # TCSANOW, not setraw's default TCSAFLUSH: keys typed while `dojo join` starts are kept
        tty.setraw(fd, termios.TCSANOW)
        why = asyncio.run(main())
    except JoinError as exc:
        why, code = str(exc), EXIT_FAIL
    except (KeyboardInterrupt, asyncio.CancelledError):
        why, code = "stopped", EXIT_FAIL
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        out.write(RESET)
        out.flush()
    print(f"dojo: {why}" if code else f"Left the game ({why}).")
    return code


def _join_from_env(env: Any) -> int:
    """A browser page's app (`dojo host --web` starts it through textual-serve): the seat's
    link, the host's private socket and the player's name come in its environment."""
    from oncall_dojo.net.client import JoinError, parse_link
    from oncall_dojo.net.web import ENV_LINK, ENV_NAME, ENV_SEAT, ENV_SOCKET

    link = env.get(ENV_LINK, "")
    try:
        parse_link(link)
    except JoinError as exc:
        return usage(f"--from-env: {exc}")
    import os

    from oncall_dojo.tui.player_app import PlayerApp

    app = PlayerApp(
        link,
        env.get(ENV_NAME, ""),
        unix_socket=env.get(ENV_SOCKET) or None,
        parent=os.getppid(),  # the host: if it dies, the page's app must not linger
        seat=env.get(ENV_SEAT, ""),
    )
    app.run()
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser("host", help="host a team game day: print join links, run the clock")
    sp.add_argument("incident", nargs="?", help="incident id or path")
    sp.add_argument(
        "--seed", type=seed_arg, default=None, help=f"seed, 0 to {SEED_MAX:,} (default: random)"
    )
    sp.add_argument(
        "--listen",
        type=listen_arg,
        default=("127.0.0.1", 8765),
        metavar="HOST:PORT",
        help="where to listen (default 127.0.0.1:8765, this machine only; port 0 picks one)",
    )
    sp.add_argument(
        "--roles",
        metavar="SPEC",
        help="seats and powers, e.g. 'commander,operations*3,communications,scribe,observer*2' "
        "or 'scribe=investigate+note' (default: commander,operations*2,communications,scribe,observer)",
    )
    sp.add_argument(
        "--speed", type=speed_arg, default=1.0, help="simulated seconds per real second"
    )
    sp.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="SESSION",
        help="continue a team game whose host stopped (default: your latest)",
    )
    sp.add_argument("--cert", metavar="PEM", help="TLS certificate (chain) file")
    sp.add_argument("--key", metavar="PEM", help="TLS private key file")
    sp.add_argument(
        "--player", metavar="NAME", help="your name as facilitator (default: $DOJO_PLAYER)"
    )
    sp.add_argument("--no-record", action="store_true", help="keep no record in the database")
    sp.add_argument(
        "--no-console", action="store_true", help="do not read facilitator actions from stdin"
    )
    sp.add_argument(
        "--line",
        action="store_true",
        help="the facilitator's line console even in a terminal (default there: full screen)",
    )
    sp.add_argument(
        "--web",
        action="store_true",
        help="also serve each player's seat as a browser page (textual-serve): "
        "players with nothing installed join by opening a link",
    )
    sp.add_argument("--linger", type=float, default=3.0, help=argparse.SUPPRESS)
    add_dirs_option(sp)
    sp.set_defaults(func=cmd_host)

    sj = sub.add_parser("join", help="join a hosted team game with a link from `dojo host`")
    sj.add_argument("url", nargs="?", help="the join link (http://HOST:PORT/join/TOKEN)")
    sj.add_argument("--as", dest="name", metavar="NAME", help="your name in the game")
    sj.add_argument("--from-env", action="store_true", help=argparse.SUPPRESS)
    sj.add_argument(
        "--console",
        action="store_true",
        help="the line console (for scripts, tests); without it a terminal gets the incident "
        "screen, drawn on the host and relayed",
    )
    sj.add_argument(
        "--cafile", metavar="PEM", help="trust this CA (a self-signed host certificate)"
    )
    sj.add_argument(
        "--retry-for",
        type=float,
        default=120.0,
        metavar="S",
        help="keep trying to reconnect for this many seconds (default 120)",
    )
    sj.set_defaults(func=cmd_join)
