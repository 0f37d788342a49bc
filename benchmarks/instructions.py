"""Instructions one play costs, counted by callgrind, beside a baseline commit's tree.

    .venv/bin/python benchmarks/instructions.py                       # payments-stuck, seed 1, vs 681c954
    .venv/bin/python benchmarks/instructions.py --base main --incident api-errors-db-cpu orders-not-shipping
    .venv/bin/python benchmarks/instructions.py --json

Wall time on a shared machine says little; the instructions a play executes do not depend on
what else runs. Each figure is one play of an incident's reference playthrough (as `run.py`'s
`play`: build the session, which runs the prelude, play the reference, read the log store),
counted by valgrind's callgrind with collection switched on only inside the play (the play runs
inside `functools.reduce`, and `--toggle-collect=functools_reduce` counts just that), so imports
and loading the incident are left out. The baseline is the package of another commit (`--base`,
exported with `git archive` into a temporary folder) played by the same interpreter and the same
script in the same run; the ratio is this tree's count over the baseline's.

Target (issue #20): the queueing model may make the benchmark at most 15% slower than before it,
so a play of `payments-stuck` at seed 1 may cost at most 1 / 0.85 = 1.176 times the instructions
it cost at 681c954. Nothing is asserted; without valgrind the script says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASE = "681c954"
"""The commit before the queueing model (issue #20's reference point)."""
MAX_RATIO = 1 / 0.85
"""At most 15% slower than the baseline: instructions at most 1.176 times its."""

_CHILD = r"""
import functools, sys
root, incident, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, root)
from benchmarks.run import play
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.packs import find
inc = load_incident(find(incident))
# the play alone is counted: it runs inside functools.reduce (--toggle-collect=functools_reduce)
functools.reduce(lambda a, b: play(inc, seed), [0, 0])
"""


def count(root: Path, incident: str, seed: int) -> int:
    """Instructions (Ir) callgrind counts in one play of `incident`'s reference in the tree `root`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--collect-atstart=no",
                "--toggle-collect=functools_reduce",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-c",
                _CHILD,
                str(root),
                incident,
                str(seed),
            ],
            capture_output=True,
            text=True,
            cwd=tmp,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"valgrind failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        m = re.search(r"^(?:summary|totals): (\d+)", out.read_text(errors="replace"), re.M)
        if m is None:
            raise RuntimeError("no instruction total in callgrind's output")
        return int(m.group(1))


def export(commit: str, into: Path) -> None:
    """The tree of `commit` (this repository's) into a folder."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--base", default=DEFAULT_BASE, help=f"baseline commit (default {DEFAULT_BASE})"
    )
    ap.add_argument("--incident", nargs="+", default=["payments-stuck"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: no instruction counts here", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base_root = Path(tmp)
        export(args.base, base_root)
        for incident in args.incident:
            base = count(base_root, incident, args.seed)
            now = count(ROOT, incident, args.seed)
            rows.append(
                {
                    "incident": incident,
                    "seed": args.seed,
                    "base": args.base,
                    "base_instructions": base,
                    "instructions": now,
                    "ratio": now / base,
                }
            )
    if args.json:
        print(json.dumps({"max_ratio_payments_stuck": MAX_RATIO, "plays": rows}, indent=2))
        return 0
    print(
        f"instructions per play (callgrind, reference playthrough, seed {args.seed}), "
        f"this tree vs {args.base}"
    )
    print(f"{'incident':<28} {'baseline':>16} {'this tree':>16} {'ratio':>7}")
    for r in rows:
        print(
            f"{r['incident']:<28} {r['base_instructions']:>16,} {r['instructions']:>16,} "
            f"{r['ratio']:>7.3f}"
        )
    for r in rows:
        if r["incident"] == "payments-stuck" and r["seed"] == 1 and args.base == DEFAULT_BASE:
            met = "MET" if r["ratio"] <= MAX_RATIO else "NOT MET"
            print(f"target: payments-stuck within {MAX_RATIO:.3f}x of {DEFAULT_BASE}: {met}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
