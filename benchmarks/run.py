"""Benchmark: how fast the simulated backend plays an incident, next to plain log formatting.

    python3 tasks.py bench                 # or: .venv/bin/python benchmarks/run.py
    python3 tasks.py bench --json          # machine-readable
    python3 tasks.py bench --repeat 9 --seed 7 --incident orders-not-shipping

One *game* run builds a `Session` (which runs the silent prelude until the page
fires), plays the incident's reference playthrough and finishes it to the
horizon, with full telemetry (metrics, logs, alerts), all in process, and leaves
its log store ready to read (message buffer, offsets, columns). One *baseline*
run formats the same number of log lines as that game run produced, with
f-strings shaped like the real ones (ISO timestamp with milliseconds, level,
instance, seven key=value fields), into a list, and nothing else.
The two alternate; each is repeated and the median is reported.

Target (absolute, on the machine running the benchmark): the 60-minute incident
in under 1 s of wall time (>= 3,600x real time). Log lines per second are printed
with their ratio to the baseline, as a reading, not a target: what people wait for
is a whole play. Nothing here is asserted: the benchmark reports, it does not fail.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from oncall_dojo.game.play import run_script  # noqa: E402
from oncall_dojo.game.session import Session  # noqa: E402
from oncall_dojo.incident.loader import load_incident  # noqa: E402
from oncall_dojo.incident.model import Incident  # noqa: E402
from oncall_dojo.incident.packs import find  # noqa: E402

TARGET_SPEEDUP = 3600.0
"""Simulated seconds per wall second: a 60-minute incident in under one second."""


def play(incident: Incident, seed: int) -> tuple[float, int, int]:
    """Play the reference playthrough headless; returns (wall seconds, simulated seconds, log lines)."""
    t0 = time.perf_counter()
    session = Session(incident, seed)
    run_script(session, incident.playthroughs.reference.actions)
    # the log store brought up to date for readers (its offsets are worked out when first read)
    lines = len(session.system.logs.arrays().ticks)
    wall = time.perf_counter() - t0
    return wall, session.system.t, lines


_START = datetime(2026, 3, 14, 3, 0, 0, tzinfo=UTC)
_STAMPS = tuple((_START + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S") for s in range(3600))
_LEVELS = ("INFO ", "INFO ", "INFO ", "DEBUG", "WARN ", "ERROR")
_HOSTS = (*(f"api-9a022-{i}" for i in range(4)), "billing-6f9c4-x2bq7", "mailer-5d1e0-k9wzp")
_METHODS = ("GET", "GET", "GET", "POST")
_PATHS = ("/api/products", "/api/account", "/api/orders/:id", "/api/checkout", "/api/search")
_EMAILS = tuple(f"user{i}@example.com" for i in range(400))
_IPS = tuple(f"{10 + i % 200}.{i * 7 % 256}.{i * 13 % 256}.{i * 29 % 256}" for i in range(300))


def baseline(n: int) -> float:
    """Format n log lines shaped like the game's access log into a list; returns wall seconds."""
    stamps, levels, hosts, methods, paths = _STAMPS, _LEVELS, _HOSTS, _METHODS, _PATHS
    emails, ips = _EMAILS, _IPS
    t0 = time.perf_counter()
    out: list[str] = []
    append = out.append
    for i in range(n):
        append(
            f"{stamps[(i // 50) % 3600]}.{i * 37 % 1000:03d}Z {levels[i % 6]} {hosts[i % 6]} "
            f"method={methods[i & 3]} path={paths[i % 5]} status={200 + (i & 1)} "
            f"duration_ms={i * 7 % 250} user={emails[i % 400]} ip={ips[i % 300]} "
            f"req_id={(i * 2654435761) & 0xFFFFFFFFFFFF:012x}"
        )
    wall = time.perf_counter() - t0
    if len(out) != n:  # keep the list alive until measured, and honest
        raise AssertionError("baseline lost lines")
    return wall


def measure(incident_id: str, seed: int, repeat: int) -> dict[str, object]:
    incident = load_incident(find(incident_id))
    game_walls: list[float] = []
    base_walls: list[float] = []
    sim_s = lines = 0
    for _ in range(repeat):
        wall, sim_s, lines = play(incident, seed)
        game_walls.append(wall)
        base_walls.append(baseline(lines))
    game = statistics.median(game_walls)
    base = statistics.median(base_walls)
    speedup = sim_s / game
    game_lps = lines / game
    base_lps = lines / base
    return {
        "incident": incident_id,
        "seed": seed,
        "repeat": repeat,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "simulated_s": sim_s,
        "log_lines": lines,
        "game_wall_s": game,
        "game_wall_s_all": game_walls,
        "baseline_wall_s": base,
        "baseline_wall_s_all": base_walls,
        "sim_s_per_wall_s": speedup,
        "game_lines_per_s": game_lps,
        "baseline_lines_per_s": base_lps,
        "game_over_baseline": game_lps / base_lps,
        "target_sim_s_per_wall_s": TARGET_SPEEDUP,
        "meets_speed_target": speedup >= TARGET_SPEEDUP,
    }


def report(r: dict[str, object]) -> str:
    def ok(flag: object) -> str:
        return "MET" if flag else "NOT MET"

    sim_s = int(r["simulated_s"])  # type: ignore[call-overload]
    rows = [
        ("", "game", "baseline", "game/baseline"),
        ("wall time, median (s)", f"{r['game_wall_s']:.3f}", f"{r['baseline_wall_s']:.3f}", ""),
        (
            "log lines / s",
            f"{r['game_lines_per_s']:,.0f}",
            f"{r['baseline_lines_per_s']:,.0f}",
            f"{r['game_over_baseline']:.2f}",
        ),
        ("simulated s / wall s", f"{r['sim_s_per_wall_s']:,.0f}x", "", ""),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    table = "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )
    return "\n".join([
        f"oncall-dojo benchmark: {r['incident']} seed={r['seed']}, reference playthrough, "
        f"median of {r['repeat']} (Python {r['python']}, {r['machine']})",
        f"one play: {sim_s:,} simulated s ({sim_s / 60:.1f} min, prelude included), "
        f"{r['log_lines']:,} log lines",
        "",
        table,
        "",
        f"target: 60 simulated minutes in < 1 s (>= {TARGET_SPEEDUP:,.0f}x real time): "
        f"{ok(r['meets_speed_target'])} ({3600 / float(r['sim_s_per_wall_s']):.3f} s per 60 min)",  # type: ignore[arg-type]
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--incident",
        default="payments-stuck",
        help="incident id or path (default: payments-stuck)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--repeat", type=int, default=5, help="runs of each, alternating; the median is reported"
    )
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    r = measure(args.incident, args.seed, max(1, args.repeat))
    print(json.dumps(r, indent=2) if args.json else report(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
