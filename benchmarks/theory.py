"""Long statistical runs: the model's worker pools against queueing theory, as a table.

    .venv/bin/python benchmarks/theory.py                 # waits and capacity, a few minutes
    .venv/bin/python benchmarks/theory.py --ticks 50000   # longer runs, tighter figures

For each service time s and load rho, a pool of one replica with c slots runs for --ticks
simulated seconds fed a Poisson stream; its mean wait in queue (enqueue to acknowledgement,
less s) is printed beside exact M/D/c on the same per-second arrival counts and beside
Crommelin's formula. Then the capacity of an overloaded pool (acknowledged per second) beside
R c / s. The tests in tests/theory/ check the same things on shorter runs; this script only
reports (ratio model / theory), it asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from theory.reference import mdc_mean_wait  # noqa: E402
from theory.test_model_theory import QUEUE, model_and_mdc_waits, pool_system  # noqa: E402
from unit.simkit import run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ticks", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    c = args.concurrency
    print(f"M/D/c waits, c={c}, {args.ticks:,} simulated s each (seconds; model / same-path M/D/c)")
    print(f"{'s':>6} {'rho':>5} {'model':>9} {'M/D/c':>9} {'Crommelin':>9} {'ratio':>6}")
    for s_ in (0.1, 0.5, 1.0, 2.5, 10.0):
        for rho in (0.3, 0.5, 0.8, 0.9, 0.95):
            model, ref = model_and_mdc_waits(rho, c, s_, args.ticks, args.seed)
            exact = mdc_mean_wait(rho * c / s_, s_, c)
            print(f"{s_:>6g} {rho:>5g} {model:>9.4f} {ref:>9.4f} {exact:>9.4f} {model / ref:>6.2f}")
    print()
    print("capacity of 1 replica x 8 slots in overload (acknowledged per second; model / 8 / s)")
    print(f"{'s':>6} {'model':>9} {'theory':>9} {'ratio':>6}")
    for s_ in (0.01, 0.05, 0.3, 0.6, 1.0, 1.2, 1.5, 2.5, 10.0, 30.0):
        cap = 8 / s_
        s = pool_system(2 * cap, 1, 8, s_, seed=args.seed)
        q = s.queues[QUEUE]
        run(s, 60)
        acked = q.stats.acked
        span = max(600, int(60 * s_))
        run(s, span)
        got = (q.stats.acked - acked) / span
        print(f"{s_:>6g} {got:>9.3f} {cap:>9.3f} {got / cap:>6.3f}")


if __name__ == "__main__":
    main()
