"""ctrl+c at the line console, through a real `dojo play --console` process and SIGINT.

While a query runs, ctrl+c cancels it: the console says so, nothing is recorded for it, and
play goes on. At the prompt, ctrl+c stops play without measuring the outcome: the game is
kept and resumes exactly (it used to end the whole game with rc 130 and no word, whatever
was running).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oncall_dojo.game.play import cancel_running, clear_cancel, perform
from oncall_dojo.game.session import Session
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.packs import find
from oncall_dojo.sim.sqlsandbox import Cancelled

INCIDENT = "repeat-card-charges"
SLOW = (
    "sql WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT count(*) FROM c WHERE length(hex(zeroblob(100000 + x % 2))) > 0"
)
"""Runs until the 2 s deadline stops it: about 0.1 ms a row, and millions of rows."""


class Console:
    """A `dojo` process at the console: lines in, output read up to an expected text."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oncall_dojo", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.seen = b""
        self._chunks: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := os.read(self.proc.stdout.fileno(), 65536):
            self._chunks.put(chunk)
        self._chunks.put(b"")

    def until(self, text: str, timeout: float = 120) -> str:
        """Output up to and including the next `text` (fails on end of output or timeout)."""
        want = text.encode()
        end = time.monotonic() + timeout
        while want not in self.seen:
            left = end - time.monotonic()
            assert left > 0, f"no {text!r} in time; so far: {self.seen.decode()[-2000:]}"
            try:
                chunk = self._chunks.get(timeout=left)
            except queue.Empty:
                continue
            assert chunk, f"output ended before {text!r}: {self.seen.decode()[-2000:]}"
            self.seen += chunk
        cut = self.seen.index(want) + len(want)
        got, self.seen = self.seen[:cut], self.seen[cut:]
        return got.decode()

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def rest(self, timeout: float = 120) -> tuple[int, str, str]:
        """Wait for the end: (exit code, the rest of stdout, stderr)."""
        assert self.proc.stderr is not None
        code = self.proc.wait(timeout=timeout)
        while (chunk := self._chunks.get(timeout=timeout)) != b"":
            self.seen += chunk
        return code, self.seen.decode(), self.proc.stderr.read().decode()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {**os.environ, "DOJO_HOME": str(tmp_path / "home"), "DOJO_PLAYER": "ann"}


def test_ctrl_c_cancels_a_running_query_and_at_the_prompt_stops_play_resumably(
    env: dict[str, str],
) -> None:
    game = Console(["play", INCIDENT, "--console", "--seed", "1"], env)
    try:
        game.until("dojo> ")
        game.send(SLOW)
        game.until(SLOW[4:])  # echoed as it is read: the query runs next
        time.sleep(0.3)
        game.proc.send_signal(signal.SIGINT)
        said = game.until("dojo> ")
        assert "! stopped: cancelled before it finished; nothing was changed" in said
        assert "deadline" not in said
        # cancelled, the query took no time and left nothing behind: play goes on
        assert said.endswith("[00:00] dojo> ")
        game.send("sql SELECT count(*) FROM payments WHERE status = 'succeeded'")
        said = game.until("dojo> ")
        assert "1 row" in said and said.endswith("[00:10] dojo> ")
        game.proc.send_signal(signal.SIGINT)  # at the prompt: stop, the game kept
        code, out, err = game.rest()
    finally:
        if game.proc.poll() is None:
            game.proc.kill()
    assert code == 130, out + err
    assert "Traceback" not in out + err
    assert (
        "Stopped by ctrl+c at 00:10 before the game did: it is left unfinished, not scored." in out
    )
    assert "Measuring the outcome" not in out
    sid = out.split("dojo play --resume ")[1].split()[0]

    def dojo(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "oncall_dojo", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    shown = dojo("history")
    assert f"{sid}" in shown.stdout and "unfinished at 00:10" in shown.stdout
    resumed = dojo("play", "--resume", sid, "--console", stdin="quit\n")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed at 00:10" in resumed.stdout
    # the record holds the query that ran, not the one cancelled
    assert "> sql SELECT count(*) FROM payments" in resumed.stdout
    assert "zeroblob" not in resumed.stdout
    for check in ("verify", "replay"):
        done = dojo(check, sid)
        assert done.returncode == 0, done.stdout + done.stderr


def test_a_cancel_reaches_the_query_that_starts_after_it_and_keeps_previewed_writes() -> None:
    """ctrl+c just before a query starts still cancels it (a run used to clear a cancel that
    came early), and a cancelled `sql commit` leaves the previews pending, not dropped."""
    s = Session(load_incident(find(INCIDENT)), 1)
    preview = perform(s, "sql UPDATE payments SET status = 'refunded' WHERE id = 1")
    assert preview.kind != "refused", preview.output
    entries = len(s.entries)
    cancel_running(s)
    for line in ("sql SELECT count(*) FROM orders", "sql commit", "refund duplicates"):
        with pytest.raises(Cancelled):
            perform(s, line)
    assert len(s.entries) == entries  # nothing performed, nothing recorded
    clear_cancel(s)
    assert perform(s, "sql pending").output.startswith("1. UPDATE payments")
    assert perform(s, "sql commit").output.startswith("Committed 1 statement:")
