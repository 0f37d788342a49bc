"""Data incidents: the application database, SQL repair through the console, and its scoring."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oncall_dojo.game.play import finish, perform, run_script
from oncall_dojo.game.scoring import Result
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.packs import bundled_dir
from oncall_dojo.sim import ops
from oncall_dojo.sim.config import AppDbConfig, VersionTraits
from oncall_dojo.sim.data.appdb import AppDb
from oncall_dojo.sim.faults import ConfigChange
from oncall_dojo.sim.rng import SimRandom

from .simkit import run, system

JOIN = "(SELECT p.currency FROM payments p WHERE p.order_id = orders.id AND p.status = 'succeeded' ORDER BY p.id LIMIT 1)"
HAS_CHARGE = (
    "EXISTS (SELECT 1 FROM payments p WHERE p.order_id = orders.id AND p.status = 'succeeded')"
)
STOP = ["00:20 ack", "00:40 deploys", "01:00 rollback api", "01:20 diagnose api wrong-data-written"]


@pytest.fixture(scope="module")
def currency() -> Incident:
    """The null-currency incident, shortened to 15 minutes of play (the repair fits in it)."""
    inc = load_checked(bundled_dir() / "orders-missing-currency.yaml").for_seed(1)
    return inc.model_copy(update={"duration_s": 900})


def played(inc: Incident, actions: list[str], seed: int = 1) -> tuple[Session, Result]:
    s = Session(inc, seed)
    run_script(s, actions)
    return s, finish(s)


def item(r: Result, key: str) -> float | None:
    return next((i.points for i in r.items if i.key == key), None)


@pytest.fixture(scope="module")
def outcomes(currency: Incident) -> dict[str, tuple[Session, Result]]:
    plays = {
        "perfect": [*STOP, f"06:00 sql UPDATE orders SET currency = {JOIN} WHERE currency IS NULL AND {HAS_CHARGE}", "06:10 sql commit"],
        "partial": [*STOP, f"06:00 sql UPDATE orders SET currency = {JOIN} WHERE currency IS NULL AND {HAS_CHARGE} AND id % 2 = 0", "06:10 sql commit"],
        "over_broad": [*STOP, f"06:00 sql UPDATE orders SET currency = {JOIN} WHERE {HAS_CHARGE}", "06:05 sql UPDATE orders SET currency = 'USD' WHERE id <= 400", "06:10 sql commit"],
        "delete_good": [*STOP, f"06:00 sql UPDATE orders SET currency = {JOIN} WHERE currency IS NULL AND {HAS_CHARGE}", "06:05 sql DELETE FROM orders WHERE id <= 300", "06:10 sql commit"],
        "none": STOP,
    }  # fmt: skip
    return {k: played(currency, v) for k, v in plays.items()}


def test_a_perfect_repair_scores_full_marks_on_data(
    outcomes: dict[str, tuple[Session, Result]],
) -> None:
    s, r = outcomes["perfect"]
    assert item(r, "data") == 15
    assert item(r, "collateral") is None
    assert r.impact["invariant_violations"]["orders_have_currency"] == 0
    assert r.impact["invariant_violations_peak"]["orders_have_currency"] > 50
    assert s.system.app is not None and s.system.app.wrong() == 0


def test_repairs_score_what_they_deserve(outcomes: dict[str, tuple[Session, Result]]) -> None:
    data = {k: item(r, "data") or 0.0 for k, (_, r) in outcomes.items()}
    assert data["none"] == 0
    # about half of the bad rows repaired earns about half the marks
    assert 4 < data["partial"] < 11
    # an UPDATE that also rewrote correct rows, and a DELETE of good rows, cost more than they fixed
    over = outcomes["over_broad"][1]
    assert over.impact["correct_rows_damaged"]["orders"] >= 200  # the non-USD ones among 400
    assert (item(over, "collateral") or 0) < -5
    deleted = outcomes["delete_good"][1]
    assert deleted.impact["correct_rows_damaged"] == {"orders": 300}
    assert deleted.impact["invariant_violations"]["payments_have_orders"] == 300
    assert deleted.score < outcomes["perfect"][1].score - 10

    def repair(r: Result) -> float:
        return (item(r, "data") or 0.0) + (item(r, "collateral") or 0.0)

    assert repair(over) < repair(outcomes["none"][1]) < repair(outcomes["partial"][1])
    assert repair(outcomes["partial"][1]) < repair(outcomes["perfect"][1])


def test_a_preview_changes_nothing_until_commit(currency: Incident) -> None:
    s = Session(currency, 1)
    app = s.system.app
    assert app is not None
    before = app.fingerprint()
    e = perform(s, "sql UPDATE orders SET currency = 'XXX' WHERE id <= 10")
    assert e.kind == "investigate" and "10" in e.output and "orders" in e.output
    assert app.fingerprint() == before
    assert (
        perform(s, "sql SELECT count(*) FROM orders WHERE currency = 'XXX'")
        .output.splitlines()[2]
        .strip()
        == "10"
    )
    assert perform(s, "sql rollback").kind == "meta"
    assert app.fingerprint() == before
    assert perform(s, "sql commit").kind == "refused"
    perform(s, "sql UPDATE orders SET currency = 'XXX' WHERE id <= 10")
    done = perform(s, "sql commit")
    assert done.kind == "act" and "10 in orders" in done.output
    assert app.scalar("SELECT count(*) FROM orders WHERE currency = 'XXX'") == 10


def test_sql_that_is_refused_says_why_and_changes_nothing(currency: Incident) -> None:
    s = Session(currency, 1)
    app = s.system.app
    assert app is not None
    before = app.fingerprint()
    for sql, words in [
        ("DELETE FROM payments", "read-only"),
        ("DROP TABLE orders", "refused"),
        ("SELEC 1", "syntax error"),
        ("SELECT * FROM nope", "no such table"),
    ]:
        e = perform(s, f"sql {sql}")
        assert e.kind == "refused" and words in e.output, (sql, e.output)
    assert app.fingerprint() == before


def test_the_console_cannot_reach_the_games_own_database(
    currency: Incident, tmp_path: Path
) -> None:
    from oncall_dojo.store.db import connect

    game = Path(os.environ["DOJO_HOME"]) / "dojo.db"
    connect(game).close()
    digest = hashlib.sha256(game.read_bytes()).hexdigest()
    s = Session(currency, 1)
    for sql in [
        f"ATTACH DATABASE '{game}' AS g",
        f"ATTACH DATABASE 'file:{game}?mode=ro' AS g",
        "SELECT * FROM pragma_database_list",
        "PRAGMA writable_schema = 1",
        f"VACUUM INTO '{tmp_path / 'copy.db'}'",
        "SELECT load_extension('x')",
    ]:
        assert perform(s, f"sql {sql}").kind == "refused", sql
    assert hashlib.sha256(game.read_bytes()).hexdigest() == digest
    assert not (tmp_path / "copy.db").exists()


def test_same_seed_and_commands_give_the_same_rows(currency: Incident) -> None:
    actions = [*STOP, f"06:00 sql UPDATE orders SET currency = {JOIN} WHERE currency IS NULL AND {HAS_CHARGE} AND id % 3 = 0", "06:10 sql commit"]  # fmt: skip
    a, ra = played(currency, actions)
    b, rb = played(currency, actions)
    assert a.system.app is not None and b.system.app is not None
    assert a.system.app.fingerprint() == b.system.app.fingerprint()
    assert json.dumps(ra.to_json(), sort_keys=True) == json.dumps(rb.to_json(), sort_keys=True)
    c, _ = played(currency, actions, seed=2)
    assert c.system.app is not None and c.system.app.fingerprint() != a.system.app.fingerprint()


def test_rows_are_the_same_in_another_process_and_hash_seed(repo_root: Path) -> None:
    code = (
        "from oncall_dojo.game.validate import load_checked;"
        "from oncall_dojo.incident.packs import bundled_dir;"
        "from oncall_dojo.game.session import Session;"
        "from oncall_dojo.game.play import finish, run_script;"
        "inc = load_checked(bundled_dir() / 'repeated-credit-emails.yaml').for_seed(3)"
        ".model_copy(update={'duration_s': 600});"
        "bad = inc.faults[0].customer;"
        "s = Session(inc, 3); run_script(s, ['01:00 job pause spring-credit', f'01:30 job run spring-credit from={bad}']);"
        "finish(s); print(s.system.app.fingerprint())"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=repo_root,
            env={**os.environ, "PYTHONHASHSEED": h},
        ).stdout
        for h in ("1", "4242")
    }
    assert len(outs) == 1 and len(next(iter(outs)).strip()) == 64


# -- consequences come from the model ------------------------------------------------------------
@pytest.fixture(scope="module")
def charges() -> Incident:
    inc = load_checked(bundled_dir() / "repeat-card-charges.yaml").for_seed(1)
    return inc.model_copy(update={"duration_s": 900})


STOP_CHARGES = ["00:20 ack", "00:40 config payments.idempotency_keys true", "01:00 failover ledger"]
DUPS = "SELECT id FROM payments p WHERE status = 'succeeded' AND id > (SELECT min(id) FROM payments q WHERE q.order_id = p.order_id AND q.status = 'succeeded')"  # fmt: skip


def test_deleting_duplicate_payment_rows_refunds_nobody(charges: Incident) -> None:
    _s, r = played(
        charges,
        [*STOP_CHARGES, f"05:00 sql DELETE FROM payments WHERE id IN ({DUPS})", "05:10 sql commit"],
    )
    assert r.impact["invariant_violations"]["one_charge_per_order"] == 0
    assert r.impact["duplicate_charges"] > 100  # the provider still holds every extra charge
    s2, r2 = played(charges, [*STOP_CHARGES, f"05:00 refund query {DUPS}"])
    assert r2.impact["duplicate_charges"] == 0
    assert r2.impact["invariant_violations"]["one_charge_per_order"] == 0
    assert r2.impact["wrong_refunds"] == 0
    assert s2.system.app is not None
    refunds = s2.system.app.scalar("SELECT count(*) FROM refunds")
    booked = s2.system.app.scalar("SELECT count(*) FROM ledger_entries WHERE kind = 'refund'")
    assert refunds == booked == r2.impact["refunded_charges"] > 100


def test_refunding_charges_that_were_owed_is_counted(charges: Incident) -> None:
    _, r = played(
        charges, [*STOP_CHARGES, "05:00 refund query SELECT id FROM payments WHERE order_id <= 50"]
    )
    assert r.impact["wrong_refunds"] == 50


def test_a_blind_replay_buys_more_labels_than_a_fixed_one() -> None:
    inc = load_checked(bundled_dir() / "fulfillment-dead-letters.yaml").for_seed(1)
    inc = inc.model_copy(update={"duration_s": 1200})
    fixed, rf = played(
        inc, ["00:20 ack", "00:40 deploy fulfillment v4.3.0", "03:00 dlq replay fulfillment"]
    )
    blind, rb = played(inc, ["00:20 ack", "00:40 dlq replay fulfillment", "05:00 deploy fulfillment v4.3.0", "08:00 dlq replay fulfillment"])  # fmt: skip
    assert fixed.system.app is not None and blind.system.app is not None
    assert rb.impact["shipping_labels"] > rf.impact["shipping_labels"] + 100
    dup = "SELECT count(*) FROM (SELECT order_id FROM shipments GROUP BY order_id HAVING count(*) > 1)"
    assert blind.system.app.scalar(dup) > fixed.system.app.scalar(dup)
    assert rf.impact["messages_dead_lettered"] == 0


def test_a_job_rerun_from_the_start_credits_the_same_customers_again() -> None:
    inc = load_checked(bundled_dir() / "repeated-credit-emails.yaml").for_seed(1)
    inc = inc.model_copy(update={"duration_s": 900})
    bad = inc.faults[0].customer  # type: ignore[union-attr]
    resumed, r1 = played(
        inc, ["00:20 job pause spring-credit", f"00:40 job run spring-credit from={bad}"]
    )
    rerun, r2 = played(inc, ["00:20 job pause spring-credit", "00:40 job run spring-credit"])
    assert resumed.system.app is not None and rerun.system.app is not None
    q = "SELECT count(*) - count(DISTINCT customer_id) FROM credits"  # extra credits
    assert rerun.system.app.scalar(q) > resumed.system.app.scalar(q)
    assert (
        r2.impact["repeat_charges_and_emails_after_page"]
        > r1.impact["repeat_charges_and_emails_after_page"]
    )
    # the resumed job finished the campaign; the rerun is stuck on the erased customer again
    assert resumed.system.jobs["spring-credit"].state == "done"
    assert rerun.system.jobs["spring-credit"].state in ("failed", "running")


def test_an_order_placed_and_paid_within_one_flush_is_stored_paid() -> None:
    """Rows are written a batch of ticks at a time; an update queued before an insert of the
    same batch (another order was paid first) must not run before the row it updates exists."""
    salt = SimRandom(1).derive("appdb")
    app = AppDb(AppDbConfig(), salt, datetime(2026, 3, 14, tzinfo=UTC), ["Alex Doe"])
    app.new_order(1, 1)
    app.flush()
    app.ledger_charge(2, 1, app.charge(2, 1, True, True))  # the older order is paid first
    app.new_order(3, 2)
    app.ledger_charge(4, 2, app.charge(4, 2, True, True))  # then a new one is placed and paid
    app.flush()
    for db in ("main", "truth"):
        rows = app.conn.execute(
            f"SELECT id - ?, status FROM {db}.orders WHERE id > ? ORDER BY id",
            (app.history, app.history),
        ).fetchall()
        assert rows == [(1, "paid"), (2, "paid")], db
    app.close()


def test_a_credit_job_finishes_at_the_last_customer_whatever_its_total() -> None:
    """Item N is customer N: a credit job runs out of items at the last customer."""
    s = system(
        {"appdb": {}, "jobs": {"promo": {"kind": "credit", "rate_per_s": 500, "state": "running"}}}
    )
    assert s.app is not None and s.jobs["promo"].cfg.total > s.app.customers
    run(s, 10)
    job = s.jobs["promo"]
    assert (job.state, job.progress) == ("done", s.app.customers)
    assert any('job=promo msg="finished"' in line for line in s.logs.lines)
    s.app.close()


def test_a_config_change_that_corrupts_writes_writes_the_bad_rows_its_trait_names() -> None:
    """Data traits given through a config change write the rows they describe, as a release's
    do, and stop when the remedy is set."""
    spec = ConfigChange(
        kind="config_change",
        at=5,
        key="orders.fast_path",
        value=True,
        fixed_by=[False],
        traits={"api": VersionTraits(corrupt_writes=0.5, corrupts="null_currency")},
    )
    s = system({"appdb": {"customers": 200, "history_orders": 100}}, spec)
    run(s, 120)
    app = s.app
    assert app is not None

    def null_currency() -> int:
        app.flush()
        return int(
            app.conn.execute("SELECT count(*) FROM orders WHERE currency IS NULL").fetchone()[0]
        )

    bad = null_currency()
    assert bad > 20
    assert bad == app.wrong() == len(s.records.corrupted)
    ops.set_config(s, "orders.fast_path", False, "sre")
    run(s, 60)
    assert null_currency() == bad
