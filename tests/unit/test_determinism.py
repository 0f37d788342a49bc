"""A run is a pure function of (incident, seed, actions): same inputs, byte-identical outputs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from oncall_dojo.game.play import finish, run_script
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident

SIM_DIR = Path(__file__).resolve().parents[2] / "oncall_dojo" / "sim"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def played(incident: Incident, seed: int, keep_logs: bool = True) -> Session:
    s = Session(incident, seed)
    run_script(s, incident.playthroughs.reference.actions, keep_logs)
    return s


def fingerprint(incident: Incident, seed: int, keep_logs: bool = True) -> dict[str, str]:
    s = played(incident, seed, keep_logs)
    result = finish(s)
    return {
        "logs": sha("\n".join(s.system.logs.lines).encode()),
        "metrics": sha(s.system.metrics.values.tobytes()),
        "histograms": sha(s.system.metrics.hvalues.tobytes()),
        "result": sha(json.dumps(result.to_json(), sort_keys=True).encode()),
        "outputs": sha("\n".join(e.output for e in s.entries).encode()),
    }


@pytest.fixture(scope="module")
def seed5(poison: Incident) -> dict[str, str]:
    return fingerprint(poison, 5)


def test_the_same_seed_and_actions_give_identical_logs_metrics_and_results(
    poison: Incident, seed5: dict[str, str]
) -> None:
    assert fingerprint(poison, 5) == seed5


def test_a_play_finished_without_logs_is_the_same_run_up_to_its_lines(
    poison: Incident, seed5: dict[str, str]
) -> None:
    """A headless play keeps no log line past its last command (`run_script(keep_logs=False)`,
    as `dojo check` and `dojo run` play): its metrics, outputs and score are those of the play
    that kept them, and its lines are the first of that play's."""
    quiet = fingerprint(poison, 5, keep_logs=False)
    assert quiet["logs"] != seed5["logs"]
    assert {k: v for k, v in quiet.items() if k != "logs"} == {
        k: v for k, v in seed5.items() if k != "logs"
    }
    kept, muted = played(poison, 5).system.logs, played(poison, 5, False).system.logs
    assert muted.muted and not kept.muted
    # the lines (the API's access lines among them) stopped with play
    n = len(muted)
    assert 0 < n < len(kept) / 2 and list(muted.lines) == list(kept.lines[:n])
    assert "method=" in kept.lines[-1]


def test_a_different_seed_gives_different_logs(poison: Incident, seed5: dict[str, str]) -> None:
    other = fingerprint(poison, 6)
    assert other["logs"] != seed5["logs"]
    assert other["metrics"] != seed5["metrics"]


def test_headless_runs_do_not_depend_on_the_hash_seed(repo_root: Path) -> None:
    args = [
        sys.executable,
        "-m",
        "oncall_dojo",
        "run",
        "payments-stuck",
        "--seed",
        "3",
        "--reference",
        "--json",
    ]
    procs = [
        subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=repo_root,
            env={**os.environ, "PYTHONHASHSEED": hs},
        )
        for hs in ("1", "999")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()
    first, second = (o for o, _ in outs)
    assert json.loads(first)["seed"] == 3
    assert first == second


# ----------------------------------------------------------------------------- no wall clock

FORBIDDEN = [
    (re.compile(r"\btime\.(time|time_ns|perf_counter|perf_counter_ns|monotonic|monotonic_ns|process_time|thread_time|clock_gettime)\s*\("), "reads the clock"),
    (re.compile(r"^\s*(import time\b|from time import)", re.M), "imports time"),
    (re.compile(r"\b(perf_counter|monotonic|time_ns)\s*\("), "reads the clock"),
    (re.compile(r"\b(datetime|date)\.(now|utcnow|today)\s*\("), "reads the clock"),
    (re.compile(r"\brandom\.(?!Random\b)[a-z_]+"), "uses the global random generator"),
    (re.compile(r"^\s*from random import", re.M), "uses the global random generator"),
    (re.compile(r"\brandom\.Random\((?!\d+\))"), "builds an unseeded or externally seeded Random"),
    (re.compile(r"\b(SystemRandom|urandom|uuid[14]|secrets)\b"), "uses entropy from the OS"),
]  # fmt: skip
RANDOM_IMPORT_ALLOWED = {"rng.py"}  # SimRandom
CLOCK_ALLOWED = {
    "sqlguard.py": {"imports time", "reads the clock: time.clock_gettime("},
}
"""The one clock read in the simulation: the CPU-time deadline of an SQL statement, a guard
that stops a runaway query. It counts the statement's own work, not the machine's load, and
is never an input to the model."""


def clock_or_entropy_reads(name: str, source: str) -> list[str]:
    code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
    code = re.sub(r'"""[\s\S]*?"""', "", code)  # docstrings may mention random.Random
    allowed = CLOCK_ALLOWED.get(name, set())
    found = [
        f"{name}: {why}: {m.group(0).strip()}"
        for rx, why in FORBIDDEN
        for m in rx.finditer(code)
        if why not in allowed and f"{why}: {m.group(0).strip()}" not in allowed
    ]
    if re.search(r"^\s*import random\b", code, re.M) and name not in RANDOM_IMPORT_ALLOWED:
        found.append(f"{name}: imports random (use the session's SimRandom)")
    return found


def test_the_simulation_never_reads_the_wall_clock_or_unseeded_randomness() -> None:
    files = sorted(SIM_DIR.rglob("*.py"))
    assert len(files) >= 10
    problems = [
        p for f in files for p in clock_or_entropy_reads(f.name, f.read_text(encoding="utf-8"))
    ]
    assert problems == []


@pytest.mark.parametrize(
    "snippet",
    [
        "import time\nstart = time.time()\n",
        "from time import perf_counter\nx = perf_counter()\n",
        "t = time.monotonic()\n",
        "import time\nt = time.clock_gettime(time.CLOCK_REALTIME)\n",
        "from datetime import datetime\nnow = datetime.now()\n",
        "jitter = random.random()\n",
        "x = random.choice([1, 2])\n",
        "rng = random.Random()\n",
        "import os\nb = os.urandom(8)\n",
    ],
)
def test_the_source_scan_catches_a_clock_or_entropy_read(snippet: str) -> None:
    assert clock_or_entropy_reads("workers.py", snippet)


def test_the_source_scan_allows_the_seeded_generators() -> None:
    assert (
        clock_or_entropy_reads(
            "rng.py", "import random\nclass SimRandom(random.Random):\n    pass\n"
        )
        == []
    )
    assert clock_or_entropy_reads("workers.py", "import random\n") != []
