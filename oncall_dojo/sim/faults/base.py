"""What every fault is: a spec an incident file fills in (`FaultSpec`), and the fault in a
running system (`Fault`) that begins it on time and follows whether its cause is still present."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oncall_dojo.sim.config import VersionTraits
from oncall_dojo.sim.observability.logs import LEVELS
from oncall_dojo.sim.observability.metrics import Condition
from oncall_dojo.sim.units import with_value

if TYPE_CHECKING:
    from oncall_dojo.sim.system import System


SERVICE_PATTERN = r"^[a-z][a-z0-9_.-]*$"
"""A log's service name: lower case letters, digits, `_`, `.` and `-`, starting with a letter
(checked with the system's services named, see `incident.semantics`)."""

LOG_MS = 500
"""Millisecond within its second at which an authored line is written."""


class LogLine(BaseModel):
    """A log line a fault writes: the line that tells the story (a database warning, a daemon's
    message), in the service's own log, once when the fault begins or repeated while it lasts."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    service: str = Field(min_length=1, json_schema_extra={"pattern": SERVICE_PATTERN})
    """Whose log it is in (`logs SERVICE` shows it): `api`, a worker pool, `postgres`, `cache`,
    `payments-provider`, `scheduler`, `deployer`, or a name of your own (`waf`, `ledger`): lower
case letters, digits, `_`, `.` and `-`, starting with a letter."""
    level: Literal["debug", "info", "warn", "error", "fatal"] = "warn"
    """The line's level, which `logs SERVICE level=warn` and the explorer filter on."""
    text: str = Field(min_length=1)
    """The line as the service prints it, starting with the instance as the built-in lines do
    (`postgres-0 WARNING: replication slot "${slot}" is retaining WAL`). `${name}` values may
    be used; a resource threshold's line may show the resource's value as it is written,
    `{value}` or with a unit, `{value:bytes}` (`1.9 GB`), `{value:duration}`, `{value:percent}`."""
    fields: dict[str, bool | int | float | str] = {}
    """`key=value` pairs written after the text, in this order; a value with spaces is quoted."""
    every_s: int | None = Field(default=None, ge=1)
    """Write it again every so many seconds while the fault is active (default: once, when the
    fault begins)."""

    def render(self, shows: float | None = None) -> str:
        """The line's text with its fields (and `shows` for its `{value}` placeholders)."""
        parts = [self.text if shows is None else with_value(self.text, shows)]
        for k, v in self.fields.items():
            value = str(v).lower() if isinstance(v, bool) else str(v)
            if value == "" or re.search(r'[\s"=]', value):
                value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            parts.append(f"{k}={value}")
        return " ".join(parts)

    def write(self, sys: System, t: int, shows: float | None = None) -> None:
        level = LEVELS.index(self.level.upper())
        sys.log(t, LOG_MS, self.service, level, self.render(shows))


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    kind: str
    at: int | None = Field(default=None, ge=0)
    """Simulated second (from the start of the run) at which the fault begins."""
    when: Condition | None = None
    """Or: begin the first time this condition holds."""
    cause: bool = True
    """Part of the root cause (False for red herrings: removing it is not required)."""
    label: str = ""
    """Optional name used in the debrief."""
    logs: list[LogLine] = []
    """Log lines the fault writes besides its own: when it begins, and with `every_s` again
    while it is active (see "The lines that tell the story" in docs/authoring.md)."""
    summary: ClassVar[str] = ""

    @model_validator(mode="after")
    def _timing(self) -> FaultSpec:
        if (self.at is None) == (self.when is None):
            raise ValueError("give exactly one of `at` (seconds) or `when` (a condition)")
        return self

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def evolve(self, sys: System, t: int, state: dict[str, Any]) -> None:
        return None

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return True

    def describe(self) -> str:
        return self.label or self.summary


def deploy_version(
    sys: System,
    t: int,
    service: str,
    version: str,
    traits: VersionTraits | None,
    author: str,
    percent: int = 100,
    note: str = "",
) -> None:
    if traits is not None:
        sys.cfg.versions.setdefault(service, {})[version] = traits
    sys.deploy(t, service, version, author, percent=percent, note=note)


def runs_version(sys: System, service: str, version: str) -> bool:
    if service == "api":
        return sys.api_versions.get(version, 0) > 0 or any(v == version for v, _ in sys.api_rollout)
    pool = sys.pools.get(service)
    return pool is not None and any(
        r.version == version and r.state != "terminated" for r in pool.replicas
    )


class Fault:
    """A fault in a running system: its spec, when it began, and its private state."""

    def __init__(self, spec: FaultSpec, index: int) -> None:
        self.spec = spec
        self.index = index
        self.started: int | None = None
        self.state: dict[str, Any] = {}
        self.ended: int | None = None

    def tick(self, sys: System, t: int) -> None:
        spec = self.spec
        if self.started is None:
            due = (spec.at is not None and t >= spec.at) or (
                spec.when is not None and t > 0 and sys.holds(spec.when)
            )
            if due:
                self.started = t
                spec.begin(sys, t, self.state)
                for line in spec.logs:
                    line.write(sys, t)
            return
        spec.evolve(sys, t, self.state)
        if self.ended is None and not spec.active(sys, self.state):
            self.ended = t
        elif self.ended is not None and spec.active(sys, self.state):
            self.ended = None  # the cause came back (a fix undone)
        if spec.logs and self.ended is None:
            since = t - self.started
            for line in spec.logs:
                if line.every_s is not None and since % line.every_s == 0:
                    line.write(sys, t)

    def active(self, sys: System) -> bool:
        return self.started is not None and self.spec.active(sys, self.state)
