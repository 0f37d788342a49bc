"""Benchmark: the game's cold start and its input latency while the simulation runs at 20x.

    python benchmarks/bench_tui.py [--repeat 5] [--incident poison-payments] [--seconds 8]

1. Cold start. A fresh process runs `dojo play INCIDENT --seed 1` (the same code
   path as the command: cli, then the TUI imported lazily) headless and exits at
   its first interactive frame (`on_ready`); the anchor is a fresh process with
   a minimal Textual app that only shows a Static. Both are timed from spawn to
   the child printing READY; medians of --repeat runs, alternating. Also shown:
   time until the briefing is complete (the session built in its thread).
   Target: dojo <= anchor + 0.3 s.
2. Input wait at 20x. The incident screen runs at 20x for --seconds while a
   probe asks the event loop to wake it every 5 ms; the worst overshoot is the
   longest any key press would have waited. Keys are also pressed into the
   console and timed to their processing. The anchor is the same screen with
   the clock paused. Target: worst wait <= 100 ms.

Nothing is asserted: this reports, it does not fail.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ANCHOR = """
from textual.app import App
from textual.widgets import Static
class Minimal(App):
    def compose(self):
        yield Static("hello")
    def on_ready(self):
        print("READY", flush=True)
        self.exit()
Minimal().run(headless=True)
"""

DOJO = """
import sys
import oncall_dojo.tui.app as A
from oncall_dojo import cli

until = sys.argv[1]
class Probe(A.DojoApp):
    CSS_PATH = A.__file__.rsplit("/", 1)[0] + "/dojo.tcss"
    def on_ready(self):
        print("READY", flush=True)
        if until == "ready":
            self.exit()
        else:
            self.set_interval(0.01, self._poll)
    def _poll(self):
        if getattr(self.screen, "session", None) is not None:
            print("BRIEFED", flush=True)
            self.exit()
def run(incident, seed, extra):
    Probe(incident, seed, extra).run(headless=True)
    return 0
A.run = run
sys.stdin.isatty = lambda: True
sys.stdout.isatty = lambda: True
sys.exit(cli.main(["play", sys.argv[2], "--seed", "1"]))
"""


def spawn(code: str, *args: str, marker: str = "READY") -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        text=True,
    )
    assert proc.stdout is not None
    elapsed = float("nan")
    for line in proc.stdout:
        if line.strip() == marker:
            elapsed = time.perf_counter() - t0
            break
    proc.wait(timeout=60)
    return elapsed


def cold_start(repeat: int, incident: str) -> None:
    anchor, ready, briefed = [], [], []
    for _ in range(repeat):
        anchor.append(spawn(ANCHOR))
        ready.append(spawn(DOJO, "ready", incident))
        briefed.append(spawn(DOJO, "briefed", incident, marker="BRIEFED"))
    a, r, b = statistics.median(anchor), statistics.median(ready), statistics.median(briefed)
    print(f"cold start (median of {repeat}):")
    print(f"  minimal Textual app (anchor)        {a * 1000:7.0f} ms")
    print(
        f"  dojo play {incident:<24} {r * 1000:7.0f} ms   {r / a:5.2f}x anchor, {(r - a) * 1000:+.0f} ms (target <= +300 ms)  {'OK' if r - a <= 0.3 else 'OVER'}"
    )
    print(f"  ... briefing complete (session)     {b * 1000:7.0f} ms   {b / a:5.2f}x anchor")


async def _latency(
    incident: str, seconds: float, speed: int | None
) -> tuple[float, float, float, int]:
    from oncall_dojo.tui.app import DojoApp
    from oncall_dojo.tui.screens.briefing import BriefingScreen
    from oncall_dojo.tui.screens.incident import IncidentScreen

    app = DojoApp(incident, 1, start_paused=True)
    async with app.run_test(size=(160, 50)) as pilot:
        while not (isinstance(app.screen, BriefingScreen) and app.screen.session is not None):
            await pilot.pause(0.05)
        await pilot.press("enter")
        while not isinstance(app.screen, IncidentScreen):
            await pilot.pause(0.05)
        screen = app.screen
        if speed:
            screen.set_speed(speed)
        start_at = screen.session.now
        waits: list[float] = []
        keys: list[float] = []
        panes = ["logs", "metrics", "map", "changes", "runbooks"]
        t_end = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < t_end:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            waits.append(time.perf_counter() - t - 0.005)
            i += 1
            if i % 20 == 0:
                t = time.perf_counter()
                await pilot.press("x")
                keys.append(time.perf_counter() - t)
            if i % 300 == 0:
                screen.show_pane(panes[(i // 300) % len(panes)])
        ran = screen.session.now - start_at
        return max(waits), statistics.median(waits), max(keys), ran


def input_wait(incident: str, seconds: float) -> None:
    base = asyncio.run(_latency(incident, seconds, None))
    fast = asyncio.run(_latency(incident, seconds, 20))
    print(f"input wait over {seconds:g} s at 160x50 (panes cycling):")
    print(
        f"  clock paused (anchor)   worst loop wait {base[0] * 1000:6.1f} ms, median {base[1] * 1000:5.1f} ms, worst key {base[2] * 1000:6.1f} ms"
    )
    print(
        f"  clock at 20x            worst loop wait {fast[0] * 1000:6.1f} ms, median {fast[1] * 1000:5.1f} ms, worst key {fast[2] * 1000:6.1f} ms"
        f"  ({fast[3]} sim s run; {fast[0] / max(base[0], 1e-6):.2f}x anchor; target <= 100 ms {'OK' if max(fast[0], fast[2]) <= 0.1 else 'OVER'})"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--incident", default="poison-payments")
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    cold_start(args.repeat, args.incident)
    input_wait(args.incident, args.seconds)


if __name__ == "__main__":
    main()
