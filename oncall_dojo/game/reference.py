"""The fault and command reference for incident authors, generated from the code.

`dojo reference` prints it; `docs/reference.md` is its output, and a test fails
when the two differ, so the document cannot drift from the fault models in the
`oncall_dojo/sim/faults/` package and the command registry assembled in
`oncall_dojo/game/commands.py`.
Everything here is read from those: field names, types, defaults, limits and
docstrings of the pydantic models, and each command's usage and help.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Iterable
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from oncall_dojo.game.commands import COMMANDS, RESPONSE_ONLY
from oncall_dojo.game.evidence import EVIDENCE_EQUIVALENCES
from oncall_dojo.game.injects import FACILITATOR_USAGE
from oncall_dojo.incident import injects as injects_model
from oncall_dojo.incident.diagnosis import MECHANISMS, PLATFORM_PARTS
from oncall_dojo.incident.injects import Inject, StakeholderMessage, Unavailable
from oncall_dojo.incident.model import PLAYER_SEES_FIELDS, SPOILER_RULES, AlertsSpec, Incident
from oncall_dojo.incident.vary import Variable
from oncall_dojo.sim import automation as automation_model
from oncall_dojo.sim import events as events_model
from oncall_dojo.sim import faults
from oncall_dojo.sim import operations as operations_model
from oncall_dojo.sim import resources as resources_model
from oncall_dojo.sim import topology as topology_model
from oncall_dojo.sim.botconfig import BotRollout, DeployBotConfig, DesiredState
from oncall_dojo.sim.components import hosts as hosts_model
from oncall_dojo.sim.components.pool import MIN_SERVICE_S
from oncall_dojo.sim.config import (
    QueueConfig,
    RetryPolicy,
    SystemConfig,
    WorkerPoolConfig,
)
from oncall_dojo.sim.events import EVENT_TYPES, EventBase, Recorded
from oncall_dojo.sim.faults import FAULT_TYPES, FaultSpec
from oncall_dojo.sim.hostconfig import HostConfig
from oncall_dojo.sim.observability.alerts import AlertRule
from oncall_dojo.sim.observability.rules import default_rules
from oncall_dojo.sim.operations import Done, FailIf, OperationSpec, SetResource
from oncall_dojo.sim.resources import THRESHOLD_TYPES, PastPoint, ResourceSpec, ThresholdBase
from oncall_dojo.sim.topology import (
    AutoFailoverSpec,
    ClusterSpec,
    EngineSpec,
    LinkSpec,
    ReplicaSpec,
    SiteSpec,
)

COMMAND = "dojo reference > docs/reference.md"
_KIND_TITLES = {
    "investigate": "Investigate (changes nothing; what you look at is recorded)",
    "act": "Act (changes the system, or the incident's paperwork)",
    "meta": "Other",
}


def render() -> str:
    """The whole reference, as Markdown."""
    out = [
        "# Fault and command reference",
        "",
        "<!-- Generated from the code; do not edit by hand. Regenerate with:",
        f"     {COMMAND} -->",
        "",
        "What an incident file can put under `faults:` (each item picks its `kind`), the",
        "commands a player and a playthrough can use, and the shape of `vary:`. See",
        "[authoring.md](authoring.md) for how to write an incident.",
        "",
        "- [Naming an incident, and what the player sees](#naming-an-incident-and-what-the-player-sees)",
        "- [Faults](#faults)",
        *[f"  - [{_kinds(t)}](#{_anchor(_kinds(t))})" for t in FAULT_TYPES],
        "  - [Types used by faults](#types-used-by-faults)",
        "- [Resources](#resources)",
        "- [Timed events](#timed-events)",
        "- [Operations](#operations)",
        "- [Hosts](#hosts)",
        "- [Automation](#automation)",
        "- [Database clusters, sites and links](#database-clusters-sites-and-links)",
        "- [Injects](#injects)",
        "- [Commands](#commands)",
        "- [Evidence: what each look counts as](#evidence-what-each-look-counts-as)",
        "- [Default alerts](#default-alerts)",
        "- [Worker throughput](#worker-throughput)",
        "- [Clients that retry](#clients-that-retry)",
        "- [Diagnosis: parts and mechanisms](#diagnosis-parts-and-mechanisms)",
        "- [Variables (`vary`)](#variables-vary)",
        "",
    ]
    out += _naming()
    out += _faults()
    out += _world()
    out += _hosts()
    out += _automation()
    out += _topology()
    out += _injects()
    out += _commands()
    out += _evidence()
    out += _alerts()
    out += _throughput()
    out += _retries()
    out += _diagnosis()
    out += ["## Variables (`vary`)", ""]
    out += _model_section(Variable)
    return "\n".join(out).rstrip("\n") + "\n"


# ------------------------------------------------------------------------------------- naming
def _diagnosis() -> list[str]:
    out = [
        "## Diagnosis: parts and mechanisms",
        "",
        "`diagnose PART MECHANISM [NOTES]` names the cause as a postmortem does. The parts are",
        "the system's own, in this order: "
        + ", ".join(f"`{p}`" for p in PLATFORM_PARTS)
        + ", then `queue:NAME`, `workers:POOL`, `job:NAME`, `flag:NAME` and `config:KEY` for",
        "every queue, worker pool, job, feature flag and config key the system starts with;",
        "`host:`, `automation:`, `cluster:`, `link:` and `automation:` for the named hosts, deploy",
        "bots, further clusters, links and auto-failovers; then `resource:NAME` for each of",
        "the incident's `resources` (name the resources as the system's owners would). An",
        "incident's `root_cause.answer` names one or more parts and one or more mechanisms from",
        "this catalog, which every incident shares (in this order):",
        "",
        "| mechanism | what it means |",
        "|---|---|",
    ]
    out += [f"| `{m}` | {_cell(text)} |" for m, text in MECHANISMS.items()]
    return [*out, ""]


def _naming() -> list[str]:
    out = ["## Naming an incident, and what the player sees", ""]
    out += _paragraph(inspect.cleandoc(SPOILER_RULES))
    fields = Incident.model_fields
    out += _table({n: fields[n] for n in PLAYER_SEES_FIELDS}, Incident)
    return out


# ------------------------------------------------------------------------------------- faults
def _faults() -> list[str]:
    out = ["## Faults", ""]
    out += _paragraph(inspect.cleandoc(faults.__doc__ or ""))
    out += [
        "Every fault has these fields (a kind may change a default, as noted under it):",
        "",
    ]
    common = {n: f for n, f in FaultSpec.model_fields.items() if n != "kind"}
    out += _table(common)
    nested: dict[str, type[BaseModel]] = {}
    for spec in FAULT_TYPES:
        kinds = _kinds(spec)
        out += [f"### {kinds}", ""]
        doc = spec.__doc__ or ""
        out += _paragraph(inspect.cleandoc(doc))
        summary = getattr(spec, "summary", "")
        if summary:
            out += [f"In the debrief: *{summary}*.", ""]
        own = {
            n: f
            for n, f in spec.model_fields.items()
            if n != "kind" and (n not in common or _default(f) != _default(common[n]))
        }
        if own:
            out += _table(own, spec)
        else:
            out += ["No fields besides the common ones.", ""]
        for f in spec.model_fields.values():
            for model in _models_in(f.annotation):
                if model is not spec:
                    nested.setdefault(model.__name__, model)
    for f in FaultSpec.model_fields.values():
        for model in _models_in(f.annotation):
            nested.setdefault(model.__name__, model)
    out += ["### Types used by faults", ""]
    for name in sorted(nested):
        out += [f"#### `{name}`", ""]
        out += _model_section(nested[name])
    return out


def _kinds(spec: type[FaultSpec]) -> str:
    return _tagged(spec, "kind") or spec.__name__


def _anchor(title: str) -> str:
    keep = [c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_"]
    return "".join(keep)


# ------------------------------------------------------------------------------------- world
def _world() -> list[str]:
    """The incident's resources (with each threshold effect) and its timed events."""
    out = ["## Resources", ""]
    out += _paragraph(inspect.cleandoc(resources_model.__doc__ or ""))
    out += [
        "Each entry under `resources:` is keyed by the resource's name and has these fields:",
        "",
    ]
    out += _model_section(ResourceSpec)
    out += ["Each point of `past` has these fields:", ""]
    out += _model_section(PastPoint)
    common = dict(ThresholdBase.model_fields)
    out += ["Every threshold has these fields, and picks its `effect`:", ""]
    out += _table(common)
    out += _variants("Threshold", THRESHOLD_TYPES, "effect", common)
    out += ["## Timed events", ""]
    out += _paragraph(inspect.cleandoc(events_model.__doc__ or ""))
    common = dict(EventBase.model_fields)
    out += ["Every item under `events:` has these fields, and picks its `kind`:", ""]
    out += _table(common)
    out += _variants("Event", EVENT_TYPES, "kind", common)
    out += ["### `Recorded`", ""]
    out += _model_section(Recorded)
    out += ["## Operations", ""]
    out += _paragraph(inspect.cleandoc(operations_model.__doc__ or ""))
    out += [
        "Each entry under `operations:` is keyed by the operation's name and has these fields",
        "(the player runs it with `operation start NAME`, `operation pause NAME`, `operation",
        "resume NAME`, and sees it with `operations` and `jobs`):",
        "",
    ]
    out += _model_section(OperationSpec)
    for model in (FailIf, Done, SetResource):
        out += [f"### `{model.__name__}`", ""]
        out += _model_section(model)
    return out


def _hosts() -> list[str]:
    """A pool's named hosts."""
    out = ["## Hosts", ""]
    out += _paragraph(inspect.cleandoc(hosts_model.__doc__ or ""))
    out += [
        "A pool declares its hosts under `system.workers.POOL.hosts`, keyed by host name (unique",
        "across pools); a `host_status` event changes one, a `crash` threshold's `hosts` picks",
        "some, and `cordon`, `drain`, `uncordon` and `restart POOL HOST` act on one. Each has",
        "these fields:",
        "",
    ]
    out += _model_section(HostConfig)
    return out


def _automation() -> list[str]:
    """The automation registry, and the deploy bots an incident declares."""
    out = ["## Automation", ""]
    out += _paragraph(inspect.cleandoc(automation_model.__doc__ or ""))
    out += [
        "An incident declares deploy bots under `system.deploy_bots`, keyed by the automation",
        "name `freeze` and `thaw` take; each has these fields:",
        "",
    ]
    out += _model_section(DeployBotConfig)
    out += ["### `BotRollout`", ""]
    out += _model_section(BotRollout)
    out += ["### `DesiredState`", ""]
    out += _model_section(DesiredState)
    return out


def _variants(
    what: str, models: Iterable[type[BaseModel]], tag: str, common: dict[str, FieldInfo]
) -> list[str]:
    """A section per variant of a tagged union: its tag values, its doc and its own fields."""
    out: list[str] = []
    for model in models:
        out += [f"### {what} {_tagged(model, tag)}", ""]
        out += _paragraph(inspect.cleandoc(model.__doc__ or ""))
        own = {n: f for n, f in model.model_fields.items() if n not in common and n != tag}
        out += _table(own, model) if own else ["No fields besides the common ones.", ""]
    return out


def _tagged(model: type[BaseModel], tag: str) -> str:
    return ", ".join(f"`{a}`" for a in typing.get_args(model.model_fields[tag].annotation))


def _topology() -> list[str]:
    """What `system.sites`, `links` and `clusters` declare, model by model."""
    out = ["## Database clusters, sites and links", ""]
    out += _paragraph(inspect.cleandoc(topology_model.__doc__ or ""))
    for key, model in (
        ("system.sites.NAME", SiteSpec),
        ("system.links.NAME", LinkSpec),
        ("system.clusters.NAME", ClusterSpec),
        ("system.clusters.NAME.replicas.NAME", ReplicaSpec),
        ("system.clusters.NAME.auto_failover", AutoFailoverSpec),
        ("system.clusters.NAME.engine", EngineSpec),
    ):
        out += [f"### `{key}`", ""]
        out += _model_section(model)
    return out


# ------------------------------------------------------------------------------------- injects
def _injects() -> list[str]:
    out = ["## Injects", ""]
    out += _paragraph(inspect.cleandoc(injects_model.__doc__ or ""))
    out += ["Each item under `injects:` has these fields:", ""]
    out += _model_section(Inject)
    for model in (StakeholderMessage, Unavailable):
        out += [f"### `{model.__name__}`", ""]
        out += _model_section(model)
    out += ["### The facilitator's inject lines", "", "```"]
    out += list(FACILITATOR_USAGE)
    out += ["```", ""]
    return out


# ------------------------------------------------------------------------------------- commands
def _commands() -> list[str]:
    out = [
        "## Commands",
        "",
        "The same grammar serves the ops console, action files, playthroughs and tests. Words",
        'are split like a shell (quote text with spaces: `update "..."`). In a playthrough',
        "each action is `MM:SS command`, the time counted from the page.",
        "",
    ]
    for kind, title in _KIND_TITLES.items():
        cmds = [c for c in COMMANDS.values() if c.kind == kind]
        if not cmds:
            continue
        out += [f"### {title}", "", "| usage | what it does |", "|---|---|"]
        for c in cmds:
            note = " *(paperwork: does not change the system)*" if c.name in RESPONSE_ONLY else ""
            out.append(f"| `{_cell(c.usage)}` | {_cell(c.help)}{note} |")
        out.append("")
    return out


def _evidence() -> list[str]:
    out = [
        "## Evidence: what each look counts as",
        "",
        "An incident's `evidence:` names the signals a responder should see before the first",
        "change, as `KIND` or `KIND:TARGET`. Each investigating command records one key when",
        "it runs (its kind, and the queue, pool, service, table or metric it looked at):",
        "",
        "| command | records |",
        "|---|---|",
    ]
    for c in COMMANDS.values():
        if c.evidence is not None:
            target = ":TARGET" if " " in c.usage else ""
            out.append(f"| `{_cell(c.usage)}` | `{c.evidence}{target}` |")
    out += [
        "",
        "The target is what the command named: the queue, pool, service, metric, runbook or",
        "table (`sql` records the first table of its query), or the `db` view. Without one,",
        "`logs` records `logs:all`, `db` records `db:stats`, and `workers` and `runbook`",
        "record their kind alone.",
        "",
        "A key covers a signal of the same kind and target, or of any target when the signal",
        "names none (`logs` is covered by `logs billing`). Some looks show the same signal:",
        "",
        *[f"- {line}" for line in EVIDENCE_EQUIVALENCES],
        "",
    ]
    return out


def _alerts() -> list[str]:
    cfg = SystemConfig(
        queues={"QUEUE": QueueConfig()}, workers={"POOL": WorkerPoolConfig(queue="QUEUE")}
    )
    out = [
        "## Default alerts",
        "",
        "Every system has these rules; an incident adds its own under `alerts.add`, removes",
        "defaults with `alerts.disable` and rewrites a default's pager text under",
        "`alerts.texts` (see below). `QUEUE` and `POOL` stand for each queue and",
        "worker pool, with every character other than a letter, digit or `_` written `_`",
        "(`partner-events` gives `QueueAgeHigh_partner_events`). Thresholds are shown for",
        f"the defaults: the API's `slo.availability` ({cfg.slo.availability:g}) and",
        f"`slo.latency_s` ({cfg.slo.latency_s:g} s), and the queue's `objective_s`",
        f"({cfg.queues['QUEUE'].objective_s} s); an incident's values change them. A `page`",
        "alert can page the player; `ticket` alerts only show in `alerts`.",
        "",
        "| alert | severity | fires when | for | text |",
        "|---|---|---|---|---|",
    ]
    for rule in default_rules(cfg):
        when = " and ".join(f"`{_cell(c.describe())}`" for c in rule.conditions)
        out.append(
            f"| `{rule.name}` | {rule.severity} | {when} | {rule.for_s} s | {_cell(rule.summary)} |"
        )
    out += ["", "### `alerts:`", ""]
    out += _model_section(AlertsSpec)
    out += ["### An alert rule (`alerts.add`)", ""]
    out += _model_section(AlertRule)
    out += ["Each condition is a [`Condition`](#condition), as a fault's `when` is.", ""]
    return out


def _throughput() -> list[str]:
    cfg = SystemConfig()
    out = [
        "## Worker throughput",
        "",
        "A pool's replicas each have `concurrency` slots, and a slot works on one message at a",
        "time. A message takes `s` seconds: the pool's `service_s` times its version's",
        "`latency_x`, plus, for each query shape under the pool's `queries` and the version's",
        "`extra_queries`, the count times that query's latency at the time, plus the payment",
        f"provider's latency on a `charge` queue; never less than {MIN_SERVICE_S:g} s. A pool of",
        "`R` running replicas then serves at most `R * concurrency / s` messages a second, for",
        "any `s` (a slot serves several messages within a second when `s` is short); replicas",
        "that are starting (`startup_s`) or in back-off serve none. The default pools, before",
        "their queries:",
        "",
        "| pool | queue | replicas | concurrency | `service_s` | queries | at most (messages/s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, p in cfg.workers.items():
        queries = ", ".join(f"`{q}` x {n:g}" for q, n in p.queries.items()) or "-"
        cap = p.replicas * p.concurrency / max(MIN_SERVICE_S, p.service_s)
        out.append(
            f"| `{name}` | `{p.queue}` | {p.replicas} | {p.concurrency} | {p.service_s:g} s"
            f" | {queries} | {cap:.3g} |"
        )
    out.append("")
    return out


def _retries() -> list[str]:
    out = [
        "## Clients that retry",
        "",
        "By default a failed request is gone: its client does not send it again. Under",
        "`system.traffic.retry` (every route) or a route's own `retry` (under",
        "`system.api.routes`, which takes precedence; `max_attempts: 1` there turns retrying",
        "off for the route), an incident gives the clients a retry policy. A request fails in its client's eyes when it gets anything but its success code",
        "(a 500, 502, 503 from load shedding or the connection pool, 504, and a 429 from a rate",
        "limit or a ramp: rejected clients retry, as real ones do) or, with `timeout_s`, when it",
        "succeeds slower than that (the server did the work; the client had left). The client",
        "then waits its backoff and sends the request again, one more request on the route on",
        "top of the fresh traffic, or gives up after `max_attempts`. While a service is down the",
        "clients waiting to retry build up, and a recovered service meets all of them at once:",
        "with a fixed backoff of `b` seconds and no jitter, an outage of `D` seconds brings back",
        "about `D / b` times the normal traffic, every second for `b` seconds. With retries a",
        "route whose requests fail with probability `p` is offered `1 / (1 - p)` times its",
        "traffic (`(1 - p^k) / (1 - p)` with at most `k` attempts).",
        "",
        "The levers: `ratelimit ROUTE RPS` and `ramp ROUTE FROM_RPS TO_RPS SECONDS` admit that",
        "many requests a second at the load balancer and reject the rest with 429, fast: a",
        "rejected request takes no connection and runs no query, and where clients retry it",
        "costs the API's CPU nothing either. The rejected count as failed requests and come",
        "back after their backoff, while what is admitted is served: the herd drains at the",
        "admitted rate less the fresh traffic. A ramp rises in a straight line, then ends and",
        "lets the route through in full (or as its rate limit says).",
        "",
        "Metrics, for each route whose clients retry: `http_client_retries_total{route}`",
        "(requests sent again) and `http_client_gave_up_total{route}` (clients whose last attempt",
        'failed); rejected requests are `http_requests_total{route,code="429"}`.',
        "",
    ]
    out += _model_section(RetryPolicy)
    return out


# ------------------------------------------------------------------------------------- models
def _model_section(model: type[BaseModel]) -> list[str]:
    out = _paragraph(inspect.cleandoc(model.__doc__ or ""))
    return out + _table(dict(model.model_fields))


def _table(fields: dict[str, FieldInfo], model: type[BaseModel] | None = None) -> list[str]:
    out = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, f in fields.items():
        key = f.alias or name
        out.append(
            f"| `{key}` | {_cell(_type(f.annotation) + _limits(f))} | {_cell(_default(f))} |"
            f" {_cell(_description(name, f, model))} |"
        )
    return [*out, ""]


def _description(name: str, f: FieldInfo, model: type[BaseModel] | None) -> str:
    """The field's docstring, or the one it had in a base class it overrides."""
    if f.description or model is None:
        return f.description or ""
    for base in model.__mro__[1:]:
        fields = getattr(base, "model_fields", None)
        if isinstance(fields, dict) and name in fields and fields[name].description:
            return str(fields[name].description)
    return ""


def _paragraph(text: str) -> list[str]:
    text = text.strip()
    return [text, ""] if text else []


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _default(f: FieldInfo) -> str:
    if f.is_required():
        return "required"
    if f.default_factory is not None:
        value: Any = f.default_factory()  # type: ignore[call-arg]
    else:
        value = f.default
    if value is PydanticUndefined:
        return "required"
    return _literal(value)


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, BaseModel):
        dumped = value.model_dump(exclude_defaults=True)
        return "{}" if not dumped else json.dumps(dumped)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value) if value else ("{}" if isinstance(value, dict) else "[]")
    return str(value)


def _limits(f: FieldInfo) -> str:
    words = []
    for m in f.metadata:
        if isinstance(m, annotated_types.Ge):
            words.append(f">= {_literal(m.ge)}")
        elif isinstance(m, annotated_types.Gt):
            words.append(f"> {_literal(m.gt)}")
        elif isinstance(m, annotated_types.Le):
            words.append(f"<= {_literal(m.le)}")
        elif isinstance(m, annotated_types.Lt):
            words.append(f"< {_literal(m.lt)}")
        if isinstance(m, annotated_types.MinLen):
            words.append(f"at least {m.min_length}")
    return f" ({', '.join(words)})" if words else ""


def _type(tp: Any, nested: bool = False) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _type(args[0], nested)
    if origin is typing.Literal:
        return " | ".join(f"`{a}`" if isinstance(a, str) else str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_type(a, True) for a in args if a is not type(None)]
        if len(parts) < len(args):
            parts.append("null")
        text = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} or {parts[-1]}"
        return f"({text})" if nested and len(parts) > 1 else text
    if origin in (list, tuple, set):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"[{', '.join(_type(a, True) for a in args)}]"
        return f"list of {_type(args[0], True)}" if args else "list"
    if origin is dict:
        return f"map of {_type(args[0], True)} to {_type(args[1], True)}" if args else "map"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"`{tp.__name__}`"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if tp in names:
        return names[tp]
    return getattr(tp, "__name__", str(tp))


def _models_in(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for a in typing.get_args(tp) for m in _models_in(a)]
