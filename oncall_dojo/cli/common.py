"""What the `dojo` commands share: exit codes, error lines, incident folders and lookup,
the player's name and the game's own database.

Everything heavier than the standard library is imported inside the function that
needs it, so that `dojo --help` and the headless commands start fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def err(msg: str) -> None:
    print(f"dojo: {msg}", file=sys.stderr)


def usage(msg: str) -> int:
    err(msg)
    return EXIT_USAGE


def extra_dirs(args: argparse.Namespace) -> list[Path]:
    return [Path(p) for p in (getattr(args, "incidents", None) or [])]


def check_dirs(args: argparse.Namespace) -> None:
    """Folders given with --incidents must exist."""
    for d in extra_dirs(args):
        if not d.is_dir():
            raise SystemExit(usage(f"--incidents {d}: no such folder"))


def load_incident(ident: str, args: argparse.Namespace, seed: int | None = None) -> Any:
    """An incident by id or path, as `seed` plays it (`vary` picked) when a seed is given."""
    from oncall_dojo.game.validate import load_checked
    from oncall_dojo.incident.packs import discover, find
    from oncall_dojo.incident.yamlload import YamlModelError

    check_dirs(args)
    try:
        path = find(ident, extra_dirs(args))
    except LookupError:
        ids = ", ".join(f.path.stem for f in discover(extra_dirs(args)))
        raise SystemExit(usage(f"no incident {ident!r}; available: {ids}")) from None
    try:
        inc = load_checked(path)
        return inc if seed is None else inc.for_seed(seed)
    except YamlModelError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(
            usage(f"{path} is not a valid incident file (see above; `dojo validate` checks it)")
        ) from None


PLAYER_MAX_CHARS = 64


def player_name(args: argparse.Namespace) -> str:
    """--player, else $DOJO_PLAYER, else the login name; bytes that are not UTF-8 become
    U+FFFD and control characters are dropped (a name is shown on shared leaderboards)."""
    import getpass
    import os

    from oncall_dojo.sim.text import clean

    name = getattr(args, "player", None) or os.environ.get("DOJO_PLAYER")
    if not name:
        try:
            name = getpass.getuser()
        except Exception:
            name = "player"
    return clean(name).strip()[:PLAYER_MAX_CHARS].strip() or "player"


def recorder(args: argparse.Namespace, mode: str, script: str | None = None) -> Any:
    """A recorder for a new session; the game plays on (unrecorded) if the file cannot be written."""
    from oncall_dojo.store import Recorder, Store, StoreUnavailable, StoreUnusable

    try:
        store = Store.open()
    except StoreUnusable as exc:
        raise SystemExit(usage(str(exc))) from None
    except StoreUnavailable as exc:
        return Recorder(None, player_name(args), mode, script=script, unavailable=str(exc))
    return Recorder(store, player_name(args), mode, script=script)


def reading(write: bool = False) -> Any:
    """The store for reading (read-only unless `write`), or None if nothing was recorded yet."""
    from oncall_dojo.store import StoreError
    from oncall_dojo.store.records import open_for_reading

    try:
        return open_for_reading(write=write)
    except StoreError as exc:
        raise SystemExit(usage(str(exc))) from None


def session_id(store: Any, ident: str) -> str:
    from oncall_dojo.store import SessionNotFound

    if store is None:
        raise SystemExit(usage(f"no session {ident!r}: nothing has been recorded yet"))
    try:
        return str(store.resolve(ident))
    except SessionNotFound as exc:
        raise SystemExit(usage(str(exc))) from None


def add_dirs_option(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--incidents",
        action="append",
        metavar="DIR",
        help="also look for incident files in DIR (repeatable; or set DOJO_INCIDENTS, "
        "or list folders in the config file: see docs/authoring.md)",
    )


def add_player_options(sp: argparse.ArgumentParser) -> None:
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


SEED_MAX = 2**32 - 1
"""Seeds run from 0 to 4,294,967,295."""


def seed_arg(text: str) -> int:
    """An argparse type: a whole number from 0 to SEED_MAX."""
    try:
        value = int(text.strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(
            f"{text} is out of range: a seed is a whole number from 0 to {SEED_MAX:,}"
        )
    return value
