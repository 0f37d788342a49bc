"""`dojo join` in a terminal relays the seat's screen (`net.relay`), tested on loopback: the
relay's input is a pipe it reads keys from, its output a buffer of the bytes it would write
to the terminal. The seat's incident screen arrives, keys reach it, a resize redraws it
narrow, nothing sealed is ever among the bytes, the end of the game shows the team's marks,
and the relay ends when the host stops. The host serves these screens without `--web`.
Every wait is bounded."""

from __future__ import annotations

import asyncio
import io
import os
import re

import pytest
from netkit import link_of, serve_game
from test_sealed import SEED, leaks
from webkit import screen_text

from oncall_dojo.incident.model import Incident
from oncall_dojo.net.client import JoinError
from oncall_dojo.net.hosting import close_game
from oncall_dojo.net.relay import Relay, play_url

WAIT_S = 60.0


class Screen(io.BytesIO):
    """What the relay writes to its terminal."""

    def text(self) -> str:
        return screen_text(self.getvalue())


async def shows(out: Screen, pattern: str, since: int = 0, timeout: float = WAIT_S) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not re.search(pattern, screen_text(out.getvalue()[since:])):
        if loop.time() > end:
            raise AssertionError(f"never showed {pattern!r}; last: {out.text()[-500:]!r}")
        await asyncio.sleep(0.05)


def test_play_url_is_the_seats_screen() -> None:
    url = play_url("http://127.0.0.1:8765/join/abc_-1", "omar k", 120, 40)
    assert url == "ws://127.0.0.1:8765/play/abc_-1/ws/omar%20k?width=120&height=40"
    assert play_url("https://h:1/join/t", "x", 80, 24).startswith("wss://h:1/play/t/ws/x")


def test_a_relayed_terminal_plays_the_seats_screen(poison: Incident) -> None:
    inc = poison.for_seed(SEED)

    async def game() -> None:
        served = await serve_game(poison, None, seed=SEED, speed=2)  # no web: still served
        clock = asyncio.create_task(served.host.run(interval=0.05))
        keys_r, keys_w = os.pipe()
        out = Screen()
        size = [140, 44]
        relay = Relay(
            link_of(served, "operations"), "omar", keys_r, out, lambda: (size[0], size[1])
        )
        task = asyncio.create_task(relay.run())
        try:
            await shows(out, r"Your powers: act, investigate")
            await shows(out, r"Ops console")
            os.write(keys_w, b"alerts\r")
            await shows(out, r"Active alerts")
            assert any(
                e.command == "alerts" and e.player == "omar" for e in served.host.session.entries
            )
            # a teammate's command, dimmed in the console
            served.host.join(
                next(s.token for s in served.host.seats if s.role == "commander") or "", "cara"
            )
            served.host.command("cara", "queues")
            await shows(out, r"cara: > queues")
            # the terminal got narrower: the screen is drawn again for it
            mark = len(out.getvalue())
            size[:] = [90, 30]
            relay.resized()
            await shows(out, r"T\+\d\d:\d\d/1:00:00", since=mark)
            # the facilitator ends the game: the marks come, never the answer
            served.host.end("fac")
            await shows(out, r"Score \d+(\.\d+)?/100, grade")
            await asyncio.wait_for(clock, WAIT_S)
            text = out.text()
            assert leaks(text, inc) == []
            for pane in ("Logs", "Metrics", "Map", "Changes", "Runbooks", "Team"):
                assert pane in text  # the solo screen's panes, and the team's tab
        finally:
            clock.cancel()
            await close_game(served)
        why = await asyncio.wait_for(task, WAIT_S)  # the host stopped: the relay ends
        assert "host stopped" in why
        os.close(keys_r)
        os.close(keys_w)
        assert served.web.screens == {}

    asyncio.run(asyncio.wait_for(game(), 240))


def test_a_relay_to_a_seat_that_is_not_a_players_is_refused(poison: Incident) -> None:
    async def game() -> None:
        served = await serve_game(poison, None, seed=SEED)
        keys_r, keys_w = os.pipe()
        try:
            relay = Relay(link_of(served, "facilitator"), "x", keys_r, Screen(), lambda: (80, 24))
            with pytest.raises(JoinError, match="no screen for this link"):
                await asyncio.wait_for(relay.run(), WAIT_S)
        finally:
            os.close(keys_r)
            os.close(keys_w)
            await close_game(served)

    asyncio.run(asyncio.wait_for(game(), 120))


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_dojo_join_in_a_terminal_relays_and_restores_the_terminal(poison: Incident) -> None:
    """The real command on a pseudo-terminal: keys typed while it starts are kept, raw mode
    while it plays, the terminal as it was after the player leaves (Ctrl+Q)."""
    import fcntl
    import struct
    import subprocess
    import sys
    import termios

    async def game() -> None:
        served = await serve_game(poison, None, seed=SEED, speed=2)
        clock = asyncio.create_task(served.host.run(interval=0.05))
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 44, 140, 0, 0))
        before = termios.tcgetattr(slave)
        seen = bytearray()
        loop = asyncio.get_running_loop()
        loop.add_reader(master, lambda: seen.extend(_read(master)))
        cmd = [sys.executable, "-m", "oncall_dojo", "join", link_of(served, "operations")]
        proc = subprocess.Popen(
            [*cmd, "--as", "omar"], stdin=slave, stdout=slave, stderr=slave, close_fds=True
        )
        # typed at once, while `dojo join` starts (before raw mode, before the seat joins):
        # kept, and run at the console once it opens
        os.write(master, b"alerts\r")
        try:
            await _until(lambda: "Ops console" in screen_text(bytes(seen)))
            raw = termios.tcgetattr(slave)
            assert not raw[3] & termios.ICANON and not raw[3] & termios.ECHO  # raw mode
            await _until(lambda: "Active alerts" in screen_text(bytes(seen)))
            assert [(e.player, e.command) for e in served.host.session.entries] == [
                ("omar", "alerts")
            ]
            os.write(master, b"\x11")  # Ctrl+Q: the player leaves
            await _until(lambda: proc.poll() is not None)
            await _until(lambda: b"Left the game" in seen)
            assert proc.returncode == 0
            assert termios.tcgetattr(slave) == before  # the terminal as it was
            assert b"\x1b[?1049l" in seen  # back on the main screen
        finally:
            loop.remove_reader(master)
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            os.close(master)
            os.close(slave)
            clock.cancel()
            await close_game(served)

    asyncio.run(asyncio.wait_for(game(), 240))


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""


async def _until(cond: object, timeout: float = WAIT_S) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():  # type: ignore[operator]
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {cond.__code__.co_consts}")  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)
