"""The postmortem report of a session just played, and the one escaping of its Markdown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from oncall_dojo.game import report
from oncall_dojo.game.markdown import render
from oncall_dojo.game.report import from_session
from oncall_dojo.game.session import Session

Play = Callable[..., Session]


def test_code_spans_keep_backslashes_and_escape_pipes_only_in_tables(play: Play) -> None:
    """Markdown does not unescape inside a code span: a backslash shows as typed (it was
    doubled), and `|` needs `\\|` only in a table cell, where the table would split there."""
    s = play(["00:30 frob a\\d|b", "00:40 scale billing 3", "01:00 resolve"])
    text = render(from_session(s))
    assert "| 00:30 | refused | `frob a\\d\\|b` |" in text  # a table row
    assert "a\\\\d" not in text
    assert "- 00:40 `scale billing 3`" in text  # a list item of extra changes
    assert "| Session | not recorded |" in text and "| Player | — |" in text


def test_a_second_report_of_a_seed_reads_the_reference_from_the_play_cache(
    play: Play, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every report of a game of one incident and seed compares with the same reference play:
    the first report plays it into the play cache, later ones read it back and say the same."""
    monkeypatch.setenv("DOJO_CACHE", str(tmp_path))
    s = play(["00:40 scale billing 3", "01:00 resolve"], seed=4)
    first = from_session(s)
    kept = list(tmp_path.rglob("*.json"))
    assert len(kept) == 1  # the reference, as the report reads it

    def no_play(*_a: object, **_k: object) -> None:
        raise AssertionError("the reference was played again")

    monkeypatch.setattr(report, "run_script", no_play)
    assert from_session(s) == first
    assert first["reference"]["missed"] and first["reference"]["score"] > first["outcome"]["score"]
    kept[0].write_text("{not json", encoding="utf-8")  # a damaged entry is played again
    monkeypatch.undo()
    monkeypatch.setenv("DOJO_CACHE", str(tmp_path))
    assert from_session(s) == first
