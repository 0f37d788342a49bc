"""A replica's replay of its primary's writes: how many it has not applied yet, and when they
were written.

Each second the primary's writes join the stream and the replica applies up to its rate:
pending = max(0, pending + writes - applied), so the backlog grows at (write rate - apply rate)
and drains at the reverse. The stream also keeps, per second still not fully replayed, how many
writes that second made and how many of them wait, so a failover knows which writes it loses:
everything from the oldest second still waiting (the share of it not replayed) to now.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class Replication:
    pending: float = 0.0
    """Writes made on the primary that the replica has not applied."""
    wal: deque[list[float]] = field(default_factory=deque)
    """[second, writes made then, of which still waiting], oldest first."""

    def advance(self, t: int, writes: float, applied: float) -> None:
        """Second t: the primary made `writes`, the replica could apply `applied`."""
        pending = self.pending + writes - applied
        self.pending = pending if pending > 0.0 else 0.0  # max(0.0, pending) without a call
        wal = self.wal
        if writes > 0:
            wal.append([float(t), writes, writes])
        budget = applied
        while wal and budget > 0:
            e = wal[0]
            if e[2] <= budget:
                budget -= e[2]
                wal.popleft()
            else:
                e[2] -= budget
                break
        if not self.pending:
            wal.clear()

    def cut(self) -> tuple[int, float] | None:
        """Where the replica's replay stands: (the oldest second with writes it has not applied,
        the share of that second's writes not applied), or None when it has applied them all."""
        if not self.wal or not self.pending:
            return None
        first = self.wal[0]
        return int(first[0]), first[2] / first[1]

    def drop_newest(self, n: float) -> None:
        """Forget the newest `n` writes (lost in a failover: the stream never carries them)."""
        self.pending = max(0.0, self.pending - n)
        wal = self.wal
        while wal and n > 0:
            e = wal[-1]
            if e[2] <= n:
                n -= e[2]
                wal.pop()
            else:
                e[2] -= n
                e[1] = max(e[1] - n, e[2])
                break

    def reset(self) -> None:
        self.pending = 0.0
        self.wal.clear()
