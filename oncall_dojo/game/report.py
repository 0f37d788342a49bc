"""The postmortem report of one played session, as data (JSON); `game.markdown` renders it.

One model for `dojo report` (a recorded session: `store.report` reads its events)
and the debrief's export (a session just played: `from_session`). Everything about
the player comes from the scored result and the commands; the incident file adds
titles and the root cause, and the reference playthrough, played with the same
seed, shows what a good response did differently. The report holds no wall-clock
time other than the recorded start and end of the session, so it is reproducible.
"""

from __future__ import annotations

from typing import Any

from oncall_dojo.game.commands import RESPONSE_ONLY, parse, split
from oncall_dojo.game.evidence import evidence_covered, seen_before_acting
from oncall_dojo.game.fmt import mmss
from oncall_dojo.game.play import finish, run_script
from oncall_dojo.game.plays import default_cache
from oncall_dojo.game.session import Session
from oncall_dojo.game.team import draft, inputs, measures
from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.errors import Refusal


def _declared(words: list[str], inc: Incident | None) -> tuple[str, str] | None:
    """(part, mechanism) of a recorded `diagnose` (a former option id read through the incident's
    `former_options`), or None."""
    if len(words) > 1 and inc is not None and words[1] in inc.root_cause.former_options:
        part, mechanism = inc.root_cause.former_options[words[1]].split()
        return part, mechanism
    if len(words) > 2:
        return words[1], words[2]
    return None


def _diagnosis(
    cmds: list[dict[str, Any]], result: dict[str, Any], inc: Incident | None
) -> dict[str, Any]:
    declared: tuple[str, int] | None = None
    judged: tuple[str, str] | None = None
    for c in cmds:
        if c.get("name") == "diagnose" and c.get("kind") != "refused":
            words = split(str(c["command"]))
            if len(words) > 1:
                judged = _declared(words, inc)
                said = f"{judged[0]} {judged[1]}" if judged else words[1]
                declared = (said, int(c["at"]))
    out: dict[str, Any] = {
        "declared": declared[0] if declared else None,
        "declared_at": declared[1] if declared else None,
    }
    if inc is None:
        return out
    rc = inc.root_cause
    verdict = None if judged is None else rc.judge(*judged)
    why_not = None
    if verdict == "red herring" and judged is not None:
        why_not = next(h.why_not for h in rc.red_herrings if h.part == judged[0])
    out.update(
        {
            "answer": f"{rc.answer.part[0]} {rc.answer.mechanism[0]}",
            "answer_text": rc.answer.text,
            "correct": None if declared is None else verdict == "right",
            "verdict": verdict,
            "why_not": why_not,
        }
    )
    seen = seen_before_acting(
        [
            (
                str(c["evidence"]) if c.get("evidence") else None,
                c.get("kind") == "act" and c.get("name") not in RESPONSE_ONLY,
            )
            for c in cmds
        ]
    )
    out["evidence"] = [
        {
            "view": e.view,
            "why": e.why.strip(),
            "seen_before_acting": evidence_covered(e.view, seen, inc.resources),
        }
        for e in inc.evidence
    ]
    return out


TARGETS = {"service", "pool", "queue", "flag", "config", "job", "table", "route", "part", "pid"}
"""Completion kinds whose first argument is what a command acts on."""


def what_was_done(command: str) -> tuple[str, str | None]:
    """A command as (name, target): `dlq move payments top` -> ("dlq move", "payments"),
    `update "..."` -> ("update", None), so two plays compare by what they did, not by wording."""
    try:
        cmd, args = parse(command)
    except Refusal:
        return " ".join(command.split()), None
    if cmd.args and cmd.args[0] in TARGETS and args:
        return cmd.name, args[0].removesuffix(".dlq")
    return cmd.name, None


def _paged(header: dict[str, Any], cmds: list[dict[str, Any]], team: dict[str, Any] | None) -> str:
    """Who the page reached: the player of a solo game; in a team game the team that played
    (the host's own player is the facilitator, who was not paged)."""
    if team is None:
        return str(header.get("player"))
    host = header.get("player")
    names = list(
        dict.fromkeys(str(c["player"]) for c in cmds if c.get("player") not in (None, host))
    )
    return f"The team ({', '.join(names)})" if names else "The team"


def _summary(player: str, result: dict[str, Any], inc: Incident | None, page_alert: str) -> str:
    t = result["times"]
    parts = [
        f"{player} was paged by {page_alert} and "
        + (
            f"acknowledged at {mmss(t['acknowledged'])}."
            if t.get("acknowledged") is not None
            else "never acknowledged the page."
        )
    ]
    parts.append(
        f"Customer impact ended at {mmss(t['mitigated'])}."
        if t.get("mitigated") is not None
        else "Customer impact had not ended when the incident window closed."
    )
    parts.append(
        f"The cause was removed at {mmss(t['cause_removed'])}."
        if t.get("cause_removed") is not None
        else "The cause was still present at the end."
    )
    if t.get("declared_resolved") is not None:
        parts.append(f"The incident was declared resolved at {mmss(t['declared_resolved'])}.")
    window = f" over the {mmss(inc.duration_s)} after the page" if inc else ""
    parts.append(
        f"Measured{window}, the response scored {result['score']}/100 (grade {result['grade']}) and the "
        f"incident was {'resolved' if result['resolved'] else 'not resolved'}."
    )
    return " ".join(parts)


REFERENCE_PLAY = "report:reference"
"""The play cache's name for what a report reads of the reference play (see `_reference_play`)."""


def _reference_play(inc: Incident, seed: int) -> dict[str, Any]:
    """The reference playthrough of `seed`, as the report reads it: its scored result, its
    commands (at, command, kind, name, evidence) and its diagnosis. Taken from the play cache
    when an earlier report (or `dojo check` of the same file and engine) kept it, played where
    not: every report of a game of this incident and seed compares with the same play."""
    cache = default_cache()
    if cache is not None:
        got = cache.get(inc, seed, REFERENCE_PLAY)
        if got is not None:
            return got
    s = Session(inc, seed)
    run_script(s, list(inc.playthroughs.reference.actions), keep_logs=False)
    doc = {
        "incident": inc.id,
        "seed": seed,
        "result": finish(s).to_json(),
        "entries": [
            {
                "at": e.at,
                "command": e.command,
                "kind": e.kind,
                "name": e.name,
                "evidence": e.evidence,
            }
            for e in s.entries
        ],
        "diagnosis": s.diagnosis.label if s.diagnosis else None,
    }
    if cache is not None:
        cache.put(inc, seed, REFERENCE_PLAY, doc)
    return doc


def _reference(
    inc: Incident, seed: int, result: dict[str, Any], cmds: list[dict[str, Any]]
) -> dict[str, Any]:
    inc = inc.for_seed(seed)
    ref = inc.playthroughs.reference
    played = _reference_play(inc, seed)
    rr, entries = played["result"], played["entries"]
    mine_acts = {what_was_done(str(c["command"])) for c in cmds if c.get("kind") == "act"}
    mine_seen = [str(c["evidence"]) for c in cmds if c.get("evidence")]
    missed, ref_acts = [], set()
    for e in entries:
        if e["kind"] == "act":
            ref_acts.add(what_was_done(e["command"]))
            if what_was_done(e["command"]) not in mine_acts:
                missed.append({"at": e["at"], "command": e["command"], "kind": e["kind"]})
        elif (
            e["kind"] == "investigate"
            and e["evidence"]
            and not evidence_covered(e["evidence"], mine_seen)
        ):
            missed.append({"at": e["at"], "command": e["command"], "kind": e["kind"]})
    extra = [
        {"at": c["at"], "command": c["command"]}
        for c in cmds
        if c.get("kind") == "act" and what_was_done(str(c["command"])) not in ref_acts
    ]
    mine = {i["key"]: i for i in result["breakdown"]}
    gaps = []
    for it in rr["breakdown"]:
        have = mine.get(it["key"], {"points": 0.0, "detail": "-"})
        if it["points"] - have["points"] >= 0.05:
            gaps.append(
                {
                    "key": it["key"],
                    "title": it["title"],
                    "you": have["points"],
                    "reference": it["points"],
                    "your_detail": have["detail"],
                    "reference_detail": it["detail"],
                }
            )
    for key, it in mine.items():
        if key not in {i["key"] for i in rr["breakdown"]} and it["points"] < 0:
            gaps.append(
                {
                    "key": key,
                    "title": it["title"],
                    "you": it["points"],
                    "reference": 0.0,
                    "your_detail": it["detail"],
                    "reference_detail": "-",
                }
            )
    gaps.sort(key=lambda g: (-(g["reference"] - g["you"]), g["key"]))
    return {
        "name": ref.name,
        "why": ref.why.strip(),
        "score": rr["score"],
        "grade": rr["grade"],
        "resolved": rr["resolved"],
        "times": rr["times"],
        "impact": rr["impact"],
        "diagnosis": played["diagnosis"],
        "milestones": {  # as a scorecard times the candidate's (game.scorecard)
            "first_look": next((e["at"] for e in entries if e["kind"] == "investigate"), None),
            "first_action": next(
                (e["at"] for e in entries if e["kind"] == "act" and e["name"] not in RESPONSE_ONLY),
                None,
            ),
            "diagnosed": next((e["at"] for e in entries if e["name"] == "diagnose"), None),
        },
        "missed": missed,
        "extra": extra,
        "gaps": gaps,
    }


def build(
    header: dict[str, Any],
    result: dict[str, Any],
    cmds: list[dict[str, Any]],
    inc: Incident | None,
    team: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report of a finished session: `header` (id, player, incident, incident_version, seed,
    mode, started_at, ended_at), its scored result (`Result.to_json()`), its commands (at,
    command, kind, name, output, evidence, and player in a team game) and the incident file if
    there is one. A team game (`team`: injects fired, facilitator notes, roles; see
    `game.team.inputs`) adds the team's measures and the postmortem draft's judgement."""
    notes: list[str] = []
    if inc is not None and inc.version != header.get("incident_version"):
        notes.append(
            f"the incident is now version {inc.version}; this session played version {header.get('incident_version')}, "
            "so the incident's details and the reference below may not match what was played"
        )
    page_alert = (
        inc.page.alert
        if inc
        else next(
            (
                t["text"].removeprefix("paged by ")
                for t in result["timeline"]
                if t["kind"] == "page"
            ),
            "the pager",
        )
    )
    rep: dict[str, Any] = {
        "session": header,
        "title": inc.title if inc else str(header.get("incident")),
        "summary": _summary(_paged(header, cmds, team), result, inc, page_alert),
        "outcome": {
            "score": result["score"],
            "grade": result["grade"],
            "resolved": result["resolved"],
        },
        "impact": result["impact"],
        "times": result["times"],
        "timeline": result["timeline"],
        "diagnosis": _diagnosis(cmds, result, inc),
        "what_really_happened": None
        if inc is None
        else {"explanation": inc.root_cause.explanation.strip(), "source": inc.source.strip()},
        "breakdown": result["breakdown"],
        "notes": result.get("notes", []) + notes,
        "reference": None,
    }
    if inc is None:
        rep["notes"].append(
            "the incident file is not available here, so there is no root cause or reference to compare with"
        )
    elif inc.version == header.get("incident_version"):
        rep["reference"] = _reference(inc, int(header["seed"]), result, cmds)
    if team is not None:
        rep["team"] = measures(cmds, result, inc, team)
        rep["postmortem"] = draft(rep, rep["team"])
    return rep


def from_session(
    s: Session,
    *,
    session_id: str | None = None,
    player: str | None = None,
    mode: str = "play",
    team: bool = False,
    roles: list[dict[str, Any]] | None = None,
    notes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The report of a session finished in this process (the debrief's export); `session_id` and
    `player` when it was recorded, `team` (with the `roles` taken and the facilitator's `notes`) for a team game. No wall-clock
    times: those are the record's."""
    result = finish(s).to_json()
    inc = s.incident
    header = {
        "id": session_id,
        "player": player,
        "incident": inc.id,
        "incident_version": inc.version,
        "seed": s.seed,
        "mode": mode,
        "started_at": None,
        "ended_at": None,
    }
    cmds = [
        {
            "at": e.at,
            "command": e.command,
            "kind": e.kind,
            "name": e.name,
            "output": e.output,
            "evidence": e.evidence,
            **({"player": e.player} if team else {}),
        }
        for e in s.entries
    ]
    return build(header, result, cmds, inc, inputs(s, roles or [], notes or []) if team else None)
