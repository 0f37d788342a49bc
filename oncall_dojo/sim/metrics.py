"""Metrics the components emit, stored as numpy arrays, queried with a tiny PromQL subset.

Series have Prometheus-style names and labels. Counters store per-tick
increments (their exposed value is the running sum), gauges store the value at
each tick, histograms store per-tick bucket counts so that quantiles can be
computed over any window the way `histogram_quantile` does.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["counter", "gauge", "histogram"]
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"),
)  # fmt: skip

_SELECTOR = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


class SelectorError(ValueError):
    pass


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[tuple[str, str, str], ...]

    @classmethod
    def parse(cls, text: str) -> Selector:
        m = _SELECTOR.match(text)
        if not m:
            raise SelectorError(f"not a metric selector: {text!r} (expected name{{label=\"value\"}})")
        name, body = m.group(1), (m.group(2) or "").strip()
        matchers: list[tuple[str, str, str]] = []
        pos = 0
        while pos < len(body):
            mm = _MATCHER.match(body, pos)
            if not mm:
                raise SelectorError(f"bad label matcher in {text!r} at {body[pos:]!r}")
            label, op, value = mm.groups()
            if op in ("=~", "!~"):
                try:
                    re.compile(value)
                except re.error as exc:
                    raise SelectorError(f"bad regex {value!r} in {text!r}: {exc}") from None
            matchers.append((label, op, value))
            pos = mm.end()
        return cls(name, tuple(matchers))

    def matches(self, name: str, labels: dict[str, str]) -> bool:
        if name != self.name:
            return False
        for label, op, value in self.matchers:
            have = labels.get(label, "")
            if op == "=" and have != value:
                return False
            if op == "!=" and have == value:
                return False
            if op == "=~" and not re.fullmatch(value, have):
                return False
            if op == "!~" and re.fullmatch(value, have):
                return False
        return True


Fn = Literal["last", "avg", "max", "min", "rate", "increase", "p50", "p90", "p95", "p99"]
Op = Literal["<", "<=", ">", ">=", "==", "!="]


class Query(BaseModel):
    """A value read from the metrics at a tick: fn(metric over window) [/ fn(over over window)]."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    metric: str
    """Series selector, e.g. `queue_oldest_message_age_seconds{queue="payments"}`; matching series are summed."""
    fn: Fn = "last"
    """`last`, `avg`, `max`, `min` (gauges), `rate`, `increase` (counters), `p50`..`p99` (histograms)."""
    window: int = Field(default=60, ge=1, le=86_400)
    """Window in simulated seconds ending at the evaluated tick."""
    over: str | None = None
    """Optional denominator selector: the value becomes fn(metric) / fn(over), 0 when both are 0."""

    def describe(self) -> str:
        base = self.metric if self.fn == "last" else f"{self.fn}({self.metric}[{self.window}s])"
        if self.over:
            other = self.over if self.fn == "last" else f"{self.fn}({self.over}[{self.window}s])"
            return f"{base} / {other}"
        return base


class Condition(Query):
    """A comparison over a query, used by alert rules, resolution conditions and fault triggers."""

    op: Op
    """Comparison operator."""
    value: float
    """Threshold the query is compared against."""

    def describe(self) -> str:
        return f"{super().describe()} {self.op} {self.value:g}"

    def compare(self, v: float) -> bool:
        return bool(_OPS[self.op](v, self.value))


_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


@dataclass
class Series:
    name: str
    labels: dict[str, str]
    kind: Kind
    help: str

    @property
    def key(self) -> str:
        if not self.labels:
            return self.name
        inner = ",".join(f'{k}="{v}"' for k, v in self.labels.items())
        return f"{self.name}{{{inner}}}"


class MetricStore:
    """All series of a run. Components write the current tick's row; `commit(t)` stores it."""

    def __init__(self, capacity: int = 4096) -> None:
        self.series: list[Series] = []
        self.hist_series: list[Series] = []
        self._by_key: dict[str, int] = {}
        self._hist_by_key: dict[str, int] = {}
        self.capacity = capacity
        self.values = np.zeros((capacity, 0), dtype=np.float64)
        self.hvalues = np.zeros((capacity, 0, len(LATENCY_BUCKETS)), dtype=np.int32)
        # running sums over ticks (row t = sum of rows 0..t), so windowed sums cost O(series)
        self.csum = np.zeros((capacity, 0), dtype=np.float64)
        self.hcsum = np.zeros((capacity, 0, len(LATENCY_BUCKETS)), dtype=np.int64)
        self.row: list[float] = []
        self._is_counter: list[bool] = []
        self._counters: list[int] = []
        self.hrow: list[list[int]] = []
        self.ticks = 0  # number of committed ticks
        self._select_cache: dict[str, tuple[list[int], bool]] = {}

    # -- registration -------------------------------------------------------------
    def _register(self, name: str, labels: dict[str, str], kind: Kind, help: str) -> int:
        s = Series(name, dict(labels), kind, help)
        if kind == "histogram":
            if s.key in self._hist_by_key:
                return self._hist_by_key[s.key]
            self.hist_series.append(s)
            self.hrow.append([0] * len(LATENCY_BUCKETS))
            extra = np.zeros((self.capacity, 1, len(LATENCY_BUCKETS)), dtype=np.int32)
            self.hvalues = np.concatenate([self.hvalues, extra], axis=1)
            self.hcsum = np.concatenate([self.hcsum, extra.astype(np.int64)], axis=1)
            idx = len(self.hist_series) - 1
            self._hist_by_key[s.key] = idx
        else:
            if s.key in self._by_key:
                return self._by_key[s.key]
            self.series.append(s)
            self.row.append(0.0)
            self._is_counter.append(kind == "counter")
            if kind == "counter":
                self._counters.append(len(self.series) - 1)
            self.values = np.concatenate([self.values, np.zeros((self.capacity, 1))], axis=1)
            self.csum = np.concatenate([self.csum, np.zeros((self.capacity, 1))], axis=1)
            idx = len(self.series) - 1
            self._by_key[s.key] = idx
        self._select_cache.clear()
        return idx

    def counter(self, name: str, help: str = "", **labels: str) -> int:
        return self._register(name, labels, "counter", help)

    def gauge(self, name: str, help: str = "", **labels: str) -> int:
        return self._register(name, labels, "gauge", help)

    def histogram(self, name: str, help: str = "", **labels: str) -> int:
        return self._register(name, labels, "histogram", help)

    # -- writing ------------------------------------------------------------------
    def observe(self, h: int, seconds: float) -> None:
        self.hrow[h][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def commit(self, t: int) -> None:
        if t >= self.capacity:
            grow = max(self.capacity, t + 1 - self.capacity)
            self.values = np.concatenate([self.values, np.zeros((grow, self.values.shape[1]))])
            self.hvalues = np.concatenate(
                [self.hvalues, np.zeros((grow, *self.hvalues.shape[1:]), dtype=np.int32)]
            )
            self.csum = np.concatenate([self.csum, np.zeros((grow, self.csum.shape[1]))])
            self.hcsum = np.concatenate(
                [self.hcsum, np.zeros((grow, *self.hcsum.shape[1:]), dtype=np.int64)]
            )
            self.capacity += grow
        self.values[t] = self.row
        if t > 0:
            np.add(self.csum[t - 1], self.values[t], out=self.csum[t])
        else:
            self.csum[0] = self.values[0]
        if self.hrow:
            self.hvalues[t] = self.hrow
            if t > 0:
                np.add(self.hcsum[t - 1], self.hvalues[t], out=self.hcsum[t])
            else:
                self.hcsum[0] = self.hvalues[0]
            zero = [0] * len(LATENCY_BUCKETS)
            for r in self.hrow:
                r[:] = zero
        row = self.row
        for i in self._counters:
            row[i] = 0.0
        self.ticks = t + 1

    # -- reading ------------------------------------------------------------------
    def select(self, selector: str) -> tuple[list[int], bool]:
        """Indexes of the series matching a selector, and whether they are histograms."""
        hit = self._select_cache.get(selector)
        if hit is not None:
            return hit
        sel = Selector.parse(selector)
        idx = [i for i, s in enumerate(self.series) if sel.matches(s.name, s.labels)]
        result = (idx, False)
        if not idx:
            hidx = [i for i, s in enumerate(self.hist_series) if sel.matches(s.name, s.labels)]
            if hidx:
                result = (hidx, True)
        self._select_cache[selector] = result
        return result

    def names(self) -> list[str]:
        return sorted({s.name for s in self.series} | {s.name for s in self.hist_series})

    def kind_of(self, selector: str) -> Kind | None:
        idx, hist = self.select(selector)
        if not idx:
            return None
        return "histogram" if hist else self.series[idx[0]].kind

    def _apply(self, selector: str, fn: str, window: int, t: int) -> float | None:
        idx, hist = self.select(selector)
        if not idx or t < 0:
            return None
        t1 = min(t, self.ticks - 1) + 1
        t0 = max(0, t1 - window)
        if t1 <= t0:
            return None
        if hist:
            counts = self.hcsum[t1 - 1, idx, :].sum(axis=0)
            if t0 > 0:
                counts = counts - self.hcsum[t0 - 1, idx, :].sum(axis=0)
            if fn.startswith("p"):
                return histogram_quantile(float(fn[1:]) / 100.0, counts)
            if fn in ("rate", "increase"):
                total = float(counts.sum())
                return total / (t1 - t0) if fn == "rate" else total
            raise SelectorError(f"{fn} does not apply to histogram {selector}")
        if fn.startswith("p"):
            raise SelectorError(f"{fn} needs a histogram; {selector} is not one")
        if fn == "last":
            return float(self.values[t1 - 1, idx].sum())
        if fn in ("rate", "increase", "avg"):
            total = float(self.csum[t1 - 1, idx].sum())
            if t0 > 0:
                total -= float(self.csum[t0 - 1, idx].sum())
            return total if fn == "increase" else total / (t1 - t0)
        block = self.values[t0:t1, idx].sum(axis=1)
        if fn == "last":
            return float(block[-1])
        if fn == "avg":
            return float(block.mean())
        if fn == "max":
            return float(block.max())
        if fn == "min":
            return float(block.min())
        if fn == "increase":
            return float(block.sum())
        if fn == "rate":
            return float(block.sum()) / (t1 - t0)
        raise SelectorError(f"unknown function {fn}")

    def query(self, q: Query, t: int) -> float | None:
        v = self._apply(q.metric, q.fn, q.window, t)
        if q.over is None or v is None:
            return v
        d = self._apply(q.over, q.fn, q.window, t)
        if d is None:
            return None
        if d == 0:
            return 0.0
        return v / d

    def holds(self, c: Condition, t: int) -> bool:
        v = self.query(c, t)
        return v is not None and c.compare(v)

    def range(self, selector: str, t0: int, t1: int, fn: str = "last", step: int = 1) -> np.ndarray:
        """Values of fn(selector) at ticks t0, t0+step, ... < t1 (window = step for rates)."""
        idx, hist = self.select(selector)
        t1 = min(t1, self.ticks)
        if not idx or t1 <= t0:
            return np.zeros(0)
        if hist:
            out = []
            for t in range(t0 + step - 1, t1, step):
                v = self._apply(selector, fn if fn != "last" else "p99", step, t)
                out.append(np.nan if v is None else v)
            return np.array(out)
        block = self.values[t0:t1, idx].sum(axis=1)
        if step == 1:
            return block if fn != "rate" else block.astype(np.float64)
        n = (len(block) // step) * step
        shaped = block[:n].reshape(-1, step)
        if fn == "rate":
            return shaped.sum(axis=1) / step
        if fn == "max":
            return shaped.max(axis=1)
        if fn == "avg":
            return shaped.mean(axis=1)
        return shaped[:, -1]


def histogram_quantile(q: float, counts: np.ndarray) -> float | None:
    """Prometheus' histogram_quantile over non-cumulative bucket counts."""
    total = float(counts.sum())
    if total <= 0:
        return None
    rank = q * total
    cum = 0.0
    lower = 0.0
    for upper, c in zip(LATENCY_BUCKETS, counts, strict=True):
        if cum + c >= rank and c > 0:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - cum) / c
        cum += float(c)
        lower = upper
    return lower
