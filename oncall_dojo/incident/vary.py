"""Variation by seed: the specifics a player could memorize change with the seed.

An incident file declares variables under `vary:` and uses them anywhere else
as `${name}`::

    vary:
      fault_at: {range: [120, 600]}                 # an int drawn uniformly, both ends included
      distractor: {choices: [mailer, fulfillment]}  # one of the values (any scalar)
    faults:
      - kind: deploy
        at: ${fault_at}                             # exactly `${name}`: the value, with its type
        service: ${distractor}
        note: "bump ${distractor} templates"        # inside text: substituted as text

Every string scalar and mapping key outside `vary:` may use a variable
(playthrough actions too); `$${` writes a literal `${`. The `id` cannot vary.

Values depend only on (seed, incident id, variable name): each is drawn from a
`random.Random` seeded with a SHA-256 of the three, independent of the
simulation's random stream, so a pick is the same in any process and under any
PYTHONHASHSEED, and adding a variable never changes the others' picks.
"""

from __future__ import annotations

import difflib
import hashlib
import random
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from oncall_dojo.incident.varyexpr import ExprError, evaluate, parse_start
from oncall_dojo.sim.config import SystemConfig

Scalar = bool | int | float | str
Loc = tuple[str | int, ...]
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
VarName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
VARY_KEY = "vary"
_start = parse_start(SystemConfig.model_fields["start"].default)
assert _start is not None, "the system's default start is ISO 8601"
DEFAULT_START: datetime = _start
"""Tick 0's wall clock when the file does not set `system.start` (for `| clock`, `| iso`)."""

# `$${` (an escaped, literal `${`) or `${name}`; a `${` without its `}` is an error.
_REF = re.compile(r"\$\$\{|\$\{(?P<name>[^}\n]*)(?P<close>\})?")
_WHOLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WHOLE_EXPR = re.compile(r"\$\{([^}\n]*)\}")


class Variable(BaseModel):
    """One variable of `vary:`: give exactly one of `range` or `choices`.

    Use it anywhere else as `${name}`, or in a small expression over the variables:
    `${fault_at + 43}`, `${(a + b) // 60}` (numbers, `+ - * / // %`, unary minus and
    parentheses), optionally formatted as a time: `${fault_at + 43 | mmss}` (`07:23`),
    `| clock` (the wall-clock time of that tick, `03:07:23`, from `system.start`), `| iso`
    (`2026-03-14T03:07:23Z`, as log lines print it), `| int` (rounded), or with a unit:
    `| bytes` (`2.4 MB`), `| duration` (`4m 30s`), `| percent` (`25%`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    range: tuple[int, int] | None = None
    """`[low, high]`: an integer drawn uniformly, both ends included."""
    choices: list[Scalar] | None = Field(default=None, min_length=1)
    """One of these values, each as likely (strings, numbers or booleans)."""

    @model_validator(mode="after")
    def _one_kind(self) -> Variable:
        if (self.range is None) == (self.choices is None):
            raise ValueError("give exactly one of `range: [low, high]` or `choices: [...]`")
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError(f"range {list(self.range)}: low must not be above high")
        return self


def pick(seed: int, incident_id: str, name: str, var: Variable) -> Scalar:
    """The value of one variable for a seed: deterministic, and the same in any process."""
    digest = hashlib.sha256(f"oncall-dojo vary\0{incident_id}\0{name}\0{seed}".encode()).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    if var.range is not None:
        low, high = var.range
        return rng.randint(low, high)
    choices = var.choices or []
    return choices[rng.randrange(len(choices))]


def pick_all(seed: int, incident_id: str, vary: Mapping[str, Variable]) -> dict[str, Scalar]:
    """Every variable's value for a seed, in the order they are declared."""
    return {name: pick(seed, incident_id, name, var) for name, var in vary.items()}


def covering_seeds(
    incident_id: str, vary: Mapping[str, Variable], first: int = 5, search: int = 2000
) -> list[int]:
    """Seeds worth validating: 1..`first`, then the smallest seeds that make every choice of
    every variable appear at least once (searched up to `search`)."""
    seeds = list(range(1, first + 1)) if vary else [1]
    for name, var in vary.items():
        if var.choices is None:
            continue
        seen = {_key(pick(s, incident_id, name, var)) for s in seeds}
        wanted = {_key(c) for c in var.choices} - seen
        for s in range(first + 1, search + 1):
            if not wanted:
                break
            value = _key(pick(s, incident_id, name, var))
            if value in wanted:
                wanted.discard(value)
                seeds.append(s)
    return sorted(set(seeds))


def _key(value: Scalar) -> tuple[str, Scalar]:
    return (type(value).__name__, value)  # True and 1 are different choices


def as_text(value: Scalar) -> str:
    """How a value reads inside text (booleans as YAML writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe(values: Mapping[str, Scalar], width: int = 32) -> str:
    """`name=value, ...`, long values shortened to `width` characters."""

    def short(v: Scalar) -> str:
        text = as_text(v)
        return text if len(text) <= width else text[: width - 1] + "…"

    return ", ".join(f"{k}={short(v)}" for k, v in values.items())


class Substitution:
    """The document with `${name}` replaced, the mapping keys renamed (for positions), and the
    problems found: (loc, message, at_key) with locs spelled with the keys as written."""

    def __init__(self, names: Mapping[str, Scalar], start: datetime = DEFAULT_START) -> None:
        self.names = names
        self.start = start
        self.problems: list[tuple[Loc, str, bool]] = []
        self.renames: dict[Loc, dict[str, str]] = {}

    def run(self, data: Any) -> Any:
        if not isinstance(data, dict):
            return self._value(data, ())
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key == VARY_KEY:
                out[key] = value
            elif key == "id":
                if isinstance(value, str) and "${" in value:
                    self.problems.append((("id",), "the id cannot use `${...}`", False))
                out[key] = value
            else:
                self._put(out, (), key, self._value(value, (key,)))
        return out

    def _put(self, out: dict[str, Any], loc: Loc, key: str, value: Any) -> None:
        new = self._text(key, (*loc, key), at_key=True) if "${" in key else key
        if new != key:
            self.renames.setdefault(loc, {})[key] = new
        if new in out:
            self.problems.append(
                ((*loc, key), f"key {key!r} becomes {new!r}, which the mapping already has", True)
            )
        out[new] = value

    def _value(self, value: Any, loc: Loc) -> Any:
        if isinstance(value, str):
            return self._text(value, loc) if "${" in value else value
        if isinstance(value, list):
            return [self._value(v, (*loc, i)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for k, v in value.items():
                self._put(out, loc, k, self._value(v, (*loc, k)))
            return out
        return value

    def _text(self, text: str, loc: Loc, at_key: bool = False) -> Any:
        whole = _WHOLE.fullmatch(text)
        if whole is not None and not at_key:
            name = whole.group(1)
            if self._known(name, loc, at_key):
                return self.names[name]
            return text

        def one(m: re.Match[str]) -> str:
            if m.group(0) == "$${":
                return "${"
            name = m.group("name")
            if m.group("close") is None:
                self.problems.append((loc, f"`${{{name}` has no closing `}}`", at_key))
                return m.group(0)
            if not re.fullmatch(NAME_PATTERN, name):
                value = self._expr(name, loc, at_key)
                return m.group(0) if value is None else as_text(value)
            if not self._known(name, loc, at_key):
                return m.group(0)
            return as_text(self.names[name])

        whole_expr = _WHOLE_EXPR.fullmatch(text)
        if whole_expr is not None and not at_key:
            value = self._expr(whole_expr.group(1), loc, at_key)
            return text if value is None else value
        return _REF.sub(one, text)

    def _expr(self, text: str, loc: Loc, at_key: bool) -> Scalar | None:
        """`${expr | format}`: the value, or None with the problem noted."""
        try:
            return evaluate(text, self.names, self.start)
        except KeyError as missing:
            self._known(str(missing.args[0]), loc, at_key)
        except ExprError as exc:
            self.problems.append((loc, f"`${{{text}}}`: {exc}", at_key))
        return None

    def _known(self, name: str, loc: Loc, at_key: bool) -> bool:
        if name in self.names:
            return True
        declared = list(self.names)
        close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
        tip = f" (did you mean `${{{close[0]}}}`?)" if close else ""
        have = (
            f"; `vary` declares: {', '.join(declared)}"
            if declared
            else "; declare it under `vary:`"
        )
        self.problems.append((loc, f"unknown variable `${{{name}}}`{tip}{have}", at_key))
        return False


def substitute(
    data: Any, values: Mapping[str, Scalar]
) -> tuple[Any, dict[Loc, dict[str, str]], list[tuple[Loc, str, bool]]]:
    """Replace `${name}` everywhere but under `vary:`; (data, key renames, problems)."""
    system = data.get("system") if isinstance(data, dict) else None
    start = parse_start(system.get("start")) if isinstance(system, dict) else None
    sub = Substitution(values, start or DEFAULT_START)
    out = sub.run(data)
    return out, sub.renames, sub.problems
