"""Rough edges a new player met: a page that never fires is one line in every mode."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from oncall_dojo.cli import main


@pytest.fixture
def never_pages(tmp_path: Path, poison_path: Path) -> Path:
    """payments-stuck under another id, with a page that cannot fire in the time it allows."""
    text = poison_path.read_text(encoding="utf-8")
    text = text.replace("id: payments-stuck\naliases: [poison-payments]\n", "id: never-pages\n", 1)
    text = text.replace(
        "  alert: QueueAgeHigh_payments\n", "  alert: QueueAgeHigh_payments\n  max_wait_s: 5\n", 1
    )
    path = tmp_path / "never-pages.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "args",
    [["play", "--console", "--no-record", "--seed", "1"], ["run", "--no-record"]],
    ids=["console", "run"],
)
def test_a_page_that_never_fires_is_one_line(
    args: list[str],
    never_pages: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("quit\n"))
    code = main([args[0], str(never_pages), *args[1:]])
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "did not fire within 5s" in lines[0], err
    assert "Traceback" not in out + err
