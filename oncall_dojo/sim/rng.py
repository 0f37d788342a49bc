"""The simulation's one source of randomness, and seeded pools of fake identities.

Everything random in a run flows from `SimRandom(seed)`: a `random.Random` for
draws, and Faker seeded from it once to fill pools of emails, IPs and names that
the components then pick from (Faker is slow per call; picking from a pool is
fast and just as realistic in a log line).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from faker import Faker


@dataclass(frozen=True)
class Pools:
    emails: tuple[str, ...]
    ips: tuple[str, ...]
    names: tuple[str, ...]
    user_agents: tuple[str, ...]
    hosts: tuple[str, ...]


class SimRandom(random.Random):
    """A seeded `random.Random` with a few helpers used by the components."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.seed_value = seed
        self._pools: Pools | None = None

    @property
    def pools(self) -> Pools:
        if self._pools is None:
            fake = Faker("en_US")
            fake.seed_instance(self.getrandbits(32))
            # Faker picks from its providers with its own Random; seeding it from ours
            # keeps the one-source-of-randomness rule.
            self._pools = Pools(
                emails=tuple(fake.unique.email() for _ in range(400)),
                ips=tuple(fake.ipv4_public() for _ in range(300)),
                names=tuple(fake.name() for _ in range(200)),
                user_agents=tuple(fake.user_agent() for _ in range(40)),
                hosts=tuple(fake.unique.hostname(0) for _ in range(60)),
            )
        return self._pools

    def poisson(self, lam: float) -> int:
        """A Poisson draw (Knuth for small means, a rounded normal for large ones)."""
        if lam <= 0:
            return 0
        if lam < 30:
            limit = math.exp(-lam)
            k, p = 0, self.random()
            while p > limit:
                k += 1
                p *= self.random()
            return k
        return max(0, round(self.gauss(lam, math.sqrt(lam))))

    def hex_id(self, digits: int = 16) -> str:
        return f"{self.getrandbits(digits * 4):0{digits}x}"
