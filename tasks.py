#!/usr/bin/env python3
"""Bootstrap and developer tasks for oncall-dojo, needing nothing but Python 3.11+.

    python3 tasks.py play [ARGS...]   create .venv if needed, install, run `dojo play ARGS...`
    python3 tasks.py dojo [ARGS...]   the same for any `dojo` command (`dojo tutorial`, `dojo history`)
    python3 tasks.py test [ARGS...]   create .venv if needed, install, run pytest ARGS...
    python3 tasks.py lint             format check, lint, types, import contracts
    python3 tasks.py check            lint, then the tests
    python3 tasks.py fmt              apply the formatter and the linter's fixes
    python3 tasks.py bench            run the benchmarks under benchmarks/

The virtual environment is rebuilt only when pyproject.toml changes (a stamp file
inside .venv records its hash), so the second run starts at once.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("DOJO_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".oncall-dojo-stamp"


def _say(msg: str) -> None:
    print(f"[tasks] {msg}", file=sys.stderr, flush=True)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs on whatever python3 is
        sys.exit(f"oncall-dojo needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == want and PY.exists():
        return
    if not PY.exists():
        _say(f"creating a virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    _say("installing oncall-dojo and its development tools (first run only)")
    pip = [str(PY), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.check_call([*pip, "install", "--upgrade", "pip"])
    subprocess.check_call([*pip, "install", "-e", f"{ROOT}[dev]"])
    STAMP.write_text(want + "\n")


def run(*args: str) -> int:
    return subprocess.call([str(a) for a in args], cwd=ROOT)


def run_tests(args: list[str]) -> int:
    """pytest, spread over the machine's cores unless told otherwise."""
    if not any(a == "-n" or a.startswith("-n") for a in args):
        # work stealing keeps both workers busy to the end: the incident checks are long
        args = ["-n", str(min(4, os.cpu_count() or 1)), "--dist", "worksteal", *args]
    return run(PY, "-m", "pytest", *args)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    task, rest = argv[0], argv[1:]
    ensure_venv()
    if task == "play":
        return run(PY, "-m", "oncall_dojo", "play", *rest)
    if task == "dojo":
        return run(PY, "-m", "oncall_dojo", *rest)
    if task == "test":
        return run_tests(rest)
    if task == "fmt":
        return run(PY, "-m", "ruff", "format", ".") or run(PY, "-m", "ruff", "check", "--fix", ".")
    if task in ("lint", "check"):
        steps = [
            ("format", [PY, "-m", "ruff", "format", "--check", "."]),
            ("lint", [PY, "-m", "ruff", "check", "."]),
            ("types", [PY, "-m", "mypy"]),
            ("import contracts", [BIN / "lint-imports"]),
        ]
        for name, cmd in steps:
            _say(f"{task}: {name}")
            if rc := run(*cmd):
                _say(f"{task} failed at: {name}")
                return rc
        return run_tests(rest) if task == "check" else 0
    if task == "bench":
        return run(PY, "benchmarks/run.py", *rest)
    print(f"unknown task {task!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
