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
from itertools import chain
from struct import pack
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["counter", "gauge", "histogram"]
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    float("inf"),
)

_SELECTOR = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$")
_MATCHER = re.compile(
    r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^,"{}\s]+))\s*(?:,|$)'
)
"""`label="value"`, or `label=value` unquoted (a shell-style command line drops the quotes)."""


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
            raise SelectorError(f'not a metric selector: {text!r} (expected name{{label="value"}})')
        name, body = m.group(1), (m.group(2) or "").strip()
        matchers: list[tuple[str, str, str]] = []
        pos = 0
        while pos < len(body):
            mm = _MATCHER.match(body, pos)
            if not mm:
                raise SelectorError(f"bad label matcher in {text!r} at {body[pos:]!r}")
            label, op, quoted, bare = mm.groups()
            value = quoted if quoted is not None else bare
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


_NO_COUNTS = [0] * len(LATENCY_BUCKETS)
"""A histogram row's bucket counts at the start of a tick."""


def _runs(columns: list[int]) -> list[tuple[int, int, list[float]]]:
    """Ascending columns as runs of consecutive ones: (start, stop, a zero per column)."""
    runs: list[tuple[int, int, list[float]]] = []
    start = stop = -1
    for i in columns:
        if i != stop:
            if stop > start:
                runs.append((start, stop, [0.0] * (stop - start)))
            start = i
        stop = i + 1
    if stop > start:
        runs.append((start, stop, [0.0] * (stop - start)))
    return runs


class MetricStore:
    """All series of a run. Components write the current tick's row; `commit(t)` stores it."""

    def __init__(self, capacity: int = 4096) -> None:
        self.series: list[Series] = []
        self.hist_series: list[Series] = []
        self._by_key: dict[str, int] = {}
        self._hist_by_key: dict[str, int] = {}
        self.capacity = capacity
        self._values = np.zeros((capacity, 0), dtype=np.float64)
        self._hvalues = np.zeros((capacity, 0, len(LATENCY_BUCKETS)), dtype=np.int32)
        # committed rows not yet copied into the arrays (ticks _rows_t0, _rows_t0 + 1, ...): they
        # are copied a batch at a time, when read, which costs far less than a copy per tick
        self._rows: list[bytes] = []
        self._hrows: list[bytes] = []
        self._rows_t0 = 0
        # running sums over ticks (row t = sum of rows 0..t), so windowed sums cost O(series);
        # rows before `_summed` are up to date (see `_sum_to`)
        self.csum = np.zeros((capacity, 0), dtype=np.float64)
        self.hcsum = np.zeros((capacity, 0, len(LATENCY_BUCKETS)), dtype=np.int64)
        self._summed = 0
        self.row: list[float] = []
        self._is_counter: list[bool] = []
        self._counters: list[int] = []
        self._counter_runs: list[tuple[int, int, list[float]]] = []
        """The counters' columns as runs of consecutive ones (start, stop, zeros): `commit`
        resets each run with one slice assignment."""
        self.hrow: list[list[int]] = []
        self.ticks = 0  # number of committed ticks
        self._select_cache: dict[str, tuple[list[int], bool]] = {}

    @property
    def values(self) -> np.ndarray:
        """Per tick and series: the gauge's value or the counter's increment (ticks x series)."""
        if self._rows:
            self._store_rows()
        return self._values

    @property
    def hvalues(self) -> np.ndarray:
        """Per tick, histogram and bucket: observations in that tick (ticks x histograms x buckets)."""
        if self._rows:
            self._store_rows()
        return self._hvalues

    # -- registration -------------------------------------------------------------
    def _register(self, name: str, labels: dict[str, str], kind: Kind, help: str) -> int:
        s = Series(name, dict(labels), kind, help)
        if kind == "histogram":
            if s.key in self._hist_by_key:
                return self._hist_by_key[s.key]
        elif s.key in self._by_key:
            return self._by_key[s.key]
        if self._rows:
            self._store_rows()  # rows committed so far have the old width
        if kind == "histogram":
            self.hist_series.append(s)
            self.hrow.append([0] * len(LATENCY_BUCKETS))
            idx = len(self.hist_series) - 1
            self._hist_by_key[s.key] = idx
        else:
            self.series.append(s)
            self.row.append(0.0)
            self._is_counter.append(kind == "counter")
            if kind == "counter":
                self._counters.append(len(self.series) - 1)
                self._counter_runs = _runs(self._counters)
            idx = len(self.series) - 1
            self._by_key[s.key] = idx
        if self.ticks:
            self._fit()  # registered mid-run: widen now, reads may follow before the next commit
        self._select_cache.clear()
        return idx

    def _fit(self) -> None:
        """Give the arrays a column for every registered series (registration is cheap until the
        first rows are stored: the arrays are widened once, not once per series)."""
        if (extra := len(self.series) - self._values.shape[1]) > 0:
            self._values = np.concatenate([self._values, np.zeros((self.capacity, extra))], axis=1)
            self.csum = np.concatenate([self.csum, np.zeros((self.capacity, extra))], axis=1)
        if (extra := len(self.hist_series) - self._hvalues.shape[1]) > 0:
            zeros = np.zeros((self.capacity, extra, len(LATENCY_BUCKETS)), dtype=np.int32)
            self._hvalues = np.concatenate([self._hvalues, zeros], axis=1)
            self.hcsum = np.concatenate([self.hcsum, zeros.astype(np.int64)], axis=1)

    def _grow(self, t: int) -> None:
        """Make room for ticks up to t."""
        if self._rows:
            self._store_rows()
        self.capacity += max(self.capacity, t + 1 - self.capacity)
        # new zeroed arrays with the committed rows copied in (rows past them are zero, or unused
        # running sums): pages of zeros are left untouched until written, where concatenating
        # wrote every byte of the larger arrays
        n = self.ticks
        grown = []
        for old in (self._values, self._hvalues, self.csum, self.hcsum):
            new = np.zeros((self.capacity, *old.shape[1:]), dtype=old.dtype)
            new[:n] = old[:n]
            grown.append(new)
        self._values, self._hvalues, self.csum, self.hcsum = grown

    def _store_rows(self) -> None:
        """Copy the committed rows into the arrays."""
        self._fit()
        t0, t1 = self._rows_t0, self._rows_t0 + len(self._rows)
        self._values[t0:t1] = np.frombuffer(b"".join(self._rows), dtype=np.float64).reshape(
            t1 - t0, len(self.series)
        )
        if self.hist_series:
            self._hvalues[t0:t1] = np.frombuffer(b"".join(self._hrows), dtype=np.intc).reshape(
                t1 - t0, len(self.hist_series), len(LATENCY_BUCKETS)
            )
        self._rows, self._hrows = [], []

    # -- pickling -----------------------------------------------------------------
    def __getstate__(self) -> dict[str, object]:
        """The committed rows only: no spare capacity and no running sums (a copy recomputes
        them when first read, with the same additions, so to the same values)."""
        if self._rows:
            self._store_rows()
        state = dict(self.__dict__)
        n = self.ticks
        state["_values"] = self._values[:n].copy()
        state["_hvalues"] = self._hvalues[:n].copy()
        del state["csum"], state["hcsum"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._counter_runs = _runs(self._counters)
        cap, n = self.capacity, self.ticks
        values, hvalues = self._values, self._hvalues
        self._values = np.zeros((cap, values.shape[1]), dtype=values.dtype)
        self._values[:n] = values
        self._hvalues = np.zeros((cap, *hvalues.shape[1:]), dtype=hvalues.dtype)
        self._hvalues[:n] = hvalues
        self.csum = np.zeros(self._values.shape, dtype=np.float64)
        self.hcsum = np.zeros(self._hvalues.shape, dtype=np.int64)
        self._summed = 0

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
        """Store the current row as tick t; counters start again from zero, gauges keep their value."""
        if self._rows and t != self._rows_t0 + len(self._rows):
            self._store_rows()  # not the tick after the last one: store what is pending first
        if t >= self.capacity:
            self._grow(t)
        if not self._rows:
            self._rows_t0 = t
        row = self.row
        # packed as C doubles and ints now (the values numpy would store), copied into the arrays
        # a batch at a time from the bytes, without numpy reading Python lists; `struct` converts
        # each value as `array` would (a float's double, an int's C int), without parsing
        # arguments per value
        self._rows.append(pack(f"{len(row)}d", *row))
        hrow = self.hrow
        self._hrows.append(pack(f"{len(hrow) * len(_NO_COUNTS)}i", *chain.from_iterable(hrow)))
        for r in hrow:
            r[:] = _NO_COUNTS
        for a, b, zeros in self._counter_runs:
            row[a:b] = zeros
        if t < self._summed:
            self._summed = t
        self.ticks = t + 1

    def _sum_to(self, t1: int) -> None:
        """Bring the running sums up to date for rows before t1.

        They are computed when a windowed query needs them, for all rows committed since the last
        query at once, with the same sequence of additions as row-by-row (so the same values)."""
        a = self._summed
        if t1 <= a:
            return
        values, hvalues = self.values, self.hvalues
        if a == 0:
            np.cumsum(values[:t1], axis=0, out=self.csum[:t1])
            np.cumsum(hvalues[:t1], axis=0, dtype=np.int64, out=self.hcsum[:t1])
        else:
            rows = values[a - 1 : t1].copy()
            rows[0] = self.csum[a - 1]
            np.cumsum(rows, axis=0, out=self.csum[a - 1 : t1])
            hrows = hvalues[a - 1 : t1].astype(np.int64)
            hrows[0] = self.hcsum[a - 1]
            np.cumsum(hrows, axis=0, out=self.hcsum[a - 1 : t1])
        self._summed = t1

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
        last = self.ticks - 1  # min() and max() below as conditionals: no call
        t1 = (last if last < t else t) + 1
        t0 = t1 - window if t1 - window > 0 else 0
        if t1 <= t0:
            return None
        # one series (the usual case) is read by plain indexing: the same values as a sum over
        # one selected column (0.0 + x), without building the selection
        one = idx[0] if len(idx) == 1 else -1
        if hist:
            self._sum_to(t1)
            hcsum = self.hcsum
            if one >= 0:
                counts = hcsum[t1 - 1, one]
                if t0 > 0:
                    counts = counts - hcsum[t0 - 1, one]
            else:
                counts = hcsum[t1 - 1, idx, :].sum(axis=0)
                if t0 > 0:
                    counts = counts - hcsum[t0 - 1, idx, :].sum(axis=0)
            if fn.startswith("p"):
                return histogram_quantile(float(fn[1:]) / 100.0, counts)
            if fn in ("rate", "increase"):
                total = float(counts.sum())
                return total / (t1 - t0) if fn == "rate" else total
            raise SelectorError(f"{fn} does not apply to histogram {selector}")
        if fn.startswith("p"):
            raise SelectorError(f"{fn} needs a histogram; {selector} is not one")
        if fn == "last":
            if one >= 0:
                return float(self.values[t1 - 1, one]) + 0.0  # as the sum: -0.0 reads 0.0
            return float(self.values[t1 - 1, idx].sum())
        if fn in ("rate", "increase", "avg"):
            self._sum_to(t1)
            csum = self.csum
            if one >= 0:
                total = float(csum[t1 - 1, one]) + 0.0  # as the sum: -0.0 reads 0.0
                if t0 > 0:
                    total -= float(csum[t0 - 1, one]) + 0.0
            else:
                total = float(csum[t1 - 1, idx].sum())
                if t0 > 0:
                    total -= float(csum[t0 - 1, idx].sum())
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
    for upper, c in zip(LATENCY_BUCKETS, counts.tolist(), strict=True):  # Python numbers: faster
        if cum + c >= rank and c > 0:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - cum) / c
        cum += float(c)
        lower = upper
    return lower
