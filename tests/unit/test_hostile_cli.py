"""The `dojo` command under hostile arguments: a refusal in words, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from oncall_dojo.store import Store

Dojo = Callable[..., tuple[int, str, str]]

ROOT = Path(__file__).resolve().parents[2]
GUARD_S = 120


@pytest.mark.parametrize("command", ["run", "play"])
@pytest.mark.parametrize("value", ["1180591620717411303424", "-1", "4294967296", "x1"])
def test_a_seed_out_of_range_is_refused(dojo: Dojo, command: str, value: str) -> None:
    code, _, err = dojo(command, "payments-stuck", "--no-record", "--seed", value)
    assert code == 2
    assert "a seed is a whole number from 0 to 4,294,967,295" in err or "not a whole number" in err


def test_the_largest_seed_plays(dojo: Dojo) -> None:
    code, out, _ = dojo("run", "payments-stuck", "--no-record", "--seed", "4294967295")
    assert code == 0 and "/100" in out


def test_player_names_lose_bad_bytes_and_control_characters(tmp_path: Path) -> None:
    """`--player $'\\xff\\xfe'` and the same in DOJO_PLAYER gave a UnicodeEncodeError traceback;
    a name with ESC or a newline was printed raw by `history`."""
    env = {**os.environ, "DOJO_HOME": str(tmp_path)}
    dojo = str(Path(sys.executable).with_name("dojo"))
    args = [dojo, "run", "payments-stuck", "--seed", "1", "--record"]
    names = [b"\xff\xfeeve", b"mal\x1b[2J\x1b]0;pwned\x07lory\nroot"]
    for name in names:
        r = subprocess.run([*args, "--player", name], env=env, capture_output=True, timeout=GUARD_S)
        assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    r = subprocess.run(args, env={**env, "DOJO_PLAYER": "\udcffzed"}, capture_output=True,
                       timeout=GUARD_S)  # fmt: skip
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    st = Store.open(tmp_path / "dojo.db")
    try:
        players = sorted(r["player"] for r in st.history())
    finally:
        st.close()
    assert players == sorted(["mal[2J]0;pwnedloryroot", "\ufffd\ufffdeve", "\ufffdzed"])
    hist = subprocess.run([dojo, "history"], env=env, capture_output=True, timeout=GUARD_S)
    assert b"\x1b" not in hist.stdout and hist.returncode == 0


def test_history_escapes_control_characters_from_an_imported_record(
    dojo: Dojo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared team file can carry any name: it is shown with visible escapes."""
    monkeypatch.setenv("DOJO_HOME", str(tmp_path))
    st = Store.open(tmp_path / "dojo.db")
    start = {"incident": "drill\x1b[31m", "incident_version": 1, "seed": 1, "mode": "play",
             "player": "eve\x1b]0;x\x07\nroot", "game_version": "t", "page_tick": 0, "think_s": 0}  # fmt: skip
    st.begin(start, 0)
    st.close()
    code, out, _ = dojo("history")
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "eve\\x1b]0;x\\x07\\x0aroot" in out and "drill\\x1b[31m" in out


def write_actions(tmp_path: Path, data: bytes) -> str:
    p = tmp_path / "actions.txt"
    p.write_bytes(data)
    return str(p)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"05:00 ack\n01:00 status\n", ":2:1: time 01:00 is before 05:00 on an earlier line"),
        (b"00:10 ack\n99:99 status\n", ":2:1: invalid time '99:99'"),
        (b"1:75:00 ack\n", ":1:1: invalid time '1:75:00'"),
    ],
)
def test_actions_file_times_are_checked(
    dojo: Dojo, tmp_path: Path, data: bytes, words: str
) -> None:
    path = write_actions(tmp_path, data)
    code, _, err = dojo("run", "payments-stuck", "--no-record", "--actions", path)
    assert code == 2 and f"{path}{words}" in err


def test_an_actions_file_with_a_byte_order_mark_is_read(dojo: Dojo, tmp_path: Path) -> None:
    path = write_actions(tmp_path, b"\xef\xbb\xbf00:10 ack\n")
    code, out, _ = dojo("run", "payments-stuck", "--no-record", "--actions", path)
    assert code == 0 and "00:10 > ack" in out


def test_an_actions_device_is_refused(dojo: Dojo) -> None:
    """`--actions /dev/zero` took 13.4 GB in 30 s."""
    code, _, err = dojo("run", "payments-stuck", "--no-record", "--actions", "/dev/zero")
    assert code == 2 and "not a regular file" in err


def test_validate_of_a_folder_without_incident_files_fails(dojo: Dojo, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    code, out, err = dojo("validate", str(tmp_path))
    assert code == 2 and out == ""
    assert "no incident files (*.yaml, *.yml)" in err


def test_check_reports_every_bad_file_and_checks_the_good_ones(dojo: Dojo, tmp_path: Path) -> None:
    """It stopped at the first bad file with rc 2, so the good files were never checked."""
    broken = ROOT / "tests" / "fixtures" / "broken"
    shutil.copy(broken / "missing-title.yaml", tmp_path / "a-missing-title.yaml")
    shutil.copy(broken / "duplicate-key.yaml", tmp_path / "b-duplicate-key.yaml")
    good = ROOT / "incidents" / "payments-stuck.yaml"
    code, out, err = dojo("check", str(tmp_path / "a-missing-title.yaml"), str(tmp_path / "b-duplicate-key.yaml"),
        str(good), "--seeds", "1",
    )  # fmt: skip
    assert code == 1
    assert "a-missing-title.yaml: FAILED" in out and "b-duplicate-key.yaml: FAILED" in out
    assert "payments-stuck: ok" in out
    assert "missing required key 'title'" in err and "duplicate key" in err


def test_run_prints_an_actions_file_s_controls_as_escapes(dojo: Dojo, tmp_path: Path) -> None:
    actions = tmp_path / "plan.txt"
    typed = '00:10 update "\x1b[2J\x9bAll fine, we are watching"\n00:20 \x1b]0;x\x07\n'
    actions.write_text(typed, encoding="utf-8")
    code, out, _ = dojo("run", "payments-stuck", "--actions", str(actions))
    assert code == 0
    assert not any(c in out for c in "\x1b\x07\x9b"), out[:400]
    assert '00:10 > update "\\x1b[2J\\x9bAll fine, we are watching"' in out
    assert "00:20 ! \\x1b]0;x\\x07" in out
