"""Operations that take time, played on tests/fixtures/world/replica-resync.yaml: a resync works
a replica's lag off at its rate while every charge the billing workers process adds to it, so
stopping that inflow first (`pause payments`) makes it finish sooner, and at all: a run that
receives more than `inflow_above` fails with the author's error. Durations and outcomes are
checked against the rate formula of `oncall_dojo.sim.operations`, with the inflow read from
the queue's own counter."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from oncall_dojo.game.check import play as check_play
from oncall_dojo.game.check import probe_problems
from oncall_dojo.game.commands import COMMANDS, names
from oncall_dojo.game.play import perform
from oncall_dojo.game.plays import playthroughs, run_json
from oncall_dojo.game.probes import probes
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.model import Incident, incident_json_schema
from oncall_dojo.sim.faults.repairs import Damage
from oncall_dojo.sim.observability.metrics import Query
from oncall_dojo.sim.operations import OPERATION_NAME, Operation
from oncall_dojo.sim.system import System

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "world" / "replica-resync.yaml"
BASE = FIXTURE.read_text(encoding="utf-8")
LAG = 'pg_replication_replay_lag_bytes{application_name="replica-1"}'
ACKED = 'queue_acked_total{queue="payments"}'
"""Messages acknowledged, per second (a counter's sample is what it counted that second)."""
PER_MESSAGE = 65536.0
RATE = 1.0e6
KEEP = 5.0e7
FAILED = "pg_basebackup: error: requested WAL segment has already been removed"
START_AT = 60
"""Player seconds at which the resync starts (consumers, when paused, were paused at 30)."""


def incident(text: str = BASE) -> Incident:
    if text == BASE:
        return load_checked(FIXTURE)
    return load_incident("replica-resync.yaml", text=text, expect_id="replica-resync")


def at(sys: System, metric: str, t: int) -> float:
    v = sys.metrics.query(Query(metric=metric, fn="last", window=1), t)
    assert v is not None, metric
    return v


def total(sys: System, metric: str, first: int, last: int) -> float:
    """What a counter counted in ticks first..last."""
    return sum(at(sys, metric, t) for t in range(first, last + 1))


def resync(sys: System) -> Operation:
    op: Operation = sys.world.operations.ops["resync-replica"]
    return op


def play(inc: Incident, stop_inflow: bool, seconds: int = 600) -> Session:
    s = Session(inc, seed=1)
    s.advance(30)
    if stop_inflow:
        assert perform(s, "pause payments").kind == "act"
    s.advance_to(START_AT)
    entry = perform(s, "operation start resync-replica")
    assert entry.kind == "act", entry.output
    s.advance(seconds)
    return s


def inflow(sys: System, first: int, last: int) -> float:
    """What the processed charges added to the lag in ticks first..last (the queue's counter)."""
    return PER_MESSAGE * sum(at(sys, ACKED, t) for t in range(first, last + 1))


def expected_end(sys: System, s0: int, until: int) -> int:
    """The formula: the k-th second of the run works off R; it has finished in the first
    second k where V(s0 - 1) + inflow(s0 .. s0+k-2) - R*k <= 0 (the inflow of a second is
    worked in the next)."""
    v0 = at(sys, LAG, s0 - 1)
    for k in range(1, until - s0 + 2):
        if v0 + inflow(sys, s0, s0 + k - 2) - RATE * k <= 0:
            return s0 + k - 1
    raise AssertionError("the formula says it does not finish in time")


@pytest.fixture(scope="module")
def no_limit() -> Incident:
    """The fixture without its failure condition: both runs finish, at different times."""
    text = BASE.replace(
        '    fails_if:\n      - inflow_above: 5.0e7\n        error: "' + FAILED + '"\n', ""
    )
    assert text != BASE
    return incident(text)


def test_stopping_the_inflow_first_shortens_the_run_as_the_formula_says(no_limit: Incident) -> None:
    ends = {}
    for stop in (False, True):
        s = play(no_limit, stop)
        sys = s.system
        op = resync(sys)
        s0 = s.page_tick + START_AT
        assert op.state == "done" and op.started == s0
        end = op.finished[-1]
        assert end == expected_end(sys, s0, sys.t - 1)
        # the gauge reads 0 at its end and, the slot recreated (`done`), stays there
        assert at(sys, LAG, end) == 0 and at(sys, LAG, sys.t - 1) == 0
        ends[stop] = end - s0 + 1
        if stop:
            assert inflow(sys, s0, end) == 0  # nothing processed while paused
            assert ends[stop] == math.ceil(at(sys, LAG, s0 - 1) / RATE)
        else:
            arrived = inflow(sys, s0, end - 1)
            assert arrived > 0 and op.arrived == arrived
    assert ends[True] < ends[False]


def test_a_run_that_takes_more_writes_than_it_keeps_fails_and_repairs_nothing() -> None:
    inc = incident()
    a = play(inc, stop_inflow=False)
    sys = a.system
    op = resync(sys)
    s0 = a.page_tick + START_AT
    assert op.state == "failed" and not op.finished
    # the first second whose inflow (worked in the next) passes the WAL kept
    fail = next(t for t in range(s0, sys.t) if inflow(sys, s0, t - 1) > KEEP)
    assert op.failed_at == [fail]
    assert op.error == FAILED
    assert any(FAILED in sys.logs.render(i) for i in range(len(sys.logs.lines)))
    damage = a.fault_runs[0]
    assert damage.active(sys)
    b = play(inc, stop_inflow=True)
    assert resync(b.system).state == "done"
    assert not b.fault_runs[0].active(b.system)


def test_the_damage_lasts_until_the_run_finishes() -> None:
    """Its traits (a share of order reads fail) hold while the resync runs or is paused, and stop
    from the tick after it finishes."""
    s = play(incident(), stop_inflow=True, seconds=30)
    sys = s.system
    fails = 'http_requests_total{route="GET /api/orders/:id",code="500"}'
    assert perform(s, "operation pause resync-replica").kind == "act"
    paused = sys.t
    s.advance(120)
    assert total(sys, fails, paused, sys.t - 1) > 20  # still failing while paused
    assert s.fault_runs[0].active(sys)
    op = resync(sys)
    assert op.state == "paused" and 0 < op.progress(sys) < 1
    assert perform(s, "operation resume resync-replica").kind == "act"
    s.advance(400)
    assert op.state == "done"
    end = op.finished[-1]
    assert total(sys, fails, end + 1, sys.t - 1) <= 2  # the model's background errors at most
    assert not s.fault_runs[0].active(sys)
    changes = [(c.kind, c.target, c.after, c.author) for c in sys.changes if c.kind == "operation"]
    assert changes == [
        ("operation", "resync-replica", "start", "you"),
        ("operation", "resync-replica", "pause", "you"),
        ("operation", "resync-replica", "resume", "you"),
    ]


def test_the_console_shows_progress_rate_and_eta_and_refuses_what_cannot_be() -> None:
    s = play(incident(), stop_inflow=True, seconds=60)
    out = perform(s, "operations").output
    assert out.splitlines()[0] == "Operations:"
    line = " ".join(out.splitlines()[1:3])  # an operation takes two lines
    assert line.split()[:3] == ["resync-replica", "resync", "running"]
    assert max(len(x) for x in out.splitlines()) <= 78  # the console at 80 columns
    assert "%" in line and "1.00M/s" in line and "ETA " in line and "on postgres" in line
    assert out in perform(s, "jobs").output  # shown with the jobs
    refused = perform(s, "operation start resync-replica")
    assert (refused.kind, refused.output) == (
        "refused",
        "operation resync-replica is already running",
    )
    assert perform(s, "operation resume resync-replica").output == (
        "operation resync-replica is running, not paused"
    )
    unknown = perform(s, "operation start resync")
    assert unknown.output == "no operation 'resync'; operations: resync-replica"


def test_a_busy_database_slows_it_by_the_formula() -> None:
    text = BASE.replace("    rate: 1.0e6\n", "    rate: 1.0e6\n    db_busy_slowdown: 2.5\n")
    s = play(incident(text), stop_inflow=True, seconds=5)
    sys = s.system
    for _ in range(5):
        cpu = sys.db.cpu_util
        s.advance(1)
        assert resync(sys).rate_now == pytest.approx(RATE / (1 + 2.5 * cpu))
    assert cpu > 0


def test_two_runs_are_byte_identical() -> None:
    inc = incident()
    docs = []
    for _ in range(2):
        s = Session(inc, seed=3)
        for line in ("00:20 pause payments", "00:40 operation start resync-replica"):
            t, cmd = line.split(" ", 1)
            s.advance_to(int(t[:2]) * 60 + int(t[3:]))
            perform(s, cmd)
        s.advance(300)
        perform(s, "operations")
        docs.append(run_json(s))
    assert docs[0] == docs[1]


def test_the_guides_example_validates_and_plays_as_it_says() -> None:
    """The example of "Operations that take time" in docs/authoring.md, put in the fixture in
    place of its own resources, operations and faults: it validates, a resync started while the
    charges keep coming fails, one started once the consumers are paused finishes."""
    guide = (FIXTURE.parents[3] / "docs" / "authoring.md").read_text(encoding="utf-8")
    block = next(
        b.split("```", 1)[0]
        for b in guide.split("```yaml\n")[1:]
        if "\noperations:\n  resync-replica:" in b
    )
    example = yaml.safe_load(block.replace("${fault_at}", "30"))
    assert set(example) == {"resources", "operations", "faults"}
    doc = yaml.safe_load(BASE)
    doc.update(example)
    inc = incident(yaml.safe_dump(doc, sort_keys=False))
    op = inc.operations["resync-replica"]
    assert op.db_busy_slowdown == 0.5 and op.fails_if[0].inflow_above == 5.0e7
    assert resync(play(inc, stop_inflow=False).system).state == "failed"
    assert resync(play(inc, stop_inflow=True).system).state == "done"


def test_check_plays_the_reference_with_the_operation_never_finished() -> None:
    inc = incident()
    (probe,) = probes(inc)
    assert probe.name == "wrong-value:resync-replica-unfinished"
    assert probe.fault == ("faults", 0, "fixed_by")
    assert probe.action == ("playthroughs", "reference", "actions", 2)
    assert probe.actions == [
        "00:10 ack",
        "00:30 pause payments",
        "01:00 operation start resync-replica",
        "01:00 operation pause resync-replica",
        "08:00 resume payments",
    ]
    assert playthroughs(inc)[probe.name] == probe.actions
    assert check_play(inc, 1, inc.playthroughs.reference.actions).resolved
    assert not check_play(inc, 1, probe.actions).resolved
    assert probe_problems([probe], {probe.name: check_play(inc, 1, probe.actions)}) == []


def test_check_locates_a_damage_that_starting_the_operation_clears(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The loophole the probe is there for: were a start enough, the probe would resolve, and
    `dojo check` would say so at the fault's `fixed_by` and at the reference's start."""

    def started(self: Damage, sys: System, state: dict[str, Any]) -> bool:
        return bool(sys.world.operations.ops[self.fixed_by].runs)

    monkeypatch.setattr(Damage, "repaired", started)
    inc = incident()
    (probe,) = probes(inc)
    located = probe_problems([probe], {probe.name: check_play(inc, 1, probe.actions)})
    assert [loc for loc, _ in located] == [
        ("faults", 0, "fixed_by"),
        ("playthroughs", "reference", "actions", 2),
    ]
    assert "resync-replica paused as it starts (never finished) still resolves" in located[0][1]


def test_help_and_completion_know_the_operations() -> None:
    s = play(incident(), stop_inflow=True, seconds=1)
    assert names("operation", s) == ["resync-replica"]
    for verb in ("start", "pause", "resume"):
        assert COMMANDS[f"operation {verb}"].args == ("operation",)
        assert f"operation {verb} NAME" in perform(s, "help").output
    assert "operations" in perform(s, "help").output
    other = Session(load_checked(FIXTURE.parent / "wal-volume.yaml"), seed=1)
    assert names("operation", other) == []
    assert perform(other, "operations").output == "No operations."
    assert perform(other, "operation start x").output == "this system has no operations to run"


def test_the_json_schema_describes_operations_and_the_damage_fault() -> None:
    schema = incident_json_schema()
    ops = schema["properties"]["operations"]
    assert ops["patternProperties"] == {OPERATION_NAME: {"$ref": "#/$defs/OperationSpec"}}
    spec = schema["$defs"]["OperationSpec"]
    assert spec["required"] == ["kind", "component", "rate"]
    assert spec["properties"]["kind"]["enum"] == [
        "maintenance",
        "resync",
        "restore",
        "reindex",
        "reissue",
        "reload",
        "reschedule",
    ]
    assert {"units", "resource", "table", "fails_if", "done"} <= set(spec["properties"])
    assert {"FailIf", "Done", "SetResource", "Damage"} <= set(schema["$defs"])
    damage = schema["$defs"]["Damage"]
    # one operation, or a list of operations any one of which repairs it
    kinds = [k.get("type") for k in damage["properties"]["fixed_by"]["anyOf"]]
    assert kinds == ["string", "array"]
