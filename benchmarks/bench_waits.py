"""Benchmark: the waits people notice, each beside one play of one incident measured in the same run.

    .venv/bin/python benchmarks/bench_waits.py                  # list, one incident, the library
    .venv/bin/python benchmarks/bench_waits.py --skip-library   # leave out the whole library
    .venv/bin/python benchmarks/bench_waits.py --suite          # also time `tasks.py test`
    .venv/bin/python benchmarks/bench_waits.py --code /tmp/old  # the same, for another checkout

Every figure is a fresh `python -m oncall_dojo ...` process, timed from spawn to exit
(wall) and by the CPU it used (user + system, children included), median of
`--repeat` runs. The baseline is `dojo run INCIDENT --reference --json`: one process
that plays one incident once. Wall times depend on the machine and its load; the
ratio to the baseline holds across machines, and the CPU seconds show what a busy
machine hides. The load average is printed before and after.

- list:          `dojo list` with its index warm, and with no index (every file validated)
- check one:     `dojo check INCIDENT` (3 seeds) with an empty cache, then from the cache
- check library: `dojo check` (every bundled incident, 3 seeds), empty cache, then cached
- suite:         `python3 tasks.py test` (only with --suite; it takes minutes)

`--code DIR` runs the package found in DIR (e.g. `git archive COMMIT | tar -x -C DIR`)
instead of this checkout's, to measure a change before and after on the same machine.
Nothing is asserted: the benchmark reports, it does not fail.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TARGETS = {
    "list (index warm)": 0.25,
    "check one incident (cold)": 5.0,
    "check one incident (cached)": 1.0,
    "check library (cold)": 60.0,
    "suite": 240.0,
}


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def timed(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float, int]:
    """(wall s, CPU s, exit code) of one run of `cmd`, its output discarded."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False)  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


class Bench:
    def __init__(self, code: Path | None, repeat: int) -> None:
        self.repeat = repeat
        self.home = Path(tempfile.mkdtemp(prefix="dojo-bench-"))
        self.env = dict(os.environ, DOJO_HOME=str(self.home / "home"),
                        DOJO_CACHE=str(self.home / "cache"), DOJO_PLAYER="bench")  # fmt: skip
        if code is not None:
            self.env["PYTHONPATH"] = str(code)
        self.rows: list[dict[str, object]] = []
        self.baseline = 0.0

    def dojo(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "oncall_dojo", *args]

    def clear_cache(self) -> None:
        shutil.rmtree(self.home / "cache", ignore_errors=True)

    def measure(self, name: str, cmd: list[str], before: object = None, repeat: int | None = None,
                cwd: Path | None = None) -> dict[str, object]:  # fmt: skip
        """Run `cmd` `repeat` times (calling `before()` ahead of each) and keep the medians."""
        walls, cpus, codes = [], [], set()
        for _ in range(repeat or self.repeat):
            if callable(before):
                before()
            # not from the checkout's folder, which `python -m` would put first on sys.path
            wall, cpu, code = timed(cmd, self.env, cwd or self.home)
            walls.append(wall)
            cpus.append(cpu)
            codes.add(code)
        row: dict[str, object] = {"what": name, "command": " ".join(cmd[1:]),
                                  "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
                                  "wall_s_all": walls, "exit_codes": sorted(codes)}  # fmt: skip
        self.rows.append(row)
        return row

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


def run(args: argparse.Namespace) -> dict[str, object]:
    b = Bench(args.code, args.repeat)
    load_before = loadavg()
    try:
        base = b.measure("baseline: one play", b.dojo("run", args.incident, "--reference",
                                                       "--json", "--no-record"))  # fmt: skip
        b.measure("interpreter and package import",
                  [sys.executable, "-c", "import oncall_dojo.cli"])  # fmt: skip
        b.measure("list (no index)", b.dojo("list"), before=b.clear_cache)
        b.measure("list (index warm)", b.dojo("list"))
        b.measure("check one incident (cold)", b.dojo("check", args.incident),
                  before=b.clear_cache)  # fmt: skip
        b.measure("check one incident (cached)", b.dojo("check", args.incident))
        if not args.skip_library:
            b.measure("check library (cold)", b.dojo("check"), before=b.clear_cache, repeat=1)
            b.measure("check library (cached)", b.dojo("check"))
        if args.suite:
            b.measure("suite", [sys.executable, str(ROOT / "tasks.py"), "test", "-q"], repeat=1,
                      cwd=ROOT)  # fmt: skip
    finally:
        b.close()
    baseline = float(base["wall_s"])  # type: ignore[arg-type]
    for row in b.rows:
        row["over_baseline"] = float(row["wall_s"]) / baseline  # type: ignore[arg-type]
        target = TARGETS.get(str(row["what"]))
        if target is not None:
            row["target_s"] = target
            row["meets_target"] = float(row["wall_s"]) <= target  # type: ignore[arg-type]
    return {"incident": args.incident, "repeat": args.repeat, "cpus": os.cpu_count(),
            "code": str(args.code or ROOT), "load_before": load_before, "load_after": loadavg(),
            "rows": b.rows}  # fmt: skip


def report(r: dict[str, object]) -> str:
    rows = r["rows"]
    assert isinstance(rows, list)
    table = [("", "wall s", "CPU s", "/ one play", "target")]
    for row in rows:
        target = ""
        if "target_s" in row:
            target = f"<= {row['target_s']:g} s: " + ("met" if row["meets_target"] else "NOT MET")
        bad = "" if row["exit_codes"] == [0] else f"  (exit {row['exit_codes']})"
        table.append((f"{row['what']}{bad}", f"{row['wall_s']:.2f}", f"{row['cpu_s']:.2f}",
                      f"{row['over_baseline']:.2f}", target))  # fmt: skip
    widths = [max(len(t[i]) for t in table) for i in range(5)]
    lines = [
        "  ".join(c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(t, widths, strict=True)))
        for t in table
    ]  # fmt: skip
    return "\n".join([
        f"oncall-dojo waits: {r['incident']}, median of {r['repeat']} (library and suite: once), "
        f"{r['cpus']} CPUs, code {r['code']}",
        f"load average before: {r['load_before']}",
        "",
        *lines,
        "",
        f"load average after:  {r['load_after']}",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--incident", default="payments-stuck")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each (median reported)")
    ap.add_argument("--skip-library", action="store_true", help="leave out the whole library")
    ap.add_argument("--suite", action="store_true", help="also time `python3 tasks.py test`")
    ap.add_argument("--code", type=Path, default=None, help="run the package found in DIR")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    r = run(args)
    print(json.dumps(r, indent=2) if args.json else report(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
