"""Benchmark: from resolving an incident to its debrief on screen, beside one play of it.

    .venv/bin/python benchmarks/bench_debrief.py                 # payments-stuck, seed 3, 00:16
    .venv/bin/python benchmarks/bench_debrief.py --repeat 5 --at 120 --json

The game runs headless at 160x50 (Textual's Pilot), the clock paused. The player
advances to `--at` (default 00:16), acknowledges (the last change) and resolves; timing
starts at the confirmation. Two figures per run:

- **debrief**: until the debrief screen is up (the rest of the incident simulated to
  its horizon and scored; a progress bar of simulated time shows meanwhile);
- **comparison**: until the reference and doing nothing from the same seed are on it.

Each is measured three ways:

- **ahead**, as `dojo play` plays: the comparison runs are played in a worker process
  from the start of the game, and the rest of the game in another after each change
  (`oncall_dojo.game.ahead`). The player resolves once both are done, as one who reads
  the result of their last command for a few seconds would;
- **at-once**: the same workers, but the player resolves the moment after the last
  change, so the finish races the worker that has only just started (the worst case);
- **after**: no worker; everything is played after the resolve, as before.

The baseline, measured in the same run, is one play of the
incident (its reference playthrough, prelude to horizon) in this process. Medians of
`--repeat` runs. Each figure is printed as wall seconds and this process's CPU seconds
over the same interval (all its threads; a busy machine stretches the first, not the
second); the load average is printed beside them. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402

from oncall_dojo.game.play import perform, run_script  # noqa: E402
from oncall_dojo.game.session import Session  # noqa: E402
from oncall_dojo.game.validate import load_checked  # noqa: E402
from oncall_dojo.incident.packs import find  # noqa: E402
from oncall_dojo.tui import report  # noqa: E402
from oncall_dojo.tui.app import DojoApp  # noqa: E402
from oncall_dojo.tui.screens.briefing import BriefingScreen  # noqa: E402
from oncall_dojo.tui.screens.debrief import DebriefScreen  # noqa: E402
from oncall_dojo.tui.screens.dialogs import ConfirmDialog  # noqa: E402
from oncall_dojo.tui.screens.incident import IncidentScreen  # noqa: E402

TARGET_S = 0.8
MODES = {
    "ahead": "played ahead (dojo play), resolved a moment after the last change",
    "at-once": "played ahead (dojo play), resolved at once after the last change",
    "after": "nothing played ahead (played after the resolve)",
}
"""How each run is played (see `one`), and how its figures are headed."""


async def wait_for(pilot: Pilot[None], cond: Callable[[], bool], timeout: float = 900) -> None:
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"waited {timeout} s for {cond}")
        await pilot.pause(0.005)


Timing = tuple[float, float]
"""(wall seconds, this process's CPU seconds)"""


def since(t0: Timing) -> Timing:
    return time.perf_counter() - t0[0], time.process_time() - t0[1]


def now() -> Timing:
    return time.perf_counter(), time.process_time()


async def one(incident: str, seed: int, at: int, mode: str) -> tuple[Timing, Timing]:
    """`mode`: "ahead" (workers on, resolved once they are done), "at-once" (workers on,
    resolved at once after the last change) or "after" (no workers)."""
    report._RUNS.clear()  # nothing kept from an earlier run
    ahead = mode != "after"
    app = DojoApp(incident, seed, start_paused=True, play_ahead=ahead)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BriefingScreen)
                       and app.screen.session is not None)  # fmt: skip
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentScreen))
        screen = app.screen
        assert isinstance(screen, IncidentScreen)
        screen.advance_to(at)
        if ahead:
            bg = report._AHEAD[report._ahead_key(screen.session.incident, seed)]
            await wait_for(pilot, bg.ready)
        perform(screen.session, "ack")  # the last change: the rest is played ahead from here
        if mode == "ahead":
            rest = app.ahead
            assert rest is not None
            await wait_for(pilot, lambda: rest.finished() is not None)
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        t0 = now()
        await pilot.click("#ok")
        await wait_for(pilot, lambda: isinstance(app.screen, DebriefScreen))
        shown = since(t0)
        debrief = app.screen
        assert isinstance(debrief, DebriefScreen)
        await wait_for(pilot, lambda: bool(debrief.others))
        compared = since(t0)
    report.stop_playing_ahead()
    return shown, compared


def baseline(incident: str, seed: int) -> Timing:
    inc = load_checked(find(incident, []))
    t0 = now()
    s = Session(inc, seed)
    run_script(s, s.incident.playthroughs.reference.actions)
    return since(t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--incident", default="payments-stuck")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument(
        "--at", type=int, default=16, help="resolve at this many seconds after the page"
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    load_before = os.getloadavg()
    keys = ("base", *(f"{m}_{w}" for m in MODES for w in ("shown", "compared")))
    runs: dict[str, list[float]] = {k: [] for k in keys}
    cpus: dict[str, list[float]] = {k: [] for k in keys}

    def keep(key: str, timing: Timing) -> None:
        runs[key].append(timing[0])
        cpus[key].append(timing[1])

    for _ in range(max(1, args.repeat)):
        keep("base", baseline(args.incident, args.seed))
        for mode in MODES:
            shown, compared = asyncio.run(one(args.incident, args.seed, args.at, mode))
            keep(f"{mode}_shown", shown)
            keep(f"{mode}_compared", compared)
    med = {k: statistics.median(v) for k, v in runs.items()}
    cpu = {k: statistics.median(v) for k, v in cpus.items()}
    out = {"incident": args.incident, "seed": args.seed, "resolved_at": args.at,
           "repeat": args.repeat, "load_before": load_before, "load_after": os.getloadavg(),
           "median_s": med, "median_cpu_s": cpu, "all_s": runs, "all_cpu_s": cpus,
           "target_s": TARGET_S}  # fmt: skip
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    base = med["base"]
    print(f"oncall-dojo debrief: {args.incident} seed {args.seed}, resolved at "
          f"{args.at // 60:02d}:{args.at % 60:02d}, 160x50, median of {args.repeat}")  # fmt: skip
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
    print(f"baseline, one play of the incident:            {base:6.2f} s wall  "
          f"{cpu['base']:6.2f} s CPU")  # fmt: skip
    for tag, what in MODES.items():
        shown, compared = med[f"{tag}_shown"], med[f"{tag}_compared"]
        print(f"comparison runs {what}:")
        print(f"  resolve to the debrief on screen:            {shown:6.2f} s wall  "
              f"{cpu[f'{tag}_shown']:6.2f} s CPU  ({shown / base:.2f} of a play; "
              f"target <= {TARGET_S} s: {'met' if shown <= TARGET_S else 'NOT MET'})")  # fmt: skip
        print(f"  resolve to the comparison on it:             {compared:6.2f} s wall  "
              f"{cpu[f'{tag}_compared']:6.2f} s CPU  ({compared / base:.2f} of a play)")  # fmt: skip
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
