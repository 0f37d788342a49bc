"""Every field of the system's deploy bots and hosts is checked, with an error located at the
place in the file that is wrong (`path:line:col: key.path: message`), and an unknown name is
told with the closest one. Each case breaks one thing in tests/fixtures/world/fleet.yaml,
which is valid as it stands."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.model import incident_json_schema

from .located import Case, assert_located, case_id

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "world" / "fleet.yaml"
BASE = FIXTURE.read_text(encoding="utf-8")


CASES = [
    Case("    argocd:\n", "    ArgoCD:\n", 18, 5, "system.deploy_bots.ArgoCD", "String should match pattern '^[a-z][a-z0-9-]*$'"),
    Case("author: argocd", "author: Argo CD", 19, 15, "system.deploy_bots.argocd.author", "String should match pattern"),
    Case("versions: {billing: v2.8.3}", "versions: {biling: v2.8.3}", 21, 28, "system.deploy_bots.argocd.desired.versions.biling", "no service 'biling' (did you mean 'billing'?); services: api, billing, mailer, fulfillment"),
    Case("flags: {billing.batch_ledger: false}", "flags: {billing.batch_leger: false}", 22, 38, 'system.deploy_bots.argocd.desired.flags["billing.batch_leger"]', "no flag 'billing.batch_leger' (did you mean 'billing.batch_ledger'?)"),
    Case("sync_every_s: 120", "sync_every_s: 5", 23, 21, "system.deploy_bots.argocd.sync_every_s", "Input should be greater than or equal to 10"),
    Case("        versions: {billing: v2.8.3}\n", "        version: {billing: v2.8.3}\n", 21, 9, "system.deploy_bots.argocd.desired", "unknown key 'version' (did you mean 'versions'?)"),
    Case("        - at: 600\n", "        - at: -1\n", 26, 15, "system.deploy_bots.release-train.rollouts[0].at", "Input should be greater than or equal to 0"),
    Case("every_s: 3600", "every_s: 10", 27, 20, "system.deploy_bots.release-train.rollouts[0].every_s", "Input should be greater than or equal to 60"),
    Case("          service: billing\n", "          service: biling\n", 28, 20, "system.deploy_bots.release-train.rollouts[0].service", "no service 'biling' (did you mean 'billing'?)"),
    Case("          version: v2.8.3\n", "", 26, 11, "system.deploy_bots.release-train.rollouts[0]", "`service` needs the `version` it rolls out"),
    Case("          service: billing\n", "          service: billing\n          flag: billing.batch_ledger\n", 26, 11, "system.deploy_bots.release-train.rollouts[0]", "give exactly one of `service` (with `version`), `flag` or `config`"),
    Case("          value: 5\n", "", 31, 11, "system.deploy_bots.release-train.rollouts[1]", "`config` needs the `value` it is set to"),
    Case("          config: payments.retry.max_attempts\n", "          flag: payments.retry\n", 32, 17, "system.deploy_bots.release-train.rollouts[1].flag", "no flag 'payments.retry'; flags in system.flags: billing.batch_ledger"),
    Case("          note: weekly train\n", "          note: weekly train\n          percent: 0\n", 31, 20, "system.deploy_bots.release-train.rollouts[0].percent", "Input should be greater than or equal to 1"),
    Case("        billing-h1: {site: eu-1a}\n", "        Billing_H1: {site: eu-1a}\n", 37, 9, "system.workers.billing.hosts.Billing_H1", "String should match pattern '^[a-z][a-z0-9-]*$'"),
    Case("billing-h1: {site: eu-1a}", "billing-h1: {site: EU 1a}", 37, 28, "system.workers.billing.hosts.billing-h1.site", "String should match pattern"),
    Case("billing-h2: {site: eu-1a}", "billing-h2: {site: eu-1a, state: gone}", 38, 42, "system.workers.billing.hosts.billing-h2.state", "Input should be 'ready', 'not_ready', 'cordoned', 'drained' or 'down'"),
    Case("disk_gb: 50, disk_used_gb: 45", "disk_gb: 50, disk_used_gb: 55", 40, 21, "system.workers.billing.hosts.billing-h4", "`disk_used_gb` (55) is above `disk_gb` (50)"),
    Case("disk_gb: 50,", "disk_gb: 0,", 40, 44, "system.workers.billing.hosts.billing-h4.disk_gb", "Input should be greater than 0"),
    Case("billing-h3: {site: eu-1b, version: v2.8.2}", "billing-h3: {site: eu-1b, versoin: v2.8.2}", 39, 35, "system.workers.billing.hosts.billing-h3", "unknown key 'versoin' (did you mean 'version'?)"),
    Case("  workers:\n    billing:\n", "  workers:\n    mailer:\n      hosts: {billing-h1: {}}\n    billing:\n", 36, 27, "system.workers.mailer.hosts.billing-h1", "host 'billing-h1' is already in pool 'billing'; a host belongs to one pool"),
    Case("  workers:\n    billing:\n      hosts:\n        billing-h1: {site: eu-1a}\n", "  sites: {eu-1a: {}, eu-1b: {}}\n  workers:\n    billing:\n      hosts:\n        billing-h1: {site: eu-2a}\n", 38, 28, "system.workers.billing.hosts.billing-h1.site", "no site 'eu-2a' (did you mean 'eu-1a'?); sites: eu-1a, eu-1b"),
    Case("hosts: [billing-h1, billing-h2]", "hosts: [billing-h1, biling-h2]", 50, 29, "resources.spool.thresholds[0].hosts[1]", "no host of billing 'biling-h2' (did you mean 'billing-h2'?); hosts of billing: billing-h1, billing-h2, billing-h3, billing-h4"),
    Case("    host: billing-h3\n", "    host: billing-h5\n", 55, 11, "events[0].host", "no host 'billing-h5' (did you mean"),
    Case("    state: down\n", "    state: off\n", 56, 12, "events[0].state", "Input should be 'ready', 'not_ready', 'cordoned', 'drained' or 'down'"),
    Case("    disk_fill_gb_per_s: 0.05\n", "", 61, 5, "events[1]", "give the host's new `state`, `disk_used_gb`, `disk_fill_gb_per_s`, or several"),
    Case("    disk_fill_gb_per_s: 0.05\n", "    disk_used_gb: -1\n", 64, 19, "events[1].disk_used_gb", "Input should be greater than or equal to 0"),
    Case("    disk_fill_gb_per_s: 0.05\n", "    disk_fill_gb_per_s: .inf\n", 64, 25, "events[1].disk_fill_gb_per_s", "Input should be a finite number"),
    Case("    disk_fill_gb_per_s: 0.05\n", "    disk_fill_gb_per_s: 0.05\n  - at: 100\n    kind: pool_disruption\n    pool: billing\n    replicas: 1\n", 68, 15, "events[2].replicas", "billing runs one process per host; take hosts down with `host_status` events instead"),
]  # fmt: skip


def test_the_fixture_itself_is_valid() -> None:
    load_incident(FIXTURE, expect_id="fleet")


@pytest.mark.parametrize("c", CASES, ids=[case_id(c) for c in CASES])
def test_a_broken_field_is_reported_where_it_is(c: Case) -> None:
    assert_located(BASE, c, "fleet.yaml")


def test_the_json_schema_describes_hosts_deploy_bots_and_host_events() -> None:
    schema = incident_json_schema()
    defs = schema["$defs"]
    pool = defs["WorkerPoolConfig"]["properties"]["hosts"]
    (host_ref,) = [v["$ref"] for v in pool["patternProperties"].values()]
    assert host_ref == "#/$defs/HostConfig"
    assert set(defs["HostConfig"]["properties"]) == {
        "site",
        "version",
        "state",
        "disk_gb",
        "disk_used_gb",
    }
    bots = defs["SystemConfig"]["properties"]["deploy_bots"]
    assert [v["$ref"] for v in bots["patternProperties"].values()] == ["#/$defs/DeployBotConfig"]
    assert {"rollouts", "desired", "sync_every_s", "frozen"} <= set(
        defs["DeployBotConfig"]["properties"]
    )
    assert defs["HostEvent"]["properties"]["kind"]["const"] == "host_status"
    assert "hosts" in defs["Crash"]["properties"]
