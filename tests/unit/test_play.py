"""Play: one path from a typed line to the model, the record and the score, for every client."""

from __future__ import annotations

from typing import Any

import pytest

from oncall_dojo.game.commands import COMMANDS
from oncall_dojo.game.play import finish, perform, run_script, wait, wait_seconds
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import WAIT_IN_SCRIPT, playthrough_errors
from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.errors import Refusal


def test_an_entry_carries_its_player_and_whether_it_changed_the_system(paged: Session) -> None:
    looked = perform(paged, "queues")
    acked = perform(paged, "ack", player="ana")
    paused = perform(paged, "pause emails", player="bo")
    refused = perform(paged, "pause emails", player="bo")
    assert [(e.player, e.mutates) for e in (looked, acked, paused, refused)] == [
        ("you", False),
        ("ana", False),
        ("bo", True),
        ("bo", False),
    ]
    assert paged.system.changes[-1].author == "bo"
    assert paged.first_action_at() == paused.at


def test_solo_play_is_played_by_the_sessions_player(poison: Incident) -> None:
    s = Session(poison, 1)
    s.player = "finn"
    entry = perform(s, "pause emails")
    assert entry.player == "finn" and s.system.changes[-1].author == "finn"


@pytest.mark.parametrize(
    ("line", "seconds"),
    [("wait", 60), ("wait 90", 90), ("wait 90s", 90), ("wait 5m", 300), ("wait 1h", 3600),
     ("queues", None), ("waiting", None), ("", None)],
)  # fmt: skip
def test_wait_reads_its_duration(line: str, seconds: int | None) -> None:
    assert wait_seconds(line) == seconds


def test_a_wait_that_cannot_be_read_is_refused() -> None:
    with pytest.raises(Refusal, match="duration must look like"):
        wait_seconds("wait soon")


def test_a_wait_runs_the_clock_in_steps_and_stops_at_the_end(poison: Incident) -> None:
    s = Session(poison, 1)
    clock: list[dict[str, Any]] = []
    s.listeners.append(lambda ev: clock.append(ev) if ev["type"] == "clock" else None)
    assert list(wait(s, 70, 30)) == [30, 30, 10]
    assert s.now == 70 and [ev["at"] for ev in clock] == [30, 60, 70]
    left = s.remaining
    assert sum(wait(s, left + 500, 600)) == left
    assert s.ended and s.remaining == 0
    assert list(wait(s, 60)) == []


def test_help_lists_wait_and_a_script_cannot_wait(paged: Session, poison: Incident) -> None:
    assert COMMANDS["wait"].usage in perform(paged, "help").output
    assert perform(paged, "wait 1m").kind == "refused"  # the console and the TUI run it
    actions = ["00:10 ack", "00:20 wait 1m"]
    inc = poison.model_copy(
        update={
            "playthroughs": poison.playthroughs.model_copy(
                update={
                    "reference": poison.playthroughs.reference.model_copy(
                        update={"actions": actions}
                    )
                }
            )
        }
    )
    assert playthrough_errors(inc) == [
        (("playthroughs", "reference", "actions", 1), WAIT_IN_SCRIPT)
    ]


def test_finish_scores_once_and_refuses_commands_after(poison: Incident) -> None:
    s = Session(poison, 1)
    events: list[str] = []
    s.listeners.append(lambda ev: events.append(ev["type"]))
    run_script(s, ["00:10 ack", "00:20 queues"])
    result = s.result
    assert result is not None and finish(s) is result
    assert events.count("finished") == 1
    assert perform(s, "queues").kind == "refused"
