"""The `dojo` parser and entry point: each area module adds its own subcommands."""

from __future__ import annotations

import argparse
import sys

from oncall_dojo import __version__
from oncall_dojo.cli import authoring, interview, play, record, team
from oncall_dojo.cli.common import EXIT_OK, EXIT_USAGE, usage


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dojo",
        description="Get paged by a simulated backend that really misbehaves; investigate, fix, and be scored on what happened.",
    )
    p.add_argument("--version", action="version", version=f"oncall-dojo {__version__}")
    sub = p.add_subparsers(dest="command")
    play.add_parsers(sub)
    authoring.add_parsers(sub)
    record.add_parsers(sub)
    team.add_parsers(sub)
    interview.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {
        "play",
        "tutorial",
        "list",
        "validate",
        "schema",
        "reference",
        "run",
        "check",
        "history",
        "leaderboard",
        "report",
        "replay",
        "verify",
        "export",
        "import",
        "host",
        "join",
        "interview",
    }
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
        return usage(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if _known(exc):
            return usage(str(exc))
        raise


def _known(exc: Exception) -> bool:
    """A store error or a broken invariant: a sentence for the player, not a traceback.
    Looked up only if its module was loaded, so every command does not import the store."""
    for module, name in (
        ("oncall_dojo.store.errors", "StoreError"),
        ("oncall_dojo.store.lease", "SessionBusy"),
        ("oncall_dojo.sim.errors", "InvariantFailed"),
        ("oncall_dojo.game.session", "IncidentBroken"),  # its page never fires
    ):
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(exc, cls):
            return True
    return False
