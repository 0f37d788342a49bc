"""The Textual game. The only package that imports textual; `cli` imports it lazily."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def run(
    incident: str | None = None,
    seed: int | None = None,
    extra_dirs: list[Path] | None = None,
    *,
    play_log: Callable[[], Any] | None = None,
    resume: tuple[Any, Any] | None = None,
    best_scores: Callable[[], dict[tuple[str, int], tuple[int, str]]] | None = None,
    pressure: bool = False,
    tutorial: bool = False,
    offer_tutorial: bool = False,
) -> int:
    """Open the game (the picker, or straight into an incident's briefing).

    `play_log` makes a recorder (the store's `Recorder`, a `game.console.PlayLog`) for each
    session played; `resume` is a rebuilt (session, recorder) to continue where it stopped,
    or a finished session (and None) to show its debrief; `pressure` keeps the clock running
    while a dialog is open; `tutorial` plays the guided first incident (`incident` is then its
    id), `offer_tutorial` offers it over the picker (a player's first start)."""
    from oncall_dojo.tui.app import run as run_app

    return run_app(
        incident,
        seed,
        list(extra_dirs or []),
        play_log=play_log,
        resume=resume,
        best_scores=best_scores,
        pressure=pressure,
        tutorial=tutorial,
        offer_tutorial=offer_tutorial,
    )
