"""Operations an incident declares: repairs that take time (a resync, a reindex, a restore).

An operation acts on a component (the database, a pool, a queue, a resource) and works
through a quantity at a rate: a fixed number of `units`, a resource's value (drained down to
`to`), or a table's rows. The player starts, pauses and resumes it from the console; it then
runs on its own, second by second, while the system around it keeps running. Its rate
depends on the system's state: divided by `1 + db_busy_slowdown x` the database's CPU use (0
to 1), and what keeps arriving adds to the work (the resource's own rate, the rows written to
the table). So an operation whose work grows with the inflow finishes sooner, or at all, once
the inflow stops. It may fail, with the author's error, while a declared condition holds (a
resource past a level, more than so much work arrived during the run). A failed or unfinished
run repairs nothing (what it worked off a resource stays worked off), and the next run starts
over. On completion it sets resources (`done`) and repairs the faults that name it under
`fixed_by` (`kind: damage`).

Each second an operation runs, in this order: its rate `r = rate / (1 + db_busy_slowdown *
cpu)` (the CPU use of the second before) is worked off (`done += r`; a resource's value goes
down by `r`, not below `to`); its failure conditions are checked; then, once the work left
(`units - done`; `value - to`; rows at the start plus rows written since, minus `done`) is 0 or
less, it has finished. A resource then moves by its own rate in the same second, as always.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.faults.base import LogLine
from oncall_dojo.sim.observability.logs import ERROR, INFO

if TYPE_CHECKING:
    from oncall_dojo.sim.components.clusters import Topology
    from oncall_dojo.sim.components.database import Database
    from oncall_dojo.sim.system import System

OPERATION_NAME = r"^[a-z][a-z0-9_-]*$"
"""An operation's name in the file (`resync-replica`)."""
BUILTIN_COMPONENTS = ("postgres", "api", "cache")
"""Components an operation may name besides the worker pools, queues and resources."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)


class FailIf(_Model):
    """A condition under which a running operation fails (checked every second it runs)."""

    resource: str | None = None
    """The resource whose value is checked (default: the one the operation works through)."""
    above: float | None = None
    """It fails once the resource's value is at or above this."""
    below: float | None = None
    """Or: once the resource's value is at or below this."""
    inflow_above: float | None = Field(default=None, ge=0)
    """Or: once more than this much work has arrived since the run started (the resource's own
    growth, the rows written to the table): the component received writes it could not take.
    0: any write fails it."""
    error: str = Field(min_length=1)
    """What the operation logs as it fails (`pg_basebackup: error: ...`)."""

    @model_validator(mode="after")
    def _one(self) -> FailIf:
        given = [k for k in ("above", "below", "inflow_above") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `above`, `below` or `inflow_above`")
        if self.resource is not None and self.inflow_above is not None:
            raise ValueError("`inflow_above` counts the operation's own work: drop `resource`")
        return self


class SetResource(_Model):
    """A resource's new value or rate, once the operation has finished."""

    value: float | None = None
    """Its new value (kept within its `min` and `max`)."""
    rate: float | None = None
    """Its new rate (per unit of its `per`)."""

    @model_validator(mode="after")
    def _something(self) -> SetResource:
        if self.rate is None and self.value is None:
            raise ValueError("give the resource's new `value`, its new `rate`, or both")
        return self


class Done(_Model):
    """What a finished run does, besides repairing the faults that name the operation."""

    resources: dict[str, SetResource] = {}
    """Resources set, by name (a slot recreated reads again: `{slot: {rate: 0}}`)."""
    logs: list[LogLine] = []
    """Lines written when it finishes (`every_s` does not apply)."""


class OperationSpec(_Model):
    """An operation the player can run on a component: it works through a quantity at a rate
    that depends on the system's state, can be paused and resumed, may fail, and on completion
    has an effect."""

    kind: Literal["maintenance", "resync", "restore", "reindex", "reissue", "reload", "reschedule"]
    """What it is, as the views show it: `maintenance` (a vacuum, a repack), `resync` (a replica
    rebuilt from the primary), `restore` (from a backup), `reindex`, `reissue` (certificates,
    tokens), `reload` (a cache, a config), `reschedule` (work moved elsewhere)."""
    component: str
    """What it acts on: `postgres`, `api`, `cache`, a worker pool, a queue or a resource, or a
    database cluster of `system.clusters` with its `replica`. Its lines go to that component's
    log (a queue's to `broker`, a resource's to `scheduler`, a cluster's to `postgres`)."""
    replica: str | None = None
    """A replica of the cluster named by `component` that this operation rebuilds (kind `resync`
    or `restore`; its work is the base backup's size in `units`). Starting a run takes the
    replica out of replication: it replays nothing, cannot be promoted, and the writes the
    primary makes meanwhile are the run's inflow (the WAL the primary must keep for it). The
    copy runs over the link between the two sites: slower by its loss, stopped while it is
    partitioned. Finished, the replica streams from the primary again and replays what was
    written during the run at its apply rate; a failover during the run makes the run fail."""
    units: float | None = Field(default=None, gt=0)
    """The work: a fixed amount (certificates to reissue, gigabytes to restore)."""
    resource: str | None = None
    """Or: a resource whose value it works off, down to `to`; what the resource gains meanwhile
    (its own rate) is more work."""
    to: float | None = None
    """The value at which the resource counts as worked off (default: its `min`, else 0)."""
    table: str | None = None
    """Or: a database table whose rows it works through: those there at the start, plus every
    row written while it runs."""
    rate: float = Field(gt=0)
    """Units worked off per second while nothing slows it."""
    db_busy_slowdown: float = Field(default=0.0, ge=0)
    """How much a busy database slows it: the rate is divided by `1 +` this `x` the database's
    CPU use (0 to 1) of the second before."""
    db_load_ms: float = Field(default=0.0, ge=0)
    """Database time (ms of CPU per second) it costs while it runs: the system around it is
    slower meanwhile."""
    fails_if: list[FailIf] = []
    """Conditions under which a run fails; it then has no effect, and a new run starts over."""
    done: Done = Done()
    """What a finished run does."""
    logs: list[LogLine] = []
    """Lines written when a run starts (`every_s` does not apply)."""

    @model_validator(mode="after")
    def _one_work(self) -> OperationSpec:
        given = [k for k in ("units", "resource", "table") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `units`, `resource` or `table` (its work)")
        if self.to is not None and self.resource is None:
            raise ValueError("`to` is the value a `resource` is worked down to")
        if self.replica is not None:
            if self.kind not in ("resync", "restore"):
                raise ValueError("`replica` names the replica a `resync` or `restore` rebuilds")
            if self.units is None:
                raise ValueError(
                    "a replica's rebuild copies a base backup: give its size as `units`"
                )
        elif self.units is not None:
            for f in self.fails_if:
                if f.inflow_above is not None:
                    raise ValueError(
                        "a fixed amount of `units` has no inflow: `inflow_above` needs a "
                        "`resource` or a `table`"
                    )
        if self.resource is None and any(
            f.resource is None and f.inflow_above is None for f in self.fails_if
        ):
            raise ValueError("a `fails_if` with `above` or `below` needs its `resource`")
        return self

    def service(self, pools: Collection[str], queues: Collection[str]) -> str:
        """The log an operation's lines go to: the component's own (a queue's: the broker's;
        a resource's: the scheduler's)."""
        if self.replica is not None:
            return "postgres"
        if self.component in BUILTIN_COMPONENTS or self.component in pools:
            return self.component
        return "broker" if self.component in queues else "scheduler"

    @property
    def target(self) -> str:
        """What it acts on, as the views show it (`postgres/pg-1` for a replica)."""
        return self.component if self.replica is None else f"{self.component}/{self.replica}"


@dataclass
class Operation:
    """An operation in a running system."""

    name: str
    spec: OperationSpec
    state: str = "ready"
    """`ready` (never run), `running`, `paused`, `done` or `failed`."""
    runs: int = 0
    started: int = -1
    """The tick the current (or last) run started."""
    done: float = 0.0
    """Work done in this run."""
    arrived: float = 0.0
    """Work that arrived during this run (the inflow)."""
    base: float = 0.0
    """Table work: the rows at the start of the run."""
    last_rows: int = 0
    rate_now: float = 0.0
    """The rate it worked at in its last second."""
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=30))
    """Work arrived in each of its last seconds (for the ETA)."""
    finished: list[int] = field(default_factory=list)
    """Ticks at which runs finished."""
    failed_at: list[int] = field(default_factory=list)
    error: str = ""

    def remaining(self, sys: System) -> float:
        spec = self.spec
        if spec.units is not None:
            return max(0.0, spec.units - self.done)
        if spec.resource is not None:
            res = sys.world.resources[spec.resource]
            return max(0.0, res.value - self.floor(sys))
        return max(0.0, self.base + self.arrived - self.done)

    def floor(self, sys: System) -> float:
        spec = self.spec
        if spec.to is not None:
            return spec.to
        res = sys.world.resources[spec.resource]
        return res.spec.min if res.spec.min is not None else 0.0

    def progress(self, sys: System) -> float:
        """Share of the work done (0 to 1)."""
        if self.state == "done":
            return 1.0
        left = self.remaining(sys)
        total = self.done + left
        return self.done / total if total > 0 else 0.0

    def inflow_rate(self) -> float:
        return sum(self.recent) / len(self.recent) if self.recent else 0.0

    def eta_s(self, sys: System) -> float | None:
        """Seconds to completion at the current rates; None when the inflow outruns it."""
        net = (self.rate_now or self.spec.rate) - (0.0 if self.spec.units else self.inflow_rate())
        if net <= 0:
            return None
        return self.remaining(sys) / net

    def finished_since(self, t: int) -> bool:
        """Whether a run finished at or after tick t."""
        return any(f >= t for f in self.finished)


class Operations:
    """Every operation of a running system; `step` runs them one second."""

    def __init__(self, sys: System, specs: dict[str, OperationSpec]) -> None:
        self.sys = sys
        self.ops = {name: Operation(name, spec) for name, spec in specs.items()}

    def get(self, name: str) -> Operation:
        op = self.ops.get(name)
        if op is None:
            raise Refusal(f"no operation {name!r}; operations: {', '.join(self.ops) or 'none'}")
        return op

    def _log(self, op: Operation, t: int, level: int, text: str) -> None:
        svc = op.spec.service(self.sys.pools, self.sys.queues)
        self.sys.log(t, 13, svc, level, f"{svc}-0 operation={op.name} kind={op.spec.kind} {text}")

    # ------------------------------------------------------------------ verbs
    def start(self, op: Operation, t: int, author: str) -> None:
        if op.state == "running":
            raise Refusal(f"operation {op.name} is already running")
        if op.state == "paused":
            raise Refusal(f"operation {op.name} is paused: resume it (it keeps its place)")
        sys = self.sys
        if op.spec.replica is not None:
            self._topology().rebuild(t, op.spec.component, op.spec.replica)
        op.state, op.runs, op.started = "running", op.runs + 1, t
        op.done = op.arrived = op.rate_now = 0.0
        op.recent.clear()
        op.error = ""
        if op.spec.table is not None:
            op.base = float(sys.db.rows.get(op.spec.table, 0))
            op.last_rows = sys.db.rows.get(op.spec.table, 0)
        self._log(op, t, INFO, f'msg="started" run={op.runs} by={author}')
        for line in op.spec.logs:
            line.write(sys, t)

    def pause(self, op: Operation, t: int, author: str) -> None:
        if op.state != "running":
            raise Refusal(f"operation {op.name} is {op.state}, not running")
        op.state = "paused"
        self._log(op, t, INFO, f'msg="paused" progress={op.progress(self.sys):.0%} by={author}')

    def resume(self, op: Operation, t: int, author: str) -> None:
        if op.state != "paused":
            raise Refusal(f"operation {op.name} is {op.state}, not paused")
        op.state = "running"
        self._log(op, t, INFO, f'msg="resumed" by={author}')

    # ------------------------------------------------------------------ time
    def step(self, t: int) -> None:
        """One second of every operation that has work in flight."""
        for op in self.ops.values():
            if op.state in ("running", "paused"):
                self._step(op, t)

    def _inflow(self, op: Operation) -> float:
        """The work that arrived in the second before (it counts while paused too)."""
        spec = op.spec
        if spec.table is not None:
            rows = self.sys.db.rows.get(spec.table, 0)
            new, op.last_rows = rows - op.last_rows, rows
            return float(max(0, new))
        if spec.resource is not None:
            return self.sys.world.resources[spec.resource].gained
        if spec.replica is not None:
            return self._topology().clusters[spec.component].writes
        return 0.0

    def _topology(self) -> Topology:
        topo = self.sys.topology
        assert topo is not None, "an operation on a replica needs the incident's clusters"
        return topo

    def _db(self, spec: OperationSpec) -> Database:
        """The engine an operation loads: its table's, or its cluster's own, or the shop's."""
        db = self.sys.db
        if not db.engines:
            return db
        if spec.table is not None:
            return db.engine(spec.table)
        topo = self.sys.topology
        c = topo.clusters.get(spec.component) if topo is not None else None
        return db.engine(min(c.tables)) if c is not None and c.spec.engine is not None else db

    def _step(self, op: Operation, t: int) -> None:
        sys = self.sys
        spec = op.spec
        if t > op.started:  # what arrived in the second before counts from the run's first
            came = self._inflow(op)
            op.arrived += came
            op.recent.append(came)
        if op.state != "running":
            return
        db = self._db(spec)
        rate = spec.rate / (1.0 + spec.db_busy_slowdown * db.cpu_util)
        if spec.replica is not None:
            topo = self._topology()
            broken = topo.rebuild_broken(spec.component, spec.replica)
            if broken:
                self._fail(op, t, broken)
                return
            rate *= topo.copy_share(spec.component, spec.replica)
        op.rate_now = rate
        op.done += rate
        if spec.db_load_ms:
            db.demand_ms += spec.db_load_ms
        if spec.resource is not None:
            res = sys.world.resources[spec.resource]
            res.set(sys, max(op.floor(sys), res.value - rate))
        for cond in spec.fails_if:
            if self._fails(op, cond):
                self._fail(op, t, cond.error)
                return
        if op.remaining(sys) <= 0:
            self._finish(op, t)

    def _fail(self, op: Operation, t: int, error: str) -> None:
        op.state = "failed"
        op.failed_at.append(t)
        op.error = error
        self._log(op, t, ERROR, f'msg="failed" error="{error}"')
        if op.spec.replica is not None:
            self._topology().rebuilt(t, op.spec.component, op.spec.replica, ok=False)

    def _fails(self, op: Operation, cond: FailIf) -> bool:
        if cond.inflow_above is not None:
            return op.arrived > cond.inflow_above
        name = cond.resource or op.spec.resource
        assert name is not None
        value = self.sys.world.resources[name].value
        if cond.above is not None:
            return value >= cond.above
        return cond.below is not None and value <= cond.below

    def _finish(self, op: Operation, t: int) -> None:
        sys = self.sys
        op.state = "done"
        op.finished.append(t)
        self._log(op, t, INFO, f'msg="finished" after_s={t - op.started + 1} run={op.runs}')
        if op.spec.replica is not None:
            self._topology().rebuilt(t, op.spec.component, op.spec.replica, ok=True)
        for name, change in op.spec.done.resources.items():
            res = sys.world.resources[name]
            if change.rate is not None:
                res.rate = change.rate
            if change.value is not None:
                res.set(sys, change.value)
        for line in op.spec.done.logs:
            line.write(sys, t)
