"""What a worker's finished delivery does: acknowledge it, write its effects, or fail it.

Poisoned payloads, per-version message errors, database write errors, fan-out to other queues,
and (with the application database) receipts and shipment labels. Charges are in `charges.py`.
"""

from __future__ import annotations

from oncall_dojo.sim.components.broker import Broker
from oncall_dojo.sim.components.charges import Charges
from oncall_dojo.sim.components.database import Database
from oncall_dojo.sim.components.pool import Replica, WorkerPool
from oncall_dojo.sim.components.queue import _MASK, _MULT, Queue, Run
from oncall_dojo.sim.components.traits import TraitBook
from oncall_dojo.sim.config import VersionTraits
from oncall_dojo.sim.data.appdb import AppDb
from oncall_dojo.sim.data.records import Records
from oncall_dojo.sim.observability.logs import DEBUG, ERROR, INFO, WARN
from oncall_dojo.sim.observability.telemetry import Telemetry
from oncall_dojo.sim.rng import SimRandom

VersionFacts = tuple[VersionTraits, float, float, float, dict[str, float]]
"""A version's traits in a pool this tick, with its seconds per message, and of its traits the
memory leak (MiB per minute), the message error rate and the fan-out (`Workers.tick_pool`)."""

MESSAGE_ERROR = "upstream call failed"
"""What a failed message is logged with when its version's traits name no `message_error`."""


class Consumers:
    def __init__(
        self,
        rng: SimRandom,
        tm: Telemetry,
        traits: TraitBook,
        db: Database,
        broker: Broker,
        records: Records,
        app: AppDb | None,
        charges: Charges,
        schema_version: int,
    ) -> None:
        self.rng = rng
        self.tm = tm
        self.traits = traits
        self.db = db
        self.broker = broker
        self.records = records
        self.app = app
        self.charges = charges
        self.poison_acked = 0
        self.schema_version = schema_version
        """The schema the messages carry now (a migration raises it)."""
        self.schema_error = ""
        """What a consumer that does not understand the current schema fails with."""

    def finish(
        self,
        pool: WorkerPool,
        q: Queue,
        kind: str,
        queries: dict[str, float],
        versions: dict[str, VersionFacts],
        r: Replica,
        run: Run,
        t: int,
    ) -> None:
        """A delivery `r` finished at tick t. `kind`: the queue's; `queries`: the pool's per
        message; `versions`: the traits (with the service time, memory leak, message error rate
        and fan-out) of each version of the pool this tick, as `Workers.tick_pool` read them."""
        tm = self.tm
        row = tm.metrics.row
        gw = tm.g_w[pool.name]
        if run.poison:
            # only reached by a version that tolerates the payload
            q.ack(run, t)
            self.poison_acked += 1
            tm.log(
                t,
                61,
                pool.name,
                WARN,
                f'{r.name} msg_id=msg_{q.msg_id(run.first)} queue={q.name} msg="rejected malformed payload; acknowledged without side effects" receive_count={run.deliveries}',
            )
            return
        tr, _, _, error_rate, fanout = versions[r.version]
        # only a pool on named hosts or a version with a message error rate can reject (`_rejected`)
        may_reject = pool.hosts or error_rate > 0
        if kind == "charge":
            if not (may_reject and self._rejected(tr, pool, q, r, run, t)):
                self.charges.finish(pool, q, r, run, t, tr)
            return
        if self.app is not None and not self._finish_app(pool, q, r, run, t, tr):
            return
        if may_reject and self._rejected(tr, pool, q, r, run, t):
            return
        err = None
        n = run.count
        if queries:
            db = self.db
            may_fail = db.writes_may_fail()  # running queries changes none of what it reads
            for s, c in queries.items():
                db.run(s, c * n)
                if may_fail:
                    err = err or db.write_error(s)
        if err is not None:
            pool.failed += n
            row[gw["err"]] += n
            tm.log(
                t,
                60,
                pool.name,
                ERROR,
                f'{r.name} msg_id=msg_{q.msg_id(run.first)} queue={q.name} msg="job failed, will retry" error="{err}" batch={n}',
            )
            q.fail(run, t)
            return
        q.ack(run, t)
        pool.processed += n
        row[gw["ok"]] += n
        row[tm.g_q[q.name]["ack"]] += n
        if kind == "email":
            self.records.emails += n
            row[tm.c_emails] += n
        if fanout:
            self.broker.fan_out(pool.name, fanout, n, t)
        rng = self.rng
        if n > 3 or rng.random() < 0.35:
            tm.logs.pending.append(
                (
                    100 + rng.getrandbits(10) % 800,
                    tm.sid[pool.name],
                    DEBUG if kind != "fulfillment" else INFO,
                    f'{r.name} msg_id=msg_{((run.first * _MULT) ^ q.salt) & _MASK:08x} queue={q.name} msg="processed" batch={n} wait_s={t - run.enq}',
                )
            )

    def _rejected(
        self, tr: VersionTraits, pool: WorkerPool, q: Queue, r: Replica, run: Run, t: int
    ) -> bool:
        """Whether the version's traits (`message_error_rate`) or its host (`Host.fails`) fail
        this delivery: then it is failed, with their error, and goes back to the queue."""
        if pool.hosts and (fails := pool.hosts[r.host].fails):
            for share, error in fails.values():
                if share >= 1 or self.rng.random() < share:
                    self.fail(pool, q, r, run, t, error)
                    return True
        if tr.message_error_rate > 0 and (
            tr.message_error_rate >= 1 or self.rng.random() < tr.message_error_rate
        ):
            self.fail(pool, q, r, run, t, tr.message_error or MESSAGE_ERROR)
            return True
        return False

    def fail(self, pool: WorkerPool, q: Queue, r: Replica, run: Run, t: int, error: str) -> None:
        """The delivery failed: it goes back to the queue (for redelivery or the dead letters)."""
        pool.failed += run.count
        self.tm.metrics.row[self.tm.g_w[pool.name]["err"]] += run.count
        self.tm.log(
            t,
            60,
            pool.name,
            ERROR,
            f'{r.name} msg_id=msg_{q.msg_id(run.first)} queue={q.name} msg="job failed, will retry" '
            f'error="{error}" batch={run.count} receive_count={run.deliveries}',
        )
        q.fail(run, t)

    def _finish_app(
        self, pool: WorkerPool, q: Queue, r: Replica, run: Run, t: int, tr: VersionTraits
    ) -> bool:
        """A consumer's writes to the application database; False when the delivery failed."""
        app = self.app
        assert app is not None
        kind = q.cfg.kind
        if kind == "email":
            for order in range(run.first, run.first + run.count):
                app.send_email(t, app.order(order).customer_id, "receipt", "order_receipt")
            return True
        if kind != "fulfillment":
            return True
        bought = 0
        for order in range(run.first, run.first + run.count):
            if tr.dedupes and app.has_label(order):
                continue
            app.shipment(t, order)
            bought += 1
        tm = self.tm
        assert tm.c_parcels is not None
        tm.metrics.row[tm.c_parcels] += bought
        if tr.schema_max is None or tr.schema_max >= self.schema_version:
            return True
        pool.failed += run.count
        tm.metrics.row[tm.g_w[pool.name]["err"]] += run.count
        tm.log(
            t,
            60,
            pool.name,
            ERROR,
            f'{r.name} msg_id=msg_{q.msg_id(run.first)} queue={q.name} order_id=ord_{app.order_id(run.first)} msg="label purchased; publishing shipment failed" error="{self.schema_error or "unsupported schema"}" schema_version={self.schema_version} receive_count={run.deliveries}',
        )
        q.fail(run, t)
        return False
