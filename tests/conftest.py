"""Shared fixtures: the bundled incident (loaded once), played sessions (cached), a state digest."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from oncall_dojo.game.play import finish, perform, run_script
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.packs import bundled_dir

REPO = Path(__file__).resolve().parents[1]
POISON_ID = "payments-stuck"


GOLDEN_WRITERS = "tests/incidents/run_goldens.py, tests/store/write_fixtures.py"


def pytest_configure(config: pytest.Config) -> None:
    """Golden files are written by their own commands, never by a test run that then passes
    against what it wrote: a run with UPDATE_GOLDEN set stops before it starts."""
    config.addinivalue_line(
        "markers", "browser: drives a real browser; skips without one, fails so under CI=true"
    )
    if os.environ.get("UPDATE_GOLDEN"):
        raise pytest.UsageError(
            f"UPDATE_GOLDEN is set, but the tests never rewrite golden files; unset it, and "
            f"rewrite them with {GOLDEN_WRITERS}, then review the diff"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A browser test that skips (no chromium, no Playwright) is a failure under CI=true: CI
    installs the browser, so a skip there means the test did not run."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and os.environ.get("CI", "").lower() == "true"
        and item.get_closest_marker("browser") is not None
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"a browser test skipped under CI=true: {reason}"


@pytest.fixture(scope="session")
def play_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test run's play cache: shared by every test and worker of this run, never the
    user's. The tests that check incidents take each play from whichever played it first."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the workers' folders sit side by side in the run's own folder
    path = base / "play-cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def _private_game_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, play_cache_dir: Path
) -> None:
    """No test writes to the real user's game database or cache: each gets its own DOJO_HOME,
    and the run its own DOJO_CACHE."""
    monkeypatch.setenv("DOJO_HOME", str(tmp_path_factory.mktemp("dojo-home")))
    monkeypatch.setenv("DOJO_PLAYER", "tester")
    monkeypatch.setenv("DOJO_CACHE", str(play_cache_dir))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def poison_path() -> Path:
    return bundled_dir() / f"{POISON_ID}.yaml"


@pytest.fixture(scope="session")
def poison(poison_path: Path) -> Incident:
    """The bundled payments-stuck incident, fully validated."""
    return load_checked(poison_path)


@pytest.fixture(scope="session")
def currency() -> Incident:
    """The bundled orders-missing-currency incident: an application database whose rows the
    player reads and repairs."""
    return load_checked(bundled_dir() / "orders-missing-currency.yaml")


REPAIR = (
    "ack",
    "deploys",
    "sql SELECT count(*), min(created_at) FROM orders WHERE currency IS NULL",
    "rollback api",
    "sql UPDATE orders SET currency = 'USD' WHERE currency IS NULL",
    "sql commit",
    "sql SELECT count(*) FROM orders WHERE currency IS NULL",
)
"""Commands of `currency` that change the system and its rows through the player's SQL."""


@pytest.fixture(scope="session")
def repair() -> Callable[[Session], None]:
    """Play `REPAIR` on a session of `currency`, between stretches of time; none is refused."""

    def _play(s: Session) -> None:
        for i, cmd in enumerate(REPAIR):
            s.advance(20 + 10 * i)
            assert perform(s, cmd).kind != "refused", cmd

    return _play


Play = Callable[..., Session]


@pytest.fixture(scope="session")
def play(poison: Incident) -> Play:
    """Play timed actions to the end and return the finished session (cached per worker).

    A finished session refuses further commands, so sharing one between tests is safe.
    """
    cache: dict[tuple[Any, ...], Session] = {}

    def _play(
        actions: Sequence[str] = (), seed: int = 1, incident: Incident | None = None
    ) -> Session:
        inc = incident or poison
        key = (inc.id, inc.model_dump_json(), seed, tuple(actions))
        if key not in cache:
            s = Session(inc, seed)
            run_script(s, list(actions))
            finish(s)
            cache[key] = s
        return cache[key]

    return _play


@pytest.fixture(scope="session")
def paged_image(poison: Incident) -> bytes:
    """The bundled incident's session at the page (seed 1), pickled once per worker: the
    prelude costs as much as a fifth of a play, its copy a fiftieth (`dojo check` shares
    preludes the same way, and the goldens hold the copies to fresh plays byte for byte)."""
    return pickle.dumps(Session(poison, 1), protocol=pickle.HIGHEST_PROTOCOL)


@pytest.fixture
def paged(paged_image: bytes) -> Session:
    """A fresh session of the bundled incident, at the moment of the page (seed 1)."""
    session: Session = pickle.loads(paged_image)
    return session


def state_digest(s: Session) -> dict[str, Any]:
    """Everything a command could change, in a comparable form."""
    sys_ = s.system
    return {
        "t": sys_.t,
        "queues": {
            n: (
                q.depth,
                q.inflight,
                q.dlq_depth,
                q.next_seq,
                q.stats.purged,
                q.stats.replayed,
                q.stats.dead_lettered,
            )
            for n, q in sys_.queues.items()
        },
        "pools": {
            n: (
                p.version,
                len(p.live),
                [(r.name, r.state, r.version, r.ready_at) for r in p.replicas],
            )
            for n, p in sys_.pools.items()
        },
        "api": (sorted(sys_.api_versions.items()), sys_.api_version, list(sys_.api_rollout)),
        "previous_versions": {k: list(v) for k, v in sys_.previous_versions.items()},
        "flags": repr(sorted(sys_.flags.items())),
        "config": repr(sorted(sys_.config.items())),
        "changes": len(sys_.changes),
        "paused": sorted(sys_.consumers_paused),
        "rate_limits": sorted(sys_.rate_limits.items()),
        "cache": (sys_.cache_hit, sys_.cache_flushes),
        "db": ([b.pid for b in sys_.db.backends], sorted(sys_.db.indexes), sys_.db.failover_until),
        "ledger_error": sys_.ledger_error,
        "refunded": sorted(sys_.records.refunded.items()),
        "jobs": {n: (j.state, j.progress) for n, j in sys_.jobs.items()},
        "session": (
            s.acked_at,
            s.diagnosis,
            list(s.status_updates),
            list(s.escalations),
            list(s.hints_taken),
            s.declared_resolved_at,
        ),
    }


@pytest.fixture(scope="session")
def digest() -> Callable[[Session], dict[str, Any]]:
    return state_digest


Dojo = Callable[..., tuple[int, str, str]]


@pytest.fixture
def dojo(capsys: pytest.CaptureFixture[str]) -> Dojo:
    """Run `dojo ARGS` in this process: (exit code, stdout, stderr). Whatever the arguments,
    a traceback is never what the command prints."""
    from oncall_dojo.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err, out + err
        return code, out, err

    return _run


@pytest.fixture(scope="session")
def run_dojo() -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """Run `python -m oncall_dojo ARGS` in a subprocess (bytes in, bytes out)."""

    def _run(
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
        input: bytes | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "oncall_dojo", *args],
            input=input,
            capture_output=True,
            env=full_env,
            cwd=cwd or REPO,
            timeout=timeout,
            check=False,
        )

    return _run
