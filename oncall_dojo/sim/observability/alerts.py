"""Alert rules evaluated from the metrics, with Prometheus' pending/firing/resolved states."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from oncall_dojo.sim.observability.metrics import Condition, MetricStore
from oncall_dojo.sim.text import plural

Severity = Literal["page", "ticket", "info"]
EVAL_INTERVAL_S = 15


class AlertRule(BaseModel):
    """An alerting rule: fires when every condition has held for `for_s` seconds."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    """Alert name, CamelCase as in Prometheus."""
    severity: Severity = "ticket"
    """`page` wakes someone up; `ticket` and `info` only show in the alert list."""
    conditions: list[Condition] = Field(min_length=1)
    """All must hold at the same evaluation."""
    for_s: int = Field(default=60, ge=0, alias="for")
    """How long the conditions must hold before the alert fires."""
    summary: str
    """One line shown in the pager; `{value}` is replaced by the first condition's value, and
    `{value|NOUN}` by the value and the noun, singular for exactly one (`{value|order}`:
    "1 order", "3 orders")."""
    service: str = ""
    """Service the alert is about."""
    runbook: str = ""
    """Runbook name to open for this alert."""


_COUNTED = re.compile(r"\{value\|([^{}|]+)\}")
"""`{value|NOUN}` in a summary: the value and the noun, counted."""


@dataclass
class AlertState:
    rule: AlertRule
    state: Literal["inactive", "pending", "firing"] = "inactive"
    since: int = 0
    value: float | None = None
    fired_count: int = 0
    acked_at: int | None = None


@dataclass(frozen=True)
class AlertEvent:
    tick: int
    name: str
    state: str
    severity: str
    summary: str


@dataclass
class AlertManager:
    rules: list[AlertRule]
    states: dict[str, AlertState] = field(default_factory=dict)
    events: list[AlertEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.states = {r.name: AlertState(r) for r in self.rules}

    def evaluate(self, metrics: MetricStore, t: int) -> list[AlertEvent]:
        new: list[AlertEvent] = []
        for st in self.states.values():
            rule = st.rule
            holds = True
            first = True
            for c in rule.conditions:
                v = metrics.query(c, t)
                if first:
                    st.value, first = v, False
                if v is None or not c.compare(v):
                    holds = False
                    break
            if holds:
                if st.state == "inactive":
                    st.state, st.since = "pending", t
                if st.state == "pending" and t - st.since >= rule.for_s:
                    st.state, st.since = "firing", t
                    st.fired_count += 1
                    st.acked_at = None
                    new.append(AlertEvent(t, rule.name, "firing", rule.severity, self.summary(st)))
            else:
                if st.state == "firing":
                    new.append(
                        AlertEvent(t, rule.name, "resolved", rule.severity, self.summary(st))
                    )
                st.state = "inactive"
        self.events.extend(new)
        return new

    @staticmethod
    def summary(st: AlertState) -> str:
        v = st.value
        shown = "n/a" if v is None else (f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}")
        text = st.rule.summary
        if "{value|" in text:
            one = shown == "1"
            text = _COUNTED.sub(lambda m: f"{shown} {m[1] if one else plural(m[1])}", text)
        return text.replace("{value}", shown)

    def firing(self) -> list[AlertState]:
        return [s for s in self.states.values() if s.state == "firing"]
