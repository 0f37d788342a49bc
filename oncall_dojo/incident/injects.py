"""Injects: what a game day's facilitator can throw at the team while it responds.

An incident's `injects:` section lists them. Each is one of three things: a second fault (any
kind from the fault library, with its parameters; it begins when the inject fires), a message
from a stakeholder that the team must answer (`answer TEXT`, scored like status updates), or a
player made unavailable for a while ("your laptop died"). An inject with `at` fires on its own
at that time from the page (and again every `every` seconds, `count` times in all) when the
game plays the incident's injects (a team game, or `--injects`); the facilitator can fire any
of them, or a fault from the library, at any moment. Every inject fired is recorded, so a game
replays exactly.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from oncall_dojo.sim.faults import AnyFault

_MMSS = re.compile(r"^\s*(?:(\d+):)?(\d+):(\d{2})\s*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, populate_by_name=True)


def parse_at(value: int | str) -> int:
    """`"10:00"` -> 600, `"1:02:03"` -> 3723, `90` or `"90"` -> 90. Raises ValueError."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a time must not be negative")
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    m = _MMSS.match(text)
    if m is None:
        raise ValueError(f"expected a time as `MM:SS` or seconds, got {value!r}")
    return int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + int(m.group(3))


class StakeholderMessage(_Model):
    sender: str = Field(alias="from", min_length=1)
    """Who writes: `VP Engineering`, `a customer on social media`."""
    channel: str = "chat"
    """Where it arrives (`chat`, `email`, `public post`): shown to the team beside the text."""
    text: str = Field(min_length=1)
    """The message, as the team reads it. Like everything a player sees, it must not give the
    cause away."""
    answer_within_s: int = Field(default=600, ge=60)
    """An answer within this many seconds earns the full credit, a later one half of it."""


class Unavailable(_Model):
    player: str = ""
    """Who is away. Empty: the facilitator chooses when firing it; fired on a schedule, it takes
    the player who last ran a command."""
    for_s: int = Field(default=600, ge=30, le=3600)
    """How long the player's commands are refused."""
    text: str = "Your laptop died. You are back when it has rebooted."
    """What the player is told, and the reason their commands are refused."""


class Inject(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    """Short identifier: the facilitator fires it with `inject ID`."""
    title: str = ""
    """What the facilitator's console lists (the team never sees it)."""
    at: int | str | None = None
    """Time from the page (`MM:SS` or seconds) at which it fires on its own. Without it, only
    the facilitator fires it."""
    every: int | None = Field(default=None, ge=60)
    """With `at`: fire again every this many seconds..."""
    count: int = Field(default=1, ge=1, le=20)
    """...this many times in all."""
    fault: AnyFault | None = None
    """A second fault, any kind of the fault library with its parameters; leave out `at` and
    `when`: it begins when the inject fires."""
    stakeholder: StakeholderMessage | None = None
    """A message the team must answer."""
    unavailable: Unavailable | None = None
    """A player made unavailable."""

    @model_validator(mode="before")
    @classmethod
    def _fault_begins_when_fired(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("fault"), dict):
            fault = data["fault"]
            if "at" in fault or "when" in fault:
                raise ValueError(
                    "an inject's fault begins when the inject fires: leave out its `at` and `when`"
                )
            data = {**data, "fault": {**fault, "at": 0}}
        return data

    @field_validator("at")
    @classmethod
    def _time(cls, v: int | str | None) -> int | str | None:
        if v is not None:
            parse_at(v)
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> Inject:
        given = [k for k in ("fault", "stakeholder", "unavailable") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of `fault`, `stakeholder` or `unavailable`"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if (self.every is not None or self.count > 1) and self.at is None:
            raise ValueError("`every` and `count` schedule an inject that has an `at`")
        if self.count > 1 and self.every is None:
            raise ValueError("`count` above 1 needs `every` (the seconds between two firings)")
        return self

    @property
    def kind(self) -> str:
        """`fault`, `stakeholder` or `unavailable`."""
        if self.fault is not None:
            return "fault"
        return "stakeholder" if self.stakeholder is not None else "unavailable"

    def times(self) -> list[int]:
        """When it fires on its own, in seconds from the page (empty: only when fired by hand)."""
        if self.at is None:
            return []
        first = parse_at(self.at)
        return [first + i * (self.every or 0) for i in range(self.count)]

    def to_data(self) -> dict[str, Any]:
        """As recorded: JSON that `Inject.model_validate` reads back (the fault without its
        begin time, which the firing sets)."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if "fault" in data:
            data["fault"].pop("at", None)
            data["fault"].pop("when", None)
        return data
