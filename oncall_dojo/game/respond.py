"""The response's paperwork: status updates, escalation, the diagnosis, hints, resolving.

None of these changes the system itself (a paged team may, when it joins: see
`game.escalation`); they are what the score reads beside the outcome.
"""

from __future__ import annotations

import difflib

from oncall_dojo.game import escalation
from oncall_dojo.game.fmt import mmss
from oncall_dojo.game.grammar import Reply, command, need
from oncall_dojo.game.session import Diagnosis, Session
from oncall_dojo.incident.diagnosis import MECHANISMS
from oncall_dojo.sim.errors import Refusal


@command("update", "act", 'update "TEXT"', "Post a status update for customers and the company.")
def _update(s: Session, args: list[str], by: str) -> Reply:
    text = " ".join(args).strip()
    if len(text) < 10:
        raise Refusal(
            "a status update needs a sentence (10 characters or more): what is affected, what you are doing"
        )
    s.status_updates.append((s.now, text))
    return f"Status update posted at {mmss(s.now)}.", None


@command(
    "answer",
    "act",
    'answer [ID] "TEXT"',
    "Answer a stakeholder's message (the oldest unanswered one, or the one named by ID).",
)
def _answer(s: Session, args: list[str], by: str) -> Reply:
    if not s.asks:
        raise Refusal("no stakeholder has written; post status updates with `update`")
    ask = next((a for a in s.asks if args and a.id == args[0]), None)
    if ask is not None:
        args = args[1:]
    else:
        ask = next((a for a in s.asks if not a.answers), s.asks[-1])
    text = " ".join(args).strip()
    if len(text) < 10:
        raise Refusal(
            "an answer needs a sentence (10 characters or more): what is affected, what you are doing, when you expect to know more"
        )
    ask.answers.append((s.now, by, text))
    return f"Answered {ask.sender} ({ask.id}) at {mmss(s.now)}.", None


@command(
    "escalate",
    "act",
    "escalate TEAM [TEXT|COMMAND]",
    "Page the team that owns a part of the system: their on-call joins in a few minutes and "
    "answers from their side, or runs the console command you give instead of words "
    "(`escalate TEAM COMMAND`).",
    ("team",),
)
def _escalate(s: Session, args: list[str], by: str) -> Reply:
    need(args, 1, "escalate TEAM [TEXT|COMMAND]")
    team = escalation.team_named(s, args[0])
    said = escalation.page(s, team, " ".join(args[1:]), by)
    s.escalations.append((s.now, " ".join(args)))
    return said, None


DIAGNOSE_USAGE = "diagnose PART MECHANISM [NOTES]"


@command(
    "diagnose",
    "act",
    DIAGNOSE_USAGE,
    "Declare the root cause: the part of the system and the failure mechanism (see `causes`).",
    ("part", "mechanism"),
)
def _diagnose(s: Session, args: list[str], by: str) -> Reply:
    need(args, 2, DIAGNOSE_USAGE)
    part, mechanism = args[0], args[1]
    parts = s.parts
    if part not in parts:
        close = difflib.get_close_matches(part, parts, n=1)
        raise Refusal(
            f"no part {part!r} in this system"
            + (f"; did you mean {close[0]!r}?" if close else "")
            + " (`causes` lists the parts and the mechanisms)"
        )
    if mechanism not in MECHANISMS:
        close = difflib.get_close_matches(mechanism, list(MECHANISMS), n=1)
        raise Refusal(
            f"no mechanism {mechanism!r}"
            + (f"; did you mean {close[0]!r}?" if close else "")
            + " (`causes` lists the parts and the mechanisms)"
        )
    s.diagnosis = Diagnosis(part, mechanism, " ".join(args[2:]), s.now)
    return f"Root cause declared: {part}, {mechanism}.", None


@command(
    "causes",
    "meta",
    "causes",
    "The parts of this system and the failure mechanisms a diagnosis names (`diagnose PART MECHANISM`).",
)
def _causes(s: Session, args: list[str], by: str) -> Reply:
    return causes_text(s), None


def causes_text(s: Session) -> str:
    """The parts of the system, then the shared catalog of mechanisms: the same lists and order
    whatever the answer."""
    lines = ["Parts of this system:"]
    lines += [f"  {p}" for p in s.parts]
    lines += ["", "Failure mechanisms:"]
    lines += [f"  {m:<24} {text}" for m, text in MECHANISMS.items()]
    return "\n".join(lines)


@command("hint", "meta", "hint [take]", "See what the next hint costs; `hint take` takes it.")
def _hint(s: Session, args: list[str], by: str) -> Reply:
    hints = s.incident.hints
    i = len(s.hints_taken)
    if i >= len(hints):
        raise Refusal("no more hints")
    if not args or args[0] != "take":
        return (
            f"Hint {i + 1} of {len(hints)} costs {hints[i].cost} points. `hint take` to take it.",
            None,
        )
    s.hints_taken.append(i)
    return f"Hint {i + 1} (-{hints[i].cost}): {hints[i].text}", None


@command(
    "resolve",
    "act",
    "resolve [NOTE]",
    "Declare the incident resolved. Play ends; the outcome is measured to the end.",
)
def _resolve(s: Session, args: list[str], by: str) -> Reply:
    s.declared_resolved_at = s.now
    return f"Declared resolved at {mmss(s.now)}.", None
