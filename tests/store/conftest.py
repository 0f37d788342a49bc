"""Shared fixtures for the store: a private DOJO_HOME, a fixed clock, played and recorded sessions."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from storekit import Record, fixed_clock

from oncall_dojo.game.console import run_console
from oncall_dojo.incident.model import Incident
from oncall_dojo.store import Recorder, Store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private DOJO_HOME for this test."""
    d = tmp_path / "dojo-home"
    monkeypatch.setenv("DOJO_HOME", str(d))
    monkeypatch.setenv("DOJO_PLAYER", "tester")
    return d


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    st = Store.open(home / "dojo.db", clock=fixed_clock())
    yield st
    st.close()


@pytest.fixture
def record(store: Store, poison: Incident) -> Record:
    """Play console lines with a recorder; returns the session id."""

    def _record(lines: list[str], seed: int = 7, player: str = "alice", session_id: str | None = None,
                incident: Incident | None = None) -> str:  # fmt: skip
        log = Recorder(store, player, "play", session_id=session_id)
        out = io.StringIO()
        run_console(
            incident or poison, seed, [], out=out, inp=io.StringIO("\n".join(lines) + "\n"), log=log
        )
        assert log.keeping, log.broken
        assert log.session_id is not None
        return log.session_id

    return _record
