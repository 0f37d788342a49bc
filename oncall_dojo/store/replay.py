"""Rebuilding a session from its log: incident + seed + commands at their ticks.

The simulation is deterministic, so this reproduces the recorded game exactly:
`dojo play --resume` continues from it, `dojo replay` checks every command's
output and the final score against what was recorded.

Where play stood when the log ends: the latest of the last clock event, the end
of the last `wait` the player asked for, and the last command plus the console's
thinking time (`think_s` in the start event), capped at the incident's horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oncall_dojo.game.injects import replay_fired
from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.store.events import INTERVIEW_MODE, TEAM_MODE, TEAM_TYPES, Event


@dataclass
class Rebuilt:
    session: Session
    mismatches: list[str] = field(default_factory=list)
    quit: bool = False
    finished: dict[str, Any] | None = None
    """The recorded `finished` event's data, if the session ended."""


def rebuild(incident: Incident, events: list[Event]) -> Rebuilt:
    """Play the log's commands again; the session stops where the recorded play stopped."""
    start = events[0]
    s = Session(incident, int(start.data["seed"]))
    out = Rebuilt(s)
    if s.page_tick != start.tick:
        out.mismatches.append(
            f"the page fired at tick {s.page_tick}, but the recording says tick {start.tick}"
        )
    think = int(start.data.get("think_s") or 0)
    owner = start.data.get("player")
    if start.data.get("mode") in (TEAM_MODE, INTERVIEW_MODE) and isinstance(owner, str):
        s.player = owner  # a hosted game's session plays as its host (see net.host)
    target = 0
    for ev in events[1:]:
        if ev.type == "command":
            s.advance_to(ev.at)
            who = ev.data.get("player")
            # recorded under the recorder's name: the session's own player (see Recorder)
            player = None if who is None or who == owner else str(who)
            entry = perform(s, str(ev.data.get("command", "")), player)
            if entry.tick != ev.tick:
                out.mismatches.append(
                    f"{ev.describe()}: replayed at tick {entry.tick}, recorded at tick {ev.tick}"
                )
            elif entry.output != ev.data.get("output") or entry.kind != ev.data.get("kind"):
                out.mismatches.append(
                    f"{ev.describe()}: the replayed output differs from the recorded one"
                )
            target = max(target, ev.at + think)
        elif ev.type == "inject":
            s.advance_to(ev.at)
            try:
                fired = replay_fired(s, ev.data)
            except (Refusal, KeyError, ValueError) as exc:
                out.mismatches.append(
                    f"{ev.describe()}: the inject could not be fired again: {exc}"
                )
            else:
                if fired["tick"] != ev.tick:
                    out.mismatches.append(
                        f"{ev.describe()}: replayed at tick {fired['tick']}, recorded at tick {ev.tick}"
                    )
            target = max(target, ev.at)
        elif ev.type == "clock" or ev.type in TEAM_TYPES:
            target = max(target, ev.at)
        elif ev.type == "wait":
            target = max(target, int(ev.data.get("until", ev.at)))
        elif ev.type == "quit":
            out.quit = True
            # play ended here, not at the last command: what the clock brought in meanwhile (a
            # paged team joining) happened before the outcome was measured
            s.advance_to(ev.at)
        elif ev.type == "finished":
            out.finished = ev.data
    if out.finished is None:
        s.advance_to(min(target, s.horizon))
    return out


def compare_results(recorded: dict[str, Any], replayed: dict[str, Any]) -> list[str]:
    """How a replayed result differs from the recorded one (empty: identical)."""
    diffs = []
    if recorded.get("score") != replayed.get("score") or recorded.get("grade") != replayed.get(
        "grade"
    ):
        diffs.append(
            f"score: recorded {recorded.get('score')} ({recorded.get('grade')}), replayed "
            f"{replayed.get('score')} ({replayed.get('grade')})"
        )
    rec_items = {i["key"]: i for i in recorded.get("breakdown", [])}
    for it in replayed.get("breakdown", []):
        old = rec_items.pop(it["key"], None)
        if old is None:
            diffs.append(f"{it['title']}: not in the recording")
        elif (old["points"], old["detail"]) != (it["points"], it["detail"]):
            diffs.append(
                f"{it['title']}: recorded {old['points']} ({old['detail']}), replayed {it['points']} ({it['detail']})"
            )
    diffs.extend(f"{it['title']}: missing from the replay" for it in rec_items.values())
    for key in ("impact", "times", "resolved"):
        if recorded.get(key) != replayed.get(key) and not diffs:
            diffs.append(f"{key}: recorded {recorded.get(key)}, replayed {replayed.get(key)}")
    return diffs
