"""The interview scorecard: what a hiring discussion reads about one candidate's exercise.

`build` reads a finished interview (its postmortem report from `game.report`, its recorded
events as plain dicts, the rubric and the interviewers' marks, and the scores of earlier
candidates of the same loop) into one JSON-ready dict; `markdown` and `html` render it.
The HTML page is self-contained (styles inline, no scripts, fonts or images) and prints on
A4 or Letter. Nothing here reads a clock: the same record gives the same scorecard.
"""

from __future__ import annotations

import html as _html
from collections.abc import Mapping, Sequence
from typing import Any

from oncall_dojo.game.commands import RESPONSE_ONLY, split
from oncall_dojo.game.evidence import evidence_covered
from oncall_dojo.game.fmt import mmss
from oncall_dojo.game.rubric import Rubric
from oncall_dojo.sim.resources import ResourceSpec

FORMAT = "oncall-dojo/scorecard"
VERSION = 1
MIN_CANDIDATES = 5
"""A loop's candidates (this one counted) needed before a percentile is shown: the issue's
"once there are five or more", so the fifth candidate is placed among the four before."""
MIN_PEERS = MIN_CANDIDATES - 1
"""Earlier candidates of a loop needed before a percentile is shown."""
MILESTONES = (
    ("acknowledged", "Acknowledge"),
    ("first_look", "First look"),
    ("first_action", "First action"),
    ("mitigated", "Mitigate"),
    ("diagnosed", "Diagnose"),
    ("resolved", "Resolve"),
)


def _at(t: int | None) -> str:
    return "-" if t is None else mmss(int(t))


def _candidate_commands(cmds: Sequence[Mapping[str, Any]], who: str | None) -> list[dict[str, Any]]:
    return [dict(c) for c in cmds if who is None or c.get("player") == who]


def _words(cmds: Sequence[Mapping[str, Any]]) -> tuple[str | None, int | None]:
    """The candidate's own words after their last `diagnose PART MECHANISM`."""
    words, at = None, None
    for c in cmds:
        if c.get("name") == "diagnose" and c.get("kind") != "refused":
            parts = split(str(c["command"]))
            words = " ".join(parts[3:]).strip() or None
            at = int(c["at"])
    return words, at


def _percentile(score: float, peers: Sequence[float]) -> float | None:
    if len(peers) < MIN_PEERS:
        return None
    below = sum(1 for s in peers if s < score)
    ties = sum(1 for s in peers if s == score)
    return round(100.0 * (below + 0.5 * ties) / len(peers), 1)


def build(
    report: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    *,
    candidate: str | None,
    rubric: Rubric | None = None,
    rubric_meta: Mapping[str, Any] | None = None,
    marks: Mapping[str, Any] | None = None,
    peers: Sequence[float] = (),
    loop: str | None = None,
    evidence: Sequence[tuple[str, str]] = (),
    resources: Mapping[str, ResourceSpec] | None = None,
) -> dict[str, Any]:
    """The scorecard (see the module's doc). `events` are the session's events in order, as
    {"type", "at", "data"}; `evidence` the incident's key signals as (view, why), and
    `resources` the incident's (what a `resource:NAME` signal names)."""
    marks = dict(marks or {})
    start = events[0]["data"] if events else {}
    box = start.get("interview") or {}
    cmds = [{"at": e["at"], **e["data"]} for e in events if e["type"] == "command"]
    mine = _candidate_commands(cmds, candidate)
    ok = [c for c in mine if c.get("kind") != "refused"]
    times = dict(report["times"])
    first_look = next((c["at"] for c in ok if c.get("kind") == "investigate"), None)
    first_action = next(
        (c["at"] for c in ok if c.get("kind") == "act" and c.get("name") not in RESPONSE_ONLY),
        None,
    )
    diagnosed = next((c["at"] for c in ok if c.get("name") == "diagnose"), None)
    ref = report.get("reference") or {}
    ref_times = {**(ref.get("milestones") or {}), **(ref.get("times") or {})}
    mine_at = {
        "acknowledged": times.get("acknowledged"),
        "first_look": first_look,
        "first_action": first_action,
        "mitigated": times.get("mitigated"),
        "diagnosed": diagnosed,
        "resolved": times.get("declared_resolved"),
    }
    milestones = [
        {
            "key": key,
            "title": title,
            "at": mine_at[key],
            "reference_at": ref_times.get("declared_resolved" if key == "resolved" else key),
        }
        for key, title in MILESTONES
    ]
    # evidence: when the candidate first saw each key signal, and whether before acting
    seen_before = {
        e["view"]: e["seen_before_acting"] for e in report["diagnosis"].get("evidence", [])
    }
    signals = []
    for view, why in evidence:
        seen_at = next(
            (
                c["at"]
                for c in ok
                if c.get("evidence") and evidence_covered(view, {str(c["evidence"])}, resources)
            ),
            None,
        )
        signals.append(
            {
                "view": view,
                "why": why,
                "seen_at": seen_at,
                "seen_before_acting": bool(seen_before.get(view)),
            }
        )
    # the interviewers' actions, the clock, disconnects
    nudges, pauses, extensions, notes, warnings = [], [], [], [], []
    away_at, lost, drops = None, 0, 0
    paused_at: tuple[int, str] | None = None
    timeline: list[dict[str, Any]] = []
    for e in events:
        d, at, t = e["data"], int(e["at"]), e["type"]
        who = str(d.get("player") or "")
        if t == "command":
            role = "candidate" if who == candidate else "interviewer"
            text = str(d["command"])
            kind = str(d.get("kind"))
            if role == "interviewer" and d.get("name") == "hint":
                kind, text = "hint", str(d.get("output", "")).split("\n")[0]
            timeline.append({"at": at, "who": who, "role": role, "kind": kind, "text": text})
        elif t == "say":
            role = "candidate" if who == candidate else "interviewer"
            timeline.append(
                {"at": at, "who": who, "role": role, "kind": str(d["kind"]), "text": d["text"]}
            )
        elif t == "facilitator":
            action = d.get("action")
            entry = {"at": at, "who": who, "role": "interviewer", "kind": action, "text": ""}
            if action == "note":
                notes.append({"at": at, "by": who, "text": d["text"]})
                entry["text"] = d["text"]
            elif action == "nudge":
                nudges.append({"at": at, "by": who, "text": d["text"]})
                entry["text"] = d["text"]
            elif action == "extend":
                extensions.append({"at": at, "by": who, "minutes": d["minutes"]})
                entry["text"] = f"{d['minutes']} more minutes"
            elif action == "pause":
                paused_at = (at, who)
                entry["text"] = "paused the clock"
            elif action == "resume":
                if paused_at is not None:
                    pauses.append({"at": paused_at[0], "by": paused_at[1], "until": at})
                paused_at = None
                entry["text"] = "resumed the clock"
            elif action == "warn":
                warnings.append({"at": at, "left_s": d["left_s"]})
                entry.update(role="game", text=f"{int(d['left_s']) // 60} minutes left")
            elif action == "away":
                away_at, drops = at, drops + 1
                entry.update(role="candidate", text="disconnected")
            elif action == "back":
                lost += int(d.get("away_s", 0))
                away_at = None
                entry.update(role="candidate", text=f"back after {int(d.get('away_s', 0))}s")
            elif action == "time-up":
                entry.update(role="game", text="time is up")
            elif action == "end":
                entry["text"] = "ended the exercise"
            elif action == "look":
                entry.update(role="candidate", text=f"opened {d.get('what', '')}")
            else:
                continue
            timeline.append(entry)
    if away_at is not None:  # away to the end of play, not to the horizon the outcome runs to
        played_to = max((int(e["at"]) for e in events if e["type"] != "finished"), default=0)
        lost += max(0, played_to - away_at)
    hints = [
        {"at": c["at"], "by": c.get("player"), "text": str(c.get("output", "")).split("\n")[0]}
        for c in cmds
        if c.get("name") == "hint" and c.get("player") != candidate and c.get("kind") != "refused"
    ]
    # the rubric
    lines_out, total, marked = [], 0, 0
    given = dict(marks.get("lines") or {})
    if rubric is not None:
        for ln in rubric.lines:
            m = given.get(ln.id) or {}
            mark = m.get("mark")
            if isinstance(mark, int):
                total, marked = total + mark, marked + 1
            lines_out.append(
                {
                    "id": ln.id,
                    "title": ln.title,
                    "mark": mark,
                    "anchor": ln.anchor(mark) if isinstance(mark, int) else None,
                    "note": m.get("note") or "",
                    "by": m.get("by"),
                }
            )
    words, _ = _words(mine)
    diag = report["diagnosis"]
    wm = dict(marks.get("words") or {})
    score = report["outcome"]["score"]
    peer_scores = sorted(float(s) for s in peers)
    interviewers = sorted(
        {str(d.get("player")) for e in events if e["type"] == "join" for d in [e["data"]]}
        - {candidate or ""}
    )
    return {
        "format": FORMAT,
        "version": VERSION,
        "session": report["session"]["id"],
        "candidate": candidate,
        "interviewers": interviewers,
        "incident": {
            "id": report["session"]["incident"],
            "version": report["session"]["incident_version"],
            "title": report["title"],
        },
        "loop": loop,
        "time_box_min": box.get("minutes"),
        "outcome": dict(report["outcome"]),
        "breakdown": [
            {k: it[k] for k in ("key", "title", "points", "max", "detail")}
            for it in report["breakdown"]
        ],
        "rubric": None
        if rubric is None
        else {
            "name": rubric.name,
            "version": rubric.version,
            "sha256": (rubric_meta or {}).get("sha256"),
            "lines": lines_out,
            "marked": marked,
            "total": total,
            "out_of": 4 * len(rubric.lines),
        },
        "diagnosis": {
            "declared": diag.get("declared"),
            "declared_at": diag.get("declared_at"),
            "verdict": diag.get("verdict"),
            "answer": diag.get("answer"),
            "answer_text": diag.get("answer_text"),
            "words": words,
            "words_mark": wm.get("mark"),
            "words_note": wm.get("note") or "",
        },
        "milestones": milestones,
        "evidence": signals,
        "reference": None
        if not ref
        else {
            "score": ref["score"],
            "grade": ref["grade"],
            "gaps": [
                {k: g[k] for k in ("title", "you", "reference", "reference_detail")}
                for g in ref["gaps"]
            ],
            "missed": list(ref["missed"]),
            "extra": list(ref["extra"]),
        },
        "peers": {
            "count": len(peer_scores),
            "percentile": _percentile(score, peer_scores),
            "scores": peer_scores if len(peer_scores) >= MIN_PEERS else [],
        },
        "interviewer_actions": {
            "nudges": nudges,
            "hints": hints,
            "pauses": pauses,
            "extensions": extensions,
            "notes": len(notes),
        },
        "time_box": {"warnings": warnings},
        "disconnects": {"count": drops, "lost_s": lost},
        "timeline": timeline,
    }


# -- Markdown --------------------------------------------------------------------------------
def _cell(text: Any) -> str:
    return str(text if text is not None else "-").replace("|", "\\|").replace("\n", " ")


def markdown(card: Mapping[str, Any]) -> str:
    c = card
    out: list[str] = []
    w = out.append
    inc = c["incident"]
    w(f"# Interview scorecard: {c['candidate'] or '(no candidate)'}\n")
    w(
        f"Incident **{inc['title']}** ({inc['id']} v{inc['version']})"
        + (f", loop `{c['loop']}`" if c["loop"] else "")
        + (f", time box {c['time_box_min']} min" if c["time_box_min"] else "")
        + f". Interviewers: {', '.join(c['interviewers']) or '-'}. Session `{c['session']}`.\n"
    )
    o = c["outcome"]
    w("## Outcome\n")
    w(
        f"**{o['score']}/100, grade {o['grade']}**, "
        + ("resolved" if o["resolved"] else "not resolved")
        + ".\n"
    )
    w("| Item | Points | Out of | Detail |\n|---|---:|---:|---|")
    for it in c["breakdown"]:
        w(f"| {_cell(it['title'])} | {it['points']:g} | {it['max']:g} | {_cell(it['detail'])} |")
    w("")
    r = c["rubric"]
    if r is not None:
        w(f"## Rubric: {r['name']}\n")
        w(
            f"{r['marked']} of {len(r['lines'])} lines marked; total {r['total']} of {r['out_of']}.\n"
        )
        w("| Line | Mark | What the mark means | Interviewer's note |\n|---|:-:|---|---|")
        for ln in r["lines"]:
            mark = ln["mark"] if ln["mark"] is not None else "not marked"
            w(f"| {_cell(ln['title'])} | {mark} | {_cell(ln['anchor'])} | {_cell(ln['note'])} |")
        w("")
    d = c["diagnosis"]
    w("## Diagnosis\n")
    if d["declared"]:
        w(f"- Declared: {d['declared']} at {_at(d['declared_at'])} ({d['verdict'] or '-'})")
    else:
        w("- Declared: nothing (no `diagnose` during the exercise)")
    w(f"- In their own words: {d['words'] or '(none)'}")
    w(
        f"- Interviewer's mark of the words: {d['words_mark'] or 'not marked'}"
        + (f" ({d['words_note']})" if d["words_note"] else "")
    )
    w(f"- The real cause: {d['answer']}: {d['answer_text']}\n")
    w("## Milestones\n")
    w("| Milestone | Candidate | Reference |\n|---|---:|---:|")
    for m in c["milestones"]:
        w(f"| {m['title']} | {_at(m['at'])} | {_at(m['reference_at'])} |")
    w("")
    w("## Evidence\n")
    for e in c["evidence"]:
        if e["seen_at"] is None:
            w(f"- missed: `{e['view']}`: {e['why']}")
        else:
            before = "before acting" if e["seen_before_acting"] else "after acting"
            w(f"- seen at {_at(e['seen_at'])} ({before}): `{e['view']}`: {e['why']}")
    w("")
    ref = c["reference"]
    if ref is not None:
        w("## Compared with the reference\n")
        w(f"The reference response scores {ref['score']}/100 (grade {ref['grade']}).\n")
        for g in ref["gaps"]:
            w(f"- {g['title']}: {g['you']:g} against {g['reference']:g} ({g['reference_detail']})")
        for m in ref["missed"]:
            w(f"- the reference did, the candidate did not: `{m['command']}` ({_at(m['at'])})")
        for x in ref["extra"]:
            w(f"- the candidate did, the reference did not: `{x['command']}` ({_at(x['at'])})")
        w("")
    pe = c["peers"]
    w("## Earlier candidates of the loop\n")
    if pe["percentile"] is None:
        w(
            f"{pe['count']} earlier candidate(s); a percentile is shown from the loop's {MIN_CANDIDATES}th candidate on.\n"
        )
    else:
        w(
            f"Percentile {pe['percentile']:g} among {pe['count']} earlier candidates "
            f"(names hidden; their scores: {', '.join(f'{s:g}' for s in pe['scores'])}).\n"
        )
    a = c["interviewer_actions"]
    w("## The interviewers' actions\n")
    w(
        f"- Nudges: {len(a['nudges'])}"
        + "".join(f"; {_at(n['at'])} {n['text']}" for n in a["nudges"])
    )
    w(f"- Hints released: {len(a['hints'])}" + "".join(f"; {_at(h['at'])}" for h in a["hints"]))
    w(
        f"- Pauses: {len(a['pauses'])}"
        + "".join(f"; {_at(p['at'])} to {_at(p['until'])}" for p in a["pauses"])
    )
    w(
        f"- Time added: {sum(x['minutes'] for x in a['extensions'])} min"
        f"; private notes: {a['notes']}"
    )
    dc = c["disconnects"]
    w(f"- Disconnects: {dc['count']}, time lost {_at(dc['lost_s'])}\n")
    w("## Timeline\n")
    for t in c["timeline"]:
        who = t["who"] or t["role"]
        w(f"- `{_at(t['at'])}` **{who}** {t['kind']}: {t['text']}")
    w("")
    return "\n".join(out)


# -- HTML ------------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#111;margin:2em auto;max-width:60em;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #999;margin-top:1.6em;page-break-after:avoid}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #bbb;padding:.25em .5em;vertical-align:top;text-align:left}
th{background:#eee}td.n{text-align:right;white-space:nowrap}.big{font-size:1.3em;font-weight:bold}
.missed{color:#a00}.note{background:#fff7d6}.nudge{background:#e7f0ff}.hint{background:#fde8e8}
.game{color:#555}code{font-family:Menlo,Consolas,monospace;font-size:.92em}.meta{color:#444}
tr{page-break-inside:avoid}@page{margin:1.5cm}@media print{body{margin:0;max-width:none;font-size:11px}a{color:inherit}}
"""


def _e(text: Any) -> str:
    return _html.escape("-" if text is None else str(text), quote=True)


def html(card: Mapping[str, Any]) -> str:
    c = card
    inc = c["incident"]
    o = c["outcome"]
    p: list[str] = []
    w = p.append
    w("<!DOCTYPE html>")
    w('<html lang="en"><head><meta charset="utf-8">')
    w(f"<title>Interview scorecard: {_e(c['candidate'])}</title>")
    w(f"<style>{_CSS}</style></head><body>")
    w(f"<h1>Interview scorecard: {_e(c['candidate'])}</h1>")
    w(
        f'<p class="meta">Incident <b>{_e(inc["title"])}</b> ({_e(inc["id"])} v{_e(inc["version"])})'
        + (f", loop <code>{_e(c['loop'])}</code>" if c["loop"] else "")
        + (f", time box {_e(c['time_box_min'])} min" if c["time_box_min"] else "")
        + f". Interviewers: {_e(', '.join(c['interviewers']))}. Session <code>{_e(c['session'])}</code>.</p>"
    )
    w("<h2>Outcome</h2>")
    w(
        f'<p class="big">{_e(o["score"])}/100, grade {_e(o["grade"])}, '
        f"{'resolved' if o['resolved'] else 'not resolved'}</p>"
    )
    w("<table><tr><th>Item</th><th>Points</th><th>Out of</th><th>Detail</th></tr>")
    for it in c["breakdown"]:
        w(
            f"<tr><td>{_e(it['title'])}</td><td class=n>{it['points']:g}</td>"
            f"<td class=n>{it['max']:g}</td><td>{_e(it['detail'])}</td></tr>"
        )
    w("</table>")
    r = c["rubric"]
    if r is not None:
        w(f"<h2>Rubric: {_e(r['name'])}</h2>")
        w(
            f"<p>{r['marked']} of {len(r['lines'])} lines marked; total {r['total']} of {r['out_of']}.</p>"
        )
        w("<table><tr><th>Line</th><th>Mark</th><th>What the mark means</th><th>Note</th></tr>")
        for ln in r["lines"]:
            mark = ln["mark"] if ln["mark"] is not None else "not marked"
            w(
                f"<tr><td>{_e(ln['title'])}</td><td class=n>{_e(mark)}</td>"
                f"<td>{_e(ln['anchor'])}</td><td>{_e(ln['note'])}</td></tr>"
            )
        w("</table>")
    d = c["diagnosis"]
    w("<h2>Diagnosis</h2><ul>")
    if d["declared"]:
        w(
            f"<li>Declared: <code>{_e(d['declared'])}</code> at {_at(d['declared_at'])} ({_e(d['verdict'])})</li>"
        )
    else:
        w("<li>Declared: nothing (no <code>diagnose</code> during the exercise)</li>")
    w(f"<li>In their own words: {_e(d['words'] or '(none)')}</li>")
    w(
        f"<li>Interviewer's mark of the words: {_e(d['words_mark'] or 'not marked')}"
        + (f" ({_e(d['words_note'])})" if d["words_note"] else "")
        + "</li>"
    )
    w(f"<li>The real cause: <code>{_e(d['answer'])}</code>: {_e(d['answer_text'])}</li></ul>")
    w("<h2>Milestones</h2><table><tr><th>Milestone</th><th>Candidate</th><th>Reference</th></tr>")
    for m in c["milestones"]:
        w(
            f"<tr><td>{_e(m['title'])}</td><td class=n>{_at(m['at'])}</td><td class=n>{_at(m['reference_at'])}</td></tr>"
        )
    w("</table><h2>Evidence</h2><ul>")
    for e in c["evidence"]:
        if e["seen_at"] is None:
            w(f'<li class="missed">missed: <code>{_e(e["view"])}</code>: {_e(e["why"])}</li>')
        else:
            before = "before acting" if e["seen_before_acting"] else "after acting"
            w(
                f"<li>seen at {_at(e['seen_at'])} ({before}): <code>{_e(e['view'])}</code>: {_e(e['why'])}</li>"
            )
    w("</ul>")
    ref = c["reference"]
    if ref is not None:
        w(
            f"<h2>Compared with the reference</h2><p>The reference response scores {_e(ref['score'])}/100 (grade {_e(ref['grade'])}).</p><ul>"
        )
        for g in ref["gaps"]:
            w(
                f"<li>{_e(g['title'])}: {g['you']:g} against {g['reference']:g} ({_e(g['reference_detail'])})</li>"
            )
        for m in ref["missed"]:
            w(
                f"<li>the reference did, the candidate did not: <code>{_e(m['command'])}</code> ({_at(m['at'])})</li>"
            )
        for x in ref["extra"]:
            w(
                f"<li>the candidate did, the reference did not: <code>{_e(x['command'])}</code> ({_at(x['at'])})</li>"
            )
        w("</ul>")
    pe = c["peers"]
    w("<h2>Earlier candidates of the loop</h2>")
    if pe["percentile"] is None:
        w(
            f"<p>{pe['count']} earlier candidate(s); a percentile is shown from the loop's {MIN_CANDIDATES}th candidate on.</p>"
        )
    else:
        w(
            f"<p>Percentile {pe['percentile']:g} among {pe['count']} earlier candidates (names hidden).</p>"
        )
    a = c["interviewer_actions"]
    dc = c["disconnects"]
    w("<h2>The interviewers' actions</h2><ul>")
    w(f"<li>Nudges: {len(a['nudges'])}</li><li>Hints released: {len(a['hints'])}</li>")
    w(
        f"<li>Pauses: {len(a['pauses'])}</li><li>Time added: {sum(x['minutes'] for x in a['extensions'])} min</li>"
    )
    w(
        f"<li>Private notes: {a['notes']}</li><li>Disconnects: {dc['count']}, time lost {_at(dc['lost_s'])}</li></ul>"
    )
    w("<h2>Timeline</h2><table><tr><th>At</th><th>Who</th><th>What</th><th></th></tr>")
    for t in c["timeline"]:
        cls = {"note": "note", "nudge": "nudge", "hint": "hint"}.get(t["kind"], "")
        if t["role"] == "game":
            cls = "game"
        if t["role"] == "interviewer" and t["kind"] == "note":
            cls = "note"
        w(
            f'<tr class="{cls}"><td class=n>{_at(t["at"])}</td><td>{_e(t["who"] or t["role"])}</td>'
            f"<td>{_e(t['kind'])}</td><td>{_e(t['text'])}</td></tr>"
        )
    w("</table></body></html>")
    return "\n".join(p) + "\n"


__all__ = ["FORMAT", "MIN_CANDIDATES", "MIN_PEERS", "build", "html", "markdown"]
