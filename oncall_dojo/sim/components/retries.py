"""Clients that retry: a request that failed comes back after a backoff, as one more request.

A route whose clients have a retry policy (`traffic.retry`, or the route's own `retry`) keeps
the clients that are waiting out a backoff, by the second they come back and the attempt they
will make. Each tick the clients due arrive on top of the route's fresh requests (extra
arrivals: the fresh stream and the queueing model are left as they are). Once the route is
served, its failures are shared among the attempts that arrived, in proportion to how many of
each came (every request of a tick meets the same system): each failed client waits its next
backoff, or gives up after its last attempt.

The model draws no random number. A jittered backoff spreads its clients evenly over its window,
so a system without a policy draws exactly what it drew before, and one with a policy draws only
for its extra requests (their latencies, cache hits and outcomes).
"""

from __future__ import annotations

from oncall_dojo.sim.config import RetryPolicy, SystemConfig
from oncall_dojo.sim.observability.telemetry import Telemetry

TOP_ATTEMPT = 64
"""Attempts counted one by one up to here; an unlimited client past it waits the longest backoff."""


def backoff_s(policy: RetryPolicy, attempt: int) -> int:
    """Whole seconds a client waits after its `attempt`-th attempt failed (at least 1)."""
    if policy.backoff == "fixed":
        wait = policy.base_s
    else:
        wait = min(policy.cap_s, policy.base_s * 2.0 ** min(attempt - 1, 62))
    return max(1, round(wait))


def share(
    total: int, groups: list[tuple[int, int]], n: int, carry: dict[int, float]
) -> list[tuple[int, int]]:
    """`total` failures among n requests, shared among the groups (attempt, size) in proportion
    to their sizes. Whole failures are handed out by largest remainders, and what a group was
    owed or given too much is carried to its attempt's next share (`carry`), so that over time
    each attempt gets exactly its proportion: rounding alone would never give a failure to a
    group of one among twenty. No group gets more than its size."""
    if len(groups) == 1 and not carry:
        return [(groups[0][0], total)]
    owed = [total * size / n + carry.get(key, 0.0) for key, size in groups]
    got = [min(size, max(0, int(q))) for (_, size), q in zip(groups, owed, strict=True)]
    left = total - sum(got)
    while left:
        step = 1 if left > 0 else -1
        # the most owed first when some are left to give, the most over-given first otherwise
        order = sorted(range(len(got)), key=lambda i: step * (got[i] - owed[i]))
        moved = False
        for i in order:
            if 0 <= got[i] + step <= groups[i][1]:
                got[i] += step
                left -= step
                moved = True
                if not left:
                    break
        if not moved:  # cannot happen while total <= n; stop rather than spin
            break
    for (key, _), q, g in zip(groups, owed, got, strict=True):
        carry[key] = q - g
    return [(key, g) for (key, _), g in zip(groups, got, strict=True)]


class RouteClients:
    """The clients of one route that retry, and those waiting out a backoff."""

    __slots__ = (
        "arrived",
        "c_gave_up",
        "c_retries",
        "carry",
        "gave_up",
        "name",
        "now",
        "pending",
        "policy",
        "retries",
        "top",
        "waiting",
    )

    def __init__(self, name: str, policy: RetryPolicy, tm: Telemetry) -> None:
        self.name = name
        self.policy = policy
        self.pending: dict[int, dict[int, int]] = {}
        """Clients coming back, by the second they come back, then the attempt they make."""
        self.now: dict[int, int] = {}
        """This tick's retries by attempt (2 and on)."""
        self.arrived = 0
        """Retries arriving this tick."""
        self.waiting = 0
        """Clients waiting out a backoff."""
        self.retries = 0
        """Retries sent so far."""
        self.gave_up = 0
        """Clients whose last attempt failed, so far."""
        self.carry: dict[int, float] = {}
        """What each attempt's share of failures was rounded by, for the next share."""
        top = TOP_ATTEMPT
        if policy.max_attempts is not None:
            top = policy.max_attempts
        elif policy.backoff == "fixed":
            top = 2  # every retry waits the same: the attempt does not matter
        else:  # past the cap every retry waits the cap
            top = 2
            while top < TOP_ATTEMPT and backoff_s(policy, top - 1) < backoff_s(policy, top):
                top += 1
        self.top = top
        """The highest attempt counted apart (unlimited clients past it are counted as it)."""
        m = tm.metrics
        self.c_retries = m.counter(
            "http_client_retries_total",
            "Requests clients sent again after a failed attempt",
            route=name,
        )
        self.c_gave_up = m.counter(
            "http_client_gave_up_total",
            "Requests whose clients gave up after their last attempt failed",
            route=name,
        )

    def arrive(self, t: int) -> int:
        """The clients due at t arrive: how many."""
        due = self.pending.pop(t, None)
        if due is None:
            self.now = {}
            self.arrived = 0
            return 0
        self.now = due
        self.arrived = n = sum(due.values())
        self.waiting -= n
        self.retries += n
        return n

    def settle(self, t: int, n: int, failed: int, row: list[float]) -> None:
        """Of the n requests of tick t, `failed` failed in the client's eyes: those clients wait
        their backoff, or give up after their last attempt."""
        row[self.c_retries] += self.arrived
        if failed <= 0:
            return
        groups = [(1, n - self.arrived), *self.now.items()] if self.arrived else [(1, n)]
        limit = self.policy.max_attempts
        gave_up = 0
        for attempt, f in share(failed, groups, n, self.carry):
            if not f:
                continue
            if limit is not None and attempt >= limit:
                gave_up += f
                continue
            self._schedule(t, attempt, f)
        if gave_up:
            self.gave_up += gave_up
            row[self.c_gave_up] += gave_up

    def _schedule(self, t: int, attempt: int, f: int) -> None:
        """f clients whose `attempt`-th attempt failed at t come back after their backoff."""
        wait = backoff_s(self.policy, attempt)
        nxt = min(attempt + 1, self.top)
        jitter = self.policy.jitter
        lo = 1 if jitter == "full" else (wait + 1) // 2 if jitter == "equal" else wait
        width = wait - lo + 1
        pending = self.pending
        self.waiting += f
        if width == 1:
            due = pending.setdefault(t + wait, {})
            due[nxt] = due.get(nxt, 0) + f
            return
        # spread evenly over the window; the odd ones go to seconds that turn with t
        each, odd = divmod(f, width)
        turn = t % width
        for i in range(width):
            c = each + (1 if (i - turn) % width < odd else 0)
            if c:
                due = pending.setdefault(t + lo + i, {})
                due[nxt] = due.get(nxt, 0) + c


class Herd:
    """Every route's retrying clients; built only when some route has a retry policy."""

    def __init__(self, cfg: SystemConfig, tm: Telemetry) -> None:
        self.routes: dict[str, RouteClients] = {}
        for name, r in cfg.api.routes.items():
            policy = r.retry or cfg.traffic.retry
            if policy is not None:
                self.routes[name] = RouteClients(name, policy, tm)
        self.due: dict[str, int] = {}
        """Retries arriving this tick, by route."""
        self.costs = [(name, r.share, r.cpu_ms) for name, r in cfg.api.routes.items()]
        """Each route's share of the fresh traffic and CPU milliseconds per request."""

    @staticmethod
    def of(cfg: SystemConfig, tm: Telemetry) -> Herd | None:
        """The herd of a system whose clients retry; None when no route's clients do."""
        if cfg.traffic.retry is None and all(r.retry is None for r in cfg.api.routes.values()):
            return None
        return Herd(cfg, tm)

    def arrive(self, t: int, rps: float, limits: dict[str, float]) -> float:
        """The retries due at t arrive (`due`). Returns the CPU milliseconds the API fleet spends
        on the tick's requests, fresh (`rps` in all) and retried, that the route's rate limit or
        ramp admits: a request the load balancer rejects costs the fleet nothing."""
        cpu = 0.0
        due = self.due
        routes = self.routes
        for name, share, cpu_ms in self.costs:
            offered = rps * share
            c = routes.get(name)
            if c is not None:
                n = c.arrive(t)
                due[name] = n
                offered += n
            limit = limits.get(name) if limits else None
            if limit is not None and limit < offered:
                offered = limit
            cpu += offered * cpu_ms
        return cpu

    def timeout(self, route: str) -> float | None:
        c = self.routes.get(route)
        return c.policy.timeout_s if c is not None else None

    def waiting(self) -> int:
        """Clients waiting out a backoff, on every route."""
        return sum(c.waiting for c in self.routes.values())
