"""The alert rules every system has: symptoms that page, causes that only show in the list."""

from __future__ import annotations

import re

from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.observability.alerts import AlertRule
from oncall_dojo.sim.observability.metrics import Condition


def _ident(name: str) -> str:
    """A queue or pool name as it may appear in an alert name (`partner-events` -> `partner_events`)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def default_rules(cfg: SystemConfig) -> list[AlertRule]:
    slo = cfg.slo
    budget = 1.0 - slo.availability
    bad = 'http_requests_total{code=~"5..|429"}'
    all_ = "http_requests_total"
    lag = "pg_replication_lag_seconds"
    if cfg.clusters or cfg.sites or cfg.links:
        lag += '{cluster=""}'
    rules = [
        AlertRule(
            name="ApiErrorBudgetBurn",
            severity="page",
            conditions=[
                Condition(
                    metric=bad, over=all_, fn="rate", window=300, op=">", value=14.4 * budget
                ),
                Condition(
                    metric=bad, over=all_, fn="rate", window=3600, op=">", value=14.4 * budget * 0.5
                ),
            ],
            for_s=60,
            summary="API is burning its error budget 14x too fast ({value} of requests failing over 5m)",
            service="api",
            runbook="api-errors",
        ),
        AlertRule(
            name="ApiLatencyHigh",
            severity="page",
            conditions=[
                Condition(
                    metric="http_request_duration_seconds",
                    fn="p99",
                    window=300,
                    op=">",
                    value=slo.latency_s * 2,
                )
            ],
            for_s=300,
            summary="API p99 latency {value}s over the last 5 minutes",
            service="api",
            runbook="api-latency",
        ),
    ]
    for name, q in cfg.queues.items():
        rules.append(
            AlertRule(
                name=f"QueueAgeHigh_{_ident(name)}",
                severity="page",
                conditions=[
                    Condition(
                        metric=f'queue_oldest_message_age_seconds{{queue="{name}"}}',
                        op=">",
                        value=q.objective_s,
                    )
                ],
                for_s=120,
                summary=f"Oldest message on {name} is {{value}}s old (objective {q.objective_s}s)",
                service=name,
                runbook="queue-lag",
            )
        )
        rules.append(
            AlertRule(
                name=f"DeadLetters_{_ident(name)}",
                severity="ticket",
                conditions=[
                    Condition(metric=f'queue_dlq_depth{{queue="{name}"}}', op=">", value=0)
                ],
                for_s=0,
                summary=f"{{value|message}} in {name}.dlq",
                service=name,
                runbook="dead-letters",
            )
        )
    for pool in cfg.workers:
        rules.append(
            AlertRule(
                name=f"WorkerCrashLooping_{_ident(pool)}",
                severity="ticket",
                conditions=[
                    Condition(
                        metric=f'kube_pod_container_status_restarts_total{{pool="{pool}"}}',
                        fn="increase",
                        window=600,
                        op=">",
                        value=3,
                    )
                ],
                for_s=0,
                summary=f"{pool} containers restarted {{value|time}} in 10m",
                service=pool,
                runbook="crash-loop",
            )
        )
    rules += [
        AlertRule(
            name="DbConnectionPoolSaturated",
            severity="ticket",
            conditions=[
                Condition(
                    metric='db_pool_connections_in_use{pool="api"}',
                    over='db_pool_connections_max{pool="api"}',
                    fn="avg",
                    window=120,
                    op=">",
                    value=0.9,
                )
            ],
            for_s=60,
            summary="API database pool {value} utilised",
            service="api",
        ),
        AlertRule(
            name="DiskSpaceLow",
            severity="ticket",
            conditions=[Condition(metric="node_filesystem_used_ratio", op=">", value=0.85)],
            for_s=60,
            summary="Database volume {value} full",
            service="postgres",
            runbook="disk-full",
        ),
        AlertRule(
            name="ReplicationLagHigh",
            severity="ticket",
            # with clusters declared, each replica has its own series beside the unlabelled one
            # (the laggiest replica of the shop's database): watch that one, not their sum
            conditions=[Condition(metric=lag, op=">", value=30)],
            for_s=60,
            summary="Replica {value}s behind",
            service="postgres",
        ),
        AlertRule(
            name="CacheHitRatioLow",
            severity="ticket",
            conditions=[
                Condition(metric="cache_hit_ratio", fn="avg", window=120, op="<", value=0.7)
            ],
            for_s=60,
            summary="Cache hit ratio {value}",
            service="cache",
        ),
    ]
    return rules
