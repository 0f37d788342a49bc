"""A bare simulated system for unit tests: build it from overrides and faults, run it, read it."""

from __future__ import annotations

from typing import Any

from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.faults import Fault, FaultSpec
from oncall_dojo.sim.observability.logquery import parse
from oncall_dojo.sim.observability.logsearch import search
from oncall_dojo.sim.observability.metrics import Query
from oncall_dojo.sim.observability.rules import default_rules
from oncall_dojo.sim.system import System


def config(overrides: dict[str, Any] | None = None) -> SystemConfig:
    return SystemConfig.with_overrides(overrides)


def system(
    overrides: dict[str, Any] | None = None, *faults: FaultSpec, seed: int = 1, rules: bool = False
) -> System:
    """A system with these faults; `rules` adds the default alert rules."""
    cfg = config(overrides)
    s = System(cfg, seed, default_rules(cfg)) if rules else System(cfg, seed)
    s.faults = [Fault(spec, i) for i, spec in enumerate(faults)]
    return s


def run(s: System, ticks: int) -> None:
    for _ in range(ticks):
        s.tick()


def value(
    s: System, metric: str, fn: str = "last", window: int = 60, over: str | None = None
) -> float:
    """A metric's value at the last tick run."""
    v = s.metrics.query(Query(metric=metric, fn=fn, window=window, over=over), s.t - 1)  # type: ignore[arg-type]
    assert v is not None, metric
    return v


def accounted(s: System) -> None:
    """Every message produced is acked, waiting, in flight, dead-lettered or purged, and a
    queue's in-flight count is what the replicas consuming it hold."""
    for name, q in s.queues.items():
        st = q.stats
        assert st.produced == st.acked + q.depth + q.inflight + q.dlq_depth + st.purged, name
        held = sum(
            r.inflight_n for p in s.pools.values() if p.cfg.queue == name for r in p.replicas
        )
        assert q.inflight == held, name


def found(s: System, query: str) -> list[str]:
    """The log lines of `s` that match a log query (the explorer's and the console's), as shown."""
    return [s.logs.render(int(i)) for i in search(s.logs, parse(query))]


def fleet(producer_rps: float) -> dict[str, Any]:
    """Overrides for a pool of four hosts (h4 in site b, on version v0), each process running
    4 slots of 0.4 s (10 messages a second), fed `producer_rps` messages a second: more than
    they serve, so its throughput is its capacity."""
    return {
        "queues": {"jobs": {"kind": "generic", "objective_s": 3600, "producer_rps": producer_rps}},
        "workers": {
            "crunch": {
                "queue": "jobs",
                "concurrency": 4,
                "service_s": 0.4,
                "version": "v1",
                "hosts": {"h1": {}, "h2": {}, "h3": {}, "h4": {"site": "b", "version": "v0"}},
            }
        },
    }
