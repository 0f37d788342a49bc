"""Seat processes' replicas (`net.replica`): a seat that presented the host's seat key
follows the host's game step by step and ends in the same state as the host; a replica that
does not match the host notices; a player's own client never gets the private stream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from netkit import WAIT_S, Player, join, link_of, serve_game

from oncall_dojo.incident.model import Incident
from oncall_dojo.net import protocol as p
from oncall_dojo.net.client import Client
from oncall_dojo.net.replica import Diverged, Replica, state_digest


class Seat:
    """A seat process's connection, without its screen: the replica and what it saw."""

    def __init__(self) -> None:
        self.replica: Replica | None = None
        self.errors: list[str] = []
        self.steps = 0

    def __call__(self, msg: Any) -> None:
        try:
            if isinstance(msg, p.Welcome):
                assert msg.replica is not None
                if self.replica is None:
                    self.replica = Replica.build(msg.replica, msg.clock.at)
                else:
                    self.replica.catch_up(msg.replica, msg.clock.at)
            elif self.replica is not None:
                self.steps += isinstance(msg, p.Step)
                self.replica.on_message(msg)
        except Diverged as exc:
            self.errors.append(str(exc))


def test_a_replica_follows_the_host_to_the_same_state(poison: Incident) -> None:
    async def game() -> None:
        served = await serve_game(poison, None, seed=7, speed=40)
        host = served.host
        clock = asyncio.create_task(host.run(interval=0.02))
        try:
            cmdr = await join(link_of(served, "commander"), "cara")
            ops = await join(link_of(served, "operations"), "omar")
            fac = await join(link_of(served, "facilitator"), "fac")
            # the seat process of omar's browser page: the same player, a second connection
            seat, seat_conn = await seat_join(
                link_of(served, "operations"), "omar", host.seatfeed.key
            )
            for text in ("alerts", "queue payments", "workers", "logs --level error"):
                await ops.command(text)
            await fac.client.send(p.Facilitate(action="inject", arg="provider-slows"))
            await fac.client.send(p.Facilitate(action="hint"))
            await cmdr.command("ack")
            # a seat that joins late builds its replica from the welcome alone
            late, late_conn = await seat_join(
                link_of(served, "commander"), "cara", host.seatfeed.key
            )
            await ops.command("restart billing")
            await cmdr.command("diagnose workers:mailer bad-release")
            host.paused = True  # hold the clock, then compare where both stand
            at = host.session.now
            await seat_conn.wait_for(
                lambda m: isinstance(m, p.Line) and m.command.startswith("diag")
            )
            await late_conn.wait_for(
                lambda m: isinstance(m, p.Line) and m.command.startswith("diag")
            )
            for s in (seat, late):
                assert s.errors == []
                assert s.replica is not None
                s.replica.follow(at)
                assert s.replica.session.now == at
                assert state_digest(s.replica.session) == state_digest(host.session)
                assert [
                    (e.at, e.player, e.command, e.output) for e in s.replica.session.entries
                ] == [(e.at, e.player, e.command, e.output) for e in host.session.entries]
                assert s.replica.session.injected == host.session.injected
            assert seat.steps >= 8
            # the host's digests were checked as they came
            host.paused = False
            await cmdr.command("resolve")
            await asyncio.wait_for(clock, WAIT_S)
            assert seat.replica is not None and seat.replica.checked > 0
            assert seat.errors == [] and late.errors == []
            # a player's own client never gets the private stream
            for c in (cmdr, ops):
                assert not [m for m in c.messages if isinstance(m, (p.Step, p.Sync))][:3]
                assert not any('"replica"' in f and '"replica":null' not in f for f in c.frames)
            for c in (cmdr, ops, fac, seat_conn, late_conn):
                await c.close()
        finally:
            clock.cancel()
            await served.server.stop()

    asyncio.run(asyncio.wait_for(game(), 120))


async def seat_join(link: str, name: str, key: str) -> tuple[Seat, Player]:
    """A seat process's connection: every message to its replica as it arrives."""
    seat, messages, frames = Seat(), [], []  # type: ignore[var-annotated]

    def on_message(msg: Any) -> None:
        messages.append(msg)
        seat(msg)

    client = Client(link, name, on_message, on_frame=frames.append, seat=key)
    player = Player(client, asyncio.create_task(client.run()), messages, frames)
    await player.wait_for(lambda m: isinstance(m, p.Welcome))
    return seat, player


def test_a_wrong_seat_key_is_refused(poison: Incident) -> None:
    async def game() -> None:
        served = await serve_game(poison, None, seed=7)
        try:
            with pytest.raises(Exception, match="wrong seat key"):
                await join(link_of(served, "operations"), "omar", seat="guess", retry_for=0)
        finally:
            await served.server.stop()

    asyncio.run(asyncio.wait_for(game(), 60))


def test_a_replica_that_differs_from_the_host_notices(poison: Incident) -> None:
    async def game() -> tuple[Replica, list[p.Step], p.Sync]:
        served = await serve_game(poison, None, seed=7, speed=1)
        host = served.host
        try:
            token = next(s.token for s in host.seats if s.role == "operations")
            assert token is not None
            host.join(token, "omar")
            host.command("omar", "alerts")
            host.session.advance(30)
            host.command("omar", "queues")
            assert len(host.seatfeed.steps) == 2
            return Replica.build(host.seatfeed.start(), 0), list(host.seatfeed.steps), _sync(host)
        finally:
            await served.server.stop()

    def _sync(host: Any) -> p.Sync:
        return p.Sync(at=host.session.now, digest=state_digest(host.session))

    start_replica, steps, sync = asyncio.run(asyncio.wait_for(game(), 60))
    # the faithful replica matches the host's digest
    start_replica.check(sync)
    assert start_replica.checked == 1
    # a digest from a host in another state is noticed
    with pytest.raises(Diverged, match="differs from the host's"):
        start_replica.check(sync.model_copy(update={"digest": "0" * 24}))
    # a command whose output differs from the host's is noticed
    fresh = Replica.build(start_replica.start.model_copy(update={"steps": []}), 0)  # type: ignore[union-attr]
    fresh.apply(steps[0])
    bad = steps[1].model_copy(update={"output": "f" * 16})
    with pytest.raises(Diverged, match="another output"):
        fresh.apply(bad)
    # one applied out of the host's time is noticed too
    other = Replica.build(start_replica.start.model_copy(update={"steps": []}), 0)  # type: ignore[union-attr]
    with pytest.raises(Diverged, match="tick"):
        other.apply(steps[0].model_copy(update={"tick": steps[0].tick + 1}))
