"""A host stopped with SIGTERM or SIGINT (a real `dojo host` process) removes its private
folder (the 0700 folder with the seats' Unix socket), says how to resume, and exits with
128 + the signal's number; the game stays resumable."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_host_stopped_by_a_signal_cleans_up(sig: int, tmp_path: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="dsig"))  # short: the socket's path has a limit
    env = {**os.environ, "TMPDIR": str(scratch), "DOJO_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "oncall_dojo", "host", "payments-stuck", "--seed", "3"]
    cmd += ["--listen", "127.0.0.1:0", "--line", "--no-console", "--player", "fac"]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        for _ in range(60):  # what it prints before it serves: bounded
            line = proc.stdout.readline()
            if not line or line.startswith(b"Players join with"):
                break
        assert line.startswith(b"Players join with"), "the host did not start"
        folders = [p for p in scratch.iterdir() if p.name.startswith("dojo-web-")]
        assert len(folders) == 1 and (folders[0] / "host.sock").exists()
        assert folders[0].stat().st_mode & 0o777 == 0o700
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + sig, err
        assert list(scratch.iterdir()) == [], err  # the private folder is gone
        assert f"stopped by signal {sig}".encode() in err
        assert b"dojo host --resume" in err  # the game is kept, resumable
        assert b"Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)
