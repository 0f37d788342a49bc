"""A resource is a part of the system a diagnosis may name (`resource:NAME`), and a key signal
(`evidence: resource:NAME`) that the looks at its gauge cover. Played on the bundled
database-disk-filling, whose answer is the slot that retains the WAL."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncall_dojo.game.evidence import evidence_covered, key_signals
from oncall_dojo.game.play import finish, perform
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.diagnosis import parts_of
from oncall_dojo.incident.model import Evidence, Incident
from oncall_dojo.sim.resources import ResourceSpec

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = [
    "resource:slot-active",
    "resource:slot-retained",
    "resource:standby-slot-active",
    "resource:standby-slot-retained",
    "resource:wal-volume",
]


@pytest.fixture(scope="module")
def disk() -> Incident:
    return load_checked(ROOT / "incidents" / "database-disk-filling.yaml").for_seed(1)


def test_the_resources_are_the_last_parts_in_name_order(disk: Incident) -> None:
    s = Session(disk, 1)
    assert s.parts[-len(RESOURCES) :] == RESOURCES
    assert s.parts[: -len(RESOURCES)] == parts_of(disk.system_config())
    listing = perform(s, "causes").output
    assert all(f"  {p}\n" in listing for p in RESOURCES)


def test_naming_the_slot_is_the_right_diagnosis_and_the_standbys_a_red_herring(
    disk: Incident,
) -> None:
    s = Session(disk, 1)
    refused = perform(s, "diagnose resource:slot-retaned resource-exhaustion")
    assert refused.kind == "refused"
    assert "did you mean 'resource:slot-retained'?" in refused.output
    assert disk.root_cause.judge("resource:standby-slot-retained", "resource-exhaustion") == (
        "red herring"
    )
    assert disk.root_cause.judge("resource:wal-volume", "resource-exhaustion") == "wrong"
    said = perform(s, "diagnose resource:slot-retained resource-exhaustion")
    assert said.kind == "act", said.output
    result = finish(s)
    item = next(i for i in result.items if i.key == "diagnosis")
    assert item.points == item.max
    assert "correct: resource:slot-retained, resource-exhaustion" in item.detail


def test_the_metric_query_of_a_resources_gauge_covers_it(disk: Incident) -> None:
    inc = disk.model_copy(
        update={
            "evidence": [
                Evidence(view="resource:slot-retained", why="the slot holds the WAL"),
                Evidence(view="resource:wal-volume", why="the volume runs down"),
            ]
        }
    )
    s = Session(inc, 1)
    perform(s, "metrics pg_replication_slots_pg_wal_lsn_diff")
    perform(s, "db")
    assert [ok for _, _, ok in key_signals(s)] == [True, False]
    perform(s, "metrics node_filesystem_avail_bytes")
    assert [ok for _, _, ok in key_signals(s)] == [True, True]
    late = Session(inc, 1)
    perform(late, "operation start drop-slot-pg_1")  # a change first: what follows is too late
    perform(late, "metrics pg_replication_slots_pg_wal_lsn_diff")
    assert [ok for _, _, ok in key_signals(late)] == [False, False]


BUILTIN = {
    "disk": ResourceSpec(builtin="database.disk_used_gb"),
    "pool": ResourceSpec(builtin="api.pool_in_use"),
    "backlog": ResourceSpec(builtin="queue.depth", queue="payments"),
    "fds": ResourceSpec(metric="process_open_fds", start=180),
}


@pytest.mark.parametrize(
    ("view", "seen", "covered"),
    [
        ("resource:disk", ["db:stats"], True),
        ("resource:disk", ["metrics:node_filesystem_used_ratio"], True),
        ("resource:disk", ["metrics:db_pool_connections_in_use"], False),
        ("resource:pool", ["metrics:db_pool_connections_in_use"], True),
        ("resource:pool", ["db:stats"], False),
        ("resource:backlog", ["queue:payments"], True),
        ("resource:backlog", ["queues"], True),
        ("resource:backlog", ["queue:emails"], False),
        ("resource:fds", ["metrics:process_open_fds"], True),
        ("resource:fds", ["metrics"], False),  # the listing shows no value
        ("resource:nothing", ["metrics:process_open_fds"], False),
    ],
)
def test_a_resource_signal_is_covered_by_the_looks_that_show_it(
    view: str, seen: list[str], covered: bool
) -> None:
    assert evidence_covered(view, seen, BUILTIN) is covered
