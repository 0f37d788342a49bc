"""The postmortem report (`game.report`) as GitHub-flavoured Markdown: `dojo report` and the
debrief's export.

One escaping: text in a table cell escapes `\\` and `|` (`_cell`); a code span keeps its
text as it is (Markdown does not escape inside one), with a backtick shown as `'` and,
inside a table, `|` as `\\|`, which a table cell needs even there (`_code`).
"""

from __future__ import annotations

from typing import Any

from oncall_dojo.game.fmt import mmss
from oncall_dojo.sim.text import count


def _cell(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: Any, table: bool = True) -> str:
    body = str(text).replace("\n", " ").replace("`", "'")
    return "`" + (body.replace("|", "\\|") if table else body) + "`"


def _when(v: int | None) -> str:
    return "—" if v is None else mmss(v)


def _table(head: list[str], rows: list[list[Any]], align: str = "") -> list[str]:
    aligns = align or "l" * len(head)
    sep = ["---:" if a == "r" else "---" for a in aligns]
    out = ["| " + " | ".join(head) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def _impact_lines(i: dict[str, Any]) -> list[str]:
    return [
        f"- **Requests:** {i['requests_failed']:,} failed, {i['requests_throttled']:,} throttled and "
        f"{i['requests_slow']:,} too slow, of {i['requests_total']:,} ({i['error_budget_burned']:.1%} of the month's error budget)",
        f"- **Background work:** {i['messages_late']:,} of {i['messages_produced']:,} messages late, "
        f"{i['messages_lost']:,} lost, {i['messages_dead_lettered']:,} left in dead-letter queues, {i['messages_waiting']:,} still waiting",
        f"- **Money:** {i['duplicate_charges']:,} duplicate charges outstanding (${i['duplicate_cents'] / 100:,.2f}), "
        f"{i['refunded_charges']:,} refunded",
        f"- **Data:** {i['records_wrong']:,} records left wrong, {i['records_repaired']:,} repaired, "
        f"{i['writes_lost']:,} committed writes lost",
        f"- **Spend:** ${i['spend_dollars']:,.2f} during the incident",
    ]


KIND_LABEL = {
    "page": "page",
    "fault": "fault",
    "alert": "alert",
    "investigate": "looked",
    "act": "changed",
    "meta": "noted",
    "refused": "refused",
    "outcome": "outcome",
}


def render(rep: dict[str, Any]) -> str:
    s, o = rep["session"], rep["outcome"]
    lines = [f"# Postmortem: {rep['title']}", ""]
    lines += _table(
        ["", ""],
        [
            ["Session", _code(s["id"]) if s["id"] else "not recorded"],
            ["Player", _cell(s["player"] or "—")],
            [
                "Incident",
                f"{_code(s['incident'])} version {s['incident_version']}, seed {s['seed']}",
            ],
            [
                "Played",
                f"{s['started_at']} to {s['ended_at']} ({s['mode']})"
                if s["started_at"]
                else s["mode"],
            ],
            [
                "Outcome",
                f"**{o['score']}/100, grade {o['grade']}**, "
                + ("resolved" if o["resolved"] else "not resolved"),
            ],
        ],
    )
    lines += ["", "## Summary", "", rep["summary"], ""]
    for n in rep["notes"]:
        lines += [f"> **Note:** {n}", ""]
    lines += ["## Impact", "", *_impact_lines(rep["impact"]), ""]
    t = rep["times"]
    lines += _table(
        [
            "Acknowledged",
            "First change",
            "Impact ended",
            "Cause removed",
            "Resolved",
            "Declared resolved",
        ],
        [
            [
                _when(t.get(k))
                for k in (
                    "acknowledged",
                    "first_action",
                    "mitigated",
                    "cause_removed",
                    "resolved",
                    "declared_resolved",
                )
            ]
        ],
    )
    lines += [
        "",
        "## Timeline",
        "",
        "Signals from the system and what the player did, in player time since the page.",
        "",
    ]
    lines += _table(
        ["Time", "", "What"],
        [
            [
                mmss(e["at"]),
                KIND_LABEL.get(e["kind"], e["kind"]),
                _code(e["text"])
                if e["kind"] in ("investigate", "act", "meta", "refused")
                else _cell(e["text"]),
            ]
            for e in rep["timeline"]
        ],
    )
    lines += ["", "## What really happened", ""]
    w = rep.get("what_really_happened")
    if w is None:
        lines.append("The incident file is not available here (see the notes above).")
    else:
        lines += [w["explanation"], ""]
        if w["source"]:
            lines.append(f"Modelled on: {w['source']}")
    lines += ["", "## Diagnosis", ""]
    d = rep["diagnosis"]
    if d["declared"] is None:
        lines.append("- **Declared:** no root cause was declared.")
    else:
        verdict = {
            "right": " (correct)",
            "part": " (the right part, the wrong mechanism)",
            "red herring": " (a red herring)",
            "wrong": " (wrong)",
        }.get(str(d.get("verdict")), "")
        lines.append(
            f"- **Declared:** {_code(d['declared'], False)} at {mmss(d['declared_at'])}{verdict}"
        )
        if d.get("why_not"):
            lines.append(f"- **Why not:** {_cell(d['why_not'].strip())}")
    if "answer" in d:
        lines += [
            f"- **Root cause:** {_code(d['answer'], False)}: {d['answer_text']}",
            "",
        ]
        if d["evidence"]:
            lines += ["Key signals, and whether they were looked at before the first change:", ""]
            lines += _table(
                ["Signal", "Before acting", "What it shows"],
                [
                    [_code(e["view"]), "yes" if e["seen_before_acting"] else "no", _cell(e["why"])]
                    for e in d["evidence"]
                ],
            )
    lines += ["", "## Score", ""]
    lines += _table(
        ["Item", "Points", "Max", "Detail"],
        [
            [_cell(i["title"]), f"{i['points']:.1f}", f"{i['max']:g}", _cell(i["detail"])]
            for i in rep["breakdown"]
        ]
        + [["**Total**", f"**{o['score']}**", "100", f"grade {o['grade']}"]],
        "lrrl",
    )
    if rep.get("team") is not None:
        lines += _team(rep["team"])
    lines += ["", "## What the reference did differently", ""]
    lines += _reference(rep)
    if rep.get("postmortem") is not None:
        lines += _postmortem(rep["postmortem"])
    return "\n".join(lines).rstrip() + "\n"


def _who(p: Any) -> str:
    return _cell(p) if p else "—"


def _team(t: dict[str, Any]) -> list[str]:
    fu = t["first_update"]
    lines = ["", "## The team", ""]
    lines += [
        f"- **Players:** {', '.join(_cell(p) for p in t['players']) or '—'}",
        "- **First status update:** "
        + ("none" if fu is None else f"{mmss(fu['at'])} by {_who(fu['player'])}"),
        f"- **Roles:** {count(len(t['roles']), 'role change')}, command handed over {count(t['handovers'], 'time')}",
        f"- **Conflicting actions:** {len(t['conflicts'])}",
        f"- **Outcome:** {t['outcome']['score']}/100, grade {t['outcome']['grade']}",
        "",
    ]
    if t["roles"]:
        lines += _table(
            ["Time", "Player", "Role", "Was", "By"],
            [
                [
                    mmss(r.get("at", 0)),
                    _who(r.get("player")),
                    _cell(r.get("role", "")),
                    _who(r.get("from")),
                    _who(r.get("by")),
                ]
                for r in t["roles"]
            ],
        )
        lines.append("")
    if t["signals"]:
        lines += ["Who found each key signal first:", ""]
        lines += _table(
            ["Signal", "First", "At"],
            [[_code(s["view"]), _who(s["player"]), _when(s["at"])] for s in t["signals"]],
        )
        lines.append("")
    if t["conflicts"]:
        lines += ["Conflicting actions:", ""]
        lines += [f"- {mmss(c['at'])}: {_cell(c['text'])}" for c in t["conflicts"]]
        lines.append("")
    if t["injects"]:
        lines += ["Injects:", ""]
        lines += _table(
            ["Time", "Inject", "Kind", "Player"],
            [
                [mmss(i["at"]), _cell(i["title"]), i["kind"], _who(i["player"])]
                for i in t["injects"]
            ],
        )
        lines.append("")
    if t["stakeholders"]:
        lines += ["Answers to stakeholders:", ""]
        lines += _table(
            ["Wrote", "From", "Answered", "By", "In time"],
            [
                [mmss(a["at"]), _cell(a["from"]), _when(a["answered_at"]), _who(a["answered_by"]),
                 "yes" if a["in_time"] else "no"]
                for a in t["stakeholders"]
            ],
        )  # fmt: skip
        lines.append("")
    lines += ["### Per-player timelines", ""]
    for p, cmds in t["timelines"].items():
        lines += [f"**{_cell(p)}**", ""]
        lines += [
            f"- {mmss(c['at'])} {_code(c['command'], False)}"
            + (" (refused)" if c["kind"] == "refused" else "")
            for c in cmds
        ] or ["- nothing"]
        lines.append("")
    if t["notes"]:
        lines += ["### Facilitator's notes", ""]
        lines += [f"- {mmss(n['at'])}: {_cell(n['text'])}" for n in t["notes"]]
        lines.append("")
    return lines


def _postmortem(pm: dict[str, Any]) -> list[str]:
    lines = ["", "## What went well", ""]
    lines += [f"- {_cell(w)}" for w in pm["went_well"]] or ["- (add your own)"]
    lines += ["", "## What went wrong", ""]
    lines += [f"- {_cell(w)}" for w in pm["went_wrong"]] or ["- (add your own)"]
    lines += ["", "## Action items", "", "To fill in: an owner and a date for each.", ""]
    lines += _table(["Action", "Owner", "Due"], [[_cell(a), "", ""] for a in pm["action_items"]])
    return lines


def _reference(rep: dict[str, Any]) -> list[str]:
    r = rep["reference"]
    if r is None:
        return ["No reference comparison is available for this session (see the notes above)."]
    o, t, i = rep["outcome"], rep["times"], rep["impact"]
    lines = [
        f"The incident's reference playthrough, {_code(r['name'], False)}, played with the same seed: {r['why']}",
        "",
    ]
    rows = [
        ["Score", f"{o['score']} ({o['grade']})", f"{r['score']} ({r['grade']})"],
        ["Resolved", "yes" if o["resolved"] else "no", "yes" if r["resolved"] else "no"],
    ]
    rows += [
        [label, _when(t.get(k)), _when(r["times"].get(k))]
        for k, label in (
            ("acknowledged", "Acknowledged"),
            ("mitigated", "Impact ended"),
            ("cause_removed", "Cause removed"),
            ("resolved", "Resolved at"),
        )
    ]
    rows.append(
        [
            "Root cause declared",
            _code(rep["diagnosis"]["declared"]) if rep["diagnosis"]["declared"] else "—",
            _code(r["diagnosis"]) if r["diagnosis"] else "—",
        ]
    )
    rows += [
        [label, f"{i[k]:,}", f"{r['impact'][k]:,}"]
        for k, label in (
            ("requests_failed", "Failed requests"),
            ("messages_late", "Messages late"),
            ("messages_lost", "Messages lost"),
            ("duplicate_charges", "Duplicate charges"),
            ("records_wrong", "Records left wrong"),
        )
    ]
    lines += _table(["", "You", "Reference"], rows)
    if r["gaps"]:
        lines += ["", "Where the points went:", ""]
        lines += _table(
            ["Item", "You", "Reference", "Yours", "Reference's"],
            [
                [
                    _cell(g["title"]),
                    f"{g['you']:.1f}",
                    f"{g['reference']:.1f}",
                    _cell(g["your_detail"]),
                    _cell(g["reference_detail"]),
                ]
                for g in r["gaps"]
            ],
            "lrrll",
        )
    if r["missed"]:
        lines += ["", "What the reference did that you did not:", ""]
        lines += [f"- {mmss(m['at'])} {_code(m['command'], False)}" for m in r["missed"]]
    if r["extra"]:
        lines += ["", "Changes you made that the reference did not:", ""]
        lines += [f"- {mmss(m['at'])} {_code(m['command'], False)}" for m in r["extra"]]
    if not (r["gaps"] or r["missed"] or r["extra"]):
        lines += ["", "Nothing: this response matched or beat the reference on every item."]
    return lines
