"""The outcome of a finished session: points per rubric item, the measured impact, times.

Plain data; `scoring` computes it and every view (the console, the debrief, the
reports) renders it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

GRADES = ((90, "A"), (80, "B"), (70, "C"), (60, "D"), (0, "F"))


@dataclass
class Item:
    key: str
    title: str
    points: float
    max: float
    detail: str


@dataclass
class Result:
    incident: str
    incident_version: int
    seed: int
    score: int
    grade: str
    items: list[Item]
    impact: dict[str, Any]
    times: dict[str, int | None]
    timeline: list[dict[str, Any]]
    resolved: bool
    """The resolution conditions held at the end and every root-cause fault was gone."""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["breakdown"] = d.pop("items")
        return d

    def render(self) -> str:
        lines = [
            f"{self.incident} (seed {self.seed}): {self.score}/100, grade {self.grade}"
            + ("" if self.resolved else "  [NOT RESOLVED]")
        ]
        for it in self.items:
            out_of = f"/ {it.max:<4g}" if it.max else "      "
            lines.append(f"  {it.points:6.1f} {out_of} {it.title}: {it.detail}")
        for n in self.notes:
            lines.append(f"  note: {n}")
        return "\n".join(lines)
