"""One helper words every count the game shows: never "1 messages", never "3 replica(s)"."""

from __future__ import annotations

import pytest

from oncall_dojo.game.play import perform, wait
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.observability.alerts import AlertManager, AlertState
from oncall_dojo.sim.observability.rules import default_rules
from oncall_dojo.sim.sqlrender import QueryResult, render_table
from oncall_dojo.sim.text import count, plural


@pytest.mark.parametrize(
    ("n", "word", "many", "want"),
    [
        (0, "message", None, "0 messages"),
        (1, "message", None, "1 message"),
        (2, "message", None, "2 messages"),
        (1.0, "time", None, "1 time"),
        (1.5, "second", None, "1.5 seconds"),
        (12_345, "row", None, "12,345 rows"),
        (2, "query", None, "2 queries"),
        (2, "day", None, "2 days"),
        (2, "process", None, "2 processes"),
        (2, "person", "people", "2 people"),
        (1, "person", "people", "1 person"),
    ],
)
def test_count_words_a_number_of_things(n: float, word: str, many: str | None, want: str) -> None:
    assert count(n, word, many) == want


def test_count_without_separators_and_plural_alone() -> None:
    assert count(1234, "message", sep=False) == "1234 messages"
    assert plural("switch") == "switches" and plural("replica") == "replicas"


def test_an_alert_summary_counts_its_value(poison: Incident) -> None:
    rules = {r.name: r for r in default_rules(Session(poison, 1).incident.system_config())}
    dlq = AlertState(rules["DeadLetters_payments"], value=1.0)
    assert AlertManager.summary(dlq) == "1 message in payments.dlq"
    dlq.value = 12.0
    assert AlertManager.summary(dlq) == "12 messages in payments.dlq"
    crash = AlertState(rules["WorkerCrashLooping_billing"], value=1.0)
    assert AlertManager.summary(crash) == "billing containers restarted 1 time in 10m"


def test_one_message_replayed_is_one_message_in_the_change_history(poison: Incident) -> None:
    s = Session(poison, 1)
    for line in ("dlq move payments top", "deploy billing v2.8.4"):
        assert perform(s, line).kind == "act"
    for _ in wait(s, 120):
        pass
    replayed = perform(s, "dlq replay payments")
    assert replayed.output.startswith("Replayed 1 message from payments.dlq onto payments")
    change = s.system.changes[-1]
    assert (change.kind, change.before) == ("replay", "1 message")
    assert "1 message " in perform(s, "deploys").output


def test_a_one_row_result_and_one_change_say_one_row() -> None:
    one = QueryResult(["id"], [(1,)], 1, False, {}, "read")
    assert render_table(one).splitlines()[-1] == "1 row"
    wrote = QueryResult([], [], 1, False, {"orders": 1}, "write", committed=True)
    assert render_table(wrote).splitlines()[-1] == "committed: 1 row changed in orders"


def test_one_replica_is_one_replica(poison: Incident) -> None:
    s = Session(poison, 1)
    assert perform(s, "scale mailer 1").output.startswith("mailer: scaled from 2 to 1 replica.")
    assert perform(s, "restart mailer").output.startswith("Restarting 1 replica of mailer;")
