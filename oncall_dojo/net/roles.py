"""Incident-command roles, what each may do, and the seats (join tokens) a host hands out.

A seat is one join link: a role to start in and a secret token from `secrets`. The first
player to join with a token takes the seat; the token then admits that player only (to
reconnect), and anyone else presenting it is refused. The record keeps only each token's
SHA-256, so a database or an export never holds a way in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

ROLES = ("facilitator", "commander", "operations", "communications", "scribe", "observer")
POWERS = ("investigate", "act", "status", "declare", "hint", "say", "note", "facilitate", "answer")
"""What a role may do:

- investigate: read the system (alerts, logs, metrics, queues, `help`, `causes`...)
- act: change the system, acknowledge the page, run SQL that writes
- status: post status updates, page another team
- declare: declare the root cause and the incident resolved
- hint: take a hint (a facilitator releases hints; players do not by default)
- say: talk to the team; note: write a note into the team's timeline
- facilitate: pause, resume, speed, release hints, end, private notes, roles
- answer: see the root cause and the reference (the facilitator's view, never a player's)
"""
DEFAULT_POWERS: dict[str, frozenset[str]] = {
    "facilitator": frozenset({"say", "facilitate", "answer"}),
    "commander": frozenset({"investigate", "act", "status", "declare", "say", "note"}),
    "operations": frozenset({"investigate", "act", "say"}),
    "communications": frozenset({"investigate", "status", "say"}),
    "scribe": frozenset({"investigate", "say", "note"}),
    "observer": frozenset(),
}
DEFAULT_SPEC = "commander,operations*2,communications,scribe,observer"
"""The seats a host hands out when not told otherwise (a facilitator seat is always added)."""
MAX_SEATS = 64

STATUS_COMMANDS = frozenset({"update", "answer", "escalate"})
DECLARE_COMMANDS = frozenset({"diagnose", "resolve"})


_SPELLED = {"declare": sorted(DECLARE_COMMANDS), "status": sorted(STATUS_COMMANDS)}


def powers_text(powers: list[str] | tuple[str, ...]) -> str:
    """A member's powers as a player reads them, with the commands behind the two that are
    not commands themselves: "act, declare (diagnose, resolve), ..., status (answer, ...)"."""
    if not powers:
        return "watch only"
    return ", ".join(f"{pw} ({', '.join(_SPELLED[pw])})" if pw in _SPELLED else pw for pw in powers)


def power_for(name: str, kind: str) -> str:
    """The power a command needs, from its canonical name and kind (see `game.commands`)."""
    if name in STATUS_COMMANDS:
        return "status"
    if name in DECLARE_COMMANDS:
        return "declare"
    if name == "hint":
        return "hint"
    if kind == "investigate" or name in ("help", "causes"):
        return "investigate"
    return "act"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class Seat:
    """One join link: the role it starts in, its token's digest, and who took it."""

    index: int
    role: str
    token_digest: str
    token: str | None = None
    """The token itself, on the host that made it (never recorded)."""
    player: str | None = None

    def admits(self, token: str) -> bool:
        return hmac.compare_digest(digest(token), self.token_digest)


@dataclass
class Roles:
    """The powers of each role, as the host set them."""

    powers: dict[str, frozenset[str]] = field(default_factory=lambda: dict(DEFAULT_POWERS))

    def may(self, role: str, power: str) -> bool:
        return power in self.powers.get(role, frozenset())


class SpecError(ValueError):
    """A `--roles` value that cannot be read; the text says where."""


def parse_spec(spec: str) -> tuple[list[str], Roles]:
    """`--roles`: seats and powers, e.g. `commander,operations*3,observer*2,scribe=investigate+note`.

    Each item is `ROLE[*COUNT][=POWER+POWER...]`: COUNT seats in ROLE (default 1), and when
    `=` is given, exactly those powers for the role (`=` alone: no powers). A facilitator
    seat is always added first. Returns the seats' roles in order and the roles' powers."""
    roles = Roles()
    seats = ["facilitator"]
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        head, eq, powers = item.partition("=")
        role, star, count = head.strip().partition("*")
        role = role.strip()
        if role not in ROLES:
            raise SpecError(f"--roles: unknown role {role!r} (roles: {', '.join(ROLES)})")
        n = 1
        if star:
            if not count.strip().isdigit() or not 0 <= int(count) <= MAX_SEATS:
                raise SpecError(f"--roles: {item!r}: the count must be 0 to {MAX_SEATS}")
            n = int(count)
        if eq:
            wanted = {p.strip() for p in powers.split("+") if p.strip()}
            unknown = sorted(wanted - set(POWERS))
            if unknown:
                raise SpecError(
                    f"--roles: {item!r}: unknown power {unknown[0]!r} (powers: {', '.join(POWERS)})"
                )
            roles.powers[role] = frozenset(wanted)
        if role != "facilitator":
            seats.extend([role] * n)
    if len(seats) > MAX_SEATS:
        raise SpecError(f"--roles: at most {MAX_SEATS} seats")
    if "commander" not in seats:
        raise SpecError("--roles: a game needs a commander seat")
    return seats, roles


def new_seats(roles: list[str]) -> list[Seat]:
    """A fresh seat, with a new random token, for each role in order."""
    out = []
    for i, role in enumerate(roles):
        token = secrets.token_urlsafe(24)
        out.append(Seat(i, role, digest(token), token))
    return out
