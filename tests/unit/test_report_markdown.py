"""The postmortem report of a session just played, and the one escaping of its Markdown."""

from __future__ import annotations

from collections.abc import Callable

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
