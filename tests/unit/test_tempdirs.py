"""The application database's temporary folder is gone however the game ends.

Each case runs a real process with TMPDIR pointing at a fresh folder, so nothing else's
temporary files are looked at.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oncall_dojo.sim import tempdirs

GUARD_S = 60.0


def leftovers(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("dojo-app-"))


def python(tmp: Path, code: str) -> subprocess.Popen[str]:
    env = dict(os.environ, TMPDIR=str(tmp))
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


MAKE = (
    "import sys\n"
    "from oncall_dojo.sim import tempdirs\n"
    "p = tempdirs.make('dojo-app-')\n"
    "open(p + '/app.db', 'w').write('x')\n"
    "print(p, flush=True)\n"
)


def started(tmp: Path, tail: str) -> tuple[subprocess.Popen[str], Path]:
    proc = python(tmp, MAKE + tail)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, proc.stderr.read() if proc.stderr else ""
    folder = Path(line)
    assert folder.parent == tmp
    return proc, folder


@pytest.mark.parametrize(
    ("tail", "rc"),
    [
        ("", 0),
        ("raise RuntimeError('boom')", 1),
        ("sys.exit(3)", 3),
    ],
    ids=["normal", "exception", "exit"],
)
def test_the_folder_goes_at_exit(tmp_path: Path, tail: str, rc: int) -> None:
    proc, folder = started(tmp_path, tail)
    assert proc.wait(GUARD_S) == rc
    assert not folder.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_the_folder_goes_on_sigterm_and_the_signal_still_ends_the_process(
    tmp_path: Path, sig: int
) -> None:
    proc, folder = started(tmp_path, "sys.stdin.read()")
    assert folder.is_dir()
    proc.send_signal(sig)
    assert proc.wait(GUARD_S) == -sig
    assert not folder.exists()


def test_a_folder_left_by_sigkill_goes_at_the_next_start(tmp_path: Path) -> None:
    proc, folder = started(tmp_path, "sys.stdin.read()")
    other, kept = started(tmp_path, "sys.stdin.read()")  # still running: its folder stays
    proc.kill()
    proc.wait(GUARD_S)
    assert folder.exists()
    later, fresh = started(tmp_path, "")
    assert later.wait(GUARD_S) == 0
    assert not folder.exists() and not fresh.exists()
    assert kept.exists()
    other.kill()
    other.wait(GUARD_S)


def test_sweep_leaves_foreign_names_and_live_processes(tmp_path: Path) -> None:
    (tmp_path / "dojo-app-notapid").mkdir()
    (tmp_path / f"dojo-app-{os.getpid()}-x").mkdir()
    (tmp_path / "dojo-app-999999999-x").write_text("a file, not a folder")
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    gone = tmp_path / f"dojo-app-{dead.pid}-abc"
    gone.mkdir()
    assert tempdirs.sweep("dojo-app-", str(tmp_path)) == [str(gone)]
    assert leftovers(tmp_path) == sorted(
        ["dojo-app-notapid", f"dojo-app-{os.getpid()}-x", "dojo-app-999999999-x"]
    )


def test_a_game_ended_by_sigterm_leaves_no_folder(tmp_path: Path) -> None:
    """The whole command: a console game with an application database, then SIGTERM."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    dojo = Path(sys.executable).with_name("dojo")
    proc = subprocess.Popen(
        [str(dojo), "play", "repeat-card-charges", "--console", "--seed", "1", "--no-record"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + GUARD_S
    while not leftovers(tmp_path) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert leftovers(tmp_path), "the game never made its application database"
    proc.send_signal(signal.SIGTERM)
    proc.wait(GUARD_S)
    assert leftovers(tmp_path) == []


def test_an_atomic_write_removes_the_temporary_files_of_killed_writers_only(tmp_path: Path) -> None:
    """A process killed inside `write_bytes` leaves `.tmp-<pid>-...`; the next process's first
    write into that folder removes it, and leaves a live writer's file alone."""
    from oncall_dojo.game import engine

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    live = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        stale = tmp_path / f".tmp-{gone.pid}-abc.json"
        busy = tmp_path / f".tmp-{live.pid}-def.json"
        stale.write_text("{")
        busy.write_text("{")
        engine._swept.discard(tmp_path)
        engine.write_json(tmp_path / "play.json", {"ok": 1})
        assert not stale.exists()
        assert busy.exists()
        assert (tmp_path / "play.json").read_text() == '{"ok": 1}'
        assert sorted(p.name for p in tmp_path.iterdir()) == [busy.name, "play.json"]
    finally:
        live.communicate(b"")
