"""Who is playing a session right now: one process at a time holds it.

A process that records a session (a new game, or `dojo play --resume`) holds an
exclusive lock on one byte of `<database>-sessions.lock`, at an offset derived
from the session id. The operating system drops the lock when the process ends,
however it ends, so a killed game never leaves a session stuck; a second
process asking for the same session is refused at once. Appends also compare
the head they extend with the stored one, so even without the lock two games
could not both extend a log.

Where `fcntl` is not available the lock is skipped and the head check alone
keeps the log whole.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["SessionBusy", "hold", "release"]

_lock = threading.Lock()
_files: dict[str, int] = {}
"""Lock file path -> the one descriptor this process keeps open on it (closing another
descriptor of the same file would drop every lock the process holds on it)."""
_held: dict[tuple[str, str], int] = {}


class SessionBusy(Exception):
    """Another process is playing this session right now."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"session {session_id} is being played in another window or process right now; "
            "finish or quit it there first (a session is played in one place at a time)"
        )
        self.session_id = session_id


def lock_path(db_path: Path) -> str:
    return str(db_path) + "-sessions.lock"


def _offset(session_id: str) -> int:
    return int.from_bytes(hashlib.sha256(session_id.encode()).digest()[:7], "big")


def hold(db_path: Path, session_id: str) -> bool:
    """Take the session for this process; SessionBusy if another process has it.

    Returns False when no lock could be taken here (no fcntl, or the lock file cannot be
    created): the caller goes on, protected by the head check only."""
    if fcntl is None:
        return False
    path = lock_path(db_path)
    with _lock:
        if (path, session_id) in _held:
            return True
        fd = _files.get(path)
        if fd is None:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:
                return False
            _files[path] = fd
        offset = _offset(session_id)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
        except BlockingIOError:
            raise SessionBusy(session_id) from None
        except OSError as exc:
            if exc.errno in (11, 13, 35):  # EAGAIN, EACCES, EWOULDBLOCK: held elsewhere
                raise SessionBusy(session_id) from None
            return False
        _held[(path, session_id)] = offset
        return True


def release(db_path: Path, session_id: str) -> None:
    """Let the session go (the process ending does the same)."""
    if fcntl is None:
        return
    path = lock_path(db_path)
    with _lock:
        offset = _held.pop((path, session_id), None)
        fd = _files.get(path)
        if offset is not None and fd is not None:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)
