"""Alert rules evaluated from the metrics, with Prometheus' pending/firing/resolved states."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from oncall_dojo.sim.observability.metrics import Condition, MetricStore
from oncall_dojo.sim.text import plural
from oncall_dojo.sim.units import UNITS

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
    """One line shown in the pager; `{value}` is replaced by the first condition's value,
    `{value|NOUN}` by the value and the noun, singular for exactly one (`{value|order}`:
    "1 order", "3 orders"), and `{threshold}` by the first condition's threshold; either
    with a unit, `{value:bytes}` ("7.25 GB"), `{value:duration}` ("4m 30s") or
    `{threshold:percent}` ("25%")."""
    service: str = ""
    """Service the alert is about."""
    runbook: str = ""
    """Runbook name to open for this alert."""

    @field_validator("summary")
    @classmethod
    def _known_placeholders(cls, text: str) -> str:
        problem = placeholder_problem(text)
        if problem is not None:
            raise ValueError(problem)
        return text


_COUNTED = re.compile(r"\{value\|([^{}|]+)\}")
"""`{value|NOUN}` in a summary: the value and the noun, counted."""
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_IN_UNIT = re.compile(r"\{(value|threshold):([^{}]*)\}")
"""`{value:UNIT}` or `{threshold:UNIT}` in a summary: the number in a unit of `UNITS`."""


def placeholder_problem(text: str) -> str | None:
    """What is wrong with an alert text's `{...}` placeholders, or None."""
    for m in _PLACEHOLDER.finditer(text):
        if m[1] in ("value", "threshold") or _COUNTED.fullmatch(m[0]):
            continue
        unit = _IN_UNIT.fullmatch(m[0])
        if unit is not None and unit[2] in UNITS:
            continue
        if unit is not None:
            return f"unknown unit `{unit[2]}` in `{m[0]}`; units: {', '.join(UNITS)}"
        return (
            f"unknown placeholder `{m[0]}`; an alert text may use `{{value}}`, `{{value|NOUN}}`"
            " (counted: `{value|order}`) and `{threshold}`, or either in a unit"
            f" (`{{value:UNIT}}`: {', '.join(UNITS)})"
        )
    return None


def shown(v: float | None) -> str:
    """A value as an alert text shows it."""
    return "n/a" if v is None else (f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}")


def _in_unit(st: AlertState, which: str, unit: str) -> str:
    v = st.value if which == "value" else st.rule.conditions[0].value
    return "n/a" if v is None else UNITS[unit](v)


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
        value = shown(st.value)
        text = st.rule.summary
        if "{value|" in text:
            one = value == "1"
            text = _COUNTED.sub(lambda m: f"{value} {m[1] if one else plural(m[1])}", text)
        if "{threshold}" in text:
            text = text.replace("{threshold}", shown(st.rule.conditions[0].value))
        if ":" in text:
            text = _IN_UNIT.sub(lambda m: _in_unit(st, m[1], m[2]), text)
        return text.replace("{value}", value)

    def firing(self) -> list[AlertState]:
        return [s for s in self.states.values() if s.state == "firing"]
