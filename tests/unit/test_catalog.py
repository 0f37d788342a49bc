"""`dojo list` answers from an index checked against the files' hashes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from suite import BUNDLED_COUNT

import oncall_dojo.game.catalog as catalog
from oncall_dojo.cli import main


@pytest.fixture
def described(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files `describe` loaded (the real one runs)."""
    seen: list[Path] = []
    real = catalog.describe

    def spy(path: Path) -> dict[str, object]:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(catalog, "describe", spy)
    return seen


def test_only_new_and_changed_files_are_loaded_again(
    tmp_path: Path, poison_path: Path, described: list[Path]
) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    text = poison_path.read_text(encoding="utf-8")
    a.write_text(text.replace("id: payments-stuck\n", "id: a\n", 1), encoding="utf-8")
    b.write_text("id: b\n", encoding="utf-8")
    index = tmp_path / "cache" / "index.json"
    first = catalog.descriptions([a, b], index)
    assert described == [a, b]
    assert first[0]["id"] == "a" and first[0]["varies"] == ["deploy_at", "fault_at", "fix"]
    assert set(first[1]) == {"error"} and first[1]["error"].startswith(f"{b}:")
    described.clear()
    assert catalog.descriptions([a, b], index) == first
    assert described == []
    a.write_text(a.read_text(encoding="utf-8").replace('title: "', 'title: "Changed ', 1), "utf-8")
    again = catalog.descriptions([a, b], index)
    assert described == [a]
    assert again[0]["title"].startswith("Changed ") and again[1] == first[1]


def test_a_damaged_or_foreign_index_is_rebuilt(
    tmp_path: Path, poison_path: Path, described: list[Path]
) -> None:
    index = tmp_path / "index.json"
    want = catalog.descriptions([poison_path], index)
    for junk in ('{"code": 1', "[]", json.dumps({"code": "other", "files": {}})):
        index.write_text(junk, encoding="utf-8")
        described.clear()
        assert catalog.descriptions([poison_path], index) == want
        assert described == [poison_path]


def test_list_prints_the_same_with_and_without_its_index(
    capsys: pytest.CaptureFixture[str], play_cache_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, described: list[Path],
) -> None:  # fmt: skip
    monkeypatch.setenv("DOJO_CACHE", str(tmp_path / "cache"))
    assert main(["list", "--json"]) == 0
    cold = capsys.readouterr().out
    assert len(described) == len(json.loads(cold)) == BUNDLED_COUNT
    described.clear()
    assert main(["list", "--json"]) == 0
    assert capsys.readouterr().out == cold
    assert described == []
    shutil.rmtree(tmp_path / "cache")
    monkeypatch.setenv("DOJO_CACHE", str(tmp_path / "file"))
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")  # no index can be kept
    assert main(["list", "--json"]) == 0
    assert capsys.readouterr().out == cold
