"""Faults made by a runtime setting: a config or flag change, retries without backoff, and a
reused flag that wakes a retired code path on old replicas."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from oncall_dojo.sim.config import VersionTraits
from oncall_dojo.sim.faults.base import FaultSpec
from oncall_dojo.sim.observability.logs import INFO

if TYPE_CHECKING:
    from oncall_dojo.sim.system import System


class ConfigChange(FaultSpec):
    """A runtime config or feature-flag change, optionally giving services traits while it stands."""

    summary: ClassVar[str] = "a config change"
    kind: Literal["config_change", "flag_change"]
    key: str
    """Config key or flag name."""
    value: bool | int | float | str
    traits: dict[str, VersionTraits] = {}
    """Traits per service while the key has this value."""
    author: str = "ops-console"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        store = sys.flags if self.kind == "flag_change" else sys.config
        before = store.get(self.key)
        store[self.key] = self.value
        for service, tr in self.traits.items():
            sys.conditional_traits.append((self.kind, self.key, self.value, service, tr))
        sys.record_change(
            t,
            "flag" if self.kind == "flag_change" else "config",
            self.key,
            str(before),
            str(self.value),
            self.author,
        )
        sys.log(
            t,
            4,
            "deployer",
            INFO,
            f"config-service {'flag' if self.kind == 'flag_change' else 'config'} changed key={self.key} from={before} to={self.value} by={self.author}",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        store = sys.flags if self.kind == "flag_change" else sys.config
        return store.get(self.key) == self.value


class RetryStorm(ConfigChange):
    """Retries without backoff: every timeout turns into more calls to an already slow dependency."""

    summary: ClassVar[str] = "retries without backoff amplify load on a slow dependency"
    kind: Literal["retry_storm"]  # type: ignore[assignment]
    key: str = "payments.retry.backoff"
    value: bool | int | float | str = "none"
    max_attempts: int = Field(default=6, ge=2)

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        sys.config["payments.retry.max_attempts"] = self.max_attempts
        before = sys.config.get(self.key)
        sys.config[self.key] = self.value
        sys.record_change(
            t,
            "config",
            self.key,
            str(before),
            str(self.value),
            self.author,
            f"and payments.retry.max_attempts={self.max_attempts}",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        return (
            sys.config.get(self.key) == self.value
            and int(sys.config.get("payments.retry.max_attempts", 1)) > 2
        )


class ReusedFlag(FaultSpec):
    """A flag turned on for new code, which older versions still read for a retired code path.

    While the flag has `value`, replicas of the pool running one of `legacy_versions` get the
    `legacy` traits (Knight Capital's repurposed flag woke dead code on the one server the new
    release had missed). Active while the flag holds and any such replica is running."""

    summary: ClassVar[str] = "a reused flag wakes a retired code path on old replicas"
    kind: Literal["reused_flag"]
    key: str
    """The flag."""
    value: bool | int | float | str = True
    pool: str
    """Worker pool whose old versions still read the flag."""
    legacy_versions: list[str] = Field(min_length=1)
    """Versions that still carry the retired code path."""
    legacy: VersionTraits
    """What the retired code path does."""
    author: str = "product-bot"
    note: str = ""

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        before = sys.flags.get(self.key)
        sys.flags[self.key] = self.value
        for v in self.legacy_versions:
            sys.conditional_traits.append(
                ("flag_change", self.key, self.value, f"{self.pool}@{v}", self.legacy)
            )
        sys.record_change(t, "flag", self.key, str(before), str(self.value), self.author, self.note)
        sys.log(
            t,
            4,
            "deployer",
            INFO,
            f"config-service flag changed key={self.key} from={before} to={self.value} by={self.author}",
        )

    def active(self, sys: System, state: dict[str, Any]) -> bool:
        if sys.flags.get(self.key) != self.value:
            return False
        return any(r.version in self.legacy_versions for r in sys.pools[self.pool].live)
