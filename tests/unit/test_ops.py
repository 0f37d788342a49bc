"""Verbs on the model: each changes the system and records its own change with its author.

The command layer only parses, refuses and words; these tests call the verbs directly,
as a facilitator's inject or another player's client will.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.packs import bundled_dir
from oncall_dojo.sim import ops
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.system import System

from .simkit import accounted, run, system

GAME = Path(__file__).resolve().parents[2] / "oncall_dojo" / "game"


@pytest.fixture
def warm() -> System:
    s = system()
    run(s, 120)
    return s


def last(s: System) -> tuple[str, str, str, str, str]:
    c = s.changes[-1]
    return c.kind, c.target, c.before, c.after, c.author


def backlog(s: System) -> System:
    """Messages waiting on payments: its consumers stopped for a minute (no change recorded)."""
    s.scale_pool(s.pools["billing"], 0)
    run(s, 60)
    return s


Verb = Callable[[System], object]
VERBS: list[tuple[str, Verb, tuple[str, str]]] = [
    ("restart replicas", lambda s: ops.restart_replicas(s, s.pools["billing"], "ana"), ("restart", "billing")),
    ("restart api", lambda s: ops.restart_api(s, "ana"), ("restart", "api")),
    ("restart cache", lambda s: ops.restart_cache(s, "ana"), ("restart", "cache")),
    ("restart postgres", lambda s: ops.restart_postgres(s, "ana"), ("restart", "postgres")),
    ("restart broker", lambda s: ops.restart_broker(s, "ana"), ("restart", "broker")),
    ("restart ledger", lambda s: ops.restart_ledger(s, "ana"), ("restart", "ledger")),
    ("scale", lambda s: ops.scale(s, s.pools["billing"], 5, "ana"), ("scale", "billing")),
    ("scale api", lambda s: ops.scale_api(s, 6, "ana"), ("scale", "api")),
    ("flag", lambda s: ops.set_config(s, "payments.retry.backoff", 2, "ana"), ("config", "payments.retry.backoff")),
    ("pause", lambda s: ops.pause_consumers(s, s.queues["payments"], "ana"), ("config", "payments.consumers")),
    ("purge", lambda s: ops.purge(backlog(s), s.queues["payments"], "ana"), ("purge", "payments")),
    ("park all", lambda s: ops.park_all(backlog(s), s.queues["payments"], "ana"), ("park", "payments")),
    ("ratelimit", lambda s: ops.rate_limit(s, next(iter(s.cfg.api.routes)), 5, "ana"), ("ratelimit", next(iter(system().cfg.api.routes)))),
    ("ramp", lambda s: ops.ramp(s, next(iter(s.cfg.api.routes)), (5, 50, 300), "ana"), ("ramp", next(iter(system().cfg.api.routes)))),
    ("flush", lambda s: ops.flush_cache(s, "ana"), ("flush", "cache")),
    ("failover postgres", lambda s: ops.failover_postgres(s, "ana"), ("failover", "postgres")),
    ("failover ledger", lambda s: ops.failover_ledger(s, "ana"), ("failover", "ledger")),
    ("index", lambda s: ops.create_index(s, "ix_orders_c", "orders", "customer_id", True, "ana"), ("index", "ix_orders_c")),
]  # fmt: skip


@pytest.mark.parametrize("verb", [v for _, v, _ in VERBS], ids=[n for n, _, _ in VERBS])
def test_a_verb_records_one_change_with_its_author(verb: Verb, warm: System) -> None:
    expected = next(e for _, v, e in VERBS if v is verb)
    before = len(warm.changes)
    verb(warm)
    assert len(warm.changes) == before + 1
    kind, target, *_, author = last(warm)
    assert (kind, target, author) == (*expected, "ana")
    run(warm, 60)  # and the system runs on from the change, keeping its books
    accounted(warm)


def test_restarting_a_pool_replaces_each_replica_on_its_own_version(warm: System) -> None:
    pool = warm.pools["billing"]
    old = {r.name for r in pool.live}
    assert ops.restart_replicas(warm, pool, "ana") == len(old)
    assert not old & {r.name for r in pool.live}
    assert {r.version for r in pool.live} == {pool.version}
    accounted(warm)


def test_restarting_postgres_drops_every_session_and_fails_writes_for_a_while(
    warm: System,
) -> None:
    warm.db.create_index(warm.t, "ix", "orders", "customer_id", False)
    assert ops.restart_postgres(warm, "ana") == 1
    assert warm.db.backends == []
    assert warm.db.failover_until == warm.t + ops.POSTGRES_RESTART_S


def test_a_refused_verb_changes_nothing(warm: System) -> None:
    q = warm.queues["payments"]
    ops.pause_consumers(warm, q, "ana")
    changes = len(warm.changes)
    with pytest.raises(Refusal, match="already paused"):
        ops.pause_consumers(warm, q, "bo")
    with pytest.raises(Refusal, match="no flag"):
        ops.set_flag(warm, "no.such.flag", True, "bo")
    with pytest.raises(Refusal, match="no build"):
        ops.deploy(warm, "billing", "v0.0.0", "bo")
    with pytest.raises(Refusal, match="at least one replica"):
        ops.scale_api(warm, 0, "bo")
    assert len(warm.changes) == changes
    assert "no.such.flag" not in warm.flags


def test_a_rollback_is_recorded_as_a_rollback_by_its_author(paged: Session) -> None:
    warm = paged.system
    version = warm.pools["billing"].version
    newer = next(v for v in warm.cfg.versions.get("billing", {}) if v != version)
    ops.deploy(warm, "billing", newer, "ana")
    assert last(warm)[0] == "deploy"
    left, back = ops.rollback(warm, "billing", "bo")
    assert (left, back) == (newer, version)
    assert (last(warm)[0], last(warm)[-1]) == ("rollback", "bo")


def test_two_players_changes_carry_their_own_names(paged: Session) -> None:
    s = paged.system
    ops.pause_consumers(s, s.queues["payments"], "ana")
    ops.resume_consumers(s, s.queues["payments"], "bo")
    assert [c.author for c in s.changes[-2:]] == ["ana", "bo"]


@pytest.fixture(scope="module")
def double_charges() -> Incident:
    return load_checked(bundled_dir() / "repeat-card-charges.yaml").for_seed(1)


def test_a_refund_is_booked_in_the_database_and_the_records_together(
    double_charges: Incident,
) -> None:
    s = Session(double_charges, 1)
    app = s.system.app
    assert app is not None
    s.advance(300)
    dup = app.scalar(
        "SELECT min(id) FROM payments p WHERE status = 'succeeded' AND id > "
        "(SELECT min(id) FROM payments q WHERE q.order_id = p.order_id AND q.status = 'succeeded')"
    )
    assert isinstance(dup, int)
    refunded = sum(s.system.records.refunded.values())
    n, cents, skipped = ops.refund_payments(s.system, [dup, 10**9], "duplicate charge", "ana")
    assert (n, skipped) == (1, [10**9]) and cents > 0
    assert sum(s.system.records.refunded.values()) == refunded + 1
    assert app.scalar(f"SELECT count(*) FROM refunds WHERE payment_id = {dup}") == 1
    assert last(s.system)[-1] == "ana"
    with pytest.raises(Refusal, match="nothing to refund"):
        ops.refund_payments(s.system, [dup], "duplicate charge", "ana")  # already refunded
    assert sum(s.system.records.refunded.values()) == refunded + 1


def test_the_console_records_the_player_as_author(paged: Session) -> None:
    perform(paged, "pause payments")
    assert paged.system.changes[-1].author == "you"


def test_the_command_layer_never_writes_a_change_or_reaches_into_the_model() -> None:
    """No module of the game calls `record_change` or a private member of another object:
    changes go through `sim.ops`, which records them."""
    found = []
    for path in sorted(GAME.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value.id if isinstance(node.value, ast.Name) else ""
            if node.attr == "record_change" or (
                node.attr.startswith("_") and not node.attr.startswith("__") and owner != "self"
            ):
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert found == []
