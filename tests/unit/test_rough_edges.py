"""Rough edges a new player met: a page that never fires is one line in every mode."""

from __future__ import annotations

import io
import json
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


def test_run_keeps_nothing_unless_asked_and_prints_every_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOJO_HOME", str(tmp_path / "home"))
    actions = tmp_path / "plan.txt"
    actions.write_text("00:15 ack\n00:30 queue payments\n", encoding="utf-8")
    code = main(["run", "payments-stuck", "--seed", "2", "--actions", str(actions)])
    out, err = capsys.readouterr()
    assert code == 0 and "recorded" not in err
    assert not (tmp_path / "home" / "dojo.db").exists()  # an author's run is not the player's
    # a look's output is printed under its command, as an act's is
    look = out.split("00:30 > queue payments\n", 1)[1]
    assert look.startswith("        queue payments (charge)")
    assert "00:15 > ack\n        Acknowledged" in out
    code = main(["run", "payments-stuck", "--seed", "2", "--record"])
    _, err = capsys.readouterr()
    assert code == 0 and "recorded as session" in err
    assert main(["history", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["incident"], r["mode"]) for r in rows] == [("payments-stuck", "run")]


def test_history_columns_fit_their_contents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOJO_HOME", str(tmp_path / "home"))
    for player in ("al", "a-rather-long-player-name-indeed"):
        assert main(["run", "payments-stuck", "--record", "--player", player]) == 0
    capsys.readouterr()
    assert main(["history"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    starts = {line.index("payments-stuck") for line in lines}
    assert len(starts) == 1  # the incident column lines up whatever the names' lengths
    assert {line.index("/100") for line in lines} == {lines[0].index("/100")}


def test_input_that_ends_early_leaves_the_game_unfinished_and_resumable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A piped script that stops (or ctrl+d) before `quit` or `resolve` is not a finished F:
    nothing is scored, the record stays open, and resuming plays on from where it stood."""
    monkeypatch.setenv("DOJO_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("ack\nqueue payments\n"))
    code = main(["play", "payments-stuck", "--console", "--seed", "1", "--player", "ann"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "The input ended at 00:20 before the game did: it is left unfinished, not scored." in out
    assert "Measuring the outcome" not in out and "grade" not in out
    assert main(["history", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    sid = row["session"]
    assert f"Continue it with: dojo play --resume {sid}" in out
    assert row["ended_at"] is None and row["score"] is None and row["last_at"] == 20
    assert main(["history"]) == 0
    assert f"unfinished at 00:20 (dojo play --resume {sid})" in capsys.readouterr().out
    assert main(["leaderboard"]) == 0
    assert "ann" not in capsys.readouterr().out
    # resumed, it carries on from 00:20 and ends when the player ends it
    monkeypatch.setattr(sys, "stdin", io.StringIO("quit\n"))
    assert main(["play", "--resume", sid, "--console"]) == 0
    out, _ = capsys.readouterr()
    assert "[00:20] dojo> quit" in out and "payments-stuck (seed 1):" in out
    assert main(["history", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["ended_at"] is not None and row["grade"] is not None


def test_input_that_ends_early_unrecorded_says_it_cannot_be_resumed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("ack\n"))
    assert main(["play", "payments-stuck", "--console", "--seed", "1", "--no-record"]) == 0
    out = capsys.readouterr().out
    assert "left unfinished, not scored" in out and "It was not recorded" in out
    assert "grade" not in out
