"""Temporary folders that never outlive their process, however it ends.

A folder is named after the process that made it (`dojo-app-<pid>-<random>`) and removed
by its owner's `remove`, at interpreter exit (a normal end or an exception), or on SIGTERM
and SIGHUP (the folders go first, then the signal's default action ends the process as
before). A SIGKILL leaves the folder behind: the next process to make one removes every
folder of that prefix, owned by the same user, whose process is gone.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
import threading
from types import FrameType

__all__ = ["make", "remove", "sweep"]

_live: set[str] = set()
_swept: set[str] = set()
_lock = threading.Lock()
_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


def make(prefix: str) -> str:
    """A new folder under the system's temporary directory, removed however the process ends."""
    with _lock:
        if prefix not in _swept:
            _swept.add(prefix)
            sweep(prefix)
        _install()
        path = tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")
        _live.add(path)
    return path


def remove(path: str) -> None:
    """Remove a folder made by `make` (safe to call twice)."""
    shutil.rmtree(path, ignore_errors=True)
    with _lock:
        _live.discard(path)


def sweep(prefix: str, where: str | None = None, files: bool = False) -> list[str]:
    """Remove the folders of `prefix` left by processes of this user that are gone (with
    `files`, the plain files of `prefix` instead: an atomic write's temporary file)."""
    where = where or tempfile.gettempdir()
    removed: list[str] = []
    try:
        entries = list(os.scandir(where))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid_text = entry.name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir == files or not (is_dir or entry.is_file(follow_symlinks=False)):
                continue
            if st.st_uid != os.getuid() or _alive(int(pid_text)):
                continue
            if files:
                os.unlink(entry.path)
            else:
                shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive as far as we can tell
        return True
    return True


def _remove_all() -> None:
    for path in list(_live):
        shutil.rmtree(path, ignore_errors=True)
    _live.clear()


_exit_hooked = False
_signals_hooked = False


def _install() -> None:
    """At exit, and on SIGTERM / SIGHUP with no handler of the program's own: remove the folders."""
    global _exit_hooked, _signals_hooked
    if not _exit_hooked:
        _exit_hooked = True
        atexit.register(_remove_all)
    if _signals_hooked or threading.current_thread() is not threading.main_thread():
        return
    _signals_hooked = True
    for sig in _SIGNALS:
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(sig) is signal.SIG_DFL:
                signal.signal(sig, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _remove_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
