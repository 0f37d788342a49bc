"""Tamper evidence: a flipped byte, a deleted event or two swapped events make verify fail and say where."""

from __future__ import annotations

import io
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from storekit import fixed_clock

from oncall_dojo.cli import main
from oncall_dojo.game.console import run_console
from oncall_dojo.incident.model import Incident
from oncall_dojo.store import Recorder, Store
from oncall_dojo.store.events import GENESIS, Event, verify_chain

LINES = [
    "ack",
    "queue payments",
    "restart billing",
    "wait 1m",
    "diagnose queue:payments poison-message",
    "quit",
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, poison: Incident) -> tuple[Path, str]:
    """One recorded game, played once per module; each test tampers with its own copy."""
    d = tmp_path_factory.mktemp("template")
    st = Store.open(d / "dojo.db", clock=fixed_clock())
    log = Recorder(st, "alice", "play")
    run_console(poison, 7, [], out=io.StringIO(), inp=io.StringIO("\n".join(LINES) + "\n"), log=log)
    st.c.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    st.close()
    assert log.session_id is not None
    return d / "dojo.db", log.session_id


@pytest.fixture
def played(template: tuple[Path, str], home: Path) -> Iterator[tuple[Store, str]]:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template[0], home / "dojo.db")
    st = Store.open(home / "dojo.db")
    yield st, template[1]
    st.close()


def raw(db: Path, *sql: str) -> None:
    """Edit the file behind the game's back (dropping the append-only guards first)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS events_append_only_update")
    conn.execute("DROP TRIGGER IF EXISTS events_append_only_delete")
    for s in sql:
        conn.execute(s)
    conn.close()


def verify_out(capsys: pytest.CaptureFixture[str], sid: str) -> tuple[int, str]:
    code = main(["verify", sid])
    return code, capsys.readouterr().out


def test_an_untouched_session_verifies(
    played: tuple[Store, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, sid = played
    assert store.verify(sid) == []
    code, out = verify_out(capsys, sid)
    assert code == 0 and f"session {sid}: ok" in out


def test_events_are_append_only(played: tuple[Store, str]) -> None:
    store, sid = played
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.c.conn.execute(
            "UPDATE events SET data = '{}' WHERE session_id = ? AND seq = 1", [sid]
        )
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.c.conn.execute("DELETE FROM events WHERE session_id = ?", [sid])


def test_a_flipped_byte_in_the_file_names_the_event(
    played: tuple[Store, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, sid = played
    store.c.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = store.path
    data = bytearray(path.read_bytes())
    at = data.find(b'"command":"restart billing"')
    assert at > 0
    data[at + len(b'"command":"restart b')] ^= 0x20  # billing -> bIlling
    path.write_bytes(bytes(data))
    fresh = Store.open(path)
    bad = next(e for e in fresh.events(sid) if e.data.get("command") == "restart bIlling")
    fresh.close()
    code, out = verify_out(capsys, sid)
    assert code == 1
    assert f"event {bad.seq} (command `restart bIlling` at " in out and "was altered" in out


def test_verify_with_no_session_checks_every_session(
    played: tuple[Store, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, sid = played
    assert main(["verify"]) == 0
    assert f"session {sid}: ok" in capsys.readouterr().out
    raw(store.path, f"DELETE FROM events WHERE session_id = '{sid}' AND seq = 3")
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert f"session {sid}: FAILED" in out and "event 3 missing" in out


def test_verify_with_nothing_recorded_says_so(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify"]) == 0
    assert "nothing has been recorded yet" in capsys.readouterr().out


def test_a_deleted_event_is_named(
    played: tuple[Store, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, sid = played
    raw(store.path, f"DELETE FROM events WHERE session_id = '{sid}' AND seq = 3")
    code, out = verify_out(capsys, sid)
    assert code == 1
    assert "event 3 missing" in out
    assert "event 4 (" in out and "does not follow" in out


def test_deleting_the_last_events_is_noticed(
    played: tuple[Store, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, sid = played
    last = store.session(sid)["last_seq"]
    raw(store.path, f"DELETE FROM events WHERE session_id = '{sid}' AND seq = {last}")
    code, out = verify_out(capsys, sid)
    assert code == 1
    assert f"the log ends at event {last - 1}" in out and "deleted" in out


def test_two_reordered_events_are_named(
    played: tuple[Store, str], capsys: pytest.CaptureFixture[str]
) -> None:
    store, sid = played
    raw(store.path,
        f"UPDATE events SET seq = -1 WHERE session_id = '{sid}' AND seq = 3",
        f"UPDATE events SET seq = 3 WHERE session_id = '{sid}' AND seq = 4",
        f"UPDATE events SET seq = 4 WHERE session_id = '{sid}' AND seq = -1")  # fmt: skip
    code, out = verify_out(capsys, sid)
    assert code == 1
    assert "event 3 (" in out and "is out of order: it was recorded right after event 4" in out


def test_an_edited_session_row_or_score_is_noticed(played: tuple[Store, str]) -> None:
    store, sid = played
    raw(
        store.path,
        f"UPDATE sessions SET seed = 99 WHERE id = '{sid}'",
        f"UPDATE scores SET score = 100 WHERE session_id = '{sid}'",
    )
    msgs = [p.message for p in store.verify(sid)]
    assert any("seed reads 99 but its events say 7" in m for m in msgs)
    assert any("score reads 100" in m for m in msgs)


def test_verify_chain_on_hand_built_logs() -> None:
    evs, prev = [], GENESIS
    for i, t in enumerate(["start", "command", "clock"]):
        e = Event("s1", i, t, 100 + i, i, "w", {"i": i}).sealed(prev)
        evs.append(e)
        prev = e.hash
    assert verify_chain(evs) == []
    assert verify_chain([]) and "no events" in verify_chain([])[0].message
    forged = Event("s1", 0, "command", 1, 0, "w", {}).sealed(GENESIS)
    assert "should be the session's start event" in verify_chain([forged])[0].message
