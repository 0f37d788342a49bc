"""The postmortem report of a recorded session: its events, read into `game.report.build`.

The finished event carries the full scored result; the started event the player,
incident, seed and mode; the command events what was typed. `game.markdown`
renders the report.
"""

from __future__ import annotations

from typing import Any

from oncall_dojo.game import report
from oncall_dojo.incident.model import Incident
from oncall_dojo.store.events import Event


class ReportUnavailable(Exception):
    """The session cannot be reported on (it has not finished)."""


def build(session_row: dict[str, Any], events: list[Event], inc: Incident | None) -> dict[str, Any]:
    fin = next((e for e in events if e.type == "finished"), None)
    if fin is None:
        raise ReportUnavailable(
            f"session {session_row['id']} has not finished; resume it with `dojo play --resume {session_row['id']}`"
        )
    start = events[0].data
    header = {
        "id": session_row["id"],
        "player": start.get("player"),
        "incident": start.get("incident"),
        "incident_version": start.get("incident_version"),
        "seed": start.get("seed"),
        "mode": start.get("mode"),
        "started_at": events[0].wall,
        "ended_at": fin.wall,
    }
    cmds = [{"at": e.at, **e.data} for e in events if e.type == "command"]
    team = None
    if start.get("mode") == "team" or any(e.type in ("inject", "note") for e in events):
        team = {
            "injects": [
                {"at": e.at, "tick": e.tick, **e.data} for e in events if e.type == "inject"
            ],
            "notes": [
                {"at": e.at, "text": e.data.get("text", "")}
                for e in events
                if e.type == "facilitator" and e.data.get("action") == "note"
            ],
            "roles": [{"at": e.at, **e.data} for e in events if e.type == "role"],
        }
        solo = str(start.get("player") or "")
        cmds = [{**c, "player": c.get("player") or solo} for c in cmds]
    return report.build(header, fin.data["result"], cmds, inc, team)
