"""What each running version of a service does: its configured traits, plus those that hold
while a flag or config key has a value (a flag that wakes a code path, a setting that slows one).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from oncall_dojo.sim.config import SystemConfig, VersionTraits

NO_TRAITS = VersionTraits()

Conditional = tuple[str, str, Any, str, VersionTraits]
"""(store, key, value, service, traits): traits a service (or `service@version`) has while the
flags (store `flag_change`), the config, or the effects (store `effect`: a resource's threshold
that holds) hold a value; value None means "while truthy", an `Unless` "while the key holds
none of these values"."""


def truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.lower() in {"1", "true", "on", "yes", "enabled"}
    return bool(v)


def canonical(v: Any) -> Any:
    """A setting's value as the console reads what is typed: `on`/`off`, numbers and text, so
    that `3` typed and `"3"` written in a file are the same value."""
    if not isinstance(v, str):
        return v
    return _canonical_text(v)


@lru_cache(maxsize=1024)
def _canonical_text(v: str) -> Any:
    """`canonical` of a text, remembered: the traits of every replica are read every tick, each
    reading a setting's value this way (trying int() and float() on a word raises twice)."""
    low = v.lower()
    if low in ("true", "on", "yes"):
        return True
    if low in ("false", "off", "no"):
        return False
    for kind in (int, float):
        try:
            return kind(v)
        except ValueError:
            pass
    return v


def same_value(a: Any, b: Any) -> bool:
    """Whether two setting values are the same once read as the console reads them."""
    return bool(a == b or canonical(a) == canonical(b))


class Unless:
    """A condition on a flag or config key: holds while the key has none of `values` (the
    remedies a fault names)."""

    __slots__ = ("_canon", "values")

    def __init__(self, values: list[Any]) -> None:
        self.values = list(values)
        self._canon = [canonical(v) for v in self.values]

    def fixed(self, have: Any) -> bool:
        """Whether `have` is one of the remedies."""
        return have in self.values or canonical(have) in self._canon

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unless) and other.values == self.values

    def __hash__(self) -> int:
        return hash(tuple(map(repr, self.values)))

    def __repr__(self) -> str:
        return f"Unless({self.values!r})"


def startup_panic(tr: VersionTraits, config: Mapping[str, Any]) -> str | None:
    """What a replica of a version prints as it dies at startup, or None when it can start: its
    own panic, else a config key it needs that is not set, or that holds none of the values it
    starts with (`requires_values`)."""
    if tr.crash_on_start:
        return tr.crash_on_start
    key = tr.requires_config
    if not key:
        return None
    if key not in config:
        return f"panic: config key {key!r} is not set"
    if tr.requires_values is not None and not Unless(tr.requires_values).fixed(config[key]):
        return f"panic: invalid value {str(config[key])!r} for config key {key!r}"
    return None


class TraitBook:
    """The traits of (service, version) now, merged from the configured and conditional ones."""

    def __init__(self, cfg: SystemConfig, flags: dict[str, Any], config: dict[str, Any]) -> None:
        self.cfg = cfg
        self._versions = cfg.versions
        """The configuration's versions (deploys add to this very dict), read per call."""
        self.flags = flags
        self.config = config
        self.effects: dict[str, bool] = {}
        """Whether each threshold of the incident's resources holds, by its key."""
        self.conditional: list[Conditional] = [
            ("flag_change", flag, None, service, tr)
            for flag, per in cfg.flag_traits.items()
            for service, tr in per.items()
        ]
        self._merged: dict[
            tuple[str, str], tuple[VersionTraits, list[VersionTraits], VersionTraits]
        ] = {}
        """Traits merged from conditional ones, with what they were merged from (see `get`)."""

    def get(self, service: str, version: str) -> VersionTraits:
        base = self._versions.get(service, {}).get(version, NO_TRAITS)
        extra = []
        pinned = None  # "service@version", formatted once a call when needed
        for store, key, value, svc, tr in self.conditional:
            if svc != service:
                if pinned is None:
                    pinned = f"{service}@{version}"
                if svc != pinned:
                    continue
            if store == "flag_change":
                have = self.flags.get(key)
            elif store == "effect":
                have = self.effects.get(key)
            else:
                have = self.config.get(key)
            if isinstance(value, Unless):
                holds = not value.fixed(have)
            else:
                holds = (value is None and truthy(have)) or (value is not None and have == value)
            if holds:
                extra.append(tr)
        if not extra:
            return base
        hit = self._merged.get((service, version))
        if (
            hit is not None
            and hit[0] is base
            and len(hit[1]) == len(extra)
            and all(a is b for a, b in zip(hit[1], extra, strict=True))
        ):
            return hit[2]  # the same traits hold as at the last call: reuse the merge
        merged = base.model_copy(deep=True)
        for tr in extra:
            _merge(merged, tr)
        self._merged[(service, version)] = (base, extra, merged)
        return merged


def _merge(merged: VersionTraits, tr: VersionTraits) -> None:
    """Add one set of conditional traits to a version's (in place)."""
    for k, v in tr.error_rate.items():
        merged.error_rate[k] = merged.error_rate.get(k, 0.0) + v
    merged.latency_x *= tr.latency_x
    merged.cpu_x *= tr.cpu_x
    merged.memory_leak_mb_per_min += tr.memory_leak_mb_per_min
    if tr.corrupt_writes > merged.corrupt_writes:  # the worse bug writes the rows, its way
        merged.corrupt_writes = tr.corrupt_writes
        merged.corrupts = tr.corrupts
        merged.corruption = tr.corruption
    for k, v in tr.extra_queries.items():
        merged.extra_queries[k] = merged.extra_queries.get(k, 0.0) + v
    merged.crash_on_start = merged.crash_on_start or tr.crash_on_start
    if tr.message_error_rate > merged.message_error_rate:
        merged.message_error_rate = tr.message_error_rate
        merged.message_error = tr.message_error or merged.message_error
    elif merged.message_error is None:
        merged.message_error = tr.message_error
    merged.charges_per_message = max(merged.charges_per_message, tr.charges_per_message)
    for k, v in tr.fanout.items():
        merged.fanout[k] = merged.fanout.get(k, 0.0) + v
