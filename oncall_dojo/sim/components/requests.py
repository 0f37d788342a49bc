"""Serving one route's requests for a tick: status codes, latencies, access-log lines, orders.

Two paths with the same outcome model. `healthy` is the common case, kept tight: every request
succeeds unless it runs past the timeout. `degraded` decides each request on its own (rate limit,
load shedding, the connection pool, locks, errors, the provider) and words each failure the way
the service would log it. Both return (ok, cache misses, failed, bad, slow) counts.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from oncall_dojo.sim.components.latency import count_sorted
from oncall_dojo.sim.components.provider import Provider
from oncall_dojo.sim.components.traits import TraitBook
from oncall_dojo.sim.config import RouteConfig, VersionTraits
from oncall_dojo.sim.data.appdb import AppDb
from oncall_dojo.sim.data.records import Records
from oncall_dojo.sim.observability.logs import ERROR, INFO, WARN
from oncall_dojo.sim.observability.metrics import LATENCY_BUCKETS
from oncall_dojo.sim.observability.telemetry import Telemetry
from oncall_dojo.sim.rng import Draws, SimRandom


@dataclass(slots=True, frozen=True)
class RouteFacts:
    """A route's configuration as plain attributes, read once: it does not change while a run
    plays, and reading a plain object's attribute per request costs a fraction of a model's."""

    share: float
    base_ms: float
    queries: dict[str, float]
    cache: bool
    on_miss: dict[str, float]
    enqueue: dict[str, float]
    provider_calls: float
    cpu_ms: float
    creates_order: bool

    @classmethod
    def of(cls, r: RouteConfig) -> RouteFacts:
        return cls(
            r.share,
            r.base_ms,
            r.queries,
            r.cache,
            r.on_miss,
            r.enqueue,
            r.provider_calls,
            r.cpu_ms,
            r.creates_order,
        )


Route = tuple[str, RouteFacts, dict[str, float], str, str, int, dict[int, int], int]
"""(name, config, query shapes on a cache miss, method, path, success code, request counter per
code, latency histogram)"""

Counts = tuple[int, int, int, int, int]
"""(ok, cache misses, failed, bad, slow): failed counts errors, bad also counts rate-limited"""


@dataclass(slots=True)
class RequestTick:
    """What every route's requests share within one tick."""

    t: int
    hit: float
    """The cache's hit ratio."""
    timeout: float
    slo_s: float
    shed_p: float
    """Share of requests an overloaded fleet sheds."""
    pool_size: int
    pool_timeout_s: float
    hosts: list[str]
    lines: list[tuple[int, int, int, str]]
    """The log store's lines of this tick."""
    log: bool
    """Whether access-log lines are kept (the log store is not muted)."""
    sid: int
    """The API's log service id."""
    plain: bool
    """No version of the fleet has traits."""
    vtraits: list[tuple[float, VersionTraits]]
    corrupt: float
    corrupt_version: str
    versions: dict[str, int]
    """Replicas per version of the fleet."""


class Requests:
    def __init__(
        self,
        rng: SimRandom,
        tm: Telemetry,
        traits: TraitBook,
        provider: Provider,
        records: Records,
        app: AppDb | None,
    ) -> None:
        self.rng = rng
        self.tm = tm
        self.row = tm.metrics.row
        self.hrow = tm.metrics.hrow
        self.traits = traits
        self.provider = provider
        self.records = records
        self.app = app
        self.client_timeout: float | None = None
        """How long the clients of the route being served wait before they give up and retry
        (None: until the server answers)."""
        self.abandoned = 0
        """Of the route's requests served, the successes slower than `client_timeout`: the
        server did the work, the client had already left."""
        self.refused = 0.0
        """Share of the route's requests that find no connection on a cluster's own engine
        (`shards.py`), failing at once with `refused_error`."""
        self.refused_error = ""

    def healthy(
        self,
        k: RequestTick,
        rs: Route,
        n: int,
        mean_ms: float,
        miss_ms: float,
        ok_line: str,
        draws: Draws,
    ) -> Counts:
        """Every request succeeds unless it runs past the timeout; the latency is the mean (with
        or without the cache) times a lognormal factor."""
        _, r, _, method, path, ok_code, codes, h = rs
        factor, u_cache, ms, host_n, user, ip, req = draws
        hit, timeout, slo_s, hosts, lines, api_sid = (
            k.hit,
            k.timeout,
            k.slo_s,
            k.hosts,
            k.lines,
            k.sid,
        )
        n_hosts = len(hosts)
        hb = self.hrow[h]
        hit_s = mean_ms * 0.001
        if r.cache:
            miss_s = hit_s + miss_ms * 0.001
            # the draws' columns are all n long: zip without strict= (no keyword to parse)
            lats = [
                (hit_s if u < hit else miss_s) * f
                for u, f in zip(u_cache, factor)  # noqa: B905
            ]
            n_miss = n - sum(map(hit.__gt__, u_cache))
        else:
            lats = [hit_s * f for f in factor]
            n_miss = 0
        ordered = sorted(lats)
        worst = ordered[-1]
        ct = self.client_timeout
        if ct is not None and worst > ct and ct < timeout:
            self.abandoned += bisect_right(ordered, timeout) - bisect_right(ordered, ct)
        n_fail = slow = 0
        if worst <= timeout:
            count_sorted(hb, ordered)
            if worst > slo_s:
                slow += n - bisect_right(ordered, slo_s)
            if k.log:  # a muted store keeps no line: skip formatting them
                # f"{host} method=... status=... duration_ms={ms} user=... ip=... req_id=..."
                lines += [
                    (
                        m,
                        api_sid,
                        INFO,
                        f"{hosts[hn % n_hosts]}{ok_line}{int(lat * 1000)} user={u} ip={p} req_id={q}",
                    )
                    for m, hn, lat, u, p, q in zip(ms, host_n, lats, user, ip, req)  # noqa: B905
                ]
        else:
            row = self.row
            bucket, buckets = bisect_left, LATENCY_BUCKETS
            for m, hn, lat, u, p, q in zip(ms, host_n, lats, user, ip, req, strict=True):
                if lat > timeout:
                    n_fail += 1
                    row[codes[504]] += 1
                    hb[bucket(buckets, timeout)] += 1
                    lines.append(
                        (
                            m,
                            api_sid,
                            ERROR,
                            f'{hosts[hn % n_hosts]} method={method} path={path} status=504 duration_ms={int(timeout * 1000)} user={u} error="context deadline exceeded"',
                        )
                    )
                    continue
                if lat > slo_s:
                    slow += 1
                hb[bucket(buckets, lat)] += 1
                lines.append(
                    (
                        m,
                        api_sid,
                        INFO,
                        f"{hosts[hn % n_hosts]} method={method} path={path} status={ok_code} duration_ms={int(lat * 1000)} user={u} ip={p} req_id={q}",
                    )
                )
        n_ok = n - n_fail
        self.row[codes[ok_code]] += n_ok
        if r.creates_order:
            rec = self.records
            if self.app is not None:
                new_order = self.app.new_order
                for num in range(rec.orders + 1, rec.orders + n_ok + 1):
                    new_order(k.t, num)
            rec.orders += n_ok
        return n_ok, n_miss, n_fail, n_fail, slow

    def degraded(
        self,
        k: RequestTick,
        rs: Route,
        n: int,
        allowed: int,
        limit: float | None,
        mean_ms: float,
        miss_ms: float,
        err_extra: float,
        prov_fail: float,
        blocked: str | None,
        miss_blocked: bool,
        write_err: str | None,
        draws: Draws,
        waits: list[float] | None,
    ) -> Counts:
        """Each request on its own: rate limit, shedding, the pool, locks, errors, the provider.

        `waits`: each request's wait for a database connection (-1: none came in time)."""
        _, r, _, method, path, ok_code, codes, h = rs
        factor, u_cache, ms, host_n, user, ip, req = draws
        hit, timeout, slo_s, hosts, lines, api_sid = (
            k.hit,
            k.timeout,
            k.slo_s,
            k.hosts,
            k.lines,
            k.sid,
        )
        shed_p, pool_timeout_s = k.shed_p, k.pool_timeout_s
        corrupt, corrupt_version, log = k.corrupt, k.corrupt_version, k.log
        n_hosts = len(hosts)
        row = self.row
        hb = self.hrow[h]
        bucket, buckets = bisect_left, LATENCY_BUCKETS
        rand = self.rng.random
        rec = self.records
        app = self.app
        t = k.t
        n_ok = n_miss = n_fail = bad = slow = 0
        ct = self.client_timeout
        why = None
        refused, no_conn = self.refused, False
        for i in range(n):
            miss = False
            if i >= allowed:
                code, lat = 429, 0.002
            else:
                miss = r.cache and u_cache[i] >= hit
                # the wait for a connection adds to the request's time
                w = waits[i] if waits is not None else 0.0
                lat = (mean_ms + (miss_ms if miss else 0.0)) * 0.001 * factor[i] + (
                    w if w > 0 else 0.0
                )
                u = rand()
                if u < shed_p:
                    code = 503
                elif w < 0:
                    code, lat = 503, pool_timeout_s
                elif refused and rand() < refused:
                    code, lat, no_conn = 500, r.base_ms * 0.001 * factor[i], True
                elif blocked is not None or (miss and miss_blocked) or lat > timeout:
                    code, lat = 504, timeout
                elif write_err is not None or u > 1.0 - err_extra:
                    code = 500
                elif prov_fail > 0 and rand() < prov_fail:
                    code = 502
                else:
                    code = ok_code
            row[codes[code]] += 1
            hb[bucket(buckets, lat)] += 1
            if code == ok_code:
                n_ok += 1
                if lat > slo_s:
                    slow += 1
                if ct is not None and lat > ct:
                    self.abandoned += 1
                if miss:
                    n_miss += 1
                if r.creates_order:
                    rec.orders += 1
                    how = None
                    if corrupt > 0 and rand() < corrupt:
                        rec.corrupted[rec.orders] = corrupt_version
                        row[self.tm.c_bad_orders] += 1
                        how = self.traits.get("api", corrupt_version).corrupts
                    if app is not None:
                        app.new_order(t, rec.orders, how)
            else:
                bad += 1
                if code != 429:
                    n_fail += 1
            if not log:  # a muted store keeps no line: skip formatting it
                continue
            # one access-log line per request
            m = ms[i]
            host = hosts[host_n[i] % n_hosts]
            usr = user[i]
            dur = int(lat * 1000)
            if code == ok_code:
                lines.append(
                    (
                        m,
                        api_sid,
                        INFO,
                        f"{host} method={method} path={path} status={code} duration_ms={dur} user={usr} ip={ip[i]} req_id={req[i]}",
                    )
                )
            elif code == 429:
                lines.append(
                    (
                        m,
                        api_sid,
                        WARN,
                        f'{host} method={method} path={path} status=429 duration_ms={dur} user={usr} ip={ip[i]} msg="rate limited" limit_rps={limit}',
                    )
                )
            elif code == 503 and lat == pool_timeout_s:
                lines.append(
                    (
                        m,
                        api_sid,
                        ERROR,
                        f'{host} method={method} path={path} status=503 duration_ms={dur} user={usr} error="sqlalchemy.exc.TimeoutError: QueuePool limit of size {k.pool_size} overflow 0 reached, connection timed out, timeout {pool_timeout_s:g}"',
                    )
                )
            elif code == 503:
                lines.append(
                    (
                        m,
                        api_sid,
                        ERROR,
                        f'{host} method={method} path={path} status=503 duration_ms={dur} user={usr} error="upstream overloaded: worker busy, request shed"',
                    )
                )
            elif code == 504:
                what = f"waiting for query {blocked}" if blocked else "deadline exceeded"
                lines.append(
                    (
                        m,
                        api_sid,
                        ERROR,
                        f'{host} method={method} path={path} status=504 duration_ms={dur} user={usr} error="context deadline exceeded ({what})"',
                    )
                )
            elif code == 502:
                lines.append(
                    (
                        m,
                        api_sid,
                        ERROR,
                        f'{host} method={method} path={path} status=502 duration_ms={dur} user={usr} error="payment provider: {self.provider.error_text()}"',
                    )
                )
            else:
                if why is None:
                    why = write_err or self.app_error(k.versions)
                lines.append(
                    (
                        m,
                        api_sid,
                        ERROR,
                        f'{host} method={method} path={path} status=500 duration_ms={dur} user={usr} error="{self.refused_error if no_conn else why}" req_id={req[i]}',
                    )
                )
                no_conn = False
        return n_ok, n_miss, n_fail, bad, slow

    def app_error(self, versions: dict[str, int]) -> str:
        """What a version with errors fails with: the error its traits name (`message_error`),
        else a bug in the order serializer."""
        failing = [v for v in versions if self.traits.get("api", v).error_rate]
        if failing:
            authored = self.traits.get("api", failing[0]).message_error
            if authored is not None:
                return authored
            return f"TypeError: Cannot read properties of undefined (reading 'currency') at serializeOrder (orders/serialize.ts:88) [{failing[0]}]"
        return "internal error"
