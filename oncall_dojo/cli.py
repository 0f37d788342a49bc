"""The `dojo` command. Headless commands never import the TUI (or textual).

Exit codes: 0 success, 1 a check or validation failed, 2 bad usage or input
(unknown incident, unreadable file), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from oncall_dojo import __version__

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _err(msg: str) -> None:
    print(f"dojo: {msg}", file=sys.stderr)


def _extra_dirs(args: argparse.Namespace) -> list[Path]:
    return [Path(p) for p in (getattr(args, "incidents", None) or [])]


def _load(ident: str, args: argparse.Namespace, seed: int | None = None) -> Any:
    """An incident by id or path, as `seed` plays it (`vary` picked) when a seed is given."""
    from oncall_dojo.game.validate import load_checked
    from oncall_dojo.incident.packs import discover, find
    from oncall_dojo.incident.yamlload import YamlModelError

    _check_dirs(args)
    try:
        path = find(ident, _extra_dirs(args))
    except LookupError:
        ids = ", ".join(f.path.stem for f in discover(_extra_dirs(args)))
        raise SystemExit(_usage(f"no incident {ident!r}; available: {ids}")) from None
    try:
        inc = load_checked(path)
        return inc if seed is None else inc.for_seed(seed)
    except YamlModelError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(
            _usage(f"{path} is not a valid incident file (see above; `dojo validate` checks it)")
        ) from None


def _check_dirs(args: argparse.Namespace) -> None:
    """Folders given with --incidents must exist."""
    for d in _extra_dirs(args):
        if not d.is_dir():
            raise SystemExit(_usage(f"--incidents {d}: no such folder"))


def _usage(msg: str) -> int:
    _err(msg)
    return EXIT_USAGE


def cmd_list(args: argparse.Namespace) -> int:
    from oncall_dojo.game.validate import load_checked
    from oncall_dojo.incident.packs import scan
    from oncall_dojo.incident.yamlload import YamlModelError

    _check_dirs(args)
    found = scan(_extra_dirs(args))
    rows: list[dict[str, Any]] = []
    for f in found.found:
        pack = None if f.pack is None else str(f.pack)
        try:
            inc = load_checked(f.path)
        except YamlModelError as exc:
            rows.append(
                {
                    "id": f.path.stem,
                    "path": str(f.path),
                    "error": str(exc).splitlines()[0],
                    "bundled": f.bundled,
                    "pack": pack,
                }
            )
            continue
        rows.append({"id": inc.id, "title": inc.title, "difficulty": inc.difficulty, "tags": inc.tags,
                     "summary": inc.summary, "bundled": f.bundled, "pack": pack, "path": str(f.path),
                     "varies": sorted(inc.vary)})  # fmt: skip
    for problem in found.missing:
        _err(f"warning: {problem}")
    for clash in found.clashes:
        _err(clash)
    status = EXIT_USAGE if found.clashes else EXIT_OK
    if args.json:
        print(json.dumps(rows, indent=2))
        return status
    if not rows:
        print("No incidents found.")
        return status
    w = max(len(r["id"]) for r in rows)
    for r in rows:
        if "error" in r:
            print(f"{r['id']:<{w}}  INVALID  {r['error']}")
        else:
            origin = "" if r["bundled"] else "  (yours)"
            print(
                f"{r['id']:<{w}}  {r['difficulty']:<6}  {r['title']}  [{', '.join(r['tags'])}]{origin}"
            )
    return status


def _validation_targets(args: argparse.Namespace) -> list[Path]:
    """PATHs (a folder stands for its incident files) and the files of --incidents folders;
    with neither, every incident `dojo list` would show."""
    from oncall_dojo.incident.packs import discover, incident_files

    _check_dirs(args)
    targets: list[Path] = []
    for raw in args.paths:
        p = Path(raw)
        if p.is_dir():
            targets.extend(incident_files(p))
        else:
            targets.append(p)
    for d in _extra_dirs(args):
        targets.extend(incident_files(d))
    if not args.paths and not args.incidents:
        targets = [f.path for f in discover()]
    return list(dict.fromkeys(targets))


def cmd_validate(args: argparse.Namespace) -> int:
    """Each file for seed 1 and, when it varies, for more seeds (every choice at least once)."""
    from oncall_dojo.game.validate import load_checked
    from oncall_dojo.incident.loader import check_seeds
    from oncall_dojo.incident.yamlload import YamlModelError

    bad = 0
    for p in _validation_targets(args):
        try:
            seeds = check_seeds(load_checked(p))
        except YamlModelError as exc:
            bad += 1
            print(str(exc), file=sys.stderr)
        else:
            print(f"{p}: ok" + (f" (seeds {', '.join(map(str, seeds))})" if seeds else ""))
    return EXIT_FAIL if bad else EXIT_OK


def cmd_reference(args: argparse.Namespace) -> int:
    from oncall_dojo.game.reference import render

    print(render(), end="")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from oncall_dojo.incident.model import incident_json_schema

    print(json.dumps(incident_json_schema(), indent=2))
    return EXIT_OK


def _read_actions(path: str) -> list[str]:
    from oncall_dojo.incident.model import parse_timed

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(_usage(f"cannot read {path}: {exc}")) from None
    lines = []
    for i, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if parse_timed(line) is None:
            raise SystemExit(_usage(f"{path}:{i}:1: expected `MM:SS command`, got {line!r}"))
        lines.append(line)
    return lines


def cmd_run(args: argparse.Namespace) -> int:
    from oncall_dojo.game.session import Session

    inc = _load(args.incident, args, seed=args.seed)
    if args.actions:
        actions = _read_actions(args.actions)
    elif args.reference:
        actions = inc.playthroughs.reference.actions
    elif args.harmful:
        match = [h for h in inc.playthroughs.harmful if h.name == args.harmful]
        if not match:
            return _usage(
                f"no harmful playthrough {args.harmful!r}; have: {', '.join(h.name for h in inc.playthroughs.harmful)}"
            )
        actions = match[0].actions
    else:
        actions = []
    s = Session(inc, args.seed)
    log = None
    if not args.no_record:
        script = (
            "actions:" + Path(args.actions).name
            if args.actions
            else (
                "reference"
                if args.reference
                else (f"harmful:{args.harmful}" if args.harmful else "idle")
            )
        )
        log = _recorder(args, "run", script)
        log.started(s, 0)
    s.run_script(actions)
    result = s.finish()
    if log is not None:
        _err(
            f"recorded as session {log.session_id}"
            if log.keeping
            else f"results were not kept: {log.broken}"
        )
    if args.json:
        from oncall_dojo.game.check import run_json

        print(json.dumps(run_json(s), indent=2))
    else:
        for e in s.entries:
            mark = "!" if e.kind == "refused" else ">"
            print(f"{e.at // 60:02d}:{e.at % 60:02d} {mark} {e.command}")
            if e.kind in ("refused", "act"):
                print("        " + e.output.replace("\n", "\n        "))
        print(result.render())
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from oncall_dojo.game.check import check_incident
    from oncall_dojo.game.session import IncidentBroken
    from oncall_dojo.incident.packs import discover
    from oncall_dojo.incident.vary import describe
    from oncall_dojo.incident.yamlload import YamlModelError

    _check_dirs(args)
    idents = args.incidents_to_check or [f.path.stem for f in discover(_extra_dirs(args))]
    seeds = tuple(args.seeds)
    failed = 0
    for ident in idents:
        inc = _load(ident, args)
        print(f"{inc.id}: ", end="", flush=True)
        try:
            rep = check_incident(inc, seeds)
        except (YamlModelError, IncidentBroken) as exc:
            print("FAILED")
            print(f"  {exc}" if isinstance(exc, IncidentBroken) else str(exc), file=sys.stderr)
            failed += 1
            continue
        cells = []
        for sr in rep.seeds:
            harm = " ".join(f"{n}={r.score}" for n, r in sr.harmful.items())
            picked = f"  [{describe(sr.values)}]" if sr.values else ""
            cells.append(
                f"seed {sr.seed}: reference {sr.reference.score} idle {sr.idle.score} {harm}{picked}"
            )
        print("ok" if rep.ok else "FAILED")
        for c in cells:
            print(f"  {c}")
        if len(rep.seeds) > 1:
            scores = [sr.reference.score for sr in rep.seeds]
            print(f"  reference spread: {min(scores)}-{max(scores)} ({max(scores) - min(scores)})")
        for sr in rep.seeds:
            for p in sr.problems:
                print(f"  seed {sr.seed}: {p}")
        failed += not rep.ok
    return EXIT_FAIL if failed else EXIT_OK


def cmd_play(args: argparse.Namespace) -> int:
    import secrets

    from oncall_dojo.incident.packs import discover

    tui = not args.console and sys.stdin.isatty() and sys.stdout.isatty()
    _check_dirs(args)
    discover(_extra_dirs(args))  # an id in two files is an error before anything starts
    if args.resume is not None:
        return _resume(args, tui)
    if tui:
        from oncall_dojo.tui import run  # lazily: headless commands never import textual

        factory = None if args.no_record else (lambda: _recorder(args, "play"))
        return run(args.incident, args.seed, _extra_dirs(args), play_log=factory,
                   best_scores=lambda: _best_scores(args))  # fmt: skip
    from oncall_dojo.game.console import run_console

    seed = args.seed
    inc = None
    if args.incident:
        seed = secrets.randbelow(1_000_000) if seed is None else seed
        inc = _load(args.incident, args, seed=seed)
    log = None if args.no_record else _recorder(args, "play")
    return run_console(inc, seed, _extra_dirs(args), out=sys.stdout, inp=sys.stdin, log=log)


# ------------------------------------------------------------------ the game's own database
def _player(args: argparse.Namespace) -> str:
    import getpass
    import os

    name = getattr(args, "player", None) or os.environ.get("DOJO_PLAYER")
    if not name:
        try:
            name = getpass.getuser()
        except Exception:
            name = "player"
    return name.strip() or "player"


def _recorder(args: argparse.Namespace, mode: str, script: str | None = None) -> Any:
    """A recorder for a new session; the game plays on (unrecorded) if the file cannot be written."""
    from oncall_dojo.store import Recorder, Store, StoreUnavailable, StoreUnusable

    try:
        store = Store.open()
    except StoreUnusable as exc:
        raise SystemExit(_usage(str(exc))) from None
    except StoreUnavailable as exc:
        return Recorder(None, _player(args), mode, script=script, unavailable=str(exc))
    return Recorder(store, _player(args), mode, script=script)


def _best_scores(args: argparse.Namespace) -> dict[tuple[str, int], tuple[int, str]]:
    """The player's best scores, or nothing if the record cannot be read (the game plays on)."""
    from oncall_dojo.store import StoreError

    try:
        store = _reading_quietly()
        return store.best_scores(_player(args)) if store is not None else {}
    except (StoreError, OSError):
        return {}


def _reading_quietly() -> Any:
    from oncall_dojo.store.records import open_for_reading

    return open_for_reading()


def _reading() -> Any:
    """The store for reading, or None if nothing was recorded yet."""
    from oncall_dojo.store import StoreError
    from oncall_dojo.store.records import open_for_reading

    try:
        return open_for_reading()
    except StoreError as exc:
        raise SystemExit(_usage(str(exc))) from None


def _session_id(store: Any, ident: str) -> str:
    from oncall_dojo.store import SessionNotFound

    if store is None:
        raise SystemExit(_usage(f"no session {ident!r}: nothing has been recorded yet"))
    try:
        return str(store.resolve(ident))
    except SessionNotFound as exc:
        raise SystemExit(_usage(str(exc))) from None


def _incident_or_none(ident: str, args: argparse.Namespace) -> Any:
    from oncall_dojo.game.validate import load_checked
    from oncall_dojo.incident.packs import find
    from oncall_dojo.incident.yamlload import YamlModelError

    try:
        return load_checked(find(ident, _extra_dirs(args)))
    except (LookupError, YamlModelError):
        return None


def _resume(args: argparse.Namespace, tui: bool = False) -> int:
    from oncall_dojo.game.console import THINK_S, run_console
    from oncall_dojo.store import Recorder
    from oncall_dojo.store.events import verify_chain
    from oncall_dojo.store.replay import rebuild

    store = _reading()
    if args.resume:
        sid = _session_id(store, args.resume)
    else:
        rows = store.unfinished(_player(args)) if store is not None else []
        if not rows:
            return _usage(
                f"no unfinished session for player {_player(args)!r} (`dojo history` lists sessions)"
            )
        sid = rows[0]["session"]
    row = store.session(sid)
    if row["ended_at"] is not None:
        return _usage(f"session {sid} has finished ({row['score']}/100); see `dojo report {sid}`")
    events = store.events(sid)
    problems = verify_chain(events)
    if problems:
        return _usage(
            f"cannot resume session {sid}: its record does not verify ({problems[0].message})"
        )
    inc = _load(row["incident"], args)
    if inc.version != row["incident_version"]:
        return _usage(
            f"session {sid} played {inc.id} version {row['incident_version']}; the incident is now version {inc.version}"
        )
    rb = rebuild(inc, events)
    if rb.mismatches:
        _err(f"cannot resume session {sid} exactly: " + "; ".join(rb.mismatches[:3]))
        return EXIT_FAIL
    log = Recorder(store, row["player"], row["mode"], head=store.head(sid))
    if rb.quit:
        log.started(rb.session, THINK_S)
        print(rb.session.finish().render())
        return EXIT_OK
    if tui:
        from oncall_dojo.tui import run

        return run(None, None, _extra_dirs(args), resume=(rb.session, log))
    return run_console(
        None, None, _extra_dirs(args), out=sys.stdout, inp=sys.stdin, log=log, session=rb.session
    )


def cmd_history(args: argparse.Namespace) -> int:
    store = _reading()
    limit = args.limit if args.limit is not None else (None if args.json else 20)
    rows = store.history(player=args.player, limit=limit or None) if store is not None else []
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("No sessions recorded yet.")
        return EXIT_OK
    for r in rows:
        if r["ended_at"] is None:
            status = f"in progress at {r['last_at'] // 60:02d}:{r['last_at'] % 60:02d} (dojo play --resume {r['session']})"
        else:
            status = f"{r['score']:>3}/100 {r['grade']}  {r['outcome']}"
        print(f"{r['session']}  {r['started_at']}  {r['player']:<12} {r['incident']} v{r['incident_version']} "
              f"seed {r['seed']:<6} {r['mode']:<4}  {status}")  # fmt: skip
    return EXIT_OK


def cmd_leaderboard(args: argparse.Namespace) -> int:
    store = _reading()
    if store is None:
        boards: list[tuple[str, int]] = []
    elif args.incident:
        version = args.version
        if version is None:
            inc = _incident_or_none(args.incident, args)
            known = store.versions(args.incident)
            version = inc.version if inc is not None else (known[-1] if known else 1)
        boards = [(args.incident, version)]
    else:
        boards = store.ranked_incidents()
    out = [{"incident": i, "version": v, "rows": store.leaderboard(i, v)} for i, v in boards]
    if args.json:
        print(json.dumps(out[0] if args.incident else out, indent=2))
        return EXIT_OK
    if not any(b["rows"] for b in out):
        print("No ranked sessions yet" + (f" for {args.incident}." if args.incident else "."))
        return EXIT_OK
    for b in out:
        print(f"{b['incident']} (version {b['version']}; best per player, played sessions only)")
        for r in b["rows"]:
            res = "resolved" if r["resolved"] else "not resolved"
            print(
                f"  {r['rank']:>3}. {r['player']:<16} {r['score']:>3}/100 {r['grade']}  {res:<12} seed {r['seed']:<6} {r['session']}"
            )
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from oncall_dojo.store.markdown import render
    from oncall_dojo.store.report import ReportUnavailable, build

    store = _reading()
    sid = _session_id(store, args.session)
    row = store.session(sid)
    try:
        rep = build(row, store.events(sid), _incident_or_none(row["incident"], args))
    except ReportUnavailable as exc:
        return _usage(str(exc))
    print(
        json.dumps(rep, indent=2, ensure_ascii=False) if args.format == "json" else render(rep),
        end="\n" if args.format == "json" else "",
    )
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from oncall_dojo.store.events import canonical, verify_chain
    from oncall_dojo.store.replay import compare_results, rebuild

    store = _reading()
    sid = _session_id(store, args.session)
    row = store.session(sid)
    events = store.events(sid)
    problems = verify_chain(events)
    if problems:
        _err(f"session {sid} does not verify, so it cannot be replayed: {problems[0].message}")
        return EXIT_FAIL
    inc = _load(row["incident"], args)
    if inc.version != row["incident_version"]:
        return _usage(
            f"session {sid} played {inc.id} version {row['incident_version']}; the incident is now version {inc.version}"
        )
    rb = rebuild(inc, events)
    n = sum(e.type == "command" for e in events)
    diffs = list(rb.mismatches)
    if rb.finished is not None:
        replayed = json.loads(canonical(rb.session.finish().to_json()))
        diffs += compare_results(rb.finished.get("result", {}), replayed)
    if diffs:
        print(f"session {sid}: replay DIFFERS from the recording")
        for d in diffs:
            print(f"  {d}")
        return EXIT_FAIL
    if rb.finished is None:
        print(
            f"session {sid}: unfinished; replayed {n} commands to {rb.session.now // 60:02d}:{rb.session.now % 60:02d}, every output the same"
        )
    else:
        print(
            f"session {sid}: replayed {n} commands; same outputs and the same score, {rb.finished['score']}/100 (grade {rb.finished['grade']})"
        )
    return EXIT_OK


def _chosen_sessions(args: argparse.Namespace, what: str) -> tuple[Any, list[str]]:
    """The store and every recorded session with --all, else the SESSION arguments (ids or
    unique prefixes); a usage error when there is nothing to choose."""
    store = _reading()
    if store is None:
        raise SystemExit(_usage("nothing has been recorded yet"))
    ids = (
        [r["session"] for r in store.history()]
        if args.all
        else [_session_id(store, i) for i in args.sessions]
    )
    if not ids:
        raise SystemExit(_usage(f"name {what}, or --all"))
    return store, ids


def cmd_verify(args: argparse.Namespace) -> int:
    store, ids = _chosen_sessions(args, "a SESSION to verify")
    failed = 0
    integrity = store.integrity()
    if integrity != "ok":
        failed += 1
        print(f"{store.path}: SQLite integrity check failed: {integrity}")
    for sid in ids:
        problems = store.verify(sid)
        if problems:
            failed += 1
            print(f"session {sid}: FAILED")
            for p in problems:
                print(f"  {p.message}")
        else:
            row = store.session(sid)
            print(
                f"session {sid}: ok ({row['last_seq'] + 1} events, chain head {row['head_hash'][:16]})"
            )
    return EXIT_FAIL if failed else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from oncall_dojo.store.exchange import export

    store, ids = _chosen_sessions(args, "the SESSIONs to export")
    for sid in ids:
        if store.verify(sid):
            _err(
                f"warning: session {sid} does not verify (`dojo verify {sid}`); an import will reject it"
            )
    print(json.dumps(export(store, ids), indent=1, ensure_ascii=False))
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from oncall_dojo.store import Store, StoreError
    from oncall_dojo.store.exchange import ImportFileError, import_sessions, read_export

    try:
        docs = [read_export(Path(p)) for p in args.files]
        store = Store.open()
    except ImportFileError as exc:
        return _usage(str(exc))
    except StoreError as exc:
        return _usage(str(exc))
    bad = 0
    for path, doc in zip(args.files, docs, strict=True):
        rep = import_sessions(store, doc)
        print(
            f"{path}: {len(rep.added)} added, {len(rep.extended)} extended, {len(rep.present)} already here, {len(rep.rejected)} rejected"
        )
        for sid, why in rep.rejected:
            print(f"  rejected {sid}: {why}")
        bad += not rep.ok
    return EXIT_FAIL if bad else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dojo",
        description="Get paged by a simulated backend that really misbehaves; investigate, fix, and be scored on what happened.",
    )
    p.add_argument("--version", action="version", version=f"oncall-dojo {__version__}")
    sub = p.add_subparsers(dest="command")

    def with_dirs(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--incidents",
            action="append",
            metavar="DIR",
            help="also look for incident files in DIR (repeatable; or set DOJO_INCIDENTS, "
            "or list folders in the config file: see docs/authoring.md)",
        )

    def with_player(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--player",
            metavar="NAME",
            help="who is playing (default: $DOJO_PLAYER, else your user name)",
        )
        sp.add_argument(
            "--no-record",
            action="store_true",
            help="keep no record in the game's database ($DOJO_HOME)",
        )

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
    with_player(sp)
    with_dirs(sp)
    sp.set_defaults(func=cmd_play)

    sp = sub.add_parser("list", help="list incidents")
    sp.add_argument("--json", action="store_true")
    with_dirs(sp)
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser(
        "validate",
        help="validate incident files (a file that varies, for several seeds)",
        description="Validate incident files and report errors as path:line:col: key.path: message. "
        "A file with `vary` is checked for seeds 1-5 and for enough more seeds that every choice "
        "is taken at least once. With no PATH and no --incidents: every incident `dojo list` shows.",
    )
    sp.add_argument(
        "paths", nargs="*", metavar="PATH", help="an incident file, or a folder of them"
    )
    with_dirs(sp)
    sp.set_defaults(func=cmd_validate)

    sp = sub.add_parser(
        "reference",
        help="print the fault and command reference (Markdown, generated from the code)",
    )
    sp.set_defaults(func=cmd_reference)

    sp = sub.add_parser("schema", help="print the JSON Schema of incident files")
    sp.set_defaults(func=cmd_schema)

    sp = sub.add_parser("run", help="play an incident headless and print the outcome")
    sp.add_argument("incident")
    sp.add_argument("--seed", type=int, default=1)
    g = sp.add_mutually_exclusive_group()
    g.add_argument(
        "--actions", metavar="FILE", help="timed commands, one per line: `MM:SS command`"
    )
    g.add_argument(
        "--reference", action="store_true", help="play the incident's reference playthrough"
    )
    g.add_argument(
        "--harmful", metavar="NAME", help="play one of the incident's harmful playthroughs"
    )
    g.add_argument("--idle", action="store_true", help="do nothing (the default)")
    sp.add_argument("--json", action="store_true")
    with_player(sp)
    with_dirs(sp)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser(
        "check", help="prove incidents: reference resolves and beats idle and harmful play"
    )
    sp.add_argument("incidents_to_check", nargs="*", metavar="INCIDENT")
    sp.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    with_dirs(sp)
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("history", help="recorded sessions, newest first")
    sp.add_argument("--player", metavar="NAME", help="only this player's sessions")
    sp.add_argument(
        "--limit", type=int, default=None, help="at most N sessions (default: 20; all with --json)"
    )
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_history)

    sp = sub.add_parser(
        "leaderboard", help="best score per player on an incident (same incident version only)"
    )
    sp.add_argument("incident", nargs="?", help="incident id (omit for every incident)")
    sp.add_argument(
        "--version", type=int, default=None, help="incident version (default: the current one)"
    )
    sp.add_argument("--json", action="store_true")
    with_dirs(sp)
    sp.set_defaults(func=cmd_leaderboard)

    sp = sub.add_parser("report", help="a postmortem-style report of a recorded session")
    sp.add_argument("session", metavar="SESSION", help="session id (or a unique prefix)")
    sp.add_argument("--format", choices=("md", "json"), default="md")
    with_dirs(sp)
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser(
        "replay", help="re-play a recorded session and confirm the same outputs and score"
    )
    sp.add_argument("session", metavar="SESSION")
    with_dirs(sp)
    sp.set_defaults(func=cmd_replay)

    sp = sub.add_parser("verify", help="check recorded sessions' hash chains")
    sp.add_argument("sessions", nargs="*", metavar="SESSION")
    sp.add_argument("--all", action="store_true")
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser(
        "export", help="print recorded sessions as JSON (for `dojo import` elsewhere)"
    )
    sp.add_argument("sessions", nargs="*", metavar="SESSION")
    sp.add_argument("--all", action="store_true")
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser(
        "import", help="merge sessions exported elsewhere (idempotent; chains are verified)"
    )
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp.set_defaults(func=cmd_import)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"play", "list", "validate", "schema", "reference", "run", "check",
                "history", "leaderboard", "report", "replay", "verify", "export", "import"}  # fmt: skip
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help", "--version")):
        argv = ["play", *argv]  # `dojo` and `dojo INCIDENT` play
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    from oncall_dojo.incident.errors import PackError

    try:
        return int(args.func(args))
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    except PackError as exc:
        return _usage(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
