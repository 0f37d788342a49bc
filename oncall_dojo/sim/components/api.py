"""The API fleet: traffic, replicas and their versions, rollouts, CPU and the connection pool.

Each tick it works out the load (traffic against the fleet's CPU, the database connections the
routes' queries hold), then serves each route's requests (`requests.py`) and runs what they
asked of the database and the queues.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from datetime import datetime
from typing import Any, NamedTuple

from oncall_dojo.sim.components.broker import Broker
from oncall_dojo.sim.components.cache import Cache
from oncall_dojo.sim.components.database import BLOCKED_MS, Database
from oncall_dojo.sim.components.latency import LOGNORMAL_SIGMA, p_over
from oncall_dojo.sim.components.pool import ROLLOUT_STEP_S, hash_name
from oncall_dojo.sim.components.provider import Provider
from oncall_dojo.sim.components.queue import Queue
from oncall_dojo.sim.components.requests import Requests, RequestTick, Route, RouteFacts
from oncall_dojo.sim.components.retries import Herd
from oncall_dojo.sim.components.shards import Shards
from oncall_dojo.sim.components.traits import NO_TRAITS, TraitBook
from oncall_dojo.sim.config import SystemConfig, VersionTraits
from oncall_dojo.sim.data.appdb import AppDb
from oncall_dojo.sim.data.records import Records
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.observability.logs import INFO
from oncall_dojo.sim.observability.telemetry import Telemetry
from oncall_dojo.sim.queueing import ps_sigma
from oncall_dojo.sim.rng import RequestDraws, SimRandom

TWO_PI = 2 * math.pi

Plan = tuple[Route, int, float, float, dict[str, float], str | None, bool, Any, int]
"""A route's requests this tick: (route, count, query ms, query ms on a miss, query shapes,
a shape blocked by a lock, whether a miss query is blocked, their draws, how many the rate
limit allows)"""


class ApiFacts(NamedTuple):
    """What a tick of the API reads of the configuration, read once: it does not change while a
    run plays (`traffic.base_rps` aside, which a fault changes, read live), and a model's
    attribute is slow to read."""

    cpu_ms_per_replica: float
    pool_size: int
    timeout_s: float
    pool_timeout_s: float
    slo_s: float
    peak_hour: float
    diurnal_amplitude: float

    @classmethod
    def of(cls, cfg: SystemConfig) -> ApiFacts:
        a, traffic = cfg.api, cfg.traffic
        return cls(
            a.cpu_ms_per_replica,
            a.pool_size,
            a.timeout_s,
            a.pool_timeout_s,
            cfg.slo.latency_s,
            traffic.peak_hour,
            traffic.diurnal_amplitude,
        )


class Api:
    def __init__(
        self,
        cfg: SystemConfig,
        rng: SimRandom,
        tm: Telemetry,
        start: datetime,
        draws: RequestDraws,
        traits: TraitBook,
        db: Database,
        cache: Cache,
        provider: Provider,
        broker: Broker,
        queues: dict[str, Queue],
        records: Records,
        app: AppDb | None,
    ) -> None:
        self.cfg = cfg
        self.rng = rng
        self.tm = tm
        self.start = start
        self.draws = draws
        self.traits = traits
        self.db = db
        self.cache = cache
        self.provider = provider
        self.broker = broker
        self.queues = queues
        self.versions = {cfg.api.version: cfg.api.replicas}
        """Replicas per version."""
        self.requests = Requests(rng, tm, traits, provider, records, app)
        self.version = cfg.api.version
        """The version a full deploy made the fleet's own."""
        self.rollout: list[tuple[str, int]] = []
        """(target version, replicas still to switch)"""
        self.rollout_next = 0
        self.rate_limits: dict[str, float] = {}
        """Requests per second each rate-limited route lets through."""
        self._read = ApiFacts.of(cfg)
        """What a tick reads of the configuration, read once (`ApiFacts`)."""
        self.ramps: dict[str, tuple[int, float, float, int]] = {}
        """Routes admitting traffic gradually: (start tick, from rps, to rps, seconds)."""
        self._limits: dict[str, float] = self.rate_limits
        """The limits of this tick: the rate limits, and the ramps' where lower."""
        self.herd = Herd.of(cfg, tm)
        """The clients that retry failed requests (None: no route's clients do)."""
        self.shards: Shards | None = None
        """The clusters with their own engine (None: every query runs on the shop's database)."""
        self.cpu = 0.0
        self.pool_in_use = 0.0
        self._conn_free: list[float] = []
        """The connections: when each is free (a heap), while any is busy past a tick."""
        self._conn_held: deque[float] = deque()
        """Connection-seconds already held in this second and the next ones."""
        self.bad_requests = 0
        self.total_requests = 0
        self.slow_requests = 0
        self._traffic_noise = 1.0
        self.routes: list[Route] = [
            (
                name,
                RouteFacts.of(r),
                (r.on_miss if r.cache else {}),
                *name.partition(" ")[::2],
                201 if name.startswith("POST") else 200,
                tm.m_route[name],
                tm.h_route[name],
            )
            for name, r in cfg.api.routes.items()
        ]
        self._ok_line = {
            name: f" method={method} path={path} status={ok_code} duration_ms="
            for name, _, _, method, path, ok_code, *_ in self.routes
        }
        """The fixed middle of each route's access-log line for a served request."""
        self._cpu_ms_per_request = sum(r.share * r.cpu_ms for r in cfg.api.routes.values())
        self._provider_routes = any(r.provider_calls > 0 for r in cfg.api.routes.values())
        self.hosts = [f"api-{hash_name('api') & 0xFFFFF:05x}-{i}" for i in range(64)]

    # ------------------------------------------------------------------ traffic
    def hour_of_day(self, t: int) -> float:
        s = self.start
        return (s.hour + s.minute / 60 + s.second / 3600 + t / 3600.0) % 24

    def traffic_rps(self, t: int) -> float:
        peak_hour, amplitude = self._read.peak_hour, self._read.diurnal_amplitude
        phase = TWO_PI * (self.hour_of_day(t) - peak_hour) / 24.0
        shape = 1.0 - amplitude * (1 - math.cos(phase)) / 2.0
        tc = self.cfg.traffic
        if t % 60 == 0:
            self._traffic_noise = max(0.2, self.rng.gauss(1.0, tc.noise))
        return tc.base_rps * shape * self._traffic_noise

    # ------------------------------------------------------------------ versions
    def label(self) -> str:
        return ",".join(f"{v}x{n}" for v, n in sorted(self.versions.items()))

    def deploy(self, t: int, version: str, percent: int) -> str | None:
        """Start rolling `version` out to a share of the fleet; returns the version a full deploy
        replaces, if any."""
        current = self.version
        if percent >= 100 and self.versions.get(version, 0) == sum(self.versions.values()):
            raise Refusal(f"api already runs {version} on every replica")
        total = sum(self.versions.values())
        target = max(1, round(total * percent / 100))
        have = self.versions.get(version, 0)
        self.rollout = [(version, max(0, target - have))]
        self.rollout_next = t
        if percent < 100:
            return None
        self.version = version
        return current if current != version else None

    def roll(self, t: int) -> None:
        """A rollout in progress switches one more replica every `ROLLOUT_STEP_S` seconds."""
        if not self.rollout or t < self.rollout_next:
            return
        version, left = self.rollout[0]
        if left <= 0:
            self.rollout = []
            self.tm.log(
                t,
                3,
                "deployer",
                INFO,
                f"argo-rollouts rollout complete service=api version={version}",
            )
            return
        donors = [v for v, n in sorted(self.versions.items()) if v != version and n > 0]
        if not donors:
            self.rollout = []
            return
        donor = donors[0]
        self.versions[donor] -= 1
        if self.versions[donor] == 0:
            del self.versions[donor]
        self.versions[version] = self.versions.get(version, 0) + 1
        self.rollout = [(version, left - 1)]
        self.rollout_next = t + ROLLOUT_STEP_S

    def _fleet_traits(self) -> tuple[list[tuple[float, VersionTraits]], bool]:
        """Each version's share of the fleet with its traits, and whether none has any."""
        total = sum(self.versions.values())
        total_versions = total if total > 1 else 1
        vtraits = [
            (n / total_versions, self.traits.get("api", v)) for v, n in self.versions.items()
        ]
        return vtraits, all(tr is NO_TRAITS for _, tr in vtraits)

    # ------------------------------------------------------------------ tick
    def tick(self, t: int) -> None:
        cpu_ms_per_replica, pool_size, timeout_s, pool_timeout_s, slo_s, _, _ = self._read
        replicas = sum(self.versions.values())
        rps = self.traffic_rps(t)
        vtraits, plain = self._fleet_traits()
        if plain:
            lat_x = cpu_x = 1.0
            corrupt = 0.0
            corrupt_version = ""
        else:
            lat_x = sum(w * tr.latency_x for w, tr in vtraits) or 1.0
            cpu_x = sum(w * tr.cpu_x for w, tr in vtraits) or 1.0
            corrupt = sum(w * tr.corrupt_writes for w, tr in vtraits)
            corrupt_version = next(
                (v for v in self.versions if self.traits.get("api", v).corrupt_writes > 0), ""
            )
        # CPU: demand of the whole fleet against its capacity
        self._limits = limits = self._ramp(t) if self.ramps else self.rate_limits
        herd = self.herd
        if herd is None:
            cpu_demand = rps * self._cpu_ms_per_request * cpu_x
        else:  # the clients due come back; the fleet works on what the load balancer admits
            cpu_demand = herd.arrive(t, rps, limits) * cpu_x
        # (max() and min() of two numbers written as conditionals, here and below: a call to
        # either parses its arguments as keywords, many times the cost of the comparison)
        cpu_cap = replicas * cpu_ms_per_replica
        if not cpu_cap > 1.0:
            cpu_cap = 1.0
        # the fleet's CPU is a processor-sharing server: response times grow as 1 / (1 - rho)
        # and spread wider toward saturation; beyond it, admission sheds 1 - 1 / rho
        cpu_rho = cpu_demand / cpu_cap
        self.cpu = cpu_rho if cpu_rho < 1.0 else 1.0
        cpu_wait = 1.0 / (1.0 - (cpu_rho if cpu_rho < 0.99 else 0.99))
        plan, conn_demand = self._plan(rps, plain, vtraits, herd)
        waits: list[list[float]] | None = None
        if conn_demand > 0.5 * pool_size or self._conn_free or self._conn_held:
            waits = self._conn_pool(t, plan)
        else:
            # under half the pool in use on average, no request waits for a connection
            self.pool_in_use = conn_demand
        k = RequestTick(
            t=t,
            hit=self.cache.hit,
            timeout=timeout_s,
            slo_s=slo_s,
            shed_p=1.0 - 1.0 / cpu_rho if cpu_rho > 1.0 else 0.0,
            pool_size=pool_size,
            pool_timeout_s=pool_timeout_s,
            hosts=self.hosts[: replicas if replicas > 1 else 1],
            lines=self.tm.logs.pending,
            log=not self.tm.logs.muted,
            sid=self.tm.sid["api"],
            plain=plain,
            vtraits=vtraits,
            corrupt=corrupt,
            corrupt_version=corrupt_version,
            versions=self.versions,
        )
        refused = (
            None
            if self.shards is None
            else self.shards.admit([(p[8], p[4], p[0][2]) for p in plan], self.cache.hit)
        )
        self._serve(k, plan, lat_x, cpu_wait, ps_sigma(cpu_rho), waits, refused)

    def _ramp(self, t: int) -> dict[str, float]:
        """This tick's limits: each ramp admits from its start rate up to its end rate in a
        straight line, then ends (the route is let through in full, or as its rate limit says)."""
        limits = dict(self.rate_limits)
        for route, (start, lo, hi, secs) in list(self.ramps.items()):
            if t >= start + secs:
                del self.ramps[route]
                self.tm.log(
                    t,
                    5,
                    "api",
                    INFO,
                    f'envoy-ingress ramp complete route="{route}" rps={hi:g}',
                )
                continue
            rate = lo + (hi - lo) * (t - start) / secs
            have = limits.get(route)
            limits[route] = rate if have is None else min(have, rate)
        return limits

    def _plan(
        self,
        rps: float,
        plain: bool,
        vtraits: list[tuple[float, VersionTraits]],
        herd: Herd | None,
    ) -> tuple[list[Plan], float]:
        """How many requests each route gets, what their queries cost now, and the connection
        pool's load (Little's law on the time requests hold a connection)."""
        dblat = self.db._latency
        hit = self.cache.hit
        timeout = self._read.timeout_s
        poisson = self.rng.poisson
        take = self.draws.take
        limits = self._limits
        due = herd.due if herd is not None else None
        plan: list[Plan] = []
        conn_demand = 0.0
        for rs in self.routes:
            r = rs[1]
            n = poisson(rps * r.share)
            if due:  # clients coming back after a backoff
                n += due.get(rs[0], 0)
            limit = limits.get(rs[0]) if limits else None
            allowed = n if limit is None else min(n, self.rng.poisson(limit) if limit > 0 else 0)
            if plain:
                shapes = r.queries
            else:
                shapes = dict(r.queries)
                for w, tr in vtraits:
                    for s, c in tr.extra_queries.items():
                        shapes[s] = shapes.get(s, 0.0) + c * w
            db_ms = 0.0
            blocked = None
            for s, c in shapes.items():
                lat_s = dblat[s]
                db_ms += c * lat_s
                if lat_s >= BLOCKED_MS:
                    blocked = s
            miss_ms = 0.0
            miss_blocked = False
            for s, c in rs[2].items():
                lat_s = dblat[s]
                miss_ms += c * lat_s
                if lat_s >= BLOCKED_MS:
                    miss_blocked = True
            db_ms_mean = db_ms + (1 - hit) * miss_ms if r.cache else db_ms
            hold = db_ms_mean / 1000.0
            conn_demand += n * (timeout if timeout < hold else hold)
            draws = take(n) if n else None
            plan.append((rs, n, db_ms, miss_ms, shapes, blocked, miss_blocked, draws, allowed))
        return plan, conn_demand

    def _provider_cost(self, n: int, calls_per_request: float) -> tuple[float, float]:
        """Synchronous provider calls with the configured retries, counted as the provider sees
        them: (milliseconds they add to a request, share of requests whose every attempt failed)."""
        provider = self.provider
        config = self.traits.config
        attempts_max = int(config.get("payments.retry.max_attempts", 1) or 1)
        backoff = str(config.get("payments.retry.backoff", "exponential"))
        prov_lat = provider.latency_s()
        prov_err = provider.error_rate()
        timeout_s = self.cfg.provider.timeout_s
        p_timeout = p_over(prov_lat, timeout_s)
        p_fail = prov_err + (1 - prov_err) * p_timeout
        prov_fail = p_fail**attempts_max  # every attempt failed
        exp_attempts = sum(p_fail**k for k in range(attempts_max))
        calls = n * calls_per_request * exp_attempts
        provider.calls += calls
        if calls:  # the same calls, as the provider's request counters see them
            row = self.tm.metrics.row
            c_prov = self.tm.c_prov
            ok_calls = n * calls_per_request * (1 - prov_fail)
            timeouts = (calls - ok_calls) * (1 - prov_err) * p_timeout / max(p_fail, 1e-9)
            row[c_prov["ok"]] += ok_calls
            row[c_prov["timeout"]] += timeouts
            row[c_prov["error"]] += calls - ok_calls - timeouts
        per_attempt = min(prov_lat, timeout_s)
        wait = 0.0 if backoff == "none" else 0.2 * (2 ** (exp_attempts - 1) - 1)
        return 1000.0 * (per_attempt * exp_attempts + wait) * calls_per_request, prov_fail

    def _conn_pool(self, t: int, plan: list[Plan]) -> list[list[float]]:
        """The connection pool over the second [t, t + 1): requests that need the database take
        a connection first come, first served in the order they arrive, wait for one when all
        are held, and give up after the pool timeout (M/G/c+D).

        Returns each route's per-request wait in seconds (-1: timed out), and sets the pool's
        in-use gauge (connection-seconds held within the second) and its wait counters."""
        cfg = self.cfg.api
        size = cfg.pool_size
        patience = cfg.pool_timeout_s
        timeout = cfg.timeout_s
        hit = self.cache.hit
        start = float(t)
        free = self._conn_free
        if len(free) != size:
            free = [start] * size
        reqs: list[tuple[int, int, int, float]] = []
        waits: list[list[float]] = []
        for j, (rs, n, db_ms, miss_ms, _, blocked, miss_blocked, draws, allowed) in enumerate(plan):
            waits.append([0.0] * n)
            if not n:
                continue
            cache = rs[1].cache
            # a request waiting on a lock holds its connection until it times out
            hold_hit = timeout if blocked is not None else min(db_ms * 0.001, timeout)
            hold_miss = timeout if miss_blocked else min(hold_hit + miss_ms * 0.001, timeout)
            u_cache, ms = draws[1], draws[2]
            for i in range(allowed):
                hold = hold_miss if cache and u_cache[i] >= hit else hold_hit
                if hold > 0:
                    reqs.append((ms[i], j, i, hold))
        reqs.sort()
        # connection-seconds held in this second and the next ones (a hold may run past it)
        held = self._conn_held
        if not held:
            held.append(0.0)
        waited = 0.0
        timeouts = 0
        heapreplace = heapq.heapreplace
        for m, j, i, hold in reqs:
            a = start + m * 0.001
            f = free[0]
            if f > a + patience:
                waits[j][i] = -1.0
                timeouts += 1
                continue
            if f > a:
                waits[j][i] = f - a
                waited += f - a
                a = f
            b = a + hold
            heapreplace(free, b)
            s = 0
            while a < b:  # spread the hold over the seconds it spans
                edge = start + s + 1.0
                if s == len(held):
                    held.append(0.0)
                if a < edge:
                    held[s] += min(b, edge) - a
                    a = edge
                s += 1
        self.pool_in_use = held.popleft()
        row = self.tm.metrics.row
        row[self.tm.g_pool_wait] += timeouts
        row[self.tm.g_pool_wait_s] += waited
        # keep the connections' free times while any is held past this second
        self._conn_free = free if max(free) > start + 1.0 else []
        return waits

    def _serve(
        self,
        k: RequestTick,
        plan: list[Plan],
        lat_x: float,
        cpu_wait: float,
        sigma: float,
        pool_waits: list[list[float]] | None,
        refused: list[tuple[float, str]] | None = None,
    ) -> None:
        """Serve each route's requests, then run what they asked of the database and queues.

        `refused`: per route, the share of its requests a cluster's own engine has no connection
        for, and its error (None: no cluster has its own engine)."""
        db = self.db
        row = self.tm.metrics.row
        limits = self._limits
        herd = self.herd
        requests = self.requests
        writes_may_fail = db.writes_may_fail()
        publish_error = self.broker.publish_error
        ok_line = self._ok_line
        healthy, degraded = self.requests.healthy, self.requests.degraded
        plain, vtraits, corrupt = k.plain, k.vtraits, k.corrupt
        quiet = k.shed_p == 0 and pool_waits is None
        if refused is not None and any(p for p, _ in refused):
            quiet = False
        spread = sigma > LOGNORMAL_SIGMA + 0.01
        # the same draws with a wider shape and the same mean: f' = f^(s/s0) e^((s0^2-s^2)/2)
        sp_a = sigma / LOGNORMAL_SIGMA
        sp_k = math.exp((LOGNORMAL_SIGMA**2 - sigma**2) / 2)
        ran: dict[str, float] = {}  # query executions of this tick's requests, by shape
        bad = slow = total = 0
        for j, (rs, n, db_ms, miss_ms, shapes, blocked, miss_blocked, draws, allowed) in enumerate(
            plan
        ):
            total += n
            if n == 0 or draws is None:
                continue
            name, r = rs[0], rs[1]
            limit = limits.get(name) if limits else None
            err_extra = (
                0.0
                if plain
                else sum(
                    w * (tr.error_rate.get(name, 0.0) + tr.error_rate.get("*", 0.0))
                    for w, tr in vtraits
                )
            )
            prov_ms = prov_fail = 0.0
            if r.provider_calls > 0:
                prov_ms, prov_fail = self._provider_cost(n, r.provider_calls)
            write_err = None
            if writes_may_fail:
                for s in shapes:
                    write_err = write_err or db.write_error(s)
            if r.enqueue and publish_error is not None:
                write_err = write_err or publish_error
            if spread:
                draws = ([f**sp_a * sp_k for f in draws[0]], *draws[1:])
            if refused is not None:
                requests.refused, requests.refused_error = refused[j]
            clients = herd.routes.get(name) if herd is not None else None
            if clients is not None:
                requests.client_timeout = clients.policy.timeout_s
                requests.abandoned = 0
            mean_ms = r.base_ms * lat_x * cpu_wait + db_ms + prov_ms
            if (
                allowed == n
                and quiet
                and blocked is None
                and not miss_blocked
                and write_err is None
                and err_extra == 0
                and prov_fail == 0
                and (corrupt == 0 or not r.creates_order)
            ):
                counts = healthy(k, rs, n, mean_ms, miss_ms, ok_line[name], draws)
            else:
                counts = degraded(
                    k,
                    rs,
                    n,
                    allowed,
                    limit,
                    mean_ms,
                    miss_ms,
                    err_extra,
                    prov_fail,
                    blocked,
                    miss_blocked,
                    write_err,
                    draws,
                    pool_waits[j] if pool_waits is not None else None,
                )
            n_ok, n_miss, n_fail, route_bad, route_slow = counts
            if clients is not None:
                clients.settle(k.t, n, n - n_ok + requests.abandoned, row)
                requests.client_timeout = None
            bad += route_bad
            slow += route_slow
            # effects of the route's requests this tick, aggregated
            for s, c in shapes.items():
                ran[s] = ran.get(s, 0.0) + c * n_ok
                if n_fail and not db.cfg.shapes[s].write:
                    ran[s] += c * 0.5 * n_fail  # failed requests still ran their reads
            if n_miss:
                for s, c in rs[2].items():
                    ran[s] = ran.get(s, 0.0) + c * n_miss
            if r.creates_order:
                row[self.tm.c_orders] += n_ok
            if n_ok:
                for qn, c in r.enqueue.items():
                    q = self.queues.get(qn)
                    if q is not None:
                        q.enqueue(k.t, int(c * n_ok))
        for s, c in ran.items():
            db.run(s, c)
        self.total_requests += total
        self.bad_requests += bad
        self.slow_requests += slow
        row[self.tm.c_slow] += slow

    def record(self) -> None:
        row = self.tm.metrics.row
        tm = self.tm
        row[tm.g_api_cpu] = self.cpu
        row[tm.g_api_replicas] = sum(self.versions.values())
        row[tm.g_pool_used] = self.pool_in_use
        row[tm.g_pool_size] = self._read.pool_size

    def cost_per_hour(self) -> float:
        return sum(self.versions.values()) * self.cfg.api.cost_per_replica_hour
