"""The game record under hostile conditions: racing resumes, altered logs, dropped tables,
read-only folders, bytes that are not UTF-8."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from storekit import PLAY_LINES

from oncall_dojo.store import Store
from oncall_dojo.store.events import Event, verify_chain
from oncall_dojo.store.records import SessionConflict

Dojo = Callable[..., tuple[int, str, str]]

GUARD_S = 120


def unfinished(home: Path, lines: list[str], player: str = "rae") -> str:
    """A session cut after `lines` (as a killed game leaves it): started, commands, no end."""
    from oncall_dojo.game.console import THINK_S
    from oncall_dojo.game.play import perform
    from oncall_dojo.game.session import Session
    from oncall_dojo.incident.loader import load_incident
    from oncall_dojo.incident.packs import find
    from oncall_dojo.store import Recorder

    st = Store.open(home / "dojo.db")
    log = Recorder(st, player, "play")
    s = Session(load_incident(find("payments-stuck")), 9)
    log.started(s, THINK_S)
    for cmd in lines:
        log.checkpoint()
        perform(s, cmd)
        s.advance(THINK_S)
    log.checkpoint()
    assert log.session_id is not None
    sid = log.session_id
    st.close()
    return sid


HOLD = r"""
import sys
from oncall_dojo.store import Store
st = Store.open()
st.hold(sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(home: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    procs: list[subprocess.Popen[str]] = []

    def hold(sid: str) -> subprocess.Popen[str]:
        env = {**os.environ, "DOJO_HOME": str(home)}
        p = subprocess.Popen([sys.executable, "-c", HOLD, sid], env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        assert p.stdout is not None and p.stdout.readline().strip() == "holding"
        procs.append(p)
        return p

    yield hold
    for p in procs:
        p.kill()
        p.wait(GUARD_S)


def test_a_second_resume_of_a_session_being_played_is_refused(
    home: Path, holder: callable, monkeypatch: pytest.MonkeyPatch,  # type: ignore[valid-type]
    dojo: Dojo,
) -> None:  # fmt: skip
    sid = unfinished(home, PLAY_LINES[:2])
    p = holder(sid)  # another process plays it right now
    monkeypatch.setattr(sys, "stdin", io.StringIO("ack\nstatus\n"))
    code, _, err = dojo("play", "--resume", sid)
    assert code == 2
    assert f"cannot resume: session {sid} is being played in another window or process" in err
    st = Store.open(home / "dojo.db")
    assert [e.seq for e in st.events(sid)][-1] == st.session(sid)["last_seq"]
    before = len(st.events(sid))
    st.close()
    assert before > 0
    p.stdin.close()  # type: ignore[union-attr]
    p.wait(GUARD_S)
    # once the other game has ended (however it ended), the session resumes
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(PLAY_LINES[2:]) + "\n"))
    code, out, _ = dojo("play", "--resume", sid)
    assert code == 0 and "resumed at" in out
    st = Store.open(home / "dojo.db")
    assert st.verify(sid) == []
    st.close()


def test_two_resumes_started_together_leave_one_game_in_the_log(home: Path) -> None:
    """Reproduced 3 of 3 before: both games interleaved, time went backwards, two quits."""
    sid = unfinished(home, PLAY_LINES[:2])
    env = {**os.environ, "DOJO_HOME": str(home)}
    dojo = str(Path(sys.executable).with_name("dojo"))
    script = "\n".join(["status", "wait 1m", "queue payments", "quit"]) + "\n"
    procs = [
        subprocess.Popen([dojo, "play", "--resume", sid, "--console"], env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]  # fmt: skip
    results = [p.communicate(script, timeout=GUARD_S) for p in procs]
    codes = sorted(p.returncode for p in procs)
    errs = "".join(e for _, e in results)
    assert "Traceback" not in errs
    assert codes == [0, 2], errs
    assert "is being played in another window or process" in errs
    st = Store.open(home / "dojo.db")
    try:
        assert st.verify(sid) == []
        quits = [e for e in st.events(sid) if e.type == "quit"]
        assert len(quits) == 1
    finally:
        st.close()


def test_an_append_after_a_stale_head_is_refused(store: Store) -> None:
    start = {"incident": "drill", "incident_version": 1, "seed": 1, "mode": "play",
             "player": "p", "game_version": "t", "page_tick": 0, "think_s": 0}  # fmt: skip
    head = store.begin(start, 0)
    stale, events = store.resume_head(head.session_id)
    assert (stale.seq, stale.hash) == (events[-1].seq, events[-1].hash)
    store.append(head, "command", 10, 10, {"command": "ack"})
    with pytest.raises(SessionConflict):
        store.append(stale, "command", 20, 20, {"command": "status"})


def chain(types_and_times: list[tuple[str, int]]) -> list[Event]:
    events: list[Event] = []
    prev = "0" * 64
    for seq, (type_, at) in enumerate(types_and_times):
        ev = Event("s1", seq, type_, 100 + at, at, "w", {}).sealed(prev)
        events.append(ev)
        prev = ev.hash
    return events


def test_verify_catches_time_going_backwards() -> None:
    problems = verify_chain(chain([("start", 0), ("command", 60), ("command", 30)]))
    assert [p.seq for p in problems] == [2]
    assert "goes back in time" in problems[0].message


def test_verify_catches_two_ends_and_events_after_the_end() -> None:
    two_quits = verify_chain(chain([("start", 0), ("quit", 10), ("quit", 20), ("finished", 20)]))
    assert any("second quit" in p.message for p in two_quits)
    after = verify_chain(chain([("start", 0), ("finished", 10), ("command", 20)]))
    assert any("after the session finished" in p.message for p in after)
    assert (
        verify_chain(
            chain([("start", 0), ("command", 5), ("quit", 9), ("clock", 30), ("finished", 30)])
        )
        == []
    )


def test_verify_after_drop_table_events_says_the_database_is_damaged(
    home: Path, store: Store, record: callable, dojo: Dojo,  # type: ignore[valid-type]
) -> None:  # fmt: skip
    sid = record(["ack", "status"])
    store.close()
    conn = sqlite3.connect(home / "dojo.db")
    conn.execute("DROP TABLE events")
    conn.commit()
    conn.close()
    for args in (("verify", sid), ("export", sid), ("report", sid)):
        code, _, err = dojo(*args)
        assert code == 2, args
        assert "missing part of oncall-dojo's schema (no such table: events)" in err, args


def test_the_damaged_message_promises_nothing_that_refuses(tmp_path: Path) -> None:
    from oncall_dojo.store.errors import classify

    err = classify(sqlite3.DatabaseError("database disk image is malformed"), tmp_path / "x.db")
    assert err is not None
    assert "dojo verify" not in err.message and "dojo export" not in err.message


def test_history_and_verify_work_in_a_folder_that_cannot_be_written(
    home: Path,
    record: callable,
    store: Store,  # type: ignore[valid-type]
) -> None:
    """Run as another user (as root, `nobody`), or with the folder made read-only."""
    sid = record(["ack", "status", "quit"])
    store.close()
    shared = Path(tempfile.mkdtemp(prefix="dojo-ro-"))
    try:
        ro = shared / "home"
        ro.mkdir()
        shutil.copy(home / "dojo.db", ro / "dojo.db")
        assert sorted(p.name for p in ro.iterdir()) == ["dojo.db"]
        env = {**os.environ, "DOJO_HOME": str(ro)}
        dojo = str(Path(sys.executable).with_name("dojo"))
        if os.geteuid() == 0:
            shared.chmod(0o755)
            ro.chmod(0o755)
            (ro / "dojo.db").chmod(0o644)

            def as_other() -> None:
                os.setgid(65534)
                os.setuid(65534)

            pre = as_other
        else:
            ro.chmod(0o555)
            pre = None
        for args in (["history"], ["verify", sid], ["report", sid], ["export", sid]):
            r = subprocess.run([dojo, *args], env=env, capture_output=True, text=True,
                               preexec_fn=pre, timeout=GUARD_S)  # fmt: skip
            assert r.returncode == 0, (args, r.stderr)
            assert "cannot be written" not in r.stderr and "Traceback" not in r.stderr
            if args[0] == "verify":
                assert f"session {sid}: ok" in r.stdout
        assert sorted(p.name for p in ro.iterdir()) == ["dojo.db"]
    finally:
        ro.chmod(0o755)
        shutil.rmtree(shared, ignore_errors=True)


@pytest.mark.parametrize(
    "line", [b"sql SELECT \xff\xfe FROM orders", b'update "caf\xe9"', b"logs billing grep=\xff"]
)
def test_bytes_that_are_not_utf8_in_a_recorded_game_are_refused_cleanly(
    home: Path, line: bytes
) -> None:
    env = {**os.environ, "DOJO_HOME": str(home), "DOJO_PLAYER": "rae"}
    dojo = str(Path(sys.executable).with_name("dojo"))
    r = subprocess.run([dojo, "play", "repeat-card-charges", "--console", "--seed", "1"],
                       input=line + b"\nquit\n", env=env, capture_output=True, timeout=GUARD_S)  # fmt: skip
    assert b"Traceback" not in r.stderr and b"UnicodeEncodeError" not in r.stderr
    assert r.returncode == 0, r.stderr
    st = Store.open(home / "dojo.db")
    try:
        sid = st.history()[0]["session"]
        assert st.verify(sid) == []
        commands = [e.data["command"] for e in st.events(sid) if e.type == "command"]
        assert any("\ufffd" in c for c in commands), commands
    finally:
        st.close()


def test_report_and_export_json_escape_what_a_terminal_would_act_on(
    home: Path, store: Store, record: callable, dojo: Dojo,  # type: ignore[valid-type]
) -> None:  # fmt: skip
    """JSON keeps text as it was, but with `ensure_ascii=False` json.dumps escapes only
    U+0000-U+001F: DEL, the C1 controls (\\x9b is CSI) and bidi overrides went out raw."""
    typed = 'update "\x7f\x9b[2J\u202eok\u2028"'
    sid = record(["ack", typed, "quit"])
    store.close()
    for args in (("report", sid, "--format", "json"), ("export", sid)):
        code, out, _ = dojo(*args)
        assert code == 0, args
        assert not any(c in out for c in "\x7f\x9b\u202e\u2028"), args
        assert "\\u009b[2J\\u202eok" in out, args
        assert any(typed in v for v in strings(json.loads(out))), args  # the same text


def strings(obj: object) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in strings(v)]
    return []
