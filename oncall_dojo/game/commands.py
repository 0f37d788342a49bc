"""Every command, assembled: the grammar's registry filled by the handler modules.

Import `COMMANDS` (and the grammar's functions) from here to see the whole
registry: `grammar` declares it, and `investigate`, `act`, `data` and `respond`
fill it in the order `help` lists the commands.
"""

from __future__ import annotations

from oncall_dojo.game import act, data, grammar, investigate, longwork, respond
from oncall_dojo.game.escalation import teams
from oncall_dojo.game.grammar import (
    COMMANDS,
    RESPONSE_ONLY,
    Command,
    Completion,
    Evidence,
    evidence_kinds,
    parse,
    parse_duration,
    resolve,
    split,
)
from oncall_dojo.game.session import Session
from oncall_dojo.incident.diagnosis import MECHANISMS
from oncall_dojo.sim import ops
from oncall_dojo.sim.observability.logs import LEVELS

__all__ = [
    "COMMANDS",
    "RESPONSE_ONLY",
    "Command",
    "Completion",
    "Evidence",
    "evidence_kinds",
    "names",
    "parse",
    "parse_duration",
    "resolve",
    "split",
]
HANDLER_MODULES = (grammar, investigate, act, longwork, data, respond)
"""Where the commands are declared, in the order help lists them."""
_RANK = {m.__name__: i for i, m in enumerate(HANDLER_MODULES)}
for _cmd in sorted(COMMANDS.values(), key=lambda c: _RANK[c.handler.__module__]):
    COMMANDS[_cmd.name] = COMMANDS.pop(_cmd.name)  # moved to the end: the registry in that order


def names(kind: Completion, s: Session) -> list[str]:
    """Names that exist now, for completion."""
    sys_ = s.system
    match kind:
        case "service":
            return ["api", *sys_.pools, "cache", "postgres", "ledger", "broker"]
        case "pool":
            return list(sys_.pools)
        case "queue":
            return list(sys_.queues)
        case "alert":
            return list(sys_.alerts.states)
        case "flag":
            return sorted(sys_.flags)
        case "config":
            return sorted(sys_.config)
        case "job":
            return sorted(sys_.jobs)
        case "operation":
            world = sys_.world
            return list(world.operations.ops) if world and world.operations else []
        case "runbook":
            return sorted(s.incident.runbooks)
        case "message":
            return [
                "msg_" + sys_.queues[q].msg_id(r.first)
                for q in sys_.queues
                for _, r in sys_.queues[q].top_delivered()
            ]
        case "pid":
            return [str(b.pid) for b in sys_.db.all_backends()]
        case "route":
            return list(sys_.cfg.api.routes)
        case "part":
            return s.parts
        case "mechanism":
            return list(MECHANISMS)
        case "metric":
            return sys_.metrics.names()
        case "table":
            if sys_.app is not None:
                return sorted(set(sys_.db.rows) | set(sys_.app.schema()))
            return sorted(sys_.db.rows)
        case "version":
            return sorted({v for per in sys_.cfg.versions.values() for v in per})
        case "level":
            return [lv.lower() for lv in LEVELS]
        case "team":
            return teams(s)
        case "automation":
            return sys_.automation.names()
        case "host":
            return list(sys_.fleet.hosts) if sys_.fleet is not None else []
        case "cluster":
            return list(dict.fromkeys(["postgres", "ledger", *ops.clusters(sys_)]))
        case "replica":  # of every cluster (completion narrows it to the cluster typed)
            topo = sys_.topology
            if topo is None:
                return []
            return list(dict.fromkeys(m for c in topo.clusters.values() for m in c.members))
    return []
