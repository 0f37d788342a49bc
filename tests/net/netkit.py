"""Helpers for the network tests: a served team game on 127.0.0.1 and players that keep
every frame they receive. Every wait is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.net.client import Client
from oncall_dojo.net.hosting import Served, new_game, open_game
from oncall_dojo.net.roles import parse_spec
from oncall_dojo.store import Store

WAIT_S = 20.0
"""The longest any test waits for one thing to happen."""


@dataclass
class Player:
    """A connected client that keeps every frame and message it received."""

    client: Client
    task: asyncio.Task[None]
    messages: list[Any] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)

    async def wait_for(
        self, pred: Callable[[Any], bool], timeout: float = WAIT_S, since: int = 0
    ) -> Any:
        """The first message from the `since`-th on (already received or to come) for which
        `pred` holds."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        seen = since
        while True:
            for m in self.messages[seen:]:
                if pred(m):
                    return m
            seen = len(self.messages)
            if self.task.done():
                self.task.result()
                raise AssertionError("the client stopped before the message came")
            if loop.time() > end:
                raise AssertionError(f"no such message within {timeout}s: {self.messages[-5:]}")
            await asyncio.sleep(0.01)

    async def command(self, text: str) -> p.Reply:
        cid = await self.client.command(text)
        assert cid is not None, "not connected"
        return await self.wait_for(lambda m: isinstance(m, p.Reply) and m.id == cid)

    async def close(self) -> None:
        await self.client.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, WAIT_S)


async def join(link: str, name: str, **kw: Any) -> Player:
    """Join and wait for the welcome."""
    messages: list[Any] = []
    frames: list[str] = []
    client = Client(link, name, messages.append, on_frame=frames.append, **kw)
    task = asyncio.create_task(client.run())
    player = Player(client, task, messages, frames)
    await player.wait_for(lambda m: isinstance(m, p.Welcome))
    return player


def link_of(served: Served, role: str, nth: int = 0) -> str:
    return [link for r, link, _ in served.links if r == role][nth]


async def serve_game(
    incident: Incident,
    store: Store | None,
    seed: int = 48213,
    spec: str = "commander,operations*3,communications,scribe,observer*2",
    speed: float = 1.0,
    host_name: str = "fac",
    **kw: Any,
) -> Served:
    seats, roles = parse_spec(spec)
    host = new_game(incident, seed, seats, roles, host_name=host_name, store=store, speed=speed)
    return await open_game(host, "127.0.0.1", 0, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_dojo(
    args: list[str], ready: Callable[[str], bool]
) -> tuple[subprocess.Popen[str], list[str]]:
    """`python -m oncall_dojo ARGS` in a subprocess, its output read (bounded, 60 s) up to the
    line `ready` accepts; returns the process and the lines read. What it prints afterwards
    is read in a thread, so a full pipe never blocks it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "oncall_dojo", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    end = time.monotonic() + 60
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the host stopped: {proc.stderr.read() if proc.stderr else ''}")
        lines.append(line)
        if ready(line):
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, lines
    proc.kill()
    raise AssertionError("the host printed no links")


def stop(*procs: subprocess.Popen[str] | None) -> None:
    """Kill whichever of `procs` still runs (a test's way out, whatever happened)."""
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
