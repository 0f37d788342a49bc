"""Faults in the data the services exchange: a schema change an old consumer cannot read, and a
row a batch job cannot process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from oncall_dojo.sim.faults.base import FaultSpec
from oncall_dojo.sim.observability.logs import INFO

if TYPE_CHECKING:
    from oncall_dojo.sim.system import System


class SchemaChange(FaultSpec):
    """A migration changes what the messages carry; consumers built for the old schema fail on them.

    Affected consumers buy the shipment label first and then fail to publish the shipment, so every
    redelivery buys another label until the message is dead-lettered (needs `system.appdb`)."""

    summary: ClassVar[str] = "a schema change breaks a consumer"
    kind: Literal["schema_change"]
    consumer: str
    """Worker pool whose running version does not understand the new schema."""
    version: int | None = Field(default=None, ge=1)
    """Schema version after the migration (default: one more than now)."""
    name: str = "rename_orders_currency"
    """Migration name, as recorded in `schema_migrations`."""
    sql: str = "ALTER TABLE orders RENAME COLUMN currency TO currency_code"
    """What the migration ran (shown in the change history)."""
    error: str = "KeyError: 'currency'"
    """What an old consumer fails with."""
    author: str = "migrate-bot"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        sys.schema_version = self.version or sys.schema_version + 1
        sys.schema_error = self.error
        if sys.app is not None:
            sys.app.migration(t, sys.schema_version, self.name)
        sys.record_change(t, "migration", "orders", "", self.sql, self.author, self.name)
        sys.log(
            t,
            0,
            "postgres",
            INFO,
            f"postgres-0 LOG: migration {sys.schema_version}_{self.name} applied: {self.sql}",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        pool = sys.pools.get(self.consumer)
        if pool is None:
            return False
        for r in pool.live:
            top = sys.traits(pool.name, r.version).schema_max
            if top is not None and top < sys.schema_version:
                return True
        return False


class JobBadRow(FaultSpec):
    """A customer row a batch job cannot process (its email was erased on request): the job fails on
    it every run, and a job without checkpoints redoes everything before it on each retry."""

    summary: ClassVar[str] = "a batch job fails on one row and reruns from the start"
    kind: Literal["job_bad_row"]
    job: str
    """The job that fails on the row."""
    customer: int = Field(ge=1)
    """Customer id whose email is erased (the job's item `customer - 1`)."""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        if sys.app is None:
            raise ValueError("job_bad_row needs system.appdb")
        sys.app.set_customer_email(self.customer, None)

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        job = sys.jobs.get(self.job)
        if job is None or sys.app is None:
            return False
        will_reach = job.state == "running" or (job.state == "failed" and job.retry_at is not None)
        return (
            will_reach
            and job.progress <= self.customer - 1
            and not sys.app.has_email(self.customer)
        )
