"""`escalate`: the team paged joins after a realistic delay and does one visible thing (answers
from their side, or runs the command asked for), recorded and replayed like the rest of play."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oncall_dojo.game.console import run_console
from oncall_dojo.game.escalation import JOIN_S, VENDOR_JOIN_S
from oncall_dojo.game.play import finish, perform, wait
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.store import Recorder, Store
from oncall_dojo.store.replay import rebuild

Digest = Callable[[Session], dict[str, Any]]


def _run(s: Session, seconds: int) -> None:
    for _ in wait(s, seconds):
        pass


def test_a_paged_team_answers_from_their_side_when_they_join(poison: Incident) -> None:
    s = Session(poison, 1)
    e = perform(s, "escalate billing why do your workers keep dying?")
    assert e.kind == "act"
    assert e.output == (
        "Paged billing. billing on-call joins the call in about 4 minutes (at 04:00)."
    )
    _run(s, JOIN_S - 1)
    assert [x.player for x in s.entries] == ["you"]  # nobody yet, one second before
    _run(s, 1)
    joined = s.entries[-1]
    assert (joined.player, joined.at, joined.kind) == ("billing on-call", JOIN_S, "meta")
    assert joined.command == "escalate billing why do your workers keep dying?"
    # what their on-call sees of their own service at that moment
    assert joined.output.startswith(
        "Joined the call. From our side: workers billing DOWN 0/2 ready"
    )
    assert joined.evidence is None and not joined.mutates


def test_a_paged_team_runs_the_command_asked_for_as_themselves(
    poison: Incident, digest: Digest
) -> None:
    s = Session(poison, 1)
    perform(s, "escalate billing restart billing")
    _run(s, JOIN_S - 1)
    before = len(s.system.changes)
    _run(s, 1)
    joined = s.entries[-1]
    assert joined.kind == "act" and joined.mutates and joined.name == "restart"
    assert joined.output.startswith("Joined the call and ran `restart billing`: Restarting")
    [change] = s.system.changes[before:]
    assert (change.kind, change.target, change.author) == ("restart", "billing", "billing on-call")
    assert s.first_action_at() == JOIN_S


def test_aliases_the_vendor_delay_and_refusals(poison: Incident, digest: Digest) -> None:
    s = Session(poison, 1)
    assert "Paged postgres." in perform(s, "escalate dba").output
    e = perform(s, "escalate provider are you degraded?")
    assert f"Their support answers in about {VENDOR_JOIN_S // 60} minutes" in e.output
    state = digest(s)
    refused = perform(s, "escalate provider restart billing")
    assert refused.kind == "refused" and "cannot change your system" in refused.output
    refused = perform(s, "escalate nosuch")
    assert refused.kind == "refused" and refused.output == (
        "no team 'nosuch' to page; teams: api, billing, mailer, fulfillment, postgres, "
        "platform, payments-provider"
    )
    assert digest(s) == state  # a refusal pages nobody
    _run(s, VENDOR_JOIN_S)
    joined = [x for x in s.entries if x.player != "you"]
    assert [x.player for x in joined] == ["postgres on-call", "payments-provider support"]
    assert joined[1].output.startswith("Joined the call. From our side: payment provider ok")


def test_a_team_still_on_its_way_is_called_off_when_play_ends(poison: Incident) -> None:
    s = Session(poison, 1)
    perform(s, "escalate billing restart billing")
    perform(s, "resolve")
    finish(s)
    assert [x.player for x in s.entries] == ["you", "you"]
    assert not any(c.author == "billing on-call" for c in s.system.changes)


def test_the_console_shows_the_join_and_a_replay_makes_it_again(
    poison: Incident, tmp_path: Path
) -> None:
    store = Store.open(tmp_path / "dojo.db")
    log = Recorder(store, "ann", "play")
    out = io.StringIO()
    lines = "ack\nescalate billing restart billing\nwait 5m\nquit\n"
    run_console(poison, 1, [], out=out, inp=io.StringIO(lines), log=log)
    text = out.getvalue()
    assert "  [04:10] billing on-call: Joined the call and ran `restart billing`" in text
    sid = log.session_id
    assert sid is not None and store.verify(sid) == []
    events = store.events(sid)
    rb = rebuild(poison, events)
    assert rb.mismatches == []
    joined = [e for e in rb.session.entries if e.player == "billing on-call"]
    assert [(e.at, e.command) for e in joined] == [(250, "restart billing")]
    # the join is made by the clock, not recorded as a command of its own
    assert [e.data["command"] for e in events if e.type == "command"] == [
        "ack",
        "escalate billing restart billing",
    ]
    store.close()
