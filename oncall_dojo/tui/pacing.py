"""Wall-clock pacing of the simulation, kept apart from the session (no Textual here).

The incident screen's timer asks `due()` how many whole ticks to run each time
it fires. Time is credited per timer firing, not read from the wall clock, so a
stalled event loop never comes back with one huge batch.
"""

from __future__ import annotations

from dataclasses import dataclass

SPEEDS: tuple[int, ...] = (1, 5, 20)
TIMER_HZ = 10
"""Timer firings per second: at 20x each firing runs 2 ticks."""


@dataclass
class Pacer:
    speed: int = 1
    paused: bool = False
    """Paused by the player (F2)."""
    credit: float = 0.0
    held: bool = False
    """Stopped while a dialog, the help or the palette covers play (the player's pause is kept
    apart, so that closing the dialog restores it)."""

    @property
    def stopped(self) -> bool:
        """No simulated time passes: paused or held."""
        return self.paused or self.held

    def due(self, dt: float = 1.0 / TIMER_HZ) -> int:
        """Whole ticks to run for one timer firing of `dt` seconds."""
        if self.stopped:
            return 0
        self.credit += self.speed * dt
        n = int(self.credit + 1e-9)
        self.credit -= n
        return n

    def faster(self) -> int:
        i = SPEEDS.index(self.speed) if self.speed in SPEEDS else 0
        self.speed = SPEEDS[(i + 1) % len(SPEEDS)]
        return self.speed

    def set_speed(self, speed: int) -> None:
        self.speed = speed
        self.credit = 0.0
