"""Bytes that are not UTF-8, at each place input enters the `dojo` command: an incident file
(`validate`), an actions file (`run --actions`), an export (`import`), a pack of incident
files and its folder (`list --incidents`, DOJO_INCIDENTS), and the arguments themselves.
Each gives a clear message (located at the line and column where there is a file), no
traceback, and changes nothing. (A console line's bytes: tests/store/test_hostile_store.py.)

Run as real processes, so the arguments and the environment reach `dojo` as bytes do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from oncall_dojo.incident.packs import bundled_dir

POISON = (bundled_dir() / "payments-stuck.yaml").read_bytes()


def dojo(
    home: Path, *args: str | bytes, env: dict[str, str | bytes] | None = None
) -> tuple[int, str, str]:
    """`dojo ARGS` in a process of its own (arguments given as bytes are passed as such)."""
    full = {**os.environ, "DOJO_HOME": str(home), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "oncall_dojo", *args],
        capture_output=True,
        env={k: os.fsdecode(v) for k, v in full.items()},
        timeout=300,
        check=False,
    )
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in out + err, out + err
    return proc.returncode, out, err


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes (what "nothing changed" compares)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_validate_locates_the_first_byte_that_is_not_utf8(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "payments-stuck.yaml"
    path.write_bytes(POISON.replace(b"title: ", b"title: caf\xe9 ", 1))
    offset = POISON.index(b"title: ") + len(b"title: caf")
    line = POISON.count(b"\n", 0, offset) + 1
    code, out, err = dojo(home, "validate", str(path))
    assert (code, out) == (1, "")
    assert err == (
        f"{path}:1:1: file is not valid UTF-8 (byte 0xe9 at offset {offset}, line {line})\n"
    )
    assert tree(home) == {}


def test_run_actions_locates_the_line_and_column_and_plays_nothing(
    tmp_path: Path, home: Path
) -> None:
    actions = tmp_path / "actions.txt"
    actions.write_bytes(b"00:10 ack\n00:20 logs billing grep=\xff\n00:30 queue payments\n")
    code, out, err = dojo(
        home, "run", "payments-stuck", "--seed", "1", "--actions", str(actions), "--record"
    )
    assert (code, out) == (2, "")
    assert err == f"dojo: {actions}:2:25: not valid UTF-8 (byte 0xff at offset 34, line 2)\n"
    assert tree(home) == {}  # nothing played, nothing recorded


def test_import_locates_the_bad_byte_and_leaves_the_record_as_it_was(
    tmp_path: Path, home: Path
) -> None:
    actions = tmp_path / "actions.txt"
    actions.write_text("00:10 ack\n", encoding="utf-8")
    code, _, err = dojo(
        home, "run", "payments-stuck", "--seed", "1", "--actions", str(actions), "--record"
    )
    assert code == 0, err
    code, history, _ = dojo(home, "history")
    assert code == 0 and "payments-stuck" in history
    before = tree(home)
    export = tmp_path / "team.json"
    data = b'{"format": "oncall-dojo-export",\n "sessions": [{"player": "caf\xe9"}]}'
    export.write_bytes(data)
    offset = data.index(b"\xe9")
    col = offset - data.index(b"\n")
    code, out, err = dojo(home, "import", str(export))
    assert (code, out) == (2, "")
    assert err == (
        f"dojo: {export}:2:{col}: not valid UTF-8 (byte 0xe9 at offset {offset}, line 2); "
        "nothing was imported\n"
    )
    assert tree(home) == before
    assert dojo(home, "history")[1] == history


def test_a_pack_lists_its_good_incidents_and_names_the_bad_ones(tmp_path: Path, home: Path) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    good = POISON.replace(
        b"id: payments-stuck\naliases: [poison-payments]\n", b"id: drill-good\n", 1
    )
    (pack / "drill-good.yaml").write_bytes(good)
    (pack / "drill-bytes.yaml").write_bytes(
        good.replace(b"id: drill-good", b"id: drill-bytes\xff", 1)
    )
    (pack / os.fsdecode(b"drill-\xe9.yaml")).write_bytes(good)
    bad = good.index(b"id: drill-good") + len(b"id: drill-bytes")
    before = tree(pack)
    for how in (("--incidents", str(pack)),), ():
        env = {} if how else {"DOJO_INCIDENTS": os.fsencode(str(pack))}
        code, out, err = dojo(home, "list", *[a for pair in how for a in pair], env=env)
        assert code == 0, err
        rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("drill-")}
        assert set(rows) == {"drill-good", "drill-bytes", "drill-\ufffd"}, out
        assert "INVALID" not in rows["drill-good"]
        assert rows["drill-bytes"].split(None, 2)[1:] == [
            "INVALID",
            f"{pack / 'drill-bytes.yaml'}:1:1: file is not valid UTF-8 (byte 0xff at offset {bad}, line 1)",
        ]
        assert (
            "INVALID" in rows["drill-\ufffd"] and "must match the file name" in rows["drill-\ufffd"]
        )
    assert tree(pack) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((b"run", b"drill\xff"), "dojo: no incident 'drill\\udcff'; available: "),
        (
            (b"report", b"\xfe\xff"),
            "dojo: no session '\\udcfe\\udcff': nothing has been recorded yet",
        ),
        (
            (b"list", b"--incidents", b"/nowhere/\xff"),
            "dojo: --incidents /nowhere/\\udcff: no such folder",
        ),
        ((b"validate", b"/nowhere/\xff.yaml"), "/nowhere/\\udcff.yaml:1:1: cannot read file"),
    ],
    ids=["incident", "session", "folder", "file"],
)
def test_arguments_that_are_not_utf8_are_refused_in_words(
    home: Path, args: tuple[bytes, ...], message: str
) -> None:
    code, out, err = dojo(home, *args)
    assert code in (1, 2) and out == ""
    assert err.startswith(message), err
    assert tree(home) == {}
