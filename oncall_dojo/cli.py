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


def _load(ident: str, args: argparse.Namespace) -> Any:
    from oncall_dojo.game.validate import load_checked
    from oncall_dojo.incident.loader import discover, find

    try:
        path = find(ident, _extra_dirs(args))
    except LookupError:
        ids = ", ".join(f.path.stem for f in discover(_extra_dirs(args)))
        raise SystemExit(_usage(f"no incident {ident!r}; available: {ids}")) from None
    return load_checked(path)


def _usage(msg: str) -> int:
    _err(msg)
    return EXIT_USAGE


def cmd_list(args: argparse.Namespace) -> int:
    from oncall_dojo.incident.loader import discover, load_incident
    from oncall_dojo.incident.yamlload import YamlModelError

    rows: list[dict[str, Any]] = []
    for f in discover(_extra_dirs(args)):
        try:
            inc = load_incident(f.path)
        except YamlModelError as exc:
            rows.append({"id": f.path.stem, "path": str(f.path), "error": str(exc).splitlines()[0], "bundled": f.bundled})
            continue
        rows.append({"id": inc.id, "title": inc.title, "difficulty": inc.difficulty, "tags": inc.tags,
                     "summary": inc.summary, "bundled": f.bundled, "path": str(f.path)})  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("No incidents found.")
        return EXIT_OK
    w = max(len(r["id"]) for r in rows)
    for r in rows:
        if "error" in r:
            print(f"{r['id']:<{w}}  INVALID  {r['error']}")
        else:
            origin = "" if r["bundled"] else "  (yours)"
            print(f"{r['id']:<{w}}  {r['difficulty']:<6}  {r['title']}  [{', '.join(r['tags'])}]{origin}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from oncall_dojo.game.validate import load_checked
    from oncall_dojo.incident.yamlload import YamlModelError

    bad = 0
    for p in args.paths:
        try:
            load_checked(Path(p))
        except YamlModelError as exc:
            bad += 1
            print(str(exc), file=sys.stderr)
        else:
            print(f"{p}: ok")
    return EXIT_FAIL if bad else EXIT_OK


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

    inc = _load(args.incident, args)
    if args.actions:
        actions = _read_actions(args.actions)
    elif args.reference:
        actions = inc.playthroughs.reference.actions
    elif args.harmful:
        match = [h for h in inc.playthroughs.harmful if h.name == args.harmful]
        if not match:
            return _usage(f"no harmful playthrough {args.harmful!r}; have: {', '.join(h.name for h in inc.playthroughs.harmful)}")
        actions = match[0].actions
    else:
        actions = []
    s = Session(inc, args.seed)
    s.run_script(actions)
    result = s.finish()
    if args.json:
        out = result.to_json()
        out["commands"] = [{"at": e.at, "command": e.command, "kind": e.kind, "output": e.output} for e in s.entries]
        print(json.dumps(out, indent=2))
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
    from oncall_dojo.incident.loader import discover

    idents = args.incidents_to_check or [f.path.stem for f in discover(_extra_dirs(args))]
    seeds = tuple(args.seeds)
    failed = 0
    for ident in idents:
        inc = _load(ident, args)
        print(f"{inc.id}: ", end="", flush=True)
        rep = check_incident(inc, seeds)
        cells = []
        for sr in rep.seeds:
            harm = " ".join(f"{n}={r.score}" for n, r in sr.harmful.items())
            cells.append(f"seed {sr.seed}: reference {sr.reference.score} idle {sr.idle.score} {harm}")
        print("ok" if rep.ok else "FAILED")
        for c in cells:
            print(f"  {c}")
        for sr in rep.seeds:
            for p in sr.problems:
                print(f"  seed {sr.seed}: {p}")
        failed += not rep.ok
    return EXIT_FAIL if failed else EXIT_OK


def cmd_play(args: argparse.Namespace) -> int:
    from oncall_dojo.game.console import run_console

    inc = _load(args.incident, args) if args.incident else None
    return run_console(inc, args.seed, _extra_dirs(args))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dojo", description="Get paged by a simulated backend that really misbehaves; investigate, fix, and be scored on what happened.")
    p.add_argument("--version", action="version", version=f"oncall-dojo {__version__}")
    sub = p.add_subparsers(dest="command")

    def with_dirs(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--incidents", action="append", metavar="DIR", help="also look for incident files in DIR (repeatable; or set DOJO_INCIDENTS)")

    sp = sub.add_parser("play", help="play an incident at the console (the default)")
    sp.add_argument("incident", nargs="?", help="incident id or path (omit to choose)")
    sp.add_argument("--seed", type=int, default=None, help="seed (default: random)")
    with_dirs(sp)
    sp.set_defaults(func=cmd_play)

    sp = sub.add_parser("list", help="list incidents")
    sp.add_argument("--json", action="store_true")
    with_dirs(sp)
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("validate", help="validate incident files")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.set_defaults(func=cmd_validate)

    sp = sub.add_parser("schema", help="print the JSON Schema of incident files")
    sp.set_defaults(func=cmd_schema)

    sp = sub.add_parser("run", help="play an incident headless and print the outcome")
    sp.add_argument("incident")
    sp.add_argument("--seed", type=int, default=1)
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--actions", metavar="FILE", help="timed commands, one per line: `MM:SS command`")
    g.add_argument("--reference", action="store_true", help="play the incident's reference playthrough")
    g.add_argument("--harmful", metavar="NAME", help="play one of the incident's harmful playthroughs")
    g.add_argument("--idle", action="store_true", help="do nothing (the default)")
    sp.add_argument("--json", action="store_true")
    with_dirs(sp)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("check", help="prove incidents: reference resolves and beats idle and harmful play")
    sp.add_argument("incidents_to_check", nargs="*", metavar="INCIDENT")
    sp.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    with_dirs(sp)
    sp.set_defaults(func=cmd_check)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"play", "list", "validate", "schema", "run", "check"}
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help", "--version")):
        argv = ["play", *argv]  # `dojo` and `dojo INCIDENT` play
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(args.func(args))
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
