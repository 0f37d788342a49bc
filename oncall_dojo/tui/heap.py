"""Keep the garbage collector's full passes short while the incident is played.

A full pass of CPython's collector scans every tracked object in the oldest generation,
and while it runs nothing else does: no key is handled, no frame drawn. Play keeps a
lot alive (the session, the widgets, and Textual's render caches: every cached line
is a `Strip` with seven small caches of its own, each a tracked object), so a pass
took 25-80 ms on a busy 2-core machine, on top of whatever frame it interrupted.

`PlayHeap.start()` freezes the heap built before play (`gc.freeze`: the collector
skips frozen objects), and after every full pass freezes again what that pass found
alive. A pass then scans only what was promoted since the last one (a few thousand
objects, a few milliseconds) instead of everything play keeps.

What is frozen is freed as usual when its last reference goes; only cyclic garbage
among frozen objects waits for the collector. There is some: a Textual `Strip` often
caches itself (a crop or style that changes nothing), so a cached line that was alive
at a pass and is dropped later stays, as do widgets Textual replaces (footer keys) and
dialogs closed since. About a thousand objects a second at 20x while switching panes
and typing. `reclaim()` thaws, collects everything once and freezes again (one long
pass, as the collector made before): the screen calls it when the clock is paused or a
dialog opens, when nobody is typing into a running clock; and if that never happens,
every `THAW_EVERY` full passes the next pass scans everything (thawed first). `stop()`
thaws all when play ends. (Counting the frozen objects to decide would walk all of
them: `gc.get_freeze_count()` walks a list, 10-30 ms here.)
"""

from __future__ import annotations

import gc
from typing import Any

THAW_EVERY = 20
"""Full passes (each refreezing what it found alive) before one scans everything again."""
RECLAIM_AFTER = 5
"""`reclaim()` does nothing before this many full passes since the last thaw (little to gain)."""


class PlayHeap:
    """Freezes the heap while play runs; see the module docstring."""

    def __init__(self, thaw_every: int = THAW_EVERY) -> None:
        self.thaw_every = thaw_every
        self.running = False
        self.full_passes = 0
        """Full passes of the collector since `start()`."""
        self.thaws = 0
        """Times everything was thawed (and scanned by the next full pass)."""
        self._since_thaw = 0

    def start(self) -> None:
        if self.running:
            return
        gc.freeze()
        gc.callbacks.append(self._on_gc)
        self.running = True

    def stop(self) -> None:
        """Thaw everything (play is over: what it built may go)."""
        if not self.running:
            return
        self.running = False
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        gc.unfreeze()

    def reclaim(self) -> None:
        """Collect everything once (frozen garbage included) and freeze what is left."""
        if not self.running or self._since_thaw < RECLAIM_AFTER:
            return
        gc.unfreeze()
        self._since_thaw = 0
        gc.collect()  # a full pass: `_on_gc` freezes what it found alive
        self.thaws += 1

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        # a full pass just ended: everything still tracked survived it
        self.full_passes += 1
        self._since_thaw += 1
        if self._since_thaw >= self.thaw_every:
            # the next full pass scans everything once, to reclaim cycles among frozen objects
            gc.unfreeze()
            self._since_thaw = 0
            self.thaws += 1
        else:
            gc.freeze()
