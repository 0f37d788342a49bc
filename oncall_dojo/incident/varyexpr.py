"""Arithmetic and time formats inside `${...}`: `${fault_at + 43}`, `${fault_at + gap | clock}`.

An incident often needs one moment relative to another ("the second fault 43 s after the
first", "the alert text names the time the disk filled"). A reference may hold a small
expression over the `vary` values, and may end with `| FORMAT`:

- numbers (`43`, `0.5`), variables, `+ - * / // %`, unary minus and parentheses;
- `| mmss`: seconds as `MM:SS`, or `H:MM:SS` from an hour (as the game shows times);
- `| clock`: the wall-clock time of that tick, `HH:MM:SS`, from the system's `start`;
- `| iso`: the same as an ISO 8601 timestamp, `2026-03-14T03:07:23Z`, as log lines print;
- `| int`: rounded to the nearest whole number;
- `| bytes`, `| duration`, `| percent`: a number of bytes (`2.4 MB`), seconds as a duration
  (`4m 30s`) or a ratio as a percentage (`25%`), as `oncall_dojo.sim.units` words them.

Nothing else is evaluated: the expression is parsed with `ast` and only those nodes are
allowed, so a file cannot run code, and an error says exactly what is wrong with it.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from oncall_dojo.sim.units import UNITS

Number = int | float
MAX_LENGTH = 200
"""The longest expression accepted (a reference is a short formula, not a program)."""
MAX_MAGNITUDE = 10**12
"""Larger results are refused: no time or count in an incident comes near it."""

_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_SYMBOL = {ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<"}


class ExprError(ValueError):
    """What is wrong with an expression, in words for the author."""


def _mmss(seconds: Number, start: datetime) -> str:
    total = round(seconds)
    sign = "-" if total < 0 else ""
    h, rem = divmod(abs(total), 3600)
    m, s = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m:02d}:{s:02d}"


def _at(seconds: Number, start: datetime) -> datetime:
    return start + timedelta(seconds=round(seconds))


def _in_unit(unit: Callable[[float], str]) -> Callable[[Number, datetime], str]:
    return lambda v, start: unit(v)


FORMATS: dict[str, Callable[[Number, datetime], str | int]] = {
    "mmss": _mmss,
    "clock": lambda s, start: _at(s, start).strftime("%H:%M:%S"),
    "iso": lambda s, start: _at(s, start).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "int": lambda s, start: round(s),
    **{name: _in_unit(fn) for name, fn in UNITS.items()},
}


def parse_start(text: object) -> datetime | None:
    """The system's `start` (ISO 8601) as an aware datetime, or None if it does not parse."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def evaluate(text: str, values: Mapping[str, object], start: datetime) -> str | int | float:
    """The value of `expr [| format]` over `values`; raises ExprError, or KeyError(name) for a
    variable that is not declared (the caller words that one, with a suggestion)."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"an expression is at most {MAX_LENGTH} characters")
    expr, bar, fmt = text.partition("|")
    fmt = fmt.strip()
    if bar and fmt not in FORMATS:
        raise ExprError(f"unknown format `{fmt}`; formats: {', '.join(FORMATS)}")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise ExprError(f"`{expr.strip()}` is not an expression") from None
    value = _eval(tree.body, values)
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ExprError(f"`{expr.strip()}` is out of range ({value})")
    return FORMATS[fmt](value, start) if bar else value


def _eval(node: ast.AST, values: Mapping[str, object]) -> Number:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExprError(f"only numbers can be computed with, not {node.value!r}")
        return node.value
    if isinstance(node, ast.Name):
        value = values[node.id]  # KeyError: not declared
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExprError(f"`{node.id}` is {value!r}, not a number")
        return value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _eval(node.operand, values)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, values), _eval(node.right, values)
        if right == 0 and isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod):
            raise ExprError("division by zero")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.BinOp):
        op = _SYMBOL.get(type(node.op), type(node.op).__name__)
        raise ExprError(f"`{op}` is not allowed; use + - * / // % and parentheses")
    raise ExprError(
        f"`{ast.unparse(node)}` is not allowed; use numbers, variables, + - * / // % "
        "and parentheses"
    )
