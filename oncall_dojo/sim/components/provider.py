"""The external payment provider: latency and errors that grow with load and with degradation.

The API and the charge consumers call it; calls made in a tick set its load for the next (over
its load window), and its latency and error rate follow. `attempt` makes one call, `charge`
records a charge the provider made.
"""

from __future__ import annotations

from oncall_dojo.sim.components.latency import LOGNORMAL
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.data.records import Records
from oncall_dojo.sim.observability.telemetry import Telemetry
from oncall_dojo.sim.rng import SimRandom


class Provider:
    def __init__(self, cfg: SystemConfig, rng: SimRandom, tm: Telemetry, records: Records) -> None:
        self.cfg = cfg
        self.rng = rng
        self.tm = tm
        self.row = tm.metrics.row
        self.records = records
        self.latency_x = 1.0
        """Degradation: a multiplier of its latency (a fault sets it)."""
        self.extra_error = 0.0
        """Degradation: errors on top of its usual rate (a fault sets it)."""
        self.calls = 0.0
        """Calls made this tick so far."""
        self.calls_prev = 0.0
        self.load = 0.0
        """Calls per second over its capacity, averaged over its load window."""
        self.lat = 0.0
        """Latency as of the start of this tick (what a call made now sees)."""
        self.err = 0.0
        """Error rate as of the start of this tick."""
        p = cfg.provider  # its figures, read once (the configuration does not change in a run)
        self._latency_ms = p.latency_ms
        self._error_rate = p.error_rate
        self._capacity_rps = p.capacity_rps
        self._load_window_s = p.load_window_s

    def start_tick(self) -> None:
        self.lat = self.latency_s()
        self.err = self.error_rate()

    def latency_s(self) -> float:
        load = self.load
        busy = load * 0.85  # min(0.9, busy) below, without a call
        queueing = (
            1.0 / (1.0 - (busy if busy < 0.9 else 0.9)) if load < 1 else 6.0 + 20.0 * (load - 1)
        )
        return self._latency_ms / 1000.0 * self.latency_x * queueing

    def error_rate(self) -> float:
        throttle = max(0.0, 1.0 - 1.0 / self.load) if self.load > 1 else 0.0
        rate = self._error_rate + self.extra_error + throttle
        return rate if rate < 1.0 else 1.0  # min(1.0, rate) without a call

    def error_text(self) -> str:
        if self.load > 1:
            return "429 Too Many Requests: rate limit exceeded"
        if self.latency_x > 3:
            return "timeout awaiting response headers (3s)"
        return "503 Service Unavailable"

    def attempt(self) -> str:
        """One call to the provider: 'ok', 'error' or 'timeout' (a timed-out charge still went through)."""
        self.calls += 1
        x = self.rng.getrandbits(32)
        lat = self.lat * LOGNORMAL[x & 4095]
        c = self.tm.c_prov
        if lat > self.cfg.provider.timeout_s:
            self.row[c["timeout"]] += 1
            return "timeout"
        if (x >> 12) / 1_048_576 < self.err:
            self.row[c["error"]] += 1
            return "error"
        self.row[c["ok"]] += 1
        return "ok"

    def charge(self, order: int, idempotent: bool) -> bool:
        """The provider records a charge (deduplicated by the order's idempotency key when sent).

        Returns whether a new charge was made."""
        rec = self.records
        if idempotent and rec.charges.get(order, 0) >= 1:
            return False
        rec.charges[order] = rec.charges.get(order, 0) + 1
        self.row[self.tm.c_charges] += 1
        return True

    def settle(self) -> None:
        """End of tick: this tick's calls become the load the next one sees."""
        self.calls_prev = self.calls
        load = self.calls / self._capacity_rps
        w = self._load_window_s
        self.load = load if w <= 1 else self.load + (load - self.load) / w
        self.calls = 0.0

    def record(self) -> None:
        self.row[self.tm.g_prov_lat] = self.latency_s()
