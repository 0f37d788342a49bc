"""Business records the model keeps exact track of, with or without the application database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Records:
    """Business records the model keeps exact track of (orders, charges, emails)."""

    orders: int = 0
    corrupted: dict[int, str] = field(default_factory=dict)
    """order number -> the version that wrote it wrong"""
    repaired: int = 0
    charges: dict[int, int] = field(default_factory=dict)
    """order number -> successful charges at the provider"""
    refunded: dict[int, int] = field(default_factory=dict)
    emails: int = 0

    @property
    def duplicate_charges(self) -> int:
        """Extra charges not refunded."""
        return sum(self._extra().values())

    def duplicate_cents(self, cents_of: Callable[[int], int]) -> int:
        """Money taken twice: each extra charge at what its order costs."""
        return sum(n * cents_of(o) for o, n in self._extra().items())

    def _extra(self) -> dict[int, int]:
        """The orders charged more often than once and not refunded, with how many times more
        (a plain loop: an order is charged once far more often than not, and a generator with a
        `max()` call per order costs several times as much)."""
        refunded = self.refunded
        extra = {}
        for o, n in self.charges.items():
            k = n - 1 - refunded.get(o, 0)
            if k > 0:
                extra[o] = k
        return extra
