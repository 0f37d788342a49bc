"""The message broker as a whole: its memory alarm, restarts, and producers outside the API.

The queues themselves (delivery, acknowledgement, redelivery, dead letters) are in `queue.py`.
While the broker is down or its memory alarm is set, nobody can publish (`publish_error`).
"""

from __future__ import annotations

from oncall_dojo.sim.components.queue import Queue
from oncall_dojo.sim.config import SystemConfig
from oncall_dojo.sim.observability.logs import INFO, WARN
from oncall_dojo.sim.observability.telemetry import Telemetry
from oncall_dojo.sim.rng import SimRandom

REFUSED = "amqp: dial tcp rabbitmq:5672: connect: connection refused"


class Broker:
    def __init__(
        self, cfg: SystemConfig, rng: SimRandom, tm: Telemetry, queues: dict[str, Queue]
    ) -> None:
        self.cfg = cfg
        self.rng = rng
        self.tm = tm
        self.queues = queues
        self.publish_error: str | None = None
        """Why nobody can publish to the broker right now (memory alarm, restart), or None."""
        self.alarm = False
        self.down_until = -1
        self.active = (
            cfg.broker.max_messages is not None
            or any(q.producer_rps > 0 for q in cfg.queues.values())
            or any(p.autoscale is not None for p in cfg.workers.values())
        )
        """Whether `tick` (and the autoscalers) have anything to do: producers, a watermark."""
        self._acc: dict[str, float] = {}
        """Fractional messages carried over between ticks (fan-out)."""
        self._produced: dict[str, int] = {}
        """Messages each queue had produced as of the last recorded tick."""

    def tick(self, t: int) -> None:
        """The memory alarm and restarts, then producers outside the API."""
        bc = self.cfg.broker
        log = self.tm.log
        if bc.max_messages is not None:
            waiting = sum(q.depth for q in self.queues.values())
            if not self.alarm and waiting > bc.max_messages:
                self.alarm = True
                log(
                    t,
                    13,
                    "broker",
                    WARN,
                    f"rabbitmq-0 [warning] memory resource limit alarm set on node rabbit@rabbitmq-0; "
                    f"messages_ready={waiting} high_watermark={bc.max_messages}. "
                    "Publishers will be blocked until this alarm clears",
                )
            elif self.alarm and waiting < 0.9 * bc.max_messages:
                self.alarm = False
                log(
                    t,
                    13,
                    "broker",
                    INFO,
                    f"rabbitmq-0 [info] memory resource limit alarm cleared on node rabbit@rabbitmq-0; messages_ready={waiting}",
                )
        if t < self.down_until:
            self.publish_error = REFUSED
        elif self.alarm:
            self.publish_error = (
                "amqp: publish timed out: connection blocked by broker (memory alarm)"
            )
        else:
            self.publish_error = None
        if self.publish_error is None:
            for q in self.queues.values():
                if q.cfg.producer_rps > 0:
                    q.enqueue(t, self.rng.poisson(q.cfg.producer_rps))

    def restart(self, t: int) -> int:
        """Restart the broker: nobody can publish for a while, and transient queues lose what waits."""
        lost = 0
        for q in self.queues.values():
            if not q.cfg.durable and q.depth:
                lost += q.purge()
        self.down_until = t + self.cfg.broker.restart_s
        self.alarm = False
        self.active = True
        self.publish_error = REFUSED
        self.tm.log(
            t,
            13,
            "broker",
            WARN,
            f"rabbitmq-0 [notice] stopping rabbit@rabbitmq-0; transient messages dropped: {lost}",
        )
        return lost

    def fan_out(self, pool: str, fanout: dict[str, float], n: int, t: int) -> None:
        """Messages a consumer publishes for the ones it processed (fractions carry over)."""
        if self.publish_error is not None:
            return
        for qn, k in fanout.items():
            q = self.queues.get(qn)
            if q is None:
                continue
            key = f"{pool}>{qn}"
            acc = self._acc.get(key, 0.0) + k * n
            whole = int(acc)
            self._acc[key] = acc - whole
            q.enqueue(t, whole)

    def record(self, t: int) -> None:
        """Queue gauges, enqueued counters (from the queues' stats) and the broker's memory."""
        row = self.tm.metrics.row
        g_q = self.tm.g_q
        for name, q in self.queues.items():
            g = g_q[name]
            row[g["depth"]] = q.depth
            row[g["age"]] = q.oldest_age(t)
            row[g["inflight"]] = q.inflight
            row[g["dlq"]] = q.dlq_depth
            # per-tick counters of enqueued messages come from the broker's stats
            produced = q.stats.produced
            row[g["enq"]] += produced - self._produced.get(name, 0)
            self._produced[name] = produced
        g = self.tm.g_broker
        if g:
            limit = self.cfg.broker.max_messages or 1
            row[g["memory"]] = sum(q.depth for q in self.queues.values()) / limit
            row[g["blocked"]] = 1.0 if self.publish_error is not None else 0.0
