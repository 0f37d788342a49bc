"""A one-line progress bar on a terminal, for commands that work for a while."""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 24


class ProgressLine:
    """Draws `[#####.....] done/total  what  about N s left` on one line of `stream` (a
    terminal), redrawn in place; `clear` wipes it so that other output can be printed."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.start = time.monotonic()
        self.done = self.total = self.played = 0
        self.last = ""

    def __call__(self, done: int, total: int, ident: str, seed: int, played: bool) -> None:
        self.done, self.total = done, total
        self.played += played
        self.last = f"{ident} seed {seed}"
        self.draw()

    def text(self) -> str:
        filled = WIDTH * self.done // max(1, self.total)
        left = self.total - self.done
        eta = ""
        if self.played and left:
            # only plays take time: the cached ones were counted at the start
            per = (time.monotonic() - self.start) / self.played
            eta = f"  about {max(1, round(per * left))} s left"
        return (
            f"[{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total}  {self.last}{eta}"
        )

    def draw(self) -> None:
        if self.total:
            self.stream.write("\r\x1b[K" + self.text())
            self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r\x1b[K")
        self.stream.flush()
