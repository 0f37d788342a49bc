"""The charge consumer: each message charges one order at the payment provider, then books it.

Retries per the payments config; a ledger that cannot be written after a successful charge
sends the message back (and, without idempotency keys, the retry charges the card again). A
version may capture more than once per message (a legacy capture path).
"""

from __future__ import annotations

from typing import Any

from oncall_dojo.sim.components.database import Database
from oncall_dojo.sim.components.latency import LOGNORMAL
from oncall_dojo.sim.components.pool import Replica, WorkerPool
from oncall_dojo.sim.components.provider import Provider
from oncall_dojo.sim.components.queue import _MASK, _MULT, Queue, Run
from oncall_dojo.sim.components.traits import TraitBook, truthy
from oncall_dojo.sim.config import SystemConfig, VersionTraits
from oncall_dojo.sim.data.appdb import AppDb
from oncall_dojo.sim.observability.logs import ERROR, INFO
from oncall_dojo.sim.observability.telemetry import Telemetry
from oncall_dojo.sim.rng import SimRandom


class Charges:
    def __init__(
        self,
        cfg: SystemConfig,
        rng: SimRandom,
        tm: Telemetry,
        traits: TraitBook,
        db: Database,
        provider: Provider,
        app: AppDb | None,
        emails: tuple[str, ...],
    ) -> None:
        self.cfg = cfg
        self.rng = rng
        self.tm = tm
        self.traits = traits
        self.config: dict[str, Any] = traits.config
        self.db = db
        self.provider = provider
        self.app = app
        self.emails = emails
        """Customers' emails to log when there is no application database to read them from."""
        self._amounts = {n: c.amount_cents for n, c in cfg.queues.items()}
        """Each queue's `amount_cents` (the configuration's, read once)."""
        self._timeout_s = cfg.provider.timeout_s
        """The provider's timeout (the configuration's, read once)."""
        self.ledger_error: str | None = None
        """Why the ledger cannot be written now (it came back read-only), or None."""

    def finish(
        self, pool: WorkerPool, q: Queue, r: Replica, run: Run, t: int, traits: VersionTraits
    ) -> None:
        """Charge each order of a finished delivery; `traits`: the replica's version's now."""
        tm = self.tm
        row = tm.metrics.row
        gw = tm.g_w[pool.name]
        config = self.config
        attempts_max = int(config.get("payments.retry.max_attempts", 1) or 1)
        idempotent = truthy(config.get("payments.idempotency_keys", True))
        # holds for the whole run
        ledger_err = self.ledger_error or self.db.write_error("ledger_insert")
        amount = self._amounts[q.name]
        emails = self.emails
        n_emails = len(emails)
        bits = self.rng.getrandbits
        provider = self.provider
        charge = provider.charge
        # a provider call (`Provider.attempt`) is made inline: its latency and error rate hold for
        # the whole tick
        lat, err = provider.lat, provider.err
        timeout_s = self._timeout_s
        prow = provider.row
        c_prov = provider.tm.c_prov
        c_timeout, c_error, c_ok = c_prov["timeout"], c_prov["error"], c_prov["ok"]
        salt = q.salt
        lines = tm.logs.pending
        log = not tm.logs.muted  # a muted store keeps no line: skip formatting them
        sid = tm.sid[pool.name]
        name = r.name
        failed: list[int] = []
        app = self.app
        base = app.history if app is not None else 0
        again = traits.charges_per_message - 1
        for order in range(run.first, run.first + run.count):
            outcome = "error"
            pid = 0
            for _ in range(attempts_max):
                provider.calls += 1
                x = bits(32)
                if lat * LOGNORMAL[x & 4095] > timeout_s:
                    prow[c_timeout] += 1
                    outcome = "timeout"
                elif (x >> 12) / 1_048_576 < err:
                    prow[c_error] += 1
                    outcome = "error"
                    continue
                else:
                    prow[c_ok] += 1
                    outcome = "ok"
                # a timed-out charge still went through
                if charge(order, idempotent) and app is not None:
                    pid = app.charge(t, order, idempotent, outcome == "ok")
                if outcome == "ok":
                    break
            if again and outcome == "ok":
                for _ in range(again):
                    if provider.attempt() != "error" and charge(order, False) and app is not None:
                        app.charge(t, order, False, True)
                m = 300 + bits(10) % 600  # drawn whether or not the line is kept
                if log:
                    lines.append(
                        (
                            m,
                            sid,
                            INFO,
                            f'{name} order_id=ord_{order + base} msg="legacy capture path: capturing again for remaining line items" captures={again + 1} idem_key=none',
                        )
                    )
            if app is None:
                user = emails[(order * 7919) % n_emails]
            else:
                o = app.order(order)
                user, amount = app.email_of(o.customer_id), o.total_cents
            ms = 200 + bits(10) % 700
            if outcome != "ok":
                failed.append(order)
                if log:
                    lines.append(
                        (
                            ms,
                            sid,
                            ERROR,
                            f'{name} msg_id=msg_{((order * _MULT) ^ salt) & _MASK:08x} order_id=ord_{order + base} customer={user} msg="charge failed" provider_error="{self.provider.error_text()}" attempts={attempts_max}',
                        )
                    )
            elif ledger_err is None:
                if app is not None:
                    app.ledger_charge(t, order, pid or app.first_payment(order))
                if log:
                    lines.append(
                        (
                            ms,
                            sid,
                            INFO,
                            f'{name} msg_id=msg_{((order * _MULT) ^ salt) & _MASK:08x} order_id=ord_{order + base} customer={user} amount_cents={amount} msg="charge captured" receive_count={run.deliveries}',
                        )
                    )
            else:
                row[tm.c_ledger_err] += 1
                failed.append(order)
                key = f"idem_key=ord_{order + base}" if idempotent else "idem_key=none"
                if log:
                    lines.append(
                        (
                            ms,
                            sid,
                            ERROR,
                            f'{name} msg_id=msg_{((order * _MULT) ^ salt) & _MASK:08x} order_id=ord_{order + base} customer={user} msg="ledger write failed after charge; message will be retried" error="{ledger_err}" {key} receive_count={run.deliveries}',
                        )
                    )
        ok = run.count - len(failed)
        if ledger_err is None:
            self.db.run("ledger_insert", ok)
        pool.processed += ok
        pool.failed += len(failed)
        row[gw["ok"]] += ok
        row[gw["err"]] += len(failed)
        row[tm.g_q[q.name]["ack"]] += ok
        if not failed:
            q.ack(run, t)
            return
        # split the run: acknowledged ones leave, failed ones go back one by one (at once, for a
        # consumer that retries without backoff)
        requeue = 0 if config.get("payments.retry.backoff") == "none" else None
        failed_set = set(failed)
        for seq in range(run.first, run.first + run.count):
            one = Run(seq, 1, run.enq, run.deliveries, run.poison, 0, run.replayed, run.at)
            if seq in failed_set:
                q.fail(one, t, requeue)
            else:
                q.ack(one, t)
