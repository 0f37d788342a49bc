"""Faults in the database and its volume: a dropped index, a migration stuck behind a lock, a
volume filling up, a ledger store that came back read-only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from oncall_dojo.sim.faults.base import FaultSpec
from oncall_dojo.sim.observability.logs import ERROR, INFO

if TYPE_CHECKING:
    from oncall_dojo.sim.system import System


class MissingIndex(FaultSpec):
    """An index the hot path needs is dropped (a migration split into add and remove)."""

    summary: ClassVar[str] = "an index the hot path needs was dropped"
    kind: Literal["missing_index"]
    index: str
    author: str = "migrate-bot"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        table = sys.db.indexes.pop(self.index, None)
        state["table"] = table
        sys.record_change(
            t,
            "migration",
            table or "?",
            self.index,
            "dropped",
            self.author,
            f"DROP INDEX {self.index}",
        )
        sys.log(
            t,
            5,
            "postgres",
            INFO,
            f"postgres-0 LOG: statement: DROP INDEX CONCURRENTLY {self.index}",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return self.index not in sys.db.indexes


class MigrationLock(FaultSpec):
    """A migration waits for an exclusive lock behind a long query; every query on the table queues."""

    summary: ClassVar[str] = "a migration waits on a lock and blocks the table"
    kind: Literal["migration_lock"]
    table: str
    sql: str = "ALTER TABLE orders ADD COLUMN discount_cents integer NOT NULL DEFAULT 0"
    blocker_sql: str = "SELECT customer_id, sum(total_cents) FROM orders GROUP BY 1 ORDER BY 2 DESC"
    blocker_remaining_s: int = Field(default=2400, ge=1)
    """How much longer the long-running query would run."""
    migration_s: int = Field(default=3, ge=1)
    author: str = "migrate-bot"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        blocker = sys.db.start_backend(
            t - 600,
            "analytics",
            self.table,
            self.blocker_sql,
            self.blocker_remaining_s + 600,
            "metabase",
        )
        blocker.holding, blocker.done_at = True, t + self.blocker_remaining_s
        mig = sys.db.start_backend(
            t, "migration", self.table, self.sql, self.migration_s, "migrate", exclusive=True
        )
        state["pid"] = mig.pid
        state["blocker"] = blocker.pid
        sys.record_change(t, "migration", self.table, "", self.sql, self.author)
        sys.log(
            t,
            6,
            "deployer",
            INFO,
            f"migrate-job release=2026.03.14-1 running migration 0142_add_discount: {self.sql}",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return any(b.pid == state["pid"] and not b.holding for b in sys.db.all_backends())


class DiskFill(FaultSpec):
    """A job writes a local spool to the database volume until it is full; then writes fail."""

    summary: ClassVar[str] = "a runaway job fills the database volume"
    kind: Literal["disk_fill"]
    job: str
    """A `disk` job in `system.jobs` to start."""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        sys.start_job(t, self.job, author="cron")

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return sys.jobs[self.job].state == "running"


class LedgerReadOnly(FaultSpec):
    """The ledger store comes back read-only; charges succeed at the provider but cannot be recorded."""

    summary: ClassVar[str] = "the ledger store is read-only, so charges are retried"
    kind: Literal["ledger_read_only"]
    idempotency_keys: bool = False
    """Whether charge retries carry an idempotency key (the code path in question did not)."""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        sys.ledger_error = "READONLY You can't write against a read only replica."
        sys.config["payments.idempotency_keys"] = self.idempotency_keys
        sys.log(
            t,
            8,
            "postgres",
            ERROR,
            "ledger-0 # MASTER MODE enabled after resync; replica-read-only yes",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return sys.ledger_error is not None
