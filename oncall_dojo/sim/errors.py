"""Errors the simulation raises at its callers."""


class Refusal(Exception):
    """An action that cannot be performed in the current state. Nothing was changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
