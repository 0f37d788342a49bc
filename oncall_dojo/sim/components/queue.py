"""A message broker with named queues, visibility timeouts, redelivery and dead-letter queues.

Messages travel in *runs*: consecutive messages enqueued at the same tick that
share a fate. A run of one is an individual message (a poisoned one, a charge
being retried); a run of many is a flow. Runs split when part of them is taken,
so every message keeps its own enqueue time and delivery count, and the broker
can account for each one: produced = acknowledged + waiting + in flight +
dead-lettered + purged.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter

from oncall_dojo.sim.config import QueueConfig
from oncall_dojo.sim.errors import Refusal

_MULT = 0x9E3779B1  # odd, so invertible mod 2**32: message ids are a bijection of sequence numbers
_INV = pow(_MULT, -1, 1 << 32)
_MASK = (1 << 32) - 1


@dataclass(slots=True)
class Run:
    first: int
    """Sequence number of the first message."""
    count: int
    enq: int
    """Tick the messages were enqueued."""
    deliveries: int = 0
    poison: bool = False
    visible_at: int = 0
    replayed: int = 0
    """How many times these messages were replayed from the dead-letter queue."""
    at: float = -1.0
    """Mean arrival time of the messages, in continuous time (a message enqueued at tick t
    arrived during (t - 1, t]); negative: not known, taken as t - 0.5."""
    done: float = -1.0
    """When their current delivery finished, in continuous time; negative: not known."""
    delay_key: int = 0
    """While the run waits out a visibility timeout: the key of its entry in the queue's heap of
    delayed runs (an entry whose key differs is stale); 0 otherwise."""

    def split(self, n: int) -> Run:
        """Detach and return the first n messages of this run.

        Arrival times are taken as spread evenly up to the enqueue tick (over twice the gap between
        their mean and it), so the head gets the earlier ones: the two means keep the run's."""
        count = self.count
        at = self.at
        if at >= 0:
            spread = 2.0 * (self.enq - at)
            head_at = self.enq - spread + spread * n / (2 * count)
            self.at = self.enq - spread * (count - n) / (2 * count)
        else:
            head_at = at
        head = Run(
            self.first,
            n,
            self.enq,
            self.deliveries,
            self.poison,
            self.visible_at,
            self.replayed,
            head_at,
        )
        self.first += n
        self.count = count - n
        return head

    def first_arrival(self) -> float:
        """When its oldest message arrived, in continuous time: the expected first of `count`
        arrivals spread evenly up to the enqueue tick around their mean."""
        at = self.at
        if at < 0:
            return self.enq - 0.5
        n = self.count
        return max(self.enq - 1.0, at - (self.enq - at) * (n - 1) / (n + 1))


def _oldest_arrival(runs: deque[Run]) -> float:
    """The least `first_arrival` of the runs (thousands of them after a replay, every tick).

    A run's first arrival lies within [enq - 1, enq], so only runs enqueued at most two ticks after
    the earliest can hold the least: those are found by scanning the enqueue ticks in C (`map`,
    `compress`), and `first_arrival` is called on them alone. The value is the one a full scan
    gives (the same run's own float)."""
    enqs = list(map(_ENQ, runs))
    within = min(enqs) + 2
    return min(r.first_arrival() for r in compress(runs, map(within.__ge__, enqs)))


_ENQ = attrgetter("enq")


@dataclass
class QueueStats:
    produced: int = 0
    acked: int = 0
    purged: int = 0
    dead_lettered: int = 0
    replayed: int = 0
    late: int = 0
    """Messages acknowledged (or still waiting at the end) later than the queue's objective."""
    late_due: dict[int, int] = field(default_factory=dict)
    """The late messages by the tick their objective ran out (their due tick)."""
    wait_total: float = 0.0
    """Sum of enqueue-to-ack seconds over acknowledged messages."""


@dataclass
class Queue:
    name: str
    cfg: QueueConfig
    salt: int
    ready: deque[Run] = field(default_factory=deque)
    delayed: list[Run] = field(default_factory=list)
    dlq: list[Run] = field(default_factory=list)
    inflight: int = 0
    next_seq: int = 1
    paused: bool = False
    stats: QueueStats = field(default_factory=QueueStats)
    _ready_n: int = 0
    _delayed_n: int = 0
    """Messages in `delayed`, kept as they come and go (asked several times a tick)."""
    _delayed_heap: list[tuple[float, int, Run]] = field(default_factory=list)
    """(`first_arrival`, key, run) for the runs in `delayed`, the earliest first; entries of
    runs that left are dropped when they reach the top (see `Run.delay_key`)."""
    _delay_keys: int = 0
    _dlq_n: int = 0
    """Messages in `dlq`, kept as they come and go: a dead-letter queue can hold thousands of
    runs of one, and its depth is a gauge read every tick."""
    _replayed_behind: bool = False
    """Old messages were replayed onto the tail, so the head is not necessarily the oldest."""
    _objective_s: int = field(init=False, default=0)
    """The configuration's `objective_s`, read once (asked at every acknowledgement)."""

    def __post_init__(self) -> None:
        self._objective_s = self.cfg.objective_s

    # -- ids -------------------------------------------------------------------
    def msg_id(self, seq: int) -> str:
        return f"{((seq * _MULT) ^ self.salt) & _MASK:08x}"

    def seq_of(self, msg_id: str) -> int | None:
        try:
            h = int(msg_id.removeprefix("msg_"), 16)
        except ValueError:
            return None
        if not 0 <= h <= _MASK:
            return None
        seq = ((h ^ self.salt) * _INV) & _MASK
        return seq if 0 < seq < self.next_seq else None

    # -- producing and consuming ----------------------------------------------------
    def enqueue(self, t: int, count: int, poison: bool = False) -> Run | None:
        if count <= 0:
            return None
        last = self.ready[-1] if self.ready else None
        if (
            last is not None
            and not poison
            and not last.poison
            and last.enq == t
            and last.deliveries == 0
            and last.replayed == 0
            and last.first + last.count == self.next_seq
        ):
            last.count += count
            run = last
        else:
            run = Run(self.next_seq, count, t, poison=poison, at=t - 0.5)
            self.ready.append(run)
        self.next_seq += count
        self._ready_n += count
        self.stats.produced += count
        return run

    def take(self, n: int) -> list[Run]:
        """Deliver up to n messages from the head (they become in flight)."""
        out: list[Run] = []
        ready = self.ready
        while n > 0 and ready:
            head = ready[0]
            if head.count <= n:
                ready.popleft()
                run = head
            else:
                run = head.split(n)
            run.deliveries += 1
            out.append(run)
            n -= run.count
            self._ready_n -= run.count
            self.inflight += run.count
        return out

    def ack(self, run: Run, t: int) -> None:
        """Acknowledge a delivery finished at tick t (at `run.done` when known)."""
        self.inflight -= run.count
        self.stats.acked += run.count
        # enqueue to acknowledgement in continuous time; unknown ends are taken at the middle of
        # their second, so a message's mean wait is the ticks it spent in the queue
        start = run.at if run.at >= 0 else run.enq - 0.5
        wait = (run.done if run.done >= 0 else t - 0.5) - start
        self.stats.wait_total += wait * run.count
        objective_s = self._objective_s
        if wait > objective_s:
            self._late(int(start + objective_s), run.count)

    def _late(self, due: int, n: int) -> None:
        st = self.stats
        st.late += n
        st.late_due[due] = st.late_due.get(due, 0) + n

    def late_due_from(self, tick: int) -> int:
        """Late messages whose objective ran out at or after `tick` (not already late then)."""
        return sum(n for due, n in self.stats.late_due.items() if due >= tick)

    def fail(self, run: Run, t: int, delay: int | None = None) -> bool:
        """A delivery was not acknowledged: redeliver after the visibility timeout (or `delay`
        seconds: 0 is a consumer that requeues at once), or dead-letter.

        Returns True when the run went to the dead-letter queue."""
        self.inflight -= run.count
        run.done = -1.0
        limit = self.cfg.max_receive_count
        if limit is not None and run.deliveries >= limit:
            self.dlq.append(run)
            self._dlq_n += run.count
            self.stats.dead_lettered += run.count
            return True
        run.visible_at = t + (self.cfg.visibility_timeout_s if delay is None else delay)
        self.delayed.append(run)
        self._delayed_n += run.count
        self._heap_push(run)
        return False

    def _heap_push(self, run: Run) -> None:
        self._delay_keys += 1
        run.delay_key = self._delay_keys
        heapq.heappush(self._delayed_heap, (run.first_arrival(), self._delay_keys, run))

    def _delayed_oldest(self) -> float | None:
        """The earliest `first_arrival` among the runs in `delayed`."""
        heap = self._delayed_heap
        while heap and heap[0][2].delay_key != heap[0][1]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def tick(self, t: int) -> None:
        """Messages whose visibility timeout expired become visible again, at the head."""
        if not self.delayed:
            return
        due = [r for r in self.delayed if r.visible_at <= t]
        if not due:
            return
        self.delayed = [r for r in self.delayed if r.visible_at > t]
        due.sort(key=lambda r: r.first)
        for r in reversed(due):
            self.ready.appendleft(r)
            self._ready_n += r.count
            self._delayed_n -= r.count
            r.delay_key = 0

    # -- reading ---------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Messages waiting: visible plus waiting out a visibility timeout."""
        return self._ready_n + self._delayed_n

    @property
    def dlq_depth(self) -> int:
        return self._dlq_n

    def oldest_age(self, t: int) -> float:
        """Seconds since the oldest waiting message (visible or waiting out a visibility timeout)
        arrived, in continuous time: at tick t a message enqueued at t arrived during (t - 1, t]."""
        oldest = self._delayed_oldest()
        if self.ready:
            if self._replayed_behind:
                # replayed messages went to the tail: the oldest may be anywhere
                head = _oldest_arrival(self.ready)
            else:
                head = self.ready[0].first_arrival()  # the ready queue is in arrival order
            oldest = head if oldest is None or head < oldest else oldest
        elif self._replayed_behind:
            self._replayed_behind = False
        if oldest is None:
            return 0.0
        age = t - oldest
        return age if age > 0.0 else 0.0  # max(0.0, age) without a call

    def waiting_runs(self) -> Iterator[Run]:
        yield from self.ready
        yield from self.delayed

    def messages(self, limit: int = 20) -> list[tuple[str, Run, int]]:
        """The oldest waiting messages: (id, run, seq)."""
        out: list[tuple[str, Run, int]] = []
        for run in sorted(self.waiting_runs(), key=lambda r: (r.enq, r.first)):
            for seq in range(run.first, run.first + min(run.count, limit - len(out))):
                out.append((self.msg_id(seq), run, seq))
            if len(out) >= limit:
                break
        return out

    def top_delivered(self, limit: int = 5) -> list[tuple[str, Run]]:
        """Waiting messages with the highest delivery counts."""
        runs = sorted(
            (r for r in self.waiting_runs() if r.deliveries > 1),
            key=lambda r: (-r.deliveries, r.first),
        )
        return [(self.msg_id(r.first), r) for r in runs[:limit]]

    # -- operator actions -----------------------------------------------------------
    def purge(self) -> int:
        """Delete every waiting message. They are gone: nobody will ever process them."""
        lost = self.depth
        self._clear_waiting()
        self.stats.purged += lost
        return lost

    def _extract(self, seq: int) -> Run | None:
        """Remove the single message `seq` from the waiting messages and return it as a run."""
        for container in (self.ready, self.delayed):
            for i, run in enumerate(container):
                if run.first <= seq < run.first + run.count:
                    before = seq - run.first
                    after = run.count - before - 1
                    pieces = []
                    if before:
                        pieces.append(
                            Run(
                                run.first,
                                before,
                                run.enq,
                                run.deliveries,
                                run.poison,
                                run.visible_at,
                                run.replayed,
                                run.at,
                            )
                        )
                    one = Run(
                        seq,
                        1,
                        run.enq,
                        run.deliveries,
                        run.poison,
                        run.visible_at,
                        run.replayed,
                        run.at,
                    )
                    if after:
                        pieces.append(
                            Run(
                                seq + 1,
                                after,
                                run.enq,
                                run.deliveries,
                                run.poison,
                                run.visible_at,
                                run.replayed,
                                run.at,
                            )
                        )
                    if isinstance(container, deque):
                        container.remove(run)
                        for p in reversed(pieces):
                            container.insert(i, p)
                        self._ready_n -= 1
                    else:
                        container[i : i + 1] = pieces
                        self._delayed_n -= 1
                        run.delay_key = one.delay_key = 0
                        for p in pieces:
                            self._heap_push(p)
                    return one
        return None

    def move_to_dlq(self, msg_id: str) -> Run:
        seq = self.seq_of(msg_id)
        if seq is None:
            raise Refusal(f"queue {self.name} has no message {msg_id}")
        one = self._extract(seq)
        if one is None:
            if any(r.first <= seq < r.first + r.count for r in self.dlq):
                raise Refusal(f"message {msg_id} is already in {self.name}.dlq")
            raise Refusal(
                f"message {msg_id} is not waiting in {self.name} (it was processed, or is in flight: "
                "wait for its visibility timeout)"
            )
        self.dlq.append(one)
        self._dlq_n += 1
        self.stats.dead_lettered += 1
        return one

    def park_all(self) -> int:
        """Move every waiting message to the dead-letter queue (parked, not lost). Returns how many."""
        runs = sorted(self.waiting_runs(), key=lambda r: r.first)
        moved = sum(r.count for r in runs)
        self._clear_waiting()
        self.dlq.extend(runs)
        self._dlq_n += moved
        self.stats.dead_lettered += moved
        return moved

    def _clear_waiting(self) -> None:
        self.ready.clear()
        for r in self.delayed:
            r.delay_key = 0
        self.delayed.clear()
        self._delayed_heap.clear()
        self._ready_n = self._delayed_n = 0

    def replay_oldest(self, t: int, limit: int) -> int:
        """Move the oldest `limit` dead-lettered messages back to the queue tail. Returns how many."""
        self.dlq.sort(key=lambda r: r.first)
        take: list[Run] = []
        n = 0
        while self.dlq and n < limit:
            head = self.dlq[0]
            run = self.dlq.pop(0) if head.count <= limit - n else head.split(limit - n)
            take.append(run)
            n += run.count
        self._dlq_n -= n
        return self._requeue(take, t)

    def replay_dlq(self, t: int, only: set[int] | None = None) -> int:
        """Move dead-lettered messages (all, or the given sequence numbers) back to the queue tail."""
        if only is None:
            every, self.dlq = self.dlq, []
            self._dlq_n = 0
            return self._requeue(every, t)
        take: list[Run] = []
        keep: list[Run] = []
        for run in self.dlq:
            for seq in range(run.first, run.first + run.count):
                one = Run(seq, 1, run.enq, run.deliveries, run.poison, 0, run.replayed, run.at)
                (take if seq in only else keep).append(one)
        self.dlq = keep
        self._dlq_n -= len(take)
        return self._requeue(take, t)

    def _requeue(self, runs: list[Run], t: int) -> int:
        """Put dead-lettered runs back at the tail as fresh deliveries. Returns how many messages."""
        moved = 0
        for r in runs:
            r.deliveries = 0
            r.replayed += 1
            r.visible_at = t
            self.ready.append(r)
            self._ready_n += r.count
            moved += r.count
        self.stats.replayed += moved
        if moved:
            self._replayed_behind = True
        return moved

    def finish(self, t: int) -> None:
        """At the end of a run: messages still waiting past the objective count as late."""
        for run in self.waiting_runs():
            if t - run.enq > self.cfg.objective_s:
                self._late(run.enq + self.cfg.objective_s, run.count)
