"""The team debrief of a game day.

`measures`
reads a finished team game (its scored result, its attributed commands, the injects fired, the
notes and the roles) into the team debrief: time to the first status update, roles filled and
handed over, conflicting actions, who found each key signal first, answers to stakeholders,
per-player timelines; `draft` adds the postmortem's "what went well", "what went wrong" and
action items to fill in. Both are plain data in the one report model (`game.report`), rendered
by `game.markdown` and the TUI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from oncall_dojo.game import conflicts
from oncall_dojo.game.evidence import evidence_covered
from oncall_dojo.game.fmt import mmss
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident

_ANSWERED = re.compile(r"\((?P<key>[a-z0-9][a-z0-9-]*)\) at \d")


def inputs(
    session: Session,
    roles: Sequence[Mapping[str, Any]] = (),
    notes: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """What the team debrief reads besides the commands, from a session played here: the
    injects fired, and the host's role changes ({at, player, role, from, by}) and the
    facilitator's notes ({at, text})."""
    return {
        "injects": [dict(r) for r in session.injected],
        "notes": [dict(n) for n in notes],
        "roles": [dict(r) for r in roles],
    }


def measures(
    cmds: Sequence[Mapping[str, Any]],
    result: Mapping[str, Any],
    inc: Incident | None,
    team: Mapping[str, Any],
) -> dict[str, Any]:
    """The team's own measures (see the module's docstring), as JSON-ready data."""
    ok = [c for c in cmds if c.get("kind") != "refused"]
    players = sorted({str(c["player"]) for c in cmds if c.get("player")})
    first_update = next((c for c in ok if c.get("name") == "update"), None)
    signals = []
    resources = inc.resources if inc is not None else {}
    for ev in inc.evidence if inc is not None else []:
        first = next(
            (
                c
                for c in ok
                if c.get("evidence") and evidence_covered(ev.view, {str(c["evidence"])}, resources)
            ),
            None,
        )
        signals.append(
            {
                "view": ev.view,
                "player": None if first is None else first.get("player"),
                "at": None if first is None else first["at"],
            }
        )
    asks = _asks(ok, team.get("injects", []))
    roles = list(team.get("roles", []))
    return {
        "players": players,
        "first_update": None
        if first_update is None
        else {"at": first_update["at"], "player": first_update.get("player")},
        "roles": roles,
        "handovers": sum(1 for r in roles if r.get("role") == "commander"),
        "conflicts": [c.to_json() for c in conflicts.find(cmds)],
        "signals": signals,
        "stakeholders": asks,
        "injects": [
            {
                "at": r["at"],
                "key": r["key"],
                "kind": next(
                    (k for k in ("fault", "stakeholder", "unavailable") if k in r["inject"]), "?"
                ),
                "title": r["inject"].get("title") or r["key"],
                "player": r.get("away"),
                "by": r.get("by"),
            }
            for r in team.get("injects", [])
        ],
        "notes": [{"at": n["at"], "text": n["text"]} for n in team.get("notes", [])],
        "timelines": {
            p: [
                {"at": c["at"], "command": c["command"], "kind": c.get("kind")}
                for c in cmds
                if c.get("player") == p
            ]
            for p in players
        },
        "outcome": {"score": result["score"], "grade": result["grade"]},
    }


def _asks(
    cmds: Sequence[Mapping[str, Any]], fired: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    answers: dict[str, list[Mapping[str, Any]]] = {}
    for c in cmds:
        if c.get("name") == "answer" and (m := _ANSWERED.search(str(c.get("output", "")))):
            answers.setdefault(m.group("key"), []).append(c)
    out = []
    for r in fired:
        m = r["inject"].get("stakeholder")
        if m is None:
            continue
        got = answers.get(r["key"])
        first = got[0] if got else None
        within = int(m.get("answer_within_s", 600))
        out.append(
            {
                "key": r["key"],
                "at": r["at"],
                "from": m["from"],
                "text": m["text"],
                "answered_at": None if first is None else first["at"],
                "answered_by": None if first is None else first.get("player"),
                "in_time": first is not None and first["at"] - r["at"] <= within,
                "within_s": within,
            }
        )
    return out


def draft(rep: Mapping[str, Any], team: Mapping[str, Any]) -> dict[str, Any]:
    """The postmortem draft's judgement sections, from the scored breakdown and the team's
    measures: what went well, what went wrong, and action items for the team to fill in."""
    well, wrong = [], []
    for it in rep["breakdown"]:
        if it["max"] and it["points"] >= 0.8 * it["max"]:
            well.append(f"{it['title']}: {it['detail']}")
        elif (it["max"] and it["points"] < 0.5 * it["max"]) or it["points"] < 0:
            wrong.append(f"{it['title']}: {it['detail']}")
    fu = team["first_update"]
    if fu is not None and fu["at"] <= 900:
        well.append(f"First status update at {mmss(fu['at'])} by {fu['player'] or 'the team'}")
    for c in team["conflicts"]:
        wrong.append(f"Conflicting actions at {mmss(c['at'])}: {c['text']}")
    for a in team["stakeholders"]:
        if a["answered_at"] is None:
            wrong.append(f"{a['from']} wrote at {mmss(a['at'])} and got no answer")
        elif not a["in_time"]:
            wrong.append(f"{a['from']} waited {mmss(a['answered_at'] - a['at'])} for an answer")
    unseen = [s["view"] for s in team["signals"] if s["player"] is None]
    if unseen:
        wrong.append(f"Key signals nobody looked at: {', '.join(unseen)}")
    actions = [f"Follow up: {w}" for w in wrong[:6]] or ["(none found by the game; add your own)"]
    return {"went_well": well, "went_wrong": wrong, "action_items": actions}
