"""The read cache in front of the database: its hit ratio, and how it refills after a loss."""

from __future__ import annotations

from oncall_dojo.sim.components.database import Database
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.observability.telemetry import Telemetry


class Cache:
    def __init__(self, cfg: SystemConfig, db: Database, tm: Telemetry) -> None:
        self.cfg = cfg
        self.db = db
        self.tm = tm
        self.hit = cfg.cache.hit_ratio
        """Share of cacheable reads it answers now."""
        self.flushes = 0

    def settle(self) -> None:
        """Refill towards the configured hit ratio, as fast as the database answers the misses."""
        c = self.cfg.cache
        target = c.hit_ratio
        if self.hit < target:
            # refilling needs misses answered by the database; an overloaded one answers few
            db = self.db
            served = 1.0 if db.cpu_util < 0.9 else max(0.0, 1.0 - (db.backlog_ms / db.cfg.cpu_ms))
            self.hit = min(
                target, self.hit + (target - self.hit) * 3.0 / c.warm_s * served + 0.0002 * served
            )

    def record(self) -> None:
        row = self.tm.metrics.row
        c = self.cfg.cache
        row[self.tm.g_cache_hit] = self.hit
        ratio = c.hit_ratio
        if not ratio > 0.01:  # max(0.01, ratio) without a call
            ratio = 0.01
        row[self.tm.g_cache_mem] = c.memory_mb * (0.1 + 0.9 * self.hit / ratio) * 1_048_576
