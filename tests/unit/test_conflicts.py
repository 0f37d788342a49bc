"""Conflicting actions between players, found from the attributed commands alone."""

from __future__ import annotations

from typing import Any

from oncall_dojo.game.conflicts import conflicts_of, find
from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Session
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.packs import find as find_incident


def cmd(at: int, player: str, command: str, kind: str = "act") -> dict[str, Any]:
    name = " ".join(command.split()[:2]) if command.startswith("dlq ") else command.split()[0]
    return {"at": at, "player": player, "command": command, "kind": kind, "name": name}


def test_two_restarts_of_one_pool_within_a_minute() -> None:
    found = find([cmd(100, "dana", "restart billing"), cmd(130, "lee", "restart billing")])
    assert [(c.kind, c.players, c.target, c.at) for c in found] == [
        ("same", ("dana", "lee"), "billing", 130)
    ]
    assert "lee ran `restart billing` 30s after dana ran `restart billing` (01:40)" in found[0].text


def test_a_rollback_during_another_players_deploy() -> None:
    found = find([cmd(240, "dana", "deploy billing v2.8.4"), cmd(400, "lee", "rollback billing")])
    assert [(c.kind, c.commands) for c in found] == [
        ("opposed", ("deploy billing v2.8.4", "rollback billing"))
    ]


def test_what_is_not_a_conflict() -> None:
    quiet = [
        cmd(100, "dana", "restart billing"),
        cmd(120, "dana", "restart billing"),  # the same player twice
        cmd(130, "lee", "restart mailer"),  # another pool
        cmd(200, "lee", "restart billing"),  # more than a minute after dana's last
        cmd(210, "kim", "queue billing", "investigate"),  # looking changes nothing
        cmd(215, "kim", "restart billing", "refused"),  # refused: nothing happened
        cmd(220, "kim", "update things are slow, investigating", "act"),  # paperwork
        cmd(230, "kim", "update things are slow, investigating", "act"),
        cmd(600, "kim", "rollback billing"),  # long after any deploy
        {"at": 240, "command": "restart billing", "kind": "act", "name": "restart"},  # nobody named
    ]
    assert find(quiet) == []


def test_live_flags_match_the_whole_list() -> None:
    cmds = [
        cmd(10, "dana", "pause payments"),
        cmd(40, "lee", "resume payments"),
        cmd(50, "kim", "restart billing"),
        cmd(70, "dana", "restart billing"),
        cmd(90, "lee", "restart billing"),
    ]
    live = [c for i in range(len(cmds)) for c in conflicts_of(cmds[:i], cmds[i])]
    assert live == find(cmds)
    assert [(c.kind, c.players) for c in live] == [
        ("opposed", ("dana", "lee")),
        ("same", ("kim", "dana")),
        ("same", ("kim", "lee")),
        ("same", ("dana", "lee")),
    ]


def test_played_entries_are_read_the_same_way() -> None:
    s = Session(load_incident(find_incident("payments-stuck")), 1)
    perform(s, "restart billing", "dana")
    s.advance(20)
    perform(s, "restart billing", "lee")
    assert [(c.players, c.target) for c in find(s.entries)] == [(("dana", "lee"), "billing")]
    assert find([e.__dict__ for e in s.entries]) == find(s.entries)
