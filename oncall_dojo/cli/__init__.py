"""The `dojo` command. Headless commands never import the TUI (or textual).

Exit codes: 0 success, 1 a check or validation failed or a game's record could not
be kept (the outcome is still shown), 2 bad usage or input
(unknown incident, unreadable file), 130 interrupted.

    parser      the top-level parser and `main` (the `dojo` entry point)
    play        play, the tutorial, and resuming an interrupted session
    authoring   list, validate, schema, reference, run, check
    record      history, leaderboard, report, replay, verify, export, import
    common      exit codes, error lines, incident lookup, the player and the store
"""

from oncall_dojo.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
