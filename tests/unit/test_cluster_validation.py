"""Every field of an incident's database clusters, sites and links, and of the events and
thresholds that name them, is checked with an error located at the place in the file that is
wrong (`path:line:col: key.path: message`); an unknown name is told with the closest one. Each
case breaks one thing in tests/fixtures/world/split-brain.yaml, which is valid as it stands."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.yamlload import YamlModelError

from .located import Case, assert_located, case_id

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "world" / "split-brain.yaml"
BASE = FIXTURE.read_text(encoding="utf-8")


CASES = [
    Case("between: [east, west]", "between: [east, wset]", 19, 23, "system.links.east-west.between[1]", "no site 'wset' (did you mean 'west'?); sites: east, west"),
    Case("between: [east, west]", "between: [east, east]", 19, 7, "system.links.east-west", "a link joins two different sites"),
    Case("latency_ms: 62", "latency_ms: -1", 20, 19, "system.links.east-west.latency_ms", "Input should be greater than or equal to 0"),
    Case("    west: {region: us-west-2}\n", "    west: {region: [us-west-2]}\n", 16, 20, "system.sites.west.region", "Input should be a valid string"),
    Case("    postgres:\n      site: east", "    postgres:\n      site: eats", 23, 13, "system.clusters.postgres.site", "no site 'eats' (did you mean 'east'?); sites: east, west"),
    Case("        pg-2: {site: west}", "        pg-2: {site: north}", 26, 22, "system.clusters.postgres.replicas.pg-2.site", "no site 'north'; sites: east, west"),
    Case("        pg-2: {site: west}", "        pg-2: {site: west, apply_per_s: 0}", 26, 41, "system.clusters.postgres.replicas.pg-2.apply_per_s", "Input should be greater than 0"),
    Case("        pg-2: {site: west}", "        pg-2: {site: west, paused: maybe}", 26, 36, "system.clusters.postgres.replicas.pg-2.paused", "Input should be a valid boolean"),
    Case("        pg-2: {site: west}", "        pg-0: {site: west}", 23, 7, "system.clusters.postgres", "the primary 'pg-0' cannot also be a replica"),
    Case("        pg-2: {site: west}", "        PG-2: {site: west}", 26, 9, "system.clusters.postgres.replicas.PG-2", "String should match pattern '^[a-z][a-z0-9-]*$'"),
    Case("        site: west\n        after_s: 40", "        site: wes\n        after_s: 40", 29, 15, "system.clusters.postgres.auto_failover.site", "no site 'wes' (did you mean 'west'?); sites: east, west"),
    Case("after_s: 40", "after_s: 0", 30, 18, "system.clusters.postgres.auto_failover.after_s", "Input should be greater than or equal to 1"),
    Case("name: orchestrator", "name: Orchestrator", 28, 15, "system.clusters.postgres.auto_failover.name", "String should match pattern '^[a-z][a-z0-9-]*$'"),
    Case("        after_s: 40\n", "        after_s: 40\n        afer_s: 40\n", 31, 9, "system.clusters.postgres.auto_failover", "unknown key 'afer_s'"),
    Case("      primary: payments-0\n", "      primary: payments-0\n      failover_s: 0\n", 33, 19, "system.clusters.payments-db.failover_s", "Input should be greater than or equal to 1"),
    Case("      primary: payments-0\n", "      primary: payments-0\n      replica: {}\n", 33, 7, "system.clusters.payments-db", "unknown key 'replica'"),
    Case("tables: [payments, ledger_entries]", "tables: [paymnts, ledger_entries]", 34, 16, "system.clusters.payments-db.tables[0]", "no table 'paymnts' (did you mean 'payments'?); tables: carts, credits, email_sends"),
    Case("tables: [payments, ledger_entries]", "tables: [payments, payments]", 34, 26, "system.clusters.payments-db.tables[1]", "payments is already held by cluster 'payments-db'"),
    Case("      tables: [payments, ledger_entries]\n", "", 32, 7, "system.clusters.payments-db", "a cluster other than postgres needs the `tables` it holds"),
    Case("    payments-db:", "    ledger:", 32, 7, "system.clusters.ledger", "'ledger' cannot name a cluster: `failover ledger` promotes the ledger's own replica"),
    Case("    postgres:\n      site: east\n", "    postgres:\n      site: east\n      tables: [orders]\n", 24, 15, "system.clusters.postgres.tables", "postgres holds every table no other cluster names"),
    Case("apply_per_s: 300", "apply_per_s: fast", 36, 47, "system.clusters.payments-db.replicas.payments-1.apply_per_s", "Input should be a valid number, unable to parse string as a number"),
    Case("        payments-1: {site: west, apply_per_s: 300}", "        payments-1: {site: east, apply_per_s: 300}\n        payments-2: {site: west}\n    other-db:\n      site: west\n      tables: [carts]\n      replicas: {other-1: {site: east}}\n    more-db:\n      site: west\n      tables: [users]\n      replicas: {more-1: {site: west}}\n      auto_failover: {name: orchestrator}", 46, 29, "system.clusters.more-db.auto_failover.name", "the auto-failover of cluster 'postgres' is already called 'orchestrator'; give each its own name"),
    Case("        link: east-west\n        latency_ms: 80", "        link: east-wst\n        latency_ms: 80", 46, 15, "resources.wan-queue.thresholds[0].link", "no link 'east-wst' (did you mean 'east-west'?); links: east-west"),
    Case("        link: east-west\n        latency_ms: 80\n        loss: 0.2", "        link: east-west", 44, 9, "resources.wan-queue.thresholds[0]", "`slow` of a link takes `latency_ms`, `loss` or both (not `factor`)"),
    Case("        link: east-west\n        latency_ms: 80", "        link: east-west\n        service: api\n        latency_ms: 80", 44, 9, "resources.wan-queue.thresholds[0]", "give exactly one of `service` or `link`"),
    Case("        loss: 0.2", "        loss: 1.5", 48, 15, "resources.wan-queue.thresholds[0].loss", "Input should be less than 1"),
    Case("    replica: pg-1\n", "    replica: pg-3\n", 52, 14, "events[0].replica", "no replica 'pg-3' in postgres (did you mean 'pg-2'?); replicas: pg-1, pg-2"),
    Case("    replica: pg-1\n", "    replica: pg-1\n    cluster: postgress\n", 53, 14, "events[0].cluster", "no cluster 'postgress' (did you mean 'postgres'?); clusters: postgres, payments-db"),
    Case("    replica: pg-1\n    paused: true\n", "    replica: pg-1\n", 50, 5, "events[0]", "give `paused`, a new `apply_per_s`, or both"),
    Case("    replica: pg-1\n    paused: true\n", "    replica: pg-1\n    apply_per_s: -3\n", 53, 18, "events[0].apply_per_s", "Input should be greater than 0"),
    Case("    link: east-west\n    partitioned: true", "    link: eastwest\n    partitioned: true", 56, 11, "events[1].link", "no link 'eastwest' (did you mean 'east-west'?); links: east-west"),
    Case("    partitioned: true", "    partitioned: yes please", 57, 18, "events[1].partitioned", "Input should be a valid boolean"),
    Case("    link: east-west\n    latency_ms: 90", "    link: east-west\n    latency_ms: 90\n    loss: 1", 66, 11, "events[2].loss", "Input should be less than 1"),
    Case("    link: east-west\n    latency_ms: 90", "    link: east-west\n    latency_ms: -90", 65, 17, "events[2].latency_ms", "Input should be greater than or equal to 0"),
    Case("        loss: 0.2\n", "        loss: 0.2\n      - above: 400\n        effect: refuse_writes\n        cluster: payments-dbb\n", 51, 18, "resources.wan-queue.thresholds[1].cluster", "no cluster 'payments-dbb' (did you mean 'payments-db'?); clusters: postgres, payments-db"),
]  # fmt: skip


def test_the_fixture_itself_is_valid() -> None:
    load_checked(FIXTURE)


@pytest.mark.parametrize("c", CASES, ids=[case_id(c) for c in CASES])
def test_a_broken_field_is_reported_where_it_is(c: Case) -> None:
    assert_located(BASE, c, "split-brain.yaml")


def test_an_auto_failover_may_not_take_another_automations_name() -> None:
    text = BASE.replace("  appdb: {}\n", "  appdb: {}\n  workers: {billing: {autoscale: {}}}\n")
    text = text.replace("name: orchestrator", "name: billing-autoscaler")
    with pytest.raises(YamlModelError) as info:
        load_incident("split-brain.yaml", text=text, expect_id="split-brain")
    (err,) = info.value.errors
    assert (err.line, err.col, err.keypath) == (
        29,
        15,
        "system.clusters.postgres.auto_failover.name",
    )
    assert err.message.startswith("'billing-autoscaler' is already the name of another automation")
