"""Data-quality checks over the application database, and repairs the player made by hand."""

from __future__ import annotations

from oncall_dojo.sim.config import AppDbConfig
from oncall_dojo.sim.data.appdb import AppDb
from oncall_dojo.sim.data.records import Records
from oncall_dojo.sim.observability.telemetry import Telemetry


def check_data(app: AppDb, cfg: AppDbConfig, records: Records, tm: Telemetry) -> dict[str, int]:
    """Run the invariants now: violations per invariant (exported as a metric). A corrupted order
    the player repaired by hand counts as repaired."""
    out = {}
    row = tm.metrics.row
    for inv in cfg.invariants:
        n = out[inv.name] = app.violations(inv.sql)
        row[tm.g_invariants[inv.name]] = n
    if records.corrupted:
        still = app.wrong_orders()
        for o in [o for o in records.corrupted if app.order_id(o) not in still]:
            del records.corrupted[o]
            records.repaired += 1
    return out
