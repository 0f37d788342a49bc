"""Commands for incident authors: list, validate, schema, reference, run and check."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from oncall_dojo.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    SEED_MAX,
    add_dirs_option,
    add_player_options,
    check_dirs,
    err,
    extra_dirs,
    load_incident,
    recorder,
    seed_arg,
    usage,
)


def cmd_list(args: argparse.Namespace) -> int:
    from oncall_dojo.game.catalog import descriptions
    from oncall_dojo.incident.packs import scan

    check_dirs(args)
    found = scan(extra_dirs(args))
    rows: list[dict[str, Any]] = []
    for f, desc in zip(found.found, descriptions([f.path for f in found.found]), strict=True):
        pack = None if f.pack is None else str(f.pack)
        if "error" in desc:
            rows.append(
                {
                    "id": f.path.stem,
                    "path": str(f.path),
                    "error": desc["error"],
                    "bundled": f.bundled,
                    "pack": pack,
                }
            )
            continue
        rows.append(
            {
                "id": desc["id"],
                "title": desc["title"],
                "difficulty": desc["difficulty"],
                "tags": desc["tags"],
                "summary": desc["summary"],
                "bundled": f.bundled,
                "pack": pack,
                "path": str(f.path),
                "varies": desc["varies"],
            }
        )
    for problem in found.missing:
        err(f"warning: {problem}")
    for clash in found.clashes:
        err(clash)
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

    check_dirs(args)
    targets: list[Path] = []
    for raw in args.paths:
        p = Path(raw)
        if p.is_dir():
            targets.extend(incident_files(p))
        else:
            targets.append(p)
    for d in extra_dirs(args):
        targets.extend(incident_files(d))
    if not args.paths and not args.incidents:
        targets = [f.path for f in discover()]
    return list(dict.fromkeys(targets))


def cmd_validate(args: argparse.Namespace) -> int:
    """Each file for seed 1 and, when it varies, for more seeds (every choice at least once)."""
    from oncall_dojo.game.validate import load_checked
    from oncall_dojo.incident.loader import check_seeds
    from oncall_dojo.incident.packs import name_owners, scan
    from oncall_dojo.incident.yamlload import YamlModelError

    targets = _validation_targets(args)
    if not targets:
        where = ", ".join(map(str, [*args.paths, *(args.incidents or [])]))
        return usage(f"no incident files (*.yaml, *.yml) in {where}; nothing was validated")
    bad = 0
    owners = name_owners(targets + [f.path for f in scan(extra_dirs(args)).found])
    for p in targets:
        try:
            seeds = check_seeds(load_checked(p, owners, trial=True))
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


ACTIONS_MAX_BYTES = 1_000_000


def _read_actions(path: str) -> list[str]:
    """Timed commands from a file: `file:line:col:` errors for a bad line, a bad time or a time
    before the one above it; a UTF-8 byte order mark is fine."""
    from oncall_dojo.incident.model import parse_timed
    from oncall_dojo.incident.yamlload import bad_utf8, read_limited

    try:
        data = read_limited(path, ACTIONS_MAX_BYTES)
    except (OSError, ValueError) as exc:  # devices and pipes are refused, not read
        raise SystemExit(usage(f"cannot read {path}: {exc}")) from None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        at, col, msg = bad_utf8(data, exc)
        raise SystemExit(usage(f"{path}:{at}:{col}: {msg}")) from None
    lines = []
    last = (-1, "")
    for i, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parsed = parse_timed(line)
        if parsed is None:
            raise SystemExit(usage(f"{path}:{i}:1: expected `MM:SS command`, got {line!r}"))
        stamp = line.split(None, 1)[0]
        parts = stamp.split(":")
        if len(parts) > 1 and any(int(p) >= 60 for p in parts[1:]):
            raise SystemExit(
                usage(
                    f"{path}:{i}:1: invalid time {stamp!r}: minutes and seconds run from 00 to 59"
                )
            )
        if parsed[0] < last[0]:
            raise SystemExit(
                usage(
                    f"{path}:{i}:1: time {stamp} is before {last[1]} on an earlier line; "
                    "commands must be in time order"
                )
            )
        last = (parsed[0], stamp)
        lines.append(line)
    return lines


def cmd_run(args: argparse.Namespace) -> int:
    from oncall_dojo.game.injects import schedule
    from oncall_dojo.game.play import finish, run_script
    from oncall_dojo.game.session import Session

    inc = load_incident(args.incident, args, seed=args.seed)
    if args.actions:
        actions = _read_actions(args.actions)
    elif args.reference:
        actions = inc.playthroughs.reference.actions
    elif args.minimal:
        if inc.playthroughs.minimal is None:
            return usage(f"{inc.id} has no minimal playthrough")
        actions = inc.playthroughs.minimal.actions
    elif args.harmful:
        match = [h for h in inc.playthroughs.harmful if h.name == args.harmful]
        if not match:
            return usage(
                f"no harmful playthrough {args.harmful!r}; have: {', '.join(h.name for h in inc.playthroughs.harmful)}"
            )
        actions = match[0].actions
    else:
        actions = []
    s = Session(inc, args.seed)
    if args.injects:
        schedule(s)
    log = None
    if args.record and not args.no_record:  # an author's runs stay out of the player's history
        script = (
            "actions:" + Path(args.actions).name
            if args.actions
            else (
                "reference"
                if args.reference
                else "minimal"
                if args.minimal
                else (f"harmful:{args.harmful}" if args.harmful else "idle")
            )
        )
        log = recorder(args, "run", script)
        log.started(s, 0)
    run_script(s, actions, keep_logs=False)  # `run` prints the outcome, never the logs
    result = finish(s)
    if log is not None:
        err(
            f"recorded as session {log.session_id}"
            if log.keeping
            else f"results were not kept: {log.broken}"
        )
    if args.json:
        from oncall_dojo.game.plays import run_json

        print(json.dumps(run_json(s), indent=2))
    else:
        from oncall_dojo.sim.text import shown

        for e in s.entries:  # an actions file's text shows as escapes, never acts on the terminal
            mark = "!" if e.kind == "refused" else ">"
            print(f"{e.at // 60:02d}:{e.at % 60:02d} {mark} {shown(e.command)}")
            if e.output:  # what every command showed, looks included
                print("        " + shown(e.output, keep_lines=True).replace("\n", "\n        "))
        print(result.render())
    if log is not None and not log.keeping:
        return EXIT_FAIL  # the outcome is printed, but it is not on the record
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from oncall_dojo.cli.progress import ProgressLine
    from oncall_dojo.game.check import CheckFailed, check_incidents, default_jobs
    from oncall_dojo.game.plays import PlayCache
    from oncall_dojo.game.validate import load_checked
    from oncall_dojo.incident.packs import discover, find, incident_files
    from oncall_dojo.incident.yamlload import YamlModelError

    check_dirs(args)
    idents: list[str | Path] = list(args.incidents_to_check or [])
    if not idents:  # every file of the packs, so one bad file does not hide the others
        idents = [f.path for f in discover()]
        for d in extra_dirs(args):
            idents.extend(p for p in incident_files(d) if p not in idents)
    incidents = []
    paths: dict[str, Path] = {}
    bad_files = 0
    for ident in idents:  # a bad file is reported, and the good ones are still checked
        try:
            path = ident if isinstance(ident, Path) else find(ident, extra_dirs(args))
            incidents.append(load_checked(path))
            paths[incidents[-1].id] = Path(path)
        except LookupError:
            bad_files += 1
            print(f"{ident}: FAILED")
            print(f"  no incident {ident!r}", file=sys.stderr)
        except YamlModelError as exc:
            bad_files += 1
            print(f"{ident}: FAILED")
            print(str(exc), file=sys.stderr)
    seeds = tuple(args.seeds)
    jobs = args.jobs if args.jobs is not None else default_jobs()
    if jobs < 1:
        return usage(f"--jobs {jobs}: give at least 1")
    cache = None if args.no_cache else PlayCache.default()
    shown = not args.json and sys.stdout.isatty() and sys.stderr.isatty()
    bar = ProgressLine(sys.stderr) if shown else None
    failed = bad_files
    out = []
    try:
        for inc, rep in check_incidents(incidents, seeds, jobs=jobs, cache=cache, progress=bar):
            if bar is not None:
                bar.clear()
            if isinstance(rep, CheckFailed):
                failed += 1
                if args.json:
                    out.append({"incident": inc.id, "ok": False, "error": rep.message})
                else:
                    print(f"{inc.id}: FAILED")
                    print(f"  {rep.message}" if rep.broken else rep.message, file=sys.stderr)
            else:
                failed += not rep.ok
                if args.json:
                    out.append(_check_json(rep))
                else:
                    _print_check(rep, paths.get(inc.id))
            if bar is not None:
                bar.draw()
    finally:
        if bar is not None:
            bar.clear()
    if args.json:
        print(json.dumps(out, indent=2))
    return EXIT_FAIL if failed else EXIT_OK


def _print_check(rep: Any, path: Path | None = None) -> None:
    from oncall_dojo.incident.vary import describe
    from oncall_dojo.incident.yamlload import format_keypath, load_yaml, located

    print(f"{rep.incident}: " + ("ok" if rep.ok else "FAILED"))
    for sr in rep.seeds:
        harm = " ".join(f"{n}={r.score}" for n, r in sr.harmful.items())
        picked = f"  [{describe(sr.values)}]" if sr.values else ""
        mini = "-" if sr.minimal is None else f"{sr.minimal.score}{sr.minimal.grade}"
        print(
            f"  seed {sr.seed}: reference {sr.reference.score}{sr.reference.grade} minimal {mini} "
            f"idle {sr.idle.score}{sr.idle.grade} {harm}{picked}"
        )
    if len(rep.seeds) > 1:
        scores = [sr.reference.score for sr in rep.seeds]
        print(f"  reference spread: {min(scores)}-{max(scores)} ({max(scores) - min(scores)})")
    positions = None
    for sr in rep.seeds:
        at_place = {f"{format_keypath(loc)}: {msg}" for loc, msg in sr.located}
        for p in sr.problems:
            if p not in at_place or path is None:
                print(f"  seed {sr.seed}: {p}")
        if path is None:
            continue
        for loc, msg in sr.located:
            if positions is None:
                positions = load_yaml(path)[1]
            print(f"  seed {sr.seed}: {located(path, positions, loc, msg)}")


def _check_json(rep: Any) -> dict[str, Any]:
    return {
        "incident": rep.incident,
        "ok": rep.ok,
        "seeds": [
            {
                "seed": sr.seed,
                "values": sr.values,
                "reference": sr.reference.score,
                "resolved": sr.reference.resolved,
                "idle": sr.idle.score,
                "minimal": None if sr.minimal is None else sr.minimal.score,
                "grades": {
                    "reference": sr.reference.grade,
                    "idle": sr.idle.grade,
                    "minimal": None if sr.minimal is None else sr.minimal.grade,
                },
                "harmful": {n: r.score for n, r in sr.harmful.items()},
                "wrong_values": {n: r.resolved for n, r in sr.probes.items()},
                "problems": sr.problems,
            }
            for sr in rep.seeds
        ],
    }


def add_parsers(sub: Any) -> None:
    sp = sub.add_parser("list", help="list incidents")
    sp.add_argument("--json", action="store_true", help="print the incidents as JSON")
    add_dirs_option(sp)
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
    add_dirs_option(sp)
    sp.set_defaults(func=cmd_validate)

    sp = sub.add_parser(
        "reference",
        help="print the fault and command reference (Markdown, generated from the code)",
    )
    sp.set_defaults(func=cmd_reference)

    sp = sub.add_parser("schema", help="print the JSON Schema of incident files")
    sp.set_defaults(func=cmd_schema)

    sp = sub.add_parser("run", help="play an incident headless and print the outcome")
    sp.add_argument("incident", help="incident id, former id or path")
    sp.add_argument(
        "--seed", type=seed_arg, default=1, help=f"seed, 0 to {SEED_MAX:,} (default: 1)"
    )
    g = sp.add_mutually_exclusive_group()
    g.add_argument(
        "--actions", metavar="FILE", help="timed commands, one per line: `MM:SS command`"
    )
    g.add_argument(
        "--reference", action="store_true", help="play the incident's reference playthrough"
    )
    g.add_argument("--minimal", action="store_true", help="play the incident's minimal playthrough")
    g.add_argument(
        "--harmful", metavar="NAME", help="play one of the incident's harmful playthroughs"
    )
    g.add_argument("--idle", action="store_true", help="do nothing (the default)")
    sp.add_argument(
        "--injects",
        action="store_true",
        help="fire the incident's timed injects (as a team game does)",
    )
    sp.add_argument(
        "--json", action="store_true", help="print the outcome and every command as JSON"
    )
    sp.add_argument(
        "--record",
        action="store_true",
        help="keep the run in the game's database as a `run` session (default: nothing kept)",
    )
    add_player_options(sp)
    add_dirs_option(sp)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser(
        "check",
        help="prove incidents: reference resolves and is graded A, minimal at least C, idle F, "
        "harmful < minimal < reference",
    )
    sp.add_argument(
        "incidents_to_check",
        nargs="*",
        metavar="INCIDENT",
        help="incident ids, former ids or file paths (default: every incident found)",
    )
    sp.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[1, 2, 3],
        metavar="SEED",
        help="the seeds to play each incident at (default: 1 2 3)",
    )
    sp.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        metavar="N",
        help="play in N worker processes (default: one per core)",
    )
    sp.add_argument(
        "--no-cache",
        action="store_true",
        help="play everything again and keep nothing (default: reuse plays kept in the user "
        "cache folder, or $DOJO_CACHE, for the same incident, seed, playthrough and engine)",
    )
    sp.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    add_dirs_option(sp)
    sp.set_defaults(func=cmd_check)
