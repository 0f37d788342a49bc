"""Hostile files: YAML bombs, huge files, devices and pipes get one located line, never a traceback.

The corpus under tests/fixtures/hostile/incidents holds the files small enough to keep; each
says on its first line (`# expect: ...`) what its refusal must contain. Big files are
written into a temporary folder by the tests themselves.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from oncall_dojo.cli import main
from oncall_dojo.incident.yamlload import MAX_FILE_BYTES, YamlModelError, load_yaml

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile" / "incidents"
CORPUS = sorted(HERE.glob("*.yaml"))
LOCATED = re.compile(r"^\S+:\d+:\d+: ")
GUARD_S = 30.0


def within_guard(fn: Callable[[], object]) -> object:
    """Run fn; fail the test if it has not returned within GUARD_S (never a timing assert)."""
    out: list[object] = []
    raised: list[BaseException] = []

    def work() -> None:
        try:
            out.append(fn())
        except BaseException as e:
            raised.append(e)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(GUARD_S)
    if t.is_alive():
        pytest.fail(f"still running after {GUARD_S:.0f} s")
    if raised:
        raise raised[0]
    return out[0] if out else None


def validate(capsys: pytest.CaptureFixture[str], *paths: str | Path) -> tuple[int, str, str]:
    code = within_guard(lambda: main(["validate", *map(str, paths)]))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert isinstance(code, int)
    return code, out, err


def expected(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must say what it expects"
    return first.removeprefix("# expect: ")


def test_the_corpus_is_there() -> None:
    assert len(CORPUS) >= 2


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_every_hostile_file_is_refused_with_a_located_line(
    capsys: pytest.CaptureFixture[str], path: Path
) -> None:
    code, _out, err = validate(capsys, path)
    assert code != 0
    lines = err.strip().splitlines()
    assert lines and all(LOCATED.match(line) for line in lines), err
    assert expected(path) in err


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    text = (HERE / "billion-laughs.yaml").read_text(encoding="utf-8")
    with pytest.raises(YamlModelError) as info:
        within_guard(lambda: load_yaml("bomb.yaml", text))
    assert str(info.value).startswith("bomb.yaml:6:4: aliases expand the document past 100,000")


def test_aliases_within_the_budget_still_work() -> None:
    data, _ = load_yaml("ok.yaml", "base: &b {x: 1, y: [1, 2]}\nuse: *b\nmerged: {<<: *b, y: 3}\n")
    assert data == {
        "base": {"x": 1, "y": [1, 2]},
        "use": {"x": 1, "y": [1, 2]},
        "merged": {"x": 1, "y": 3},
    }


def test_a_file_over_the_size_limit_is_not_parsed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A 50 MB file of 3 million keys took 4.6 GB; past 1 MB nothing is read further."""
    big = tmp_path / "big.yaml"
    line = b"key_%07d: value\n"
    with big.open("wb") as f:
        for i in range(MAX_FILE_BYTES // 16 + 10):
            f.write(line % i)
    code, _, err = validate(capsys, big)
    assert code != 0
    assert f"{big}:1:1: cannot read file: file is " in err and "the limit is 1,000,000" in err


def test_too_many_nodes_are_refused_before_parsing(tmp_path: Path) -> None:
    text = "[" + ",".join(["1"] * 200_000) + "]\n"  # 400 KB, 200,000 nodes
    with pytest.raises(YamlModelError) as info:
        within_guard(lambda: load_yaml("flat.yaml", text))
    assert "document has too many lines and items" in str(info.value)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused_without_reading(
    capsys: pytest.CaptureFixture[str], device: str
) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    code, _, err = validate(capsys, device)
    assert code != 0
    assert (
        err.strip()
        == f"{device}:1:1: cannot read file: not a regular file (a device, pipe or socket)"
    )


def test_a_pipe_is_refused_without_blocking(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fifo = tmp_path / "incident.yaml"
    os.mkfifo(fifo)
    code, _, err = validate(capsys, fifo)
    assert code != 0 and "not a regular file" in err


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_import_refuses_a_device(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, device: str
) -> None:
    monkeypatch.setenv("DOJO_HOME", str(tmp_path / "home"))
    code = within_guard(lambda: main(["import", device]))
    out, err = capsys.readouterr()
    assert code != 0 and "Traceback" not in out + err
    assert "not a regular file" in err
