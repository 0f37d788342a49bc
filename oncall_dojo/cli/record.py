"""Commands on the record of played sessions: history, leaderboard, report, replay,
verify, export and import."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from oncall_dojo.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    add_dirs_option,
    err,
    extra_dirs,
    load_incident,
    reading,
    session_id,
    usage,
)


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """A row whose text can be printed: control characters as visible escapes."""
    from oncall_dojo.sim.text import shown

    return {k: shown(v) if isinstance(v, str) else v for k, v in row.items()}


def cmd_history(args: argparse.Namespace) -> int:
    store = reading()
    limit = args.limit if args.limit is not None else (None if args.json else 20)
    rows = store.history(player=args.player, limit=limit or None) if store is not None else []
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("No sessions recorded yet.")
        return EXIT_OK
    table = []
    for r in map(_shown, rows):
        if r["ended_at"] is None:
            again = "host" if r.get("mode") == "team" else "play"
            status = f"unfinished at {r['last_at'] // 60:02d}:{r['last_at'] % 60:02d} (dojo {again} --resume {r['session']})"
        else:
            status = f"{r['score']:>3}/100 {r['grade']}  {r['outcome']}"
        table.append(
            [
                r["session"],
                r["started_at"],
                r["player"],
                f"{r['incident']} v{r['incident_version']}",
                f"seed {r['seed']}",
                r["mode"],
                status,
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:  # each column as wide as its widest value, the status last
        print("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]))
    return EXIT_OK


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from oncall_dojo.incident.packs import current_ids

    store = reading()
    boards: list[tuple[str, int, list[str]]] = []
    if store is None:
        pass
    elif args.incident:
        inc = _incident_or_none(args.incident, args)
        names = inc.names if inc is not None else [args.incident]
        version = args.version
        if version is None:
            known = store.versions(names)
            version = inc.version if inc is not None else (known[-1] if known else 1)
        boards = [(names[0], version, names)]
    else:  # sessions recorded under a former id count for the incident's id now
        now = current_ids(extra_dirs(args))
        latest: dict[str, int] = {}
        recorded: dict[str, list[str]] = {}
        for name, v in store.ranked_incidents():
            ident = now.get(name, name)
            latest[ident] = max(v, latest.get(ident, v))
            recorded.setdefault(ident, []).append(name)
        boards = [(i, latest[i], recorded[i]) for i in sorted(latest)]
    out = []
    for i, v, n in boards:
        ranked, left_out = store.board(n, v)
        out.append({"incident": i, "version": v, "rows": ranked, "left_out": left_out})
    if args.json:
        print(json.dumps(out[0] if args.incident else out, indent=2))
        return EXIT_OK
    if not any(b["rows"] or b["left_out"] for b in out):
        print("No ranked sessions yet" + (f" for {args.incident}." if args.incident else "."))
        return EXIT_OK
    for b in out:
        print(
            f"{_shown(b)['incident']} (version {b['version']}; best per player, played sessions "
            "whose record verifies)"
        )
        for r in map(_shown, b["rows"]):
            res = "resolved" if r["resolved"] else "not resolved"
            print(
                f"  {r['rank']:>3}. {r['player']:<16} {r['score']:>3}/100 {r['grade']}  {res:<12} seed {r['seed']:<6} {r['session']}"
            )
        for r in map(_shown, b["left_out"]):
            print(
                f"    -  {r['player']:<16} {r['score']:>3}/100 {r['grade']}  left out: session "
                f"{r['session']} does not verify ({r['problem']}; `dojo verify {r['session']}`)"
            )
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from oncall_dojo.game.markdown import render
    from oncall_dojo.store.report import ReportUnavailable, build

    store = reading()
    sid = session_id(store, args.session)
    row = store.session(sid)
    try:
        rep = build(row, store.events(sid), _incident_or_none(row["incident"], args))
    except ReportUnavailable as exc:
        return usage(str(exc))
    from oncall_dojo.sim.text import json_safe, shown

    print(
        json_safe(json.dumps(rep, indent=2, ensure_ascii=False))
        if args.format == "json"
        else shown(render(rep), keep_lines=True),
        end="\n" if args.format == "json" else "",
    )
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from oncall_dojo.game.play import finish
    from oncall_dojo.sim.text import count
    from oncall_dojo.store.events import canonical, verify_chain
    from oncall_dojo.store.replay import compare_results, rebuild

    store = reading()
    sid = session_id(store, args.session)
    row = store.session(sid)
    events = store.events(sid)
    problems = verify_chain(events)
    if problems:
        err(f"session {sid} does not verify, so it cannot be replayed: {problems[0].message}")
        return EXIT_FAIL
    inc = load_incident(row["incident"], args)
    if inc.version != row["incident_version"]:
        return usage(
            f"session {sid} played {inc.id} version {row['incident_version']}; the incident is now version {inc.version}"
        )
    rb = rebuild(inc, events)
    n = sum(e.type == "command" for e in events)
    diffs = list(rb.mismatches)
    if rb.finished is not None:
        replayed = json.loads(canonical(finish(rb.session).to_json()))
        diffs += compare_results(rb.finished.get("result", {}), replayed)
    if diffs:
        print(f"session {sid}: replay DIFFERS from the recording")
        for d in diffs:
            print(f"  {d}")
        return EXIT_FAIL
    if rb.finished is None:
        print(
            f"session {sid}: unfinished; replayed {count(n, 'command')} to {rb.session.now // 60:02d}:{rb.session.now % 60:02d}, every output the same"
        )
    else:
        print(
            f"session {sid}: replayed {count(n, 'command')}; same outputs and the same score, {rb.finished['score']}/100 (grade {rb.finished['grade']})"
        )
    return EXIT_OK


def _chosen_sessions(args: argparse.Namespace, what: str) -> tuple[Any, list[str]]:
    """The store and every recorded session with --all, else the SESSION arguments (ids or
    unique prefixes); a usage error when there is nothing to choose."""
    store = reading()
    if store is None:
        raise SystemExit(usage("nothing has been recorded yet"))
    ids = (
        [r["session"] for r in store.history()]
        if args.all
        else [session_id(store, i) for i in args.sessions]
    )
    if not ids:
        raise SystemExit(usage(f"name {what}, or --all"))
    return store, ids


def cmd_verify(args: argparse.Namespace) -> int:
    from oncall_dojo.sim.text import count

    if not args.sessions:  # no SESSION: every recorded session, as `--all`
        if reading() is None:
            print("nothing has been recorded yet: nothing to verify")
            return EXIT_OK
        args.all = True
    from oncall_dojo.store.interviews import tombstone, tombstones, verify_tombstone

    store = reading()
    if store is None:
        raise SystemExit(usage("nothing has been recorded yet"))
    deleted = {t["session_id"]: t for t in tombstones(store)}
    named = [i for i in args.sessions if i not in deleted]
    stones = list(deleted) if args.all else [i for i in args.sessions if i in deleted]
    ids: list[str] = []
    if args.all:
        ids = [r["session"] for r in store.history()]
    elif named:
        args.sessions = named
        store, ids = _chosen_sessions(args, "a SESSION to verify")
    failed = 0
    integrity = store.integrity()
    if integrity != "ok":
        failed += 1
        print(f"{store.path}: SQLite integrity check failed: {integrity}")
    for sid in stones:
        t = tombstone(store, sid) or {}
        problems = verify_tombstone(store, sid)
        if problems:
            failed += 1
            print(f"session {sid}: FAILED")
            for p in problems:
                print(f"  {p.message}")
        else:
            print(
                f"session {sid}: deleted on request at {t['deleted_at']} ({t['reason']}); "
                f"tombstone ok ({count(t['events'], 'event')} removed, chain head "
                f"{str(t['head_hash'])[:16]}; nothing of it is left)"
            )
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
                f"session {sid}: ok ({count(row['last_seq'] + 1, 'event')}, chain head {row['head_hash'][:16]})"
            )
    return EXIT_FAIL if failed else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from oncall_dojo.store.exchange import export

    store, ids = _chosen_sessions(args, "the SESSIONs to export")
    for sid in ids:
        if store.verify(sid):
            err(
                f"warning: session {sid} does not verify (`dojo verify {sid}`); an import will reject it"
            )
    from oncall_dojo.sim.text import json_safe

    print(json_safe(json.dumps(export(store, ids), indent=1, ensure_ascii=False)))
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from oncall_dojo.store import Store, StoreError
    from oncall_dojo.store.exchange import ImportFileError, import_sessions, read_export

    try:
        docs = [read_export(Path(p)) for p in args.files]
        store = Store.open()
    except ImportFileError as exc:
        return usage(str(exc))
    except StoreError as exc:
        return usage(str(exc))
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


def _incident_or_none(ident: str, args: argparse.Namespace) -> Any:
    from oncall_dojo.game.validate import load_checked
    from oncall_dojo.incident.packs import find
    from oncall_dojo.incident.yamlload import YamlModelError

    try:
        return load_checked(find(ident, extra_dirs(args)))
    except (LookupError, YamlModelError):
        return None


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser("history", help="recorded sessions, newest first")
    sp.add_argument("--player", metavar="NAME", help="only this player's sessions")
    sp.add_argument(
        "--limit", type=int, default=None, help="at most N sessions (default: 20; all with --json)"
    )
    sp.add_argument("--json", action="store_true", help="print the sessions as JSON")
    sp.set_defaults(func=cmd_history)

    sp = sub.add_parser(
        "leaderboard", help="best score per player on an incident (same incident version only)"
    )
    sp.add_argument("incident", nargs="?", help="incident id (omit for every incident)")
    sp.add_argument(
        "--version", type=int, default=None, help="incident version (default: the current one)"
    )
    sp.add_argument("--json", action="store_true", help="print the board as JSON")
    add_dirs_option(sp)
    sp.set_defaults(func=cmd_leaderboard)

    sp = sub.add_parser("report", help="a postmortem-style report of a recorded session")
    sp.add_argument("session", metavar="SESSION", help="session id (or a unique prefix)")
    sp.add_argument(
        "--format", choices=("md", "json"), default="md", help="Markdown or JSON (default: md)"
    )
    add_dirs_option(sp)
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser(
        "replay", help="re-play a recorded session and confirm the same outputs and score"
    )
    sp.add_argument("session", metavar="SESSION", help="session id (or a unique prefix)")
    add_dirs_option(sp)
    sp.set_defaults(func=cmd_replay)

    sp = sub.add_parser(
        "verify", help="check recorded sessions' hash chains (every session when none is named)"
    )
    sp.add_argument("sessions", nargs="*", metavar="SESSION", help="session ids or unique prefixes")
    sp.add_argument("--all", action="store_true", help="every session (the default)")
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser(
        "export", help="print recorded sessions as JSON (for `dojo import` elsewhere)"
    )
    sp.add_argument("sessions", nargs="*", metavar="SESSION", help="session ids or unique prefixes")
    sp.add_argument("--all", action="store_true", help="every recorded session")
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser(
        "import", help="merge sessions exported elsewhere (idempotent; chains are verified)"
    )
    sp.add_argument("files", nargs="+", metavar="FILE", help="files written by `dojo export`")
    sp.set_defaults(func=cmd_import)
