"""What can go wrong with the game's database, in words a player can act on.

Two kinds: the file cannot be used safely (corrupt, not ours, written by a newer
oncall-dojo): stop and say so, exit 2, touch nothing. Or the file cannot be
written right now (disk full, read-only, unreachable folder): keep playing and
say that results will not be kept.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# primary SQLite result codes (https://sqlite.org/rescode.html)
_PERM, _BUSY, _LOCKED, _NOMEM, _READONLY, _IOERR, _CORRUPT = 3, 5, 6, 7, 8, 10, 11
_FULL, _CANTOPEN, _NOTADB = 13, 14, 26
BUSY_CODES = frozenset({_BUSY, _LOCKED})


class StoreError(Exception):
    """Base class: something about the database at `path`."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class StoreUnusable(StoreError):
    """The file must not be used: corrupt, not an oncall-dojo database, or a newer schema."""


class StoreUnavailable(StoreError):
    """The file cannot be written now (disk full, read-only, unreachable); play can go on."""


class SessionNotFound(LookupError):
    """No session matches an id (or an id prefix matches several)."""


def code_of(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", -1)) & 0xFF


def is_busy(exc: sqlite3.Error) -> bool:
    return code_of(exc) in BUSY_CODES or "locked" in str(exc)


def classify(exc: sqlite3.Error, path: Path) -> StoreError | None:
    """Map an sqlite3 error onto a store error; None for errors that are bugs of ours."""
    code = code_of(exc)
    if code in (_CORRUPT, _NOTADB) or "malformed" in str(exc):
        return StoreUnusable(
            path,
            f"the database is damaged ({exc}). Nothing was changed. Move the file aside "
            "(keep it: the sqlite3 shell's `.recover` command may save parts of it) or set "
            "DOJO_HOME to another folder to start a new one.",
        )
    if code == _FULL:
        return StoreUnavailable(path, f"the disk is full ({exc})")
    if code in (_READONLY, _PERM, _CANTOPEN):
        return StoreUnavailable(path, f"the database cannot be written here ({exc})")
    if code in (_IOERR, _NOMEM):
        return StoreUnavailable(path, f"the database could not be written ({exc})")
    if code in BUSY_CODES:
        return StoreUnavailable(path, f"the database stayed busy for too long ({exc})")
    return None


def missing_schema(exc: sqlite3.Error, path: Path) -> StoreError | None:
    """A table or column of ours is gone (someone ran DROP TABLE on the file), in words."""
    if "no such table" in str(exc) or "no such column" in str(exc):
        return StoreUnusable(
            path,
            f"the database is missing part of oncall-dojo's schema ({exc}): it was changed by "
            "something else. Nothing was changed. Move the file aside (keep it: the sqlite3 "
            "shell can still read what is left) or set DOJO_HOME to another folder.",
        )
    return None
