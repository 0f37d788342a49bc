"""The simulation's one source of randomness, and seeded pools of fake identities.

Everything random in a run flows from `SimRandom(seed)`: a `random.Random` for
draws, Faker seeded from it once to fill pools of fake identities (emails, names
and hosts) that the components then pick from (Faker is slow per call; picking
from a pool is fast and just as realistic in a log line), numpy bit generators
seeded from it for draws made in bulk (`derive_bits`), and values derived from
the seed without touching the stream (`derive`), for parts that must not shift
the other draws (the application database).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from faker import Faker


@dataclass(frozen=True)
class Identities:
    """Seeded pools of fake identities to pick from."""

    emails: tuple[str, ...]
    ips: tuple[str, ...]
    names: tuple[str, ...]
    user_agents: tuple[str, ...]
    hosts: tuple[str, ...]


Draws = tuple[list[float], list[float], list[int], list[int], list[str], list[str], list[str]]


class SimRandom(random.Random):
    """A seeded `random.Random` with a few helpers used by the components."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.seed_value = seed
        self._identities: Identities | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # random.Random's own rebuilds with no seed and drops the attributes set here
        return (self.__class__, (self.seed_value,), (self.getstate(), dict(self.__dict__)))

    def __setstate__(self, state: Any) -> None:
        self.setstate(state[0])
        self.__dict__.update(state[1])

    @property
    def identities(self) -> Identities:
        """The run's pools of fake identities (filled on first use, from this stream)."""
        if self._identities is None:
            # Faker picks from its providers with its own Random; seeding it from ours keeps the
            # one-source-of-randomness rule. Unweighted picks are several times faster, and an
            # address or a name is just as plausible either way.
            fake = Faker("en_US", use_weighting=False)
            fake.seed_instance(self.getrandbits(32))
            self._identities = Identities(
                emails=tuple(fake.unique.email() for _ in range(400)),
                ips=tuple(self.public_ipv4() for _ in range(300)),
                names=tuple(fake.name() for _ in range(200)),
                user_agents=tuple(fake.user_agent() for _ in range(40)),
                hosts=tuple(fake.unique.hostname(0) for _ in range(60)),
            )
        return self._identities

    def public_ipv4(self) -> str:
        """A random globally routable unicast IPv4 address (what Faker's `ipv4_public` gives, faster)."""
        while True:
            ip = ipaddress.IPv4Address(self.getrandbits(32))
            if ip.is_global and not ip.is_multicast:
                return str(ip)

    def derive_bits(self) -> np.random.PCG64:
        """A numpy bit generator seeded by one draw from this stream, for draws made in bulk.

        Its raw 64-bit output (`random_raw`) is stable across numpy versions; the rest of the
        stream is unaffected except for the one draw."""
        return np.random.PCG64(self.getrandbits(64))

    def derive(self, label: str) -> int:
        """A 64-bit value derived from the seed and a label, drawing nothing from the stream.

        The same seed and label give the same value in any process; different labels give
        unrelated values. For a part of the model that must not shift the other draws when it is
        turned on or off (the application database's salt)."""
        digest = hashlib.sha256(f"{label}:{self.seed_value}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def poisson(self, lam: float) -> int:
        """A Poisson draw (inversion with one uniform for small means, a rounded normal for large ones)."""
        if lam <= 0:
            return 0
        if lam < 30:
            u = self.random()
            k = 0
            p = cdf = math.exp(-lam)
            while u > cdf and p > 0.0:
                k += 1
                p *= lam / k
                cdf += p
            return k
        return max(0, round(self.gauss(lam, math.sqrt(lam))))

    def hex_id(self, digits: int = 16) -> str:
        return f"{self.getrandbits(digits * 4):0{digits}x}"


class RequestDraws:
    """The API's per-request random draws, made in bulk with numpy and handed out in order.

    `take(n)` gives the next n requests' draws as columns (lists of n): a latency factor picked
    from `factors`; a uniform in [0, 1) (cache hit or miss); the millisecond of the request's log
    line within its tick; a number to reduce modulo the current count of hosts; a user and an ip
    from the pools; a 48-bit request id as 12 hex digits. Draws are made a block at a time from a
    bit generator derived from the `SimRandom` (see `derive_bits`), so they depend only on the
    seed and on how many requests came before: the same play gives the same draws, in any process.
    """

    BLOCK = 4096

    def __init__(
        self,
        bits: np.random.PCG64,
        factors: Sequence[float],
        emails: Sequence[str],
        ips: Sequence[str],
    ) -> None:
        if len(factors) & (len(factors) - 1):
            raise ValueError("the factor table's length must be a power of two")
        self._bits = bits
        self._factors = np.asarray(factors, dtype=np.float64)
        self._emails = np.array(emails, dtype=object)
        self._ips = np.array(ips, dtype=object)
        self._cols: Draws = ([], [], [], [], [], [], [])
        self._pos = 0

    def take(self, n: int) -> Draws:
        """The next n requests' draws: (factor, u_cache, ms, host, user, ip, req_id)."""
        i, j = self._pos, self._pos + n
        if j > len(self._cols[0]):
            self._refill(n)
            i, j = 0, n
        self._pos = j
        f, u, ms, host, user, ip, req = self._cols
        return f[i:j], u[i:j], ms[i:j], host[i:j], user[i:j], ip[i:j], req[i:j]

    def _refill(self, at_least: int) -> None:
        """Draw a new block; what was left of the old one comes first."""
        b = max(self.BLOCK, at_least)
        w = self._bits.random_raw(4 * b).reshape(4, b)
        # bounded picks by multiply-and-shift of a 24-bit field (cheaper than a modulo)
        new = (
            self._factors[w[0] & (len(self._factors) - 1)].tolist(),
            ((w[1] >> 11) * 2.0**-53).tolist(),
            (((w[2] & 0xFFFFFF) * 1000) >> 24).tolist(),
            ((w[2] >> 24) & 0xFFFF).tolist(),
            self._emails[((w[2] >> 40) * len(self._emails)) >> 24].tolist(),
            self._ips[((w[0] >> 40) * len(self._ips)) >> 24].tolist(),
            w[3].tobytes()[: 6 * b].hex(" ", 6).split(),  # 12 hex digits from 6 random bytes each
        )
        i = self._pos
        f, u, ms, host, user, ip, req = self._cols
        self._cols = (
            f[i:] + new[0],
            u[i:] + new[1],
            ms[i:] + new[2],
            host[i:] + new[3],
            user[i:] + new[4],
            ip[i:] + new[5],
            req[i:] + new[6],
        )
        self._pos = 0
