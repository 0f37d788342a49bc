"""Team game over loopback: latency, host CPU, late join, bytes per client.

    .venv/bin/python benchmarks/bench_team.py [--seconds 60] [--json]

Starts `dojo host` in its own process on 127.0.0.1 (so its CPU time can be read from
/proc), then, in this process:

- **latency**: 8 players (a commander and 7 in operations), the facilitator and 4
  observers join; the clock runs at 20x; each player sends a command every 5 s (spread
  out). For every command, the time from sending it to its line arriving in every other
  client. Targets: p95 <= 100 ms, p99 <= 250 ms.
- **host CPU** over that run, in cores (user + system time / wall time). Target <= 1.
- **bytes** each client received per simulated minute at 20x.
- **late join**: a second game runs at 120x with a player typing every 0.05 s until 50
  simulated minutes have passed; then clients join, and the time from opening the
  connection to holding the full `welcome` (the whole game so far) is measured: the
  line console's first full frame (the full-screen client's drawing is not included).
  Target <= 2 s.

Figures from one run; nothing is asserted (a busy machine prints NOT MET, never fails).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from oncall_dojo.net import protocol as p
from oncall_dojo.net.client import Client

COMMANDS = ["alerts", "queues", "queue payments", "workers billing", "deploys", "flags", "map"]


def start_host(*args: str) -> tuple[subprocess.Popen[str], dict[str, list[str]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "oncall_dojo", "host", "payments-stuck", "--seed", "7",
         "--listen", "127.0.0.1:0", "--no-record", "--no-console", "--player", "fac", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    links: dict[str, list[str]] = {}
    end = time.monotonic() + 60
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        if m := re.match(r"\s+(\w+)\s+(http://\S+)", line):
            links.setdefault(m.group(1), []).append(m.group(2))
        if line.startswith("Players join with"):
            # keep reading what it prints, so a full pipe never blocks the host
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, links
    proc.kill()
    raise SystemExit("the host did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Watcher:
    """A client that stamps every line it receives with the time it arrived."""

    def __init__(self, link: str, name: str) -> None:
        self.name = name
        self.arrived: dict[int, float] = {}
        self.replies: dict[int, int] = {}
        self.last_at = 0
        self.client = Client(link, name, self.on_message)
        self.task: asyncio.Task[None] | None = None

    def on_message(self, m: Any) -> None:
        now = time.perf_counter()
        if isinstance(m, p.Line):
            self.arrived.setdefault(m.seq, now)
        elif isinstance(m, p.Reply) and m.seq >= 0:
            self.replies[m.id] = m.seq
        elif isinstance(m, p.Clock):
            self.last_at = m.at

    async def start(self) -> None:
        self.task = asyncio.create_task(self.client.run())
        await asyncio.wait_for(self.client.connected.wait(), 30)


async def latency_run(seconds: float) -> dict[str, Any]:
    proc, links = start_host("--speed", "20", "--roles", "commander,operations*7,observer*4")
    try:
        players = [Watcher(links["commander"][0], "cmdr")] + [
            Watcher(link, f"ops{i}") for i, link in enumerate(links["operations"])
        ]
        others = [Watcher(links["facilitator"][0], "fac")] + [
            Watcher(link, f"obs{i}") for i, link in enumerate(links["observer"])
        ]
        everyone = players + others
        for w in everyone:
            await w.start()
        cpu0, wall0 = cpu_seconds(proc.pid), time.perf_counter()
        at0 = everyone[0].last_at
        sent: dict[tuple[str, int], float] = {}

        async def talk(i: int, w: Watcher) -> None:
            await asyncio.sleep(5.0 * i / len(players))  # spread out over the 5 s
            n = 0
            while time.perf_counter() - wall0 < seconds:
                t0 = time.perf_counter()
                cid = await w.client.command(COMMANDS[n % len(COMMANDS)])
                if cid is not None:
                    sent[(w.name, cid)] = t0
                n += 1
                await asyncio.sleep(5.0 - (time.perf_counter() - t0))

        await asyncio.gather(*(talk(i, w) for i, w in enumerate(players)))
        await asyncio.sleep(1.0)
        wall = time.perf_counter() - wall0
        cpu = cpu_seconds(proc.pid) - cpu0
        sim_min = max(1e-9, (everyone[0].last_at - at0) / 60)
        lat = []
        missing = 0
        for (name, cid), t0 in sent.items():
            sender = next(w for w in players if w.name == name)
            seq = sender.replies.get(cid)
            if seq is None:
                missing += 1
                continue
            for w in everyone:
                if w is sender:
                    continue
                if seq in w.arrived:
                    lat.append((w.arrived[seq] - t0) * 1000)
                else:
                    missing += 1
        lat.sort()
        bytes_per_min = [w.client.received_bytes / sim_min for w in everyone]
        for w in everyone:
            await w.client.close()
        return {
            "commands": len(sent),
            "deliveries": len(lat),
            "missing": missing,
            "p50_ms": statistics.median(lat),
            "p95_ms": lat[int(0.95 * (len(lat) - 1))],
            "p99_ms": lat[int(0.99 * (len(lat) - 1))],
            "max_ms": lat[-1],
            "host_cpu_cores": cpu / wall,
            "sim_minutes": sim_min,
            "bytes_per_client_per_sim_minute_median": statistics.median(bytes_per_min),
            "bytes_per_client_per_sim_minute_max": max(bytes_per_min),
        }
    finally:
        proc.kill()
        proc.wait()


async def late_join_run(joins: int = 5) -> dict[str, Any]:
    proc, links = start_host("--speed", "120", "--roles", "commander,observer*8")
    try:
        typist = Watcher(links["commander"][0], "cmdr")
        await typist.start()
        n = 0
        end = time.monotonic() + 120
        while typist.last_at < 50 * 60 and time.monotonic() < end:
            await typist.client.command(COMMANDS[n % len(COMMANDS)])
            n += 1
            await asyncio.sleep(0.05)
        times, sizes = [], []
        for i, link in enumerate(links["observer"][:joins]):
            got: list[Any] = []
            t0 = time.perf_counter()
            c = Client(link, f"late{i}", got.append, on_frame=lambda f: sizes.append(len(f)))
            task = asyncio.create_task(c.run())
            while not any(isinstance(m, p.Welcome) for m in got):
                await asyncio.sleep(0.001)
            times.append(time.perf_counter() - t0)
            await c.close()
            await task
        welcome = max(sizes)
        await typist.client.close()
        return {
            "joined_at_sim_minute": typist.last_at / 60,
            "feed_lines": n,
            "welcome_bytes": welcome,
            "first_full_frame_s_median": statistics.median(times),
            "first_full_frame_s_max": max(times),
        }
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the latency run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    lat = asyncio.run(latency_run(args.seconds))
    late = asyncio.run(late_join_run())
    if args.json:
        print(json.dumps({"latency": lat, "late_join": late}, indent=1))
        return

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    print("team game, 8 players + facilitator + 4 observers, 20x, a command per player every 5 s")
    print(f"  commands {lat['commands']}, deliveries {lat['deliveries']}, missing {lat['missing']}")
    print(f"  command -> line in every other client: p50 {lat['p50_ms']:.1f} ms, "
          f"p95 {lat['p95_ms']:.1f} ms ({verdict(lat['p95_ms'] <= 100)}: <= 100), "
          f"p99 {lat['p99_ms']:.1f} ms ({verdict(lat['p99_ms'] <= 250)}: <= 250), max {lat['max_ms']:.1f} ms")  # fmt: skip
    print(
        f"  host CPU {lat['host_cpu_cores']:.2f} cores ({verdict(lat['host_cpu_cores'] <= 1)}: <= 1)"
    )
    print(f"  bytes per client per simulated minute: median {lat['bytes_per_client_per_sim_minute_median']:,.0f}, "
          f"max {lat['bytes_per_client_per_sim_minute_max']:,.0f} (over {lat['sim_minutes']:.1f} simulated minutes)")  # fmt: skip
    print(f"late join at simulated minute {late['joined_at_sim_minute']:.0f} "
          f"({late['feed_lines']} feed lines, welcome {late['welcome_bytes']:,} bytes): "
          f"first full frame median {late['first_full_frame_s_median'] * 1000:.0f} ms, "
          f"max {late['first_full_frame_s_max'] * 1000:.0f} ms ({verdict(late['first_full_frame_s_max'] <= 2)}: <= 2 s)")  # fmt: skip


if __name__ == "__main__":
    main()
