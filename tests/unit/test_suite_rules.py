"""Rules the test suite keeps about itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_test_run_with_update_golden_set_fails_before_it_starts() -> None:
    env = {**os.environ, "UPDATE_GOLDEN": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "--co",
         "tests/unit/test_suite_rules.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert res.returncode == 4, res.stdout + res.stderr  # pytest's usage error
    assert "UPDATE_GOLDEN is set, but the tests never rewrite golden files" in res.stderr
    assert "tests/store/write_fixtures.py" in res.stderr
