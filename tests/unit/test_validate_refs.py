"""`dojo validate` finds what `run` would trip over later: dangling references (queues,
pools, versions, tables named in evidence, resolution conditions and playthroughs),
actions after the end, non-finite thresholds, and invariants that cannot run (each one
is run once under the console's deadline)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from oncall_dojo.game.plays import PlayCache, play_seed, run_json, seed_docs
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.packs import bundled_dir

Dojo = Callable[..., tuple[int, str, str]]

POISON = ("payments-stuck", "id: payments-stuck\naliases: [poison-payments]\n")
CHARGES = ("repeat-card-charges", "id: repeat-card-charges\naliases: [double-charge-retries]\n")
INVARIANT_SQL = (
    "        sql: >-\n"
    "          SELECT order_id FROM payments p WHERE status = 'succeeded'\n"
    "          AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id)\n"
    "          GROUP BY order_id HAVING count(*) > 1\n"
)
ENDLESS = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c WHERE x < 0"
)

CASES = {
    "dlq-move-nosuch": (
        POISON, "dlq move payments top", "dlq move nosuch top",
        "playthroughs.reference.actions[5]: no queue 'nosuch'; queues: payments, emails, fulfillment",
    ),
    "evidence-queue-nosuch": (
        POISON, "  - view: queue:payments", "  - view: queue:nosuch",
        "evidence[0].view: no queue 'nosuch'; queues: payments, emails, fulfillment",
    ),
    "resolution-pool-nosuch": (
        POISON, 'worker_replicas_ready{pool="billing"}', 'worker_replicas_ready{pool="nosuch"}',
        "resolution.conditions[1].metric: no worker pool 'nosuch'; pools: billing, mailer, fulfillment",
    ),
    "resolution-nan": (
        POISON, "      value: 120", "      value: .nan",
        "resolution.conditions[0].value: must be a finite number",
    ),
    "action-after-the-end": (
        POISON, "17:00 resolve", "99:00 resolve",
        "playthroughs.reference.actions[11]: at 5940 s, after the incident ends (3600 s)",
    ),
    "deploy-unlisted": (
        POISON, "deploy billing ${fix}", "deploy billing v9.9.9",
        "playthroughs.reference.actions[8]: deploys billing v9.9.9, which system.versions does not list for billing",
    ),
    "writable-nosuch": (
        CHARGES, "writable: [payments, ledger_entries, orders]", "writable: [payments, nosuch_table, orders]",
        "system.appdb.writable[1]: no table 'nosuch_table' in the application database; tables: customers,",
    ),
    "invariant-error": (
        CHARGES, INVARIANT_SQL, '        sql: "SELECT nosuch FROM nowhere"\n',
        "system.appdb.invariants[0].sql: the query cannot run: no such table: nowhere",
    ),
    "invariant-endless": (
        CHARGES, INVARIANT_SQL, f'        sql: "{ENDLESS}"\n',
        "system.appdb.invariants[0].sql: the query cannot run: stopped: the statement ran past its deadline of 2 s",
    ),
    "resolution-metric-misspelt": (
        POISON, 'queue_oldest_message_age_seconds{queue="payments"}', 'queue_oldest_age_seconds{queue="payments"}',
        "resolution.conditions[0].metric: no metric named 'queue_oldest_age_seconds' "
        "(did you mean 'queue_oldest_message_age_seconds'?)",
    ),
    "resolution-metric-label": (
        POISON, 'worker_replicas_ready{pool="billing"}', 'worker_replicas_ready{pol="billing"}',
        """resolution.conditions[1].metric: no worker_replicas_ready series has the labels of 'worker_replicas_ready{pol="billing"}'""",
    ),
    "queue-misspelt": (
        POISON, "  queues:\n    payments:\n", "  queues:\n    paymnets:\n",
        "system.queues.paymnets: no queue 'paymnets' among the system's queues (payments, emails, "
        "fulfillment); did you mean 'payments'? a new queue is declared with its `kind`",
    ),
    "versions-service-misspelt": (
        POISON, "    mailer:\n      v1.12.1: {}", "    mailr:\n      v1.12.1: {}",
        "system.versions.mailr: no service 'mailr'; services: api, billing, mailer, fulfillment",
    ),
    "trial-reference-refused": (
        POISON, "12:00 queue payments", "12:00 kill 424242",
        "playthroughs.reference.actions[10]: refused in a trial play at seed 1: ",
    ),
    "trial-page-never-fires": (
        POISON, "  alert: QueueAgeHigh_payments\n", "  alert: QueueAgeHigh_payments\n  max_wait_s: 60\n",
        "page.alert: in a trial play at seed 1: trial-page-never-fires: the page (QueueAgeHigh_payments) "
        "did not fire within 60s of simulated time",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_refuses_what_run_would_trip_over(case: str, tmp_path: Path, dojo: Dojo) -> None:
    (name, head), old, new, message = CASES[case]
    text = (bundled_dir() / f"{name}.yaml").read_text(encoding="utf-8")
    assert text.count(old) >= 1 and text.count(head) == 1
    path = tmp_path / f"{case}.yaml"
    path.write_text(text.replace(head, f"id: {case}\n").replace(old, new, 1), encoding="utf-8")
    code, out, err = dojo("validate", str(path))
    assert (code, out) == (1, ""), err
    (line,) = err.splitlines()
    assert line.startswith(f"{path}:") and f": {message}" in line, line


def test_a_dead_letter_queue_is_named_after_its_queue(tmp_path: Path, dojo: Dojo) -> None:
    text = (bundled_dir() / "payments-stuck.yaml").read_text(encoding="utf-8")
    path = tmp_path / "dlq-purge.yaml"
    path.write_text(
        text.replace(POISON[1], "id: dlq-purge\n").replace(
            "12:00 queue payments", "12:00 queue payments.dlq", 1
        ),
        encoding="utf-8",
    )
    code, out, err = dojo("validate", str(path))
    assert code == 0 and out.startswith(f"{path}: ok"), err


def test_a_trial_that_found_nothing_is_remembered_by_content(tmp_path: Path, dojo: Dojo) -> None:
    """The trial play is the slow part of `validate`: a clean one leaves a mark in the play
    cache under the incident's content, and an edit that changes the play is played again."""
    text = (bundled_dir() / "payments-stuck.yaml").read_text(encoding="utf-8")
    path = tmp_path / "trial-mark.yaml"
    path.write_text(text.replace(POISON[1], "id: trial-mark\n"), encoding="utf-8")
    marks = Path(os.environ["DOJO_CACHE"]) / "trials"  # shared by the run: others' too

    def mine() -> set[Path]:
        found = marks.rglob("*.json") if marks.exists() else []
        return {m for m in found if '"trial-mark"' in m.read_text(encoding="utf-8")}

    assert mine() == set()
    code, out, err = dojo("validate", str(path))
    assert code == 0 and out.startswith(f"{path}: ok"), err
    (mark,) = mine()
    assert dojo("validate", str(path))[0] == 0
    assert mine() == {mark}
    path.write_text(
        path.read_text(encoding="utf-8").replace("12:00 queue payments", "12:00 kill 424242", 1),
        encoding="utf-8",
    )
    code, _, err = dojo("validate", str(path))
    assert code == 1 and "refused in a trial play at seed 1" in err


def test_the_trial_plays_are_the_ones_check_would_play_and_check_takes_them(
    tmp_path: Path, dojo: Dojo
) -> None:
    """The trial plays each playthrough at seed 1 to the end, exactly as `dojo check` does,
    and leaves the documents in the play cache: check then plays only what the trial does
    not (idle), and what it reads back is what it would have played itself."""
    text = (bundled_dir() / "payments-stuck.yaml").read_text(encoding="utf-8")
    path = tmp_path / "trial-shared.yaml"
    path.write_text(text.replace(POISON[1], "id: trial-shared\n"), encoding="utf-8")
    code, _, err = dojo("validate", str(path))
    assert code == 0, err
    incident = load_checked(path)
    played: list[str] = []
    docs = seed_docs(incident, 1, PlayCache.default(), lambda n, _seed, _s: played.append(n))
    assert played == ["idle"]
    fresh = {name: run_json(s) for name, s in play_seed(incident, 1) if name != "idle"}
    assert set(fresh) == set(docs) - {"idle"} and len(fresh) >= 2
    for name, doc in fresh.items():
        assert json.dumps(docs[name], sort_keys=True) == json.dumps(doc, sort_keys=True), name
