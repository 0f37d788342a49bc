"""Errors the simulation raises at its callers."""


class Refusal(Exception):
    """An action that cannot be performed in the current state. Nothing was changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvariantFailed(Exception):
    """An incident's invariant query cannot run: an error, a refusal, or past its deadline.

    The incident file is broken; `dojo validate` runs every invariant once to catch this.
    """

    def __init__(self, sql: str, reason: str) -> None:
        super().__init__(f"invariant query failed: {reason}: {sql.strip()[:200]}")
        self.sql = sql
        self.reason = reason
