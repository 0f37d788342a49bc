"""Incident files: every broken fixture is reported as one located line.

Each bundled file is validated one by one in tests/incidents/test_check.py, just before it is
checked (so the trial's plays are not played twice at once); `dojo validate` with no path is here.

Each file in tests/fixtures/broken is a copy of payments-stuck.yaml with one thing broken, and
its `id` set to its file name (except id-mismatch.yaml, which tests exactly that).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from oncall_dojo.cli import main
from oncall_dojo.game import validate
from oncall_dojo.game.probes import Loc
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.packs import discover
from oncall_dojo.incident.yamlload import YamlModelError

BROKEN = Path(__file__).resolve().parents[1] / "fixtures" / "broken"


class Expected(NamedTuple):
    name: str
    line: int
    col: int
    keypath: str
    message: str


EXPECTED = [
    Expected("yaml-syntax-error", 19, 31, "", "YAML syntax error: mapping values are not allowed"),
    Expected("duplicate-key", 20, 3, "page", "duplicate key 'alert' (first defined on line 19)"),
    Expected("unknown-top-level-key", 21, 1, "", "unknown key 'durration_s' (did you mean 'duration_s'?)"),
    Expected("missing-title", 1, 1, "", "missing required key 'title'"),
    Expected("unknown-difficulty", 3, 13, "difficulty", "Input should be 'easy', 'medium' or 'hard'"),
    Expected("fault-at-not-a-number", 40, 9, "faults[1].at", "Input should be a valid integer"),
    Expected("unknown-fault-kind", 39, 11, "faults[1].kind", "unknown kind 'poison_mesage' (did you mean 'poison_message'?)"),
    Expected("fault-unknown-queue", 41, 12, "faults[1].queue", "no queue 'paymnts'; queues: payments, emails, fulfillment"),
    Expected("fault-unknown-consumer", 62, 15, "faults[1].consumer", "no worker pool 'fulfilment'; pools: billing, mailer, fulfillment"),
    Expected("page-alert-unknown", 19, 10, "page.alert", "no alert named 'QueueAgeHigh_paymnts'"),
    Expected("disable-unknown-alert", 33, 13, "alerts.disable[0]", "no default alert named 'DeadLetters_paymnts'"),
    Expected("answer-unknown-part", 45, 12, "root_cause.answer.part[0]", "no part 'queue:paymnts' in this system; did you mean 'queue:payments'?"),
    Expected("playthrough-unknown-command", 116, 9, "playthroughs.reference.actions[2]", "unknown command `wrkers`. Did you mean `workers`?"),
    Expected("evidence-unknown-kind", 81, 11, "evidence[2].view", "unknown evidence kind 'config'; kinds: alerts, automation, db, deploys, flags, jobs, logs, map, messages, metrics, queue, queues, resource, runbook, sql, workers"),
    Expected("evidence-unknown-resource", 88, 11, "evidence[3].view", "no resource 'wall' (did you mean 'resource:wal'?); resources: wal"),
    Expected("answer-unknown-resource", 50, 28, "root_cause.answer.part[1]", "no part 'resource:wall' in this system; did you mean 'resource:wal'?"),
    Expected("playthrough-time-backwards", 130, 9, "playthroughs.harmful[0].actions", "action 4: times must not go backwards ('00:50 purge payments')"),
    Expected("resolution-bad-selector", 65, 15, "resolution.conditions[0].metric", "bad label matcher in 'queue_oldest_message_age_seconds{queue~payments}'"),
    Expected("system-unknown-key", 25, 7, "system.queues.payments", "unknown key 'visibilty_timeout_s' (did you mean 'visibility_timeout_s'?)"),
    Expected("system-wrong-type", 25, 29, "system.queues.payments.visibility_timeout_s", "Input should be a valid integer"),
    Expected("system-retry-bad-jitter", 24, 60, "system.traffic.retry.jitter", "Input should be 'none', 'full' or 'equal'"),
    Expected("system-autoscale-bad-metric", 25, 27, "system.workers.billing.autoscale.metric", "Input should be 'backlog' or 'cpu'"),
    Expected("fault-link-unknown-link", 50, 11, "faults[2].link", "no link 'east-wset'; system.links: east-west"),
    Expected("vary-bad-expression", 45, 11, "faults[0].note", "`${fault_at - deploy_at | minutes}`: unknown format `minutes`; formats: mmss, clock, iso, int, bytes, duration, percent"),
    Expected("fault-fixed-by-faulty-value", 43, 29, "faults[1].fixed_by[1]", "'linear' is the value the fault sets; `fixed_by` names the values that remove it"),
    Expected("fault-no-value-to-restore", 41, 10, "faults[1].key", "'search.typo_tolerance' has no value in system.config for a fix to restore; name the values that fix it under `fixed_by`"),
    Expected("fault-log-bad-level", 45, 16, "faults[1].logs[0].level", "Input should be 'debug', 'info', 'warn', 'error' or 'fatal'"),
    Expected("fault-log-repeat-zero", 46, 18, "faults[1].logs[0].every_s", "Input should be greater than or equal to 1"),
    Expected("fault-log-bad-service", 44, 18, "faults[1].logs[0].service", "'Billing Workers' is not a service name (lower case letters, digits, `_`, `.` and `-`, starting with a letter); did you mean 'billing'? services: api, postgres, cache, payments-provider, scheduler, deployer, billing, mailer, fulfillment, or a name of your own"),
    Expected("fault-log-fields-not-a-map", 46, 17, "faults[1].logs[0].fields", "Input should be a valid dictionary"),
    Expected("fault-log-no-text", 44, 9, "faults[1].logs[0]", "missing required key 'text'"),
    Expected("fault-crash-loop-no-fixed-by", 43, 22, "faults[1].requires_config", "name the values of 'mailer.smtp.relay' that let v1.13.0 start under `fixed_by`"),
    Expected("version-values-without-key", 32, 9, 'system.versions.mailer["v1.12.1"]', "`requires_values` needs `requires_config`, the key they are values of"),
    Expected("resource-unknown-route", 28, 12, "resources.wal.route", "no route 'POST /api/chekout'; routes: GET /api/products"),
    Expected("resource-builtin-with-start", 24, 5, "resources.data-volume", "a `builtin` quantity is the model's own: drop `start`"),
    Expected("resource-failover-unknown-cluster", 28, 25, "resources.wal-volume.failover.cluster", "no cluster 'postgress' (did you mean 'postgres'?); clusters: postgres"),
    Expected("resource-metric-taken", 24, 13, "resources.wal-volume.metric", "'node_filesystem_used_ratio' is a metric the system already exports"),
    Expected("resource-threshold-unknown-pool", 31, 15, "resources.fds.thresholds[0].pool", "no worker pool 'biling'; pools: billing, mailer, fulfillment"),
    Expected("resource-threshold-unknown-host", 32, 29, "resources.fds.thresholds[0].hosts[1]", "no host of billing 'billing-h3' (did you mean 'billing-h2'?); hosts of billing: billing-h1, billing-h2"),
    Expected("resource-log-unknown-unit", 33, 19, "resources.fds.thresholds[0].logs[0].text", "unknown unit `files` in `{value:files}`; units: bytes, duration, percent"),
    Expected("resource-unknown-version", 29, 24, "resources.fds.versions[1]", "no version 'v2.9.0' of billing; known: v2.8.3, v2.8.4"),
    Expected("event-unknown-resource", 30, 15, "events[0].resource", "no resource 'wall'; resources: wal"),
    Expected("operation-unknown-component", 25, 16, "operations.vacuum-payments.component", "no component 'postgress' (did you mean 'postgres'?); components: postgres, api, cache, billing, mailer, fulfillment, payments, emails"),
    Expected("operation-replica-unknown", 26, 14, "operations.rebuild-pg-1.replica", "no instance 'pg-2' in postgres (did you mean 'pg-1'?); instances: pg-0, pg-1"),
    Expected("operation-no-work", 24, 5, "operations.vacuum-payments", "give exactly one of `units`, `resource` or `table` (its work)"),
    Expected("fault-damage-unknown-operation", 52, 15, "faults[2].fixed_by", "no operation 'reindex-order' (did you mean 'reindex-orders'?); operations: reindex-orders"),
    Expected("event-pool-no-change", 23, 5, "events[0]", "give `replicas` (nodes lost), `crash` (processes killed), or both"),
    Expected("alert-text-unknown-alert", 34, 27, "alerts.texts.QueueAgeHigh_paymnts", "no default alert named 'QueueAgeHigh_paymnts'; did you mean 'QueueAgeHigh_payments'?"),
    Expected("alert-text-unknown-placeholder", 34, 28, "alerts.texts.QueueAgeHigh_payments", "unknown placeholder `{age}`; an alert text may use `{value}`, `{value|NOUN}` (counted: `{value|order}`) and `{threshold}`, or either in a unit (`{value:UNIT}`: bytes, duration, percent)"),
    Expected("alert-summary-unknown-unit", 39, 16, "alerts.add[0].summary", "unknown unit `gigabytes` in `{value:gigabytes}`; units: bytes, duration, percent"),
    Expected("alert-summary-unknown-placeholder", 39, 16, "alerts.add[0].summary", "unknown placeholder `{limit}`; an alert text may use"),
    Expected("deploy-bot-unknown-service", 35, 28, "system.deploy_bots.argocd.desired.versions.biling", "no service 'biling' (did you mean 'billing'?); services: api, billing, mailer, fulfillment"),
    Expected("event-unknown-host", 40, 11, "events[0].host", "no host 'billing-h3' (did you mean 'billing-h2'?); hosts: billing-h1, billing-h2"),
    Expected("cluster-unknown-site", 32, 22, "system.clusters.postgres.replicas.pg-1.site", "no site 'wets' (did you mean 'west'?); sites: east, west"),
    Expected("cluster-unknown-table", 26, 16, "system.clusters.orders-db.tables[0]", "no table 'order' (did you mean 'orders'?); tables: carts, credits"),
    Expected("cluster-engine-on-postgres", 26, 9, "system.clusters.postgres.engine", "postgres runs on the shop's own database: set its `cpu_ms` and `max_connections` under system.database"),
    Expected("cluster-engine-no-connections", 30, 26, "system.clusters.orders-db.engine.max_connections", "Input should be greater than or equal to 1"),
    Expected("event-unknown-link", 25, 11, "events[0].link", "no link 'wna' (did you mean 'wan'?); links: wan"),
    Expected("id-mismatch", 1, 5, "id", "id 'payments-stuck' must match the file name 'id-mismatch'"),
]  # fmt: skip


def path_of(e: Expected) -> Path:
    return BROKEN / f"{e.name}.yaml"


def prefix(e: Expected, path: Path | str) -> str:
    where = f"{path}:{e.line}:{e.col}: "
    return where + (f"{e.keypath}: " if e.keypath else "")


def test_the_corpus_has_a_fixture_for_every_expectation_and_no_more() -> None:
    assert len(EXPECTED) >= 12
    assert sorted(p.stem for p in BROKEN.glob("*.yaml")) == sorted(e.name for e in EXPECTED)


@pytest.mark.parametrize("e", EXPECTED, ids=[e.name for e in EXPECTED])
def test_a_broken_file_is_reported_as_one_located_line(e: Expected) -> None:
    path = path_of(e)
    with pytest.raises(YamlModelError) as info:
        load_checked(path)
    errors = info.value.errors
    assert len(errors) == 1, str(info.value)
    err = errors[0]
    assert (err.path, err.line, err.col, err.keypath) == (str(path), e.line, e.col, e.keypath)
    assert e.message in err.message
    assert str(err).startswith(prefix(e, path))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("e", EXPECTED, ids=[e.name for e in EXPECTED])
def test_dojo_validate_prints_the_located_line_and_exits_1(
    e: Expected, capsys: pytest.CaptureFixture[str]
) -> None:
    path = path_of(e)
    assert main(["validate", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(prefix(e, path))
    assert e.message in lines[0]


def test_the_validate_command_reports_every_broken_file_without_a_traceback(
    run_dojo: Callable[..., subprocess.CompletedProcess[bytes]], repo_root: Path
) -> None:
    rel = [path_of(e).relative_to(repo_root) for e in EXPECTED]
    proc = run_dojo("validate", *map(str, rel), cwd=repo_root)
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == len(EXPECTED)
    for e, p, line in zip(EXPECTED, rel, lines, strict=True):
        assert line.startswith(prefix(e, p)), line
        assert e.message in line


def test_validate_reports_good_and_bad_files_together(
    poison_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = path_of(EXPECTED[0])
    assert main(["validate", str(poison_path), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"{poison_path}: ok (seeds 1, 2, 3, 4, 5")
    assert len(out.splitlines()) == 1
    assert err.startswith(f"{bad}:19:31: ")


def test_a_missing_file_is_a_located_error_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert main(["validate", str(missing)]) == 1
    assert capsys.readouterr().err.startswith(f"{missing}:1:1: cannot read file")


def test_validate_with_no_path_checks_every_incident_it_lists(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each listed file is validated, its trial play included. The trials themselves are played
    in tests/incidents/test_check.py, one test per bundled incident; here they are only counted,
    so this test does not play the whole library a second time beside those."""
    trialled: list[str] = []

    def trial(incident: Incident) -> list[tuple[Loc, str]]:
        trialled.append(incident.id)
        return []

    monkeypatch.setattr(validate, "trial_errors", trial)
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    listed = discover()
    assert sorted(line.split(": ok")[0] for line in out.splitlines()) == sorted(
        str(f.path) for f in listed
    )
    assert sorted(trialled) == sorted(f.path.stem for f in listed)


def test_validate_accepts_a_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(BROKEN)]) == 1
    _, err = capsys.readouterr()
    assert len(err.splitlines()) == len(EXPECTED)


def test_schema_prints_json_with_the_system_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    system = schema["$defs"]["SystemConfig"]
    assert "queues" in system["properties"]
    assert schema["properties"]["system"]["$ref"] == "#/$defs/SystemConfig"
    assert {"id", "title", "faults", "playthroughs"} <= set(schema["required"])
    assert "QueueConfig" in schema["$defs"]


def test_a_colon_in_an_unquoted_value_is_told_how_to_fix() -> None:
    """`text: x509: certificate has expired` is a YAML error whose fix is quoting the value."""
    from oncall_dojo.incident.loader import load_incident
    from oncall_dojo.incident.yamlload import YamlModelError

    with pytest.raises(YamlModelError) as info:
        load_incident("x.yaml", text="id: x\ntitle: a: b\n", expect_id="x")
    (err,) = info.value.errors
    assert (err.line, err.col) == (2, 9)
    assert err.message.endswith(
        "a ': ' inside an unquoted value starts a mapping: put the value in quotes"
    )
