"""The line console: briefing, page, commands with refusals inline, time that moves, a scored end."""

from __future__ import annotations

import io

from oncall_dojo.game.console import THINK_S, run_console
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.packs import find


def play(lines: list[str], seed: int = 5) -> str:
    inc = load_incident(find("payments-stuck"))
    out = io.StringIO()
    rc = run_console(inc, seed, [], out=out, inp=io.StringIO("\n".join(lines) + "\n"))
    assert rc == 0
    return out.getvalue()


def test_console_shows_briefing_page_outputs_and_the_score() -> None:
    text = play(["ack", "queue payments", "restrat billing", "wait 2m", "quit"])
    assert "*** PAGE *** QueueAgeHigh_payments" in text
    assert "Shopfront" in text  # the briefing
    assert "Acknowledged QueueAgeHigh_payments at 00:00." in text
    assert "most delivered waiting messages" in text
    assert "! unknown command `restrat`. Did you mean `restart`?" in text
    # each command takes THINK_S seconds; `wait 2m` lets 120 s pass
    assert f"[{0:02d}:{THINK_S * 3:02d}] dojo> wait 2m" in text
    assert f"[02:{THINK_S * 3:02d}] dojo> quit" in text
    assert "payments-stuck (seed 5):" in text and "grade" in text
    assert "What really happened:" in text and "Modelled on: " in text


def test_console_ends_when_resolved_and_replays_the_same_with_the_same_seed() -> None:
    lines = ["ack", "dlq move payments top", "restart billing", "wait 10m", "resolve"]
    first, second = play(lines, seed=9), play(lines, seed=9)
    assert "Declared resolved" in first
    assert first == second


def test_console_rejects_a_bad_wait_duration_without_moving_time() -> None:
    text = play(["wait soon", "quit"])
    assert "! duration must look like 90, 90s, 15m or 1h" in text
    assert "[00:00] dojo> quit" in text


LONG = "a command line holds at most 64 KB (65,536 bytes); this one is longer"


def test_a_line_past_64_kb_is_refused_unread_and_the_game_goes_on() -> None:
    """Splitting a quoted 2 MB line took minutes (shlex builds a word a character at a time);
    the console now drops a line past the cap as it reads it, and says so."""
    lines = [
        "ack",
        'update "' + "caf\xe9 " * 400_000 + '"',  # 2 MB, one shell word
        "logs billing grep=" + "\xe9" * 40_000,  # 40,000 characters, 80,000 bytes
        "sql SELECT '" + "x" * 1_000_000 + "'",
        "queue payments",
        "quit",
    ]
    text = play(lines)
    assert text.count(f"dojo>   ! {LONG}\n") == 3
    assert "most delivered waiting messages" in text  # the next line was played
    assert "caf\xe9 caf\xe9" not in text  # never echoed or recorded
    # each refusal costs no simulated time: ack at 00:00, queue at 00:10
    assert f"[00:{THINK_S:02d}] dojo>   ! {LONG}" in text
    assert f"[00:{THINK_S:02d}] dojo> queue payments" in text


TERMINAL_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e", "\x00")


def test_what_a_player_typed_is_echoed_and_answered_with_visible_escapes() -> None:
    """A console line (or a status update, or an SQL value) reaches a terminal again in the
    transcript and in outputs: control characters show as escapes and never act."""
    text = play(["ack", 'update "\x1b[2J\x9b\u202eall fine\x07"', "\x1b]0;owned\x07", "quit"])
    assert not any(c in text for c in TERMINAL_CONTROLS), repr(text[-600:])
    assert '> update "\\x1b[2J\\x9b\\u202eall fine\\x07"' in text
    assert "unknown command `\\x1b]0;owned\\x07`" in text
