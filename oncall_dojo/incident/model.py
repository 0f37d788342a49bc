"""Incident files: what an author writes, validated by pydantic.

An incident sets up a system (overrides of the default shop), a timeline of
faults, the alert that pages the player, how resolution is measured, the root
cause (a part of the system and a mechanism, with red herrings), par times,
hints, runbooks, and playthroughs that prove the incident works (`dojo check`).
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from oncall_dojo.incident.diagnosis import MECHANISMS
from oncall_dojo.incident.injects import Inject
from oncall_dojo.incident.shared_runbooks import shared_runbooks
from oncall_dojo.incident.vary import Scalar, Variable, VarName
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.events import Event
from oncall_dojo.sim.faults import AnyFault
from oncall_dojo.sim.observability.alerts import AlertRule
from oncall_dojo.sim.observability.metrics import Condition
from oncall_dojo.sim.operations import OPERATION_NAME, OperationSpec
from oncall_dojo.sim.resources import RESOURCE_NAME, ResourceSpec

Difficulty = Literal["easy", "medium", "hard"]

SPOILER_RULES = """
Nothing a player sees before the debrief may give the answer away. The picker shows `id`,
`title`, `difficulty`, `tags` and `summary`; play shows the `briefing`, the `page`, the
`runbooks`, the hints a player takes and the command help. Write all of them as a real
on-call engineer would meet them: the symptom and the area of the system (queues, data,
database...), never the cause, the mechanism or the fix. Runbooks are the team's general
advice for a class of problem (how to investigate it, which levers are safe), not this
incident's fix. The cause, `source` and the root cause's `explanation` appear only in the
debrief, under "What really happened". A test checks every bundled incident: the answer's
wording (the right option, the explanation's key phrases, the fix) appears nowhere the
player looks before resolving. An incident that was renamed keeps its former ids under
`aliases:` so that its recorded sessions stay findable.
"""
"""The rules for what an incident may show before the debrief (rendered in docs/reference.md)."""

PLAYER_SEES_FIELDS = (
    "id",
    "aliases",
    "version",
    "title",
    "difficulty",
    "tags",
    "summary",
    "source",
)
"""The fields documented with the rules above."""
_TIMED = re.compile(r"^\s*(?:(\d+):)?(\d+):(\d{2})\s+(\S.*)$|^\s*\+?(\d+)\s+(\S.*)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, populate_by_name=True)


class Page(_Model):
    alert: str
    """Name of the alert whose firing pages the player; play starts the moment it fires."""
    max_wait_s: int = Field(default=3600, ge=1)
    """Upper bound on simulated time before the page; `dojo check` fails if it never fires."""
    text: str = ""
    """What the pager shows besides the alert summary."""


def _listed(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


class Answer(_Model):
    part: Annotated[list[str], BeforeValidator(_listed)] = Field(min_length=1)
    """The part of the system at fault (`queue:payments`, `workers:billing`, `postgres`,
    `config:KEY`, `resource:NAME`...; `causes` lists them), or several a postmortem could
    fairly name."""
    mechanism: Annotated[list[str], BeforeValidator(_listed)] = Field(min_length=1)
    """The failure mechanism, from the shared catalog (`oncall_dojo.incident.diagnosis`), or
    several that describe it equally well."""
    text: str
    """The cause in one sentence, for the debrief."""

    @property
    def label(self) -> str:
        """`PART MECHANISM` as a diagnosis declares it (the first of each), then the sentence."""
        return f"{self.part[0]} {self.mechanism[0]}: {self.text}"

    @field_validator("mechanism")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for m in v:
            if m not in MECHANISMS:
                raise ValueError(f"unknown mechanism {m!r}; {_mechanism_hint(m)}")
        return v


class RedHerring(_Model):
    part: str
    """A part that looks guilty (a coincidental deploy, a brief dependency blip); naming it costs."""
    why_not: str
    """Why it is not the cause, shown in the debrief."""


class RootCause(_Model):
    answer: Answer
    """The part and the mechanism a correct diagnosis names."""
    red_herrings: list[RedHerring] = []
    """Parts that look guilty but are not."""
    former_options: dict[str, str] = {}
    """Diagnoses recorded before part + mechanism (`diagnose OPTION-ID`), as `PART MECHANISM`,
    so that reports of those sessions still judge what was declared."""
    explanation: str
    """What really happened, for the debrief."""

    @model_validator(mode="after")
    def _known_mechanisms(self) -> RootCause:
        for old, said in self.former_options.items():
            words = said.split()
            if len(words) != 2 or words[1] not in MECHANISMS:
                raise ValueError(
                    f"former_options: {old!r} must read `PART MECHANISM` with a catalog mechanism"
                )
        for h in self.red_herrings:
            if h.part in self.answer.part:
                raise ValueError(f"red herring {h.part!r} is also the answer's part")
        return self

    def judge(self, part: str, mechanism: str) -> Literal["right", "part", "red herring", "wrong"]:
        """How a declared (part, mechanism) compares with the answer."""
        if part in self.answer.part:
            return "right" if mechanism in self.answer.mechanism else "part"
        if any(h.part == part for h in self.red_herrings):
            return "red herring"
        return "wrong"


def _mechanism_hint(m: str) -> str:
    close = difflib.get_close_matches(m, list(MECHANISMS), n=1)
    return f"did you mean {close[0]!r}?" if close else "see the catalog in docs/reference.md"


class Resolution(_Model):
    conditions: list[Condition] = Field(min_length=1)
    """Measured state that counts as healthy (all must hold)."""
    for_s: int = Field(default=300, ge=0, alias="for")
    """How long the conditions must hold continuously."""


class Par(_Model):
    acknowledge_s: int = Field(default=300, ge=1)
    """Par time from page to acknowledgement."""
    mitigate_s: int = Field(default=900, ge=1)
    """Par time from page to the end of customer impact."""
    resolve_s: int = Field(default=1800, ge=1)
    """Par time from page to the cause removed and the system healthy."""


class Hint(_Model):
    text: str
    cost: int = Field(default=5, ge=0, le=30)
    """Points it costs when taken."""


class Playthrough(_Model):
    name: str
    """Short name, e.g. `purge-the-queue`."""
    why: str = ""
    """What it shows (for harmful ones: why it is tempting and what it costs)."""
    actions: list[str] = []
    """Timed commands: `MM:SS command` (or `SECONDS command`), time from the page."""

    @field_validator("actions")
    @classmethod
    def _timed(cls, v: list[str]) -> list[str]:
        last = -1
        for i, line in enumerate(v):
            parsed = parse_timed(line)
            if parsed is None:
                raise ValueError(f"action {i}: expected `MM:SS command`, got {line!r}")
            if parsed[0] < last:
                raise ValueError(f"action {i}: times must not go backwards ({line!r})")
            last = parsed[0]
        return v


class Playthroughs(_Model):
    reference: Playthrough
    """A good response: must resolve the incident, be graded A and clearly beat idle and
    harmful play."""
    minimal: Playthrough | None = None
    """The least a competent engineer would do: the fix, without a diagnosis or a status
    update. `dojo check` requires it (graded at least C, below the reference, above every
    harmful playthrough)."""
    harmful: list[Playthrough] = Field(min_length=1)
    """Tempting wrong responses, each expected to score clearly below the reference."""


class AlertsSpec(_Model):
    """The incident's alerting: the default rules it turns off, the rules it adds, and the
    pager texts it writes for default rules."""

    disable: list[str] = []
    """Names of default alert rules this incident turns off (monitoring gaps)."""
    add: list[AlertRule] = []
    """Extra rules: cause alerts, noisy alerts."""
    texts: dict[str, str] = {}
    """Your own pager text for default alerts, by alert name (`QueueAgeHigh_payments: "..."`),
    with the same placeholders as a rule's `summary` (`{value}`, `{value|NOUN}`,
    `{threshold}`) and `${name}` values."""


class Evidence(_Model):
    view: str
    """An investigation, as `KIND` or `KIND:TARGET`: logs:billing, queue:payments, deploys,
    metrics:queue_depth, or resource:NAME (covered by the metric query of its gauge)."""
    why: str
    """What it shows, for the debrief."""


class Incident(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    """Stable identifier, used on the command line and shown on every screen, so it names what
    the player sees (`payments-stuck`), never the cause. It must match the file name."""
    aliases: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]] = []
    """Former ids, oldest first. Recorded sessions keep the id they were played under; an alias
    lets history, reports, replays, `--resume`, leaderboards, `run` and `check` find them. The
    first alias (the id the file was first published under) also keys the values `vary` picks,
    so renaming an incident never changes what a seed plays. `dojo validate` refuses an alias
    that is another incident's id or alias."""
    version: int = Field(default=1, ge=1)
    """Bump when play changes; leaderboards compare like with like."""
    title: str
    """Shown in the picker and on the briefing: the symptom, as the page would put it."""
    difficulty: Difficulty
    """Shown in the picker."""
    tags: list[str] = []
    """Areas of the system (`queues`, `payments`, `data`, `database`...), shown in the picker:
    never a cause or a mechanism (`poison-message`, `crash-loop`)."""
    summary: str
    """One-line teaser for the picker: what the player is walking into, not why."""
    source: str = ""
    """The public write-up this incident is modelled on: organisation, date and title (and how
    this incident differs, where it does). Shown only in the debrief."""
    vary: dict[VarName, Variable] = {}
    """Variables the seed picks (`range: [low, high]` or `choices: [...]`), used anywhere else
    in the file as `${name}`, so that the specifics a player could memorize change with the seed."""
    briefing: str
    """Who you are and what you are looking at (Markdown)."""
    page: Page
    duration_s: int = Field(default=3600, ge=300, le=4 * 3600)
    """Simulated seconds of play after the page; outcomes are measured over all of it."""
    system: dict[str, Any] = {}
    """Overrides of the default system (see the schema of SystemConfig)."""
    alerts: AlertsSpec = AlertsSpec()
    faults: list[AnyFault] = Field(min_length=1)
    """The fault timeline."""
    resources: dict[Annotated[str, Field(pattern=RESOURCE_NAME)], ResourceSpec] = {}
    """Quantities that build up or run down at a rate (a replication slot's retained WAL, a
    volume's free bytes), each exported as a gauge and acting on the system past its
    thresholds (see "Resources" in docs/authoring.md)."""
    events: list[Event] = []
    """Things that happen to a component at a time and are not changes (nodes lost, the
    provider's outage); in the change history only when marked `record`."""
    operations: dict[Annotated[str, Field(pattern=OPERATION_NAME)], OperationSpec] = {}
    """Repairs that take time (a resync, a reindex, a restore), by name: the player runs them
    with `operation start`, and a `damage` fault clears only once one finishes (see
    "Operations that take time" in docs/authoring.md)."""
    root_cause: RootCause
    resolution: Resolution
    par: Par = Par()
    evidence: list[Evidence] = []
    """Investigations that reveal the cause."""
    hints: list[Hint] = []
    runbooks: dict[str, str] = {}
    """Runbooks by name (Markdown), added to the team's shared runbooks
    (`oncall_dojo/incident/runbooks/`); a name the shared set has replaces that runbook. Write
    what a real team would: how to investigate a class of problem and which levers are safe,
    never this incident's fix."""
    injects: list[Inject] = []
    """What a game day's facilitator can throw at the team: a second fault, a stakeholder's
    message to answer, a player made unavailable (see "Injects" in the reference). Solo play
    leaves them out unless asked (`--injects`)."""
    playthroughs: Playthroughs

    @field_validator("injects")
    @classmethod
    def _unique_injects(cls, v: list[Inject]) -> list[Inject]:
        ids = [i.id for i in v]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"inject ids must be unique: {', '.join(dup)} appears more than once")
        return v

    @model_validator(mode="after")
    def _with_shared_runbooks(self) -> Incident:
        self.runbooks = {**shared_runbooks(), **self.runbooks}
        return self

    _variant: Any = PrivateAttr(default=None)
    """Set by the loader on an incident that varies: its seed, its values and how to re-pick."""

    @property
    def names(self) -> list[str]:
        """The id, then every alias: each name recorded sessions may carry."""
        return [self.id, *self.aliases]

    @property
    def seed_key(self) -> str:
        """What keys the values `vary` picks: the first id the incident was published under."""
        return seed_key(self.id, self.aliases)

    def for_seed(self, seed: int) -> Incident:
        """The concrete incident a seed plays: `vary` picked and `${name}` substituted.

        An incident without `vary` is the same for every seed and returns itself. Raises the
        loader's YamlModelError when the values picked for this seed make the file invalid."""
        if not self.vary or self._variant is None or self._variant.seed == seed:
            return self
        return self._variant.resolve(seed)

    @property
    def picked(self) -> dict[str, Scalar]:
        """The values `vary` took for this incident's seed (empty when nothing varies)."""
        return dict(self._variant.values) if self._variant is not None else {}

    def system_config(self) -> SystemConfig:
        return SystemConfig.with_overrides(self.system)


def seed_key(ident: str, aliases: list[str]) -> str:
    """The first alias if there is one, else the id (see `Incident.aliases`)."""
    return aliases[0] if aliases else ident


def parse_timed(line: str) -> tuple[int, str] | None:
    """`01:30 ack` -> (90, "ack"); `1:02:03 x` -> (3723, "x"); `90 ack` -> (90, "ack")."""
    m = _TIMED.match(line)
    if not m:
        return None
    if m.group(4) is not None:
        h = int(m.group(1) or 0)
        return h * 3600 + int(m.group(2)) * 60 + int(m.group(3)), m.group(4).strip()
    return int(m.group(5)), m.group(6).strip()


def incident_json_schema() -> dict[str, Any]:
    schema = Incident.model_json_schema(by_alias=True)
    sys_schema = SystemConfig.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs = schema.setdefault("$defs", {})
    defs.update(sys_schema.pop("$defs", {}))
    defs["SystemConfig"] = sys_schema
    desc = schema["properties"]["system"].get("description", "")
    schema["properties"]["system"] = {"$ref": "#/$defs/SystemConfig", "description": desc}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "oncall-dojo incident"
    return schema
