"""Faults made by a runtime setting: a config or flag change, retries without backoff, and a
reused flag that wakes a retired code path on old replicas."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from oncall_dojo.sim.components.traits import Unless
from oncall_dojo.sim.config import VersionTraits
from oncall_dojo.sim.faults.base import FaultSpec
from oncall_dojo.sim.observability.logs import INFO

if TYPE_CHECKING:
    from oncall_dojo.sim.system import System

Setting = bool | int | float | str
"""A flag's or config key's value."""


def remedies(fixed_by: list[Setting] | None, before: Any) -> Unless:
    """The values that remove a setting fault: those the file names, else the value before it."""
    return Unless(list(fixed_by) if fixed_by is not None else [before])


class SettingFault(FaultSpec):
    """A fault that is a flag or config key holding a value, removed only by the values the
    incident names under `fixed_by` (the value before the change when it names none)."""

    key: str
    value: Setting
    fixed_by: list[Setting] | None = Field(default=None, min_length=1)

    @property
    def store(self) -> Literal["flag", "config"]:
        """Where the key lives: the flags (`flag NAME VALUE`) or the config (`config KEY VALUE`)."""
        return "flag" if self.kind in ("flag_change", "reused_flag") else "config"

    def fixes(self, state: dict[str, Any]) -> Unless:
        """The remedies, as fixed when the fault began."""
        fixes: Unless = state["fixed_by"]
        return fixes

    def _remember(self, before: Any, state: dict[str, Any]) -> Unless:
        fixes = state["fixed_by"] = remedies(self.fixed_by, before)
        return fixes


class ConfigChange(SettingFault):
    """A runtime config or feature-flag change, optionally giving services traits while it stands.

    It is removed only by setting the key to one of `fixed_by` (by default the value it had
    before); until then its traits hold, whatever else the key is set to."""

    summary: ClassVar[str] = "a config change"
    kind: Literal["config_change", "flag_change"]
    key: str
    """Config key or flag name."""
    value: Setting
    """The value the change sets."""
    fixed_by: list[Setting] | None = Field(default=None, min_length=1)
    """Values of the key that remove the fault (default: the value it had before the change). Any
    other value leaves the fault, and its traits, in place. Values compare as the console reads them
    (`on` is true, `"3"` is 3)."""
    traits: dict[str, VersionTraits] = {}
    """Traits per service while the change stands (the key holds none of `fixed_by`)."""
    author: str = "ops-console"

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        store = sys.flags if self.kind == "flag_change" else sys.config
        before = store.get(self.key)
        store[self.key] = self.value
        fixes = self._remember(before, state)
        for service, tr in self.traits.items():
            sys.conditional_traits.append((self.kind, self.key, fixes, service, tr))
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
        return not self.fixes(state).fixed(store.get(self.key))


class RetryStorm(ConfigChange):
    """Retries without backoff: every timeout turns into more calls to an already slow dependency."""

    summary: ClassVar[str] = "retries without backoff amplify load on a slow dependency"
    kind: Literal["retry_storm"]  # type: ignore[assignment]
    key: str = "payments.retry.backoff"
    value: bool | int | float | str = "none"
    fixed_by: list[Setting] | None = Field(default=None, min_length=1)
    """Backoff policies (values of `key`) that remove the fault (default: the one before the
    change); with any other, retries stay immediate while more than 2 attempts are allowed."""
    max_attempts: int = Field(default=6, ge=2)

    def begin(self, sys: System, t: int, state: dict[str, Any]) -> None:
        sys.config["payments.retry.max_attempts"] = self.max_attempts
        before = sys.config.get(self.key)
        sys.config[self.key] = self.value
        self._remember(before, state)
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
            not self.fixes(state).fixed(sys.config.get(self.key))
            and int(sys.config.get("payments.retry.max_attempts", 1)) > 2
        )


class ReusedFlag(SettingFault):
    """A flag turned on for new code, which older versions still read for a retired code path.

    While the flag has `value`, replicas of the pool running one of `legacy_versions` get the
    `legacy` traits (Knight Capital's repurposed flag woke dead code on the one server the new
    release had missed). Active while the flag holds and any such replica is running."""

    summary: ClassVar[str] = "a reused flag wakes a retired code path on old replicas"
    kind: Literal["reused_flag"]
    key: str
    """The flag."""
    value: Setting = True
    fixed_by: list[Setting] | None = Field(default=None, min_length=1)
    """Values of the key that remove the fault (default: the value it had before the change). Any
    other value leaves the fault, and its traits, in place. Values compare as the console reads them
    (`on` is true, `"3"` is 3)."""
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
        fixes = self._remember(before, state)
        for v in self.legacy_versions:
            sys.conditional_traits.append(
                ("flag_change", self.key, fixes, f"{self.pool}@{v}", self.legacy)
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
        if self.fixes(state).fixed(sys.flags.get(self.key)):
            return False
        return any(r.version in self.legacy_versions for r in sys.pools[self.pool].live)
