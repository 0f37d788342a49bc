"""The command grammar shared by the console, action scripts, playthroughs and tests.

A command is a line of words (`dlq move payments msg_1a2b3c4d`), quoted like a
shell. Each command has a name (one or two words), a kind (investigate or act,
or meta for help), a usage line, help, and a handler that reads or changes the
session. A handler refuses by raising `Refusal` with the reason; a refused
command changes nothing and is recorded as refused.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from oncall_dojo.game import views
from oncall_dojo.game.session import Entry, Session
from oncall_dojo.sim.errors import Refusal
from oncall_dojo.sim.observability.logs import LEVELS
from oncall_dojo.sim.observability.metrics import SelectorError

Completion = Literal[
    "service",
    "pool",
    "queue",
    "alert",
    "flag",
    "config",
    "job",
    "runbook",
    "message",
    "pid",
    "route",
    "cause",
    "metric",
    "table",
    "version",
    "level",
    "none",
]


@dataclass(frozen=True)
class Command:
    name: str
    kind: Literal["investigate", "act", "meta"]
    usage: str
    help: str
    handler: Callable[[Session, list[str]], tuple[str, str | None]]
    """Returns (output, evidence key or None)."""
    args: tuple[Completion, ...] = ()

    @property
    def mutates(self) -> bool:
        """Changes the system (not just the incident's paperwork: ack, updates, diagnosis)."""
        return self.kind == "act" and self.name not in RESPONSE_ONLY


RESPONSE_ONLY = {"ack", "update", "escalate", "diagnose", "resolve"}
COMMANDS: dict[str, Command] = {}


def command(
    name: str,
    kind: Literal["investigate", "act", "meta"],
    usage: str,
    help: str,
    args: tuple[Completion, ...] = (),
):
    def deco(
        fn: Callable[[Session, list[str]], tuple[str, str | None]],
    ) -> Callable[[Session, list[str]], tuple[str, str | None]]:
        COMMANDS[name] = Command(name, kind, usage, help, fn, args)
        return fn

    return deco


RAW_SQL = {"sql": 1, "refund query": 2, "notify query": 2}
"""Commands whose rest of the line is SQL, taken verbatim (quotes and all), by words before it."""


def split(text: str) -> list[str]:
    words = text.split()
    for name, n in RAW_SQL.items():
        head = name.split()
        if (
            words[:n] == head
            and len(words) > n
            and words[n].lower() not in ("commit", "rollback", "pending")
        ):
            return [*head, text.strip().split(None, n)[n]]
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise Refusal(
            f'cannot parse the command: {exc} (quote text with spaces in "...")'
        ) from None


def resolve(words: list[str]) -> tuple[Command, list[str]]:
    """Find the command a line of words names (two-word names first)."""
    if not words:
        raise Refusal("empty command; `help` lists the commands")
    if len(words) >= 2 and f"{words[0]} {words[1]}" in COMMANDS:
        return COMMANDS[f"{words[0]} {words[1]}"], words[2:]
    if words[0] in COMMANDS:
        return COMMANDS[words[0]], words[1:]
    subs = sorted(n.split(" ", 1)[1] for n in COMMANDS if n.startswith(words[0] + " "))
    if subs:
        raise Refusal(f"`{words[0]}` needs one of: {', '.join(subs)}")
    names = sorted({n.split(" ")[0] for n in COMMANDS})
    close = difflib.get_close_matches(words[0], names, n=1)
    tip = f" Did you mean `{close[0]}`?" if close else ""
    raise Refusal(f"unknown command `{words[0]}`.{tip} `help` lists the commands.")


def parse(text: str) -> tuple[Command, list[str]]:
    """Check that a line is a known command (used to validate playthroughs)."""
    return resolve(split(text))


def execute(session: Session, text: str) -> Entry:
    text = text.strip()
    at, tick = session.now, session.system.t
    if session.ended or session.declared_resolved_at is not None:
        entry = Entry(at, tick, text, "refused", "the incident is over; see the debrief")
        session.entries.append(entry)
        return entry
    try:
        cmd, args = resolve(split(text))
        output, evidence = cmd.handler(session, args)
        entry = Entry(at, tick, text, cmd.kind, output, evidence, cmd.name)
    except Refusal as exc:
        entry = Entry(at, tick, text, "refused", exc.reason)
    session.entries.append(entry)
    return entry


# ---------------------------------------------------------------------------- helpers
def _need(args: list[str], n: int, usage: str) -> None:
    if len(args) < n:
        raise Refusal(f"usage: {usage}")


def _opts(args: list[str], allowed: set[str], usage: str) -> tuple[list[str], dict[str, str]]:
    pos: list[str] = []
    opts: dict[str, str] = {}
    for a in args:
        k, eq, v = a.partition("=")
        if eq and k in allowed:
            opts[k] = v
        elif eq and re.fullmatch(r"[a-z_]+", k):
            raise Refusal(
                f"unknown option `{k}`; allowed: {', '.join(sorted(allowed)) or 'none'}. usage: {usage}"
            )
        else:
            pos.append(a)  # e.g. a metric selector: queue_depth{queue="payments"}
    return pos, opts


def _int(v: str, what: str, lo: int = 0, hi: int = 10**9) -> int:
    try:
        n = int(v)
    except ValueError:
        raise Refusal(f"{what} must be a whole number, got {v!r}") from None
    if not lo <= n <= hi:
        raise Refusal(f"{what} must be between {lo} and {hi}, got {n}")
    return n


def parse_duration(v: str) -> int:
    m = re.fullmatch(r"(\d+)([smh]?)", v)
    if not m:
        raise Refusal(f"duration must look like 90, 90s, 15m or 1h, got {v!r}")
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def _queue(s: Session, name: str):
    q = s.system.queues.get(name.removesuffix(".dlq"))
    if q is None:
        raise Refusal(f"no queue {name!r}; queues: {', '.join(s.system.queues)}")
    return q


def _pool(s: Session, name: str):
    p = s.system.pools.get(name)
    if p is None:
        raise Refusal(f"no worker pool {name!r}; pools: {', '.join(s.system.pools)}")
    return p


def _scalar(v: str) -> bool | int | float | str:
    low = v.lower()
    if low in ("true", "on", "yes"):
        return True
    if low in ("false", "off", "no"):
        return False
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


# ---------------------------------------------------------------------------- meta
@command("help", "meta", "help [COMMAND]", "List the commands, or explain one.")
def _help(s: Session, args: list[str]) -> tuple[str, str | None]:
    if args:
        name = " ".join(args[:2]) if " ".join(args[:2]) in COMMANDS else args[0]
        matches = [c for n, c in COMMANDS.items() if n == name or n.startswith(name + " ")]
        if not matches:
            raise Refusal(f"no command {name!r}")
        return "\n".join(f"{c.usage}\n    {c.help}" for c in matches), None
    out = []
    for kind, title in (
        ("investigate", "Investigate (free; what you look at is recorded)"),
        ("act", "Act (changes the system)"),
        ("meta", "Other"),
    ):
        out.append(title + ":")
        out += [f"  {c.usage:<42} {c.help}" for c in COMMANDS.values() if c.kind == kind]
    return "\n".join(out), None


# ---------------------------------------------------------------------------- investigate
@command("alerts", "investigate", "alerts", "Alerts firing and pending, and what fired earlier.")
def _alerts(s: Session, args: list[str]) -> tuple[str, str | None]:
    return views.alerts(s), "alerts"


@command("map", "investigate", "map", "The system at a glance: every component and its health.")
def _map(s: Session, args: list[str]) -> tuple[str, str | None]:
    return views.system_map(s), "map"


LOG_USAGE = "logs [SERVICE] [level=warn] [grep=TEXT] [re=REGEX] [since=15m] [limit=20]"


@command("logs", "investigate", LOG_USAGE, "Search the logs, newest last.", ("service",))
def _logs(s: Session, args: list[str]) -> tuple[str, str | None]:
    pos, opts = _opts(args, {"level", "grep", "re", "since", "limit"}, LOG_USAGE)
    service = pos[0] if pos else None
    if service is not None and not any(n.startswith(service) for n in s.system.logs.service_names):
        raise Refusal(
            f"no logs from {service!r}; services: {', '.join(s.system.logs.service_names)}"
        )
    level = opts.get("level", "debug").upper()
    if level == "WARNING":
        level = "WARN"
    if level not in LEVELS:
        raise Refusal(f"level must be one of {', '.join(x.lower() for x in LEVELS)}")
    regex = None
    if "re" in opts:
        try:
            regex = re.compile(opts["re"])
        except re.error as exc:
            raise Refusal(f"bad regex {opts['re']!r}: {exc}") from None
    since = parse_duration(opts.get("since", "15m"))
    limit = _int(opts.get("limit", "20"), "limit", 1, 500)
    return views.logs(
        s, service, LEVELS.index(level), opts.get("grep"), regex, since, limit
    ), f"logs:{service or 'all'}"


METRICS_USAGE = "metrics [SELECTOR] [fn=rate|avg|max|p99...] [window=5m]"


@command(
    "metrics",
    "investigate",
    METRICS_USAGE,
    "List metrics, or show a series: now, over the last hour, and a sparkline.",
    ("metric",),
)
def _metrics(s: Session, args: list[str]) -> tuple[str, str | None]:
    pos, opts = _opts(args, {"fn", "window"}, METRICS_USAGE)
    if not pos:
        return views.metric_list(s), "metrics"
    selector = " ".join(pos)
    window = parse_duration(opts.get("window", "5m"))
    if not 1 <= window <= 86_400:
        raise Refusal(f"window must be between 1s and 24h, got {opts.get('window')}")
    try:
        out = views.metric(s, selector, opts.get("fn"), window)
    except SelectorError as exc:
        raise Refusal(str(exc)) from None
    name = selector.split("{", 1)[0].strip()
    return out, f"metrics:{name}"


@command(
    "queues",
    "investigate",
    "queues",
    "Every queue: depth, oldest message, in flight, dead letters.",
)
def _queues(s: Session, args: list[str]) -> tuple[str, str | None]:
    return views.queues(s), "queues"


@command(
    "queue",
    "investigate",
    "queue NAME",
    "One queue in detail, with the most-redelivered messages.",
    ("queue",),
)
def _queue_show(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "queue NAME")
    q = _queue(s, args[0])
    return views.queue(s, q.name), f"queue:{q.name}"


@command(
    "messages",
    "investigate",
    "messages QUEUE [dlq]",
    "The oldest waiting messages of a queue (or its dead-letter queue).",
    ("queue",),
)
def _messages(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "messages QUEUE [dlq]")
    q = _queue(s, args[0])
    dlq = args[0].endswith(".dlq") or (len(args) > 1 and args[1] == "dlq")
    return views.messages(s, q.name, dlq), f"messages:{q.name}"


@command(
    "workers",
    "investigate",
    "workers [POOL]",
    "Worker replicas: state, version, restarts, memory.",
    ("pool",),
)
def _workers(s: Session, args: list[str]) -> tuple[str, str | None]:
    if args:
        p = _pool(s, args[0])
        return views.workers(s, p.name), f"workers:{p.name}"
    return views.workers(s, None), "workers"


@command(
    "deploys",
    "investigate",
    "deploys",
    "Change history: deploys, rollbacks, flags, config, migrations.",
)
def _deploys(s: Session, args: list[str]) -> tuple[str, str | None]:
    return views.changes(s), "deploys"


@command(
    "db",
    "investigate",
    "db [queries|indexes]",
    "Database health; `db queries` lists running sessions, `db indexes` the indexes.",
)
def _db(s: Session, args: list[str]) -> tuple[str, str | None]:
    what = args[0] if args else "stats"
    if what not in ("stats", "queries", "indexes"):
        raise Refusal(
            "usage: db [queries|indexes]  (to act: `kill PID`, `index create ...`, `failover postgres`)"
        )
    return views.database(s, what), f"db:{what}"


@command("jobs", "investigate", "jobs", "Scheduled and backfill jobs with their progress.")
def _jobs(s: Session, args: list[str]) -> tuple[str, str | None]:
    return views.jobs(s), "jobs"


@command("flags", "investigate", "flags", "Feature flags and runtime config.")
def _flags(s: Session, args: list[str]) -> tuple[str, str | None]:
    return views.flags(s), "flags"


@command(
    "runbook", "investigate", "runbook [NAME]", "List the runbooks, or open one.", ("runbook",)
)
def _runbook(s: Session, args: list[str]) -> tuple[str, str | None]:
    books = s.incident.runbooks
    if not args:
        return "Runbooks: " + (", ".join(sorted(books)) or "none"), "runbook"
    if args[0] not in books:
        raise Refusal(f"no runbook {args[0]!r}; runbooks: {', '.join(sorted(books)) or 'none'}")
    return books[args[0]].strip(), f"runbook:{args[0]}"


# ---------------------------------------------------------------------------- act
@command("ack", "act", "ack", "Acknowledge the page (stops the escalation timer).", ("alert",))
def _ack(s: Session, args: list[str]) -> tuple[str, str | None]:
    if s.acked_at is not None:
        raise Refusal(f"already acknowledged at {views.mmss(s.acked_at)}")
    s.acked_at = s.now
    for st in s.system.alerts.firing():
        st.acked_at = s.now
    return f"Acknowledged {s.incident.page.alert} at {views.mmss(s.now)}.", None


@command(
    "restart",
    "act",
    "restart SERVICE [REPLICA]",
    "Restart a service (rolling) or one replica: api, a worker pool, cache, postgres, ledger, broker.",
    ("service",),
)
def _restart(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "restart SERVICE [REPLICA]")
    sys_ = s.system
    t = sys_.t
    target = args[0]
    if target in sys_.pools:
        pool = sys_.pools[target]
        live = pool.live
        chosen = [r for r in live if len(args) < 2 or r.name == args[1]]
        if not chosen:
            raise Refusal(f"no replica {args[1]!r} in {target}; see `workers {target}`")
        for i, r in enumerate(chosen):
            sys_._terminate(pool, r, t)
            pool.new_replica(t + i * 5, version=r.version)  # a restart keeps each replica's version
        sys_.record_change(t, "restart", target, f"{len(chosen)} replicas", "restarted", "you")
        return (
            f"Restarting {len(chosen)} replica(s) of {target}; each takes about {pool.cfg.startup_s}s to become ready. In-flight messages return to the queue after the visibility timeout.",
            None,
        )
    if target == "api":
        sys_.record_change(t, "restart", "api", "", "rolling restart", "you")
        return (
            "Rolling restart of the API: replicas are replaced one at a time; the API holds no state, so this changes little.",
            None,
        )
    if target == "cache":
        sys_.cache_hit = 0.0
        sys_.cache_flushes += 1
        sys_.record_change(t, "restart", "cache", "", "restarted (empty)", "you")
        return (
            "Cache restarted: it is empty and every read goes to the database until it refills.",
            None,
        )
    if target == "postgres":
        killed = len(sys_.db.backends)
        sys_.db.backends.clear()
        sys_.db.failover_until = t + 45
        sys_.db._recompute_latency()
        sys_.record_change(t, "restart", "postgres", "", "restarted", "you")
        return (
            f"Postgres restarting: every connection dropped ({killed} long-running sessions killed); writes fail for about 45s.",
            None,
        )
    if target == "broker":
        lost = sys_.restart_broker(t)
        sys_.record_change(t, "restart", "broker", "", "restarted", "you")
        return (
            f"Broker restarting: nobody can publish for about {sys_.cfg.broker.restart_s}s"
            + (
                f"; {lost:,} messages waiting on transient queues were dropped."
                if lost
                else "; persistent messages survive."
            ),
            None,
        )
    if target == "ledger":
        sys_.record_change(t, "restart", "ledger", "", "restarted", "you")
        if sys_.ledger_error:
            return (
                "Ledger restarted. It resynced from its replica and came back read-only again.",
                None,
            )
        return "Ledger restarted.", None
    raise Refusal(
        f"no service {target!r}; restartable: api, {', '.join(sys_.pools)}, cache, postgres, ledger, broker"
    )


@command(
    "scale",
    "act",
    "scale SERVICE N",
    "Set the number of replicas of a worker pool or the API.",
    ("service",),
)
def _scale(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 2, "scale SERVICE N")
    n = _int(args[1], "replicas", 0, 500)
    sys_ = s.system
    if args[0] == "api":
        if n < 1:
            raise Refusal("the API needs at least one replica")
        have = sum(sys_.api_versions.values())
        current = sys_.api_versions.get(sys_.api_version, 0) + (n - have)
        if current <= 0:
            raise Refusal(
                "scaling down that far would remove replicas of another version; finish the rollout first"
            )
        sys_.api_versions[sys_.api_version] = current
        sys_.record_change(sys_.t, "scale", "api", str(have), str(n), "you")
        return f"API scaled from {have} to {n} replicas.", None
    pool = _pool(s, args[0])
    before = len(pool.live)
    delta = sys_.scale_pool(pool, n)
    sys_.record_change(sys_.t, "scale", pool.name, str(before), str(n), "you")
    auto = pool.cfg.autoscale
    if auto is not None and auto.enabled:
        return (
            f"{pool.name}: scaled from {before} to {n} replicas. Its autoscaler is on and will set the "
            f"count again within 15s (between {auto.min_replicas} and {auto.max_replicas}); "
            f"`autoscale {pool.name} max=N` caps it, `autoscale {pool.name} off` stops it.",
            None,
        )
    if delta > 0:
        return (
            f"{pool.name}: {delta} new replica(s) starting (about {pool.cfg.startup_s}s to ready).",
            None,
        )
    return f"{pool.name}: scaled from {before} to {n} replicas.", None


AUTOSCALE_USAGE = "autoscale POOL [on|off] [min=N] [max=N]"


@command(
    "autoscale",
    "act",
    AUTOSCALE_USAGE,
    "Show or change a pool's queue-depth autoscaler: turn it on or off, set its bounds.",
    ("pool",),
)
def _autoscale(s: Session, args: list[str]) -> tuple[str, str | None]:
    pos, opts = _opts(args, {"min", "max"}, AUTOSCALE_USAGE)
    _need(pos, 1, AUTOSCALE_USAGE)
    pool = _pool(s, pos[0])
    a = pool.cfg.autoscale
    if a is None:
        raise Refusal(f"{pool.name} has no autoscaler; `scale {pool.name} N` sets its replicas")
    if len(pos) > 2 or (len(pos) == 2 and pos[1] not in ("on", "off")):
        raise Refusal(f"usage: {AUTOSCALE_USAGE}")
    before = f"{'on' if a.enabled else 'off'} {a.min_replicas}-{a.max_replicas}"
    if len(pos) == 1 and not opts:
        return (
            f"{pool.name} autoscaler: {before} replicas, aiming at {a.target_per_replica} waiting "
            f"messages per replica; {len(pool.live)} replicas now (cluster quota {pool.cfg.max_replicas}).",
            None,
        )
    lo = _int(opts["min"], "min", 0, 500) if "min" in opts else a.min_replicas
    hi = _int(opts["max"], "max", 1, 500) if "max" in opts else a.max_replicas
    if lo > hi:
        raise Refusal(f"min ({lo}) must not be above max ({hi})")
    a.min_replicas, a.max_replicas = lo, hi
    if len(pos) == 2:
        a.enabled = pos[1] == "on"
    after = f"{'on' if a.enabled else 'off'} {a.min_replicas}-{a.max_replicas}"
    s.system.record_change(s.system.t, "autoscale", pool.name, before, after, "you")
    live = len(pool.live)
    if a.enabled and live > hi:
        s.system.scale_pool(pool, hi)
        return f"{pool.name} autoscaler: {after}; scaled down from {live} to {hi} replicas.", None
    tail = "" if a.enabled else f"; the pool stays at {live} replicas until you `scale` it"
    return f"{pool.name} autoscaler: {after}{tail}.", None


@command(
    "rollback",
    "act",
    "rollback SERVICE",
    "Roll a service back to the version it ran before its last deploy.",
    ("service",),
)
def _rollback(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "rollback SERVICE")
    sys_ = s.system
    svc = args[0]
    if svc not in sys_.previous_versions:
        raise Refusal(f"no service {svc!r}; services: {', '.join(sys_.services())}")
    stable = sys_.api_version if svc == "api" else sys_.pools[svc].version
    running = set(sys_.api_versions) if svc == "api" else {r.version for r in sys_.pools[svc].live}
    prev = sys_.previous_versions[svc]
    if running - {stable}:
        # a partial rollout: return every replica to the stable version
        current, target = ",".join(sorted(running - {stable})), stable
        sys_.deploy(sys_.t, svc, target, "you", note=f"rollback from {current}")
    elif prev:
        target, current = prev[-1], stable
        sys_.deploy(sys_.t, svc, target, "you", note=f"rollback from {current}")
        prev.pop()  # the version we left
        prev.pop()  # the version we returned to is no longer "previous"
    else:
        raise Refusal(f"{svc} runs only {stable} and has no earlier version in its history")
    sys_.changes[-1].kind = "rollback"
    return f"Rolling {svc} back from {current} to {target}; replicas are replaced gradually.", None


@command(
    "deploy",
    "act",
    "deploy SERVICE VERSION [percent=100]",
    "Deploy a known version (a fix, or an earlier release).",
    ("service", "version"),
)
def _deploy(s: Session, args: list[str]) -> tuple[str, str | None]:
    pos, opts = _opts(args, {"percent"}, "deploy SERVICE VERSION [percent=100]")
    _need(pos, 2, "deploy SERVICE VERSION [percent=100]")
    sys_ = s.system
    svc, version = pos[0], pos[1]
    if svc not in sys_.previous_versions:
        raise Refusal(f"no service {svc!r}; services: {', '.join(sys_.services())}")
    known = set(sys_.cfg.versions.get(svc, {})) | set(sys_.previous_versions[svc])
    known |= {sys_.cfg.api.version} if svc == "api" else {sys_.cfg.workers[svc].version}
    if version not in known:
        raise Refusal(
            f"no build {version} of {svc} in the registry; known: {', '.join(sorted(known))}"
        )
    percent = _int(opts.get("percent", "100"), "percent", 1, 100)
    sys_.deploy(sys_.t, svc, version, "you", percent=percent)
    return f"Deploying {svc} {version} to {percent}% of replicas.", None


def _set_later(s: Session, store: str, key: str, value: bool | int | float | str) -> None:
    sys_ = s.system
    target = sys_.flags if store == "flag" else sys_.config
    before = target.get(key)
    target[key] = value
    sys_.record_change(sys_.t, store, key, str(before), str(value), "you")


@command("flag", "act", "flag NAME VALUE", "Set a feature flag (on/off or a value).", ("flag",))
def _flag(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 2, "flag NAME VALUE")
    if args[0] not in s.system.flags:
        raise Refusal(f"no flag {args[0]!r}; flags: {', '.join(sorted(s.system.flags)) or 'none'}")
    _set_later(s, "flag", args[0], _scalar(args[1]))
    return f"Flag {args[0]} = {args[1]}.", None


@command("config", "act", "config KEY VALUE", "Set a runtime config key.", ("config",))
def _config(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 2, "config KEY VALUE")
    if not re.fullmatch(r"[a-z][a-z0-9_.-]*", args[0]):
        raise Refusal(f"config keys look like payments.retry.backoff, got {args[0]!r}")
    _set_later(s, "config", args[0], _scalar(args[1]))
    return f"Config {args[0]} = {args[1]}.", None


@command(
    "pause",
    "act",
    "pause QUEUE",
    "Pause the consumers of a queue (messages wait, nothing is lost).",
    ("queue",),
)
def _pause(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "pause QUEUE")
    q = _queue(s, args[0])
    if q.name in s.system.consumers_paused:
        raise Refusal(f"consumers of {q.name} are already paused")
    s.system.consumers_paused.add(q.name)
    s.system.record_change(s.system.t, "config", f"{q.name}.consumers", "running", "paused", "you")
    return f"Consumers of {q.name} paused; in-flight messages finish, new ones wait.", None


@command("resume", "act", "resume QUEUE", "Resume the consumers of a queue.", ("queue",))
def _resume(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "resume QUEUE")
    q = _queue(s, args[0])
    if q.name not in s.system.consumers_paused:
        raise Refusal(f"consumers of {q.name} are not paused")
    s.system.consumers_paused.discard(q.name)
    s.system.record_change(s.system.t, "config", f"{q.name}.consumers", "paused", "running", "you")
    return f"Consumers of {q.name} resumed.", None


@command(
    "purge",
    "act",
    "purge QUEUE",
    "Delete every waiting message of a queue. They are gone for good.",
    ("queue",),
)
def _purge(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "purge QUEUE")
    q = _queue(s, args[0])
    if q.depth == 0:
        raise Refusal(f"{q.name} has no waiting messages")
    lost = q.purge()
    s.system.record_change(s.system.t, "purge", q.name, f"{lost} messages", "deleted", "you")
    return f"Purged {q.name}: {lost:,} messages deleted. Nobody will process them.", None


@command(
    "dlq move",
    "act",
    "dlq move QUEUE MSG_ID|top|all",
    "Move one waiting message (`top`: the one delivered most often; `all`: every waiting one) to the dead-letter queue.",
    ("queue", "message"),
)
def _dlq_move(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 2, "dlq move QUEUE MSG_ID|top|all")
    q = _queue(s, args[0])
    if args[1] == "all":
        moved = q.park_all()
        if not moved:
            raise Refusal(f"{q.name} has no waiting messages")
        s.system.record_change(
            s.system.t, "park", q.name, f"{moved} messages", f"moved to {q.name}.dlq", "you"
        )
        return (
            f"Parked {moved:,} waiting messages of {q.name} in {q.name}.dlq (kept on disk, not lost; "
            f"`dlq replay {q.name}` puts them back).",
            None,
        )
    if args[1] == "top":
        top = q.top_delivered(1)
        if not top:
            raise Refusal(f"no waiting message on {q.name} has been delivered more than once")
        args = [args[0], "msg_" + top[0][0]]
    run = q.move_to_dlq(args[1])
    return f"Moved {args[1]} to {q.name}.dlq (it had been delivered {run.deliveries} times).", None


@command(
    "dlq replay",
    "act",
    "dlq replay QUEUE [MSG_ID...] [limit=N]",
    "Move dead-lettered messages (all, the ones named, or the oldest N) back onto the queue.",
    ("queue", "message"),
)
def _dlq_replay(s: Session, args: list[str]) -> tuple[str, str | None]:
    usage = "dlq replay QUEUE [MSG_ID...] [limit=N]"
    args, opts = _opts(args, {"limit"}, usage)
    _need(args, 1, usage)
    q = _queue(s, args[0])
    if not q.dlq:
        raise Refusal(f"{q.name}.dlq is empty")
    if "limit" in opts:
        if len(args) > 1:
            raise Refusal(f"give message ids or limit=N, not both. usage: {usage}")
        left = q.dlq_depth
        moved = q.replay_oldest(s.system.t, _int(opts["limit"], "limit", 1, 10**7))
        s.system.record_change(s.system.t, "replay", q.name, f"{moved} messages", "replayed", "you")
        return (
            f"Replayed the oldest {moved:,} message(s) from {q.name}.dlq onto {q.name}; "
            f"{left - moved:,} still parked.",
            None,
        )
    only = None
    if len(args) > 1:
        only = set()
        for mid in args[1:]:
            seq = q.seq_of(mid)
            if seq is None or not any(r.first <= seq < r.first + r.count for r in q.dlq):
                raise Refusal(f"{mid} is not in {q.name}.dlq; see `messages {q.name} dlq`")
            only.add(seq)
    moved = q.replay_dlq(s.system.t, only)
    s.system.record_change(s.system.t, "replay", q.name, f"{moved} messages", "replayed", "you")
    return f"Replayed {moved:,} message(s) from {q.name}.dlq onto {q.name}.", None


@command("kill", "act", "kill PID", "Cancel a database session (see `db queries`).", ("pid",))
def _kill(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "kill PID")
    b = s.system.db.kill(_int(args[0], "pid"))
    s.system.record_change(s.system.t, "kill", "postgres", str(b.pid), "cancelled", "you", b.sql)
    return f"Cancelled pid {b.pid} ({b.kind}, running {s.system.t - b.started}s): {b.sql}", None


INDEX_USAGE = "index create NAME TABLE COLUMNS [concurrently]"


@command(
    "index create",
    "act",
    INDEX_USAGE,
    "Build an index; without `concurrently` it blocks writes to the table until done.",
    ("none", "table"),
)
def _index(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 3, INDEX_USAGE)
    conc = len(args) > 3 and args[3] in ("concurrently", "--concurrently")
    if len(args) > 3 and not conc:
        raise Refusal(f"usage: {INDEX_USAGE}")
    b = s.system.db.create_index(s.system.t, args[0], args[1], args[2], conc)
    s.system.record_change(s.system.t, "index", args[0], "", "building", "you", b.sql)
    how = "without blocking writes" if conc else "BLOCKING writes to " + args[1]
    return f"Building {args[0]} on {args[1]}({args[2]}) {how}; about {b.runs_s}s.", None


@command(
    "failover",
    "act",
    "failover postgres|ledger",
    "Promote the replica. Writes it had not replayed are lost.",
)
def _failover(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "failover postgres|ledger")
    sys_ = s.system
    if args[0] == "ledger":
        was = sys_.ledger_error
        sys_.ledger_error = None
        sys_.record_change(sys_.t, "failover", "ledger", "ledger-0", "ledger-1", "you")
        return "Promoted ledger-1; it accepts writes." + (
            "" if was else " (ledger-0 was healthy.)"
        ), None
    if args[0] == "postgres":
        lag = sys_.db.replication_lag_s
        lost = sys_.db.failover(sys_.t)
        sys_.record_change(sys_.t, "failover", "postgres", "pg-0", "pg-1", "you")
        return (
            f"Promoted the replica (it was {lag:.0f}s behind): {lost:,} writes lost; about 30s of failed writes while clients reconnect.",
            None,
        )
    raise Refusal("failover what? `failover postgres` or `failover ledger`")


@command(
    "ratelimit",
    "act",
    "ratelimit ROUTE RPS|off",
    "Cap requests per second on a route at the load balancer (excess gets 429).",
    ("route",),
)
def _ratelimit(s: Session, args: list[str]) -> tuple[str, str | None]:
    if len(args) >= 3:  # `ratelimit POST /api/checkout 5`
        args = [f"{args[0]} {args[1]}", *args[2:]]
    _need(args, 2, "ratelimit ROUTE RPS|off")
    route = args[0]
    if route not in s.system.cfg.api.routes:
        raise Refusal(
            f"no route {route!r}; routes: {', '.join(repr(r) for r in s.system.cfg.api.routes)}"
        )
    if args[1] == "off":
        s.system.rate_limits.pop(route, None)
        s.system.record_change(s.system.t, "ratelimit", route, "", "off", "you")
        return f"Rate limit on {route} removed.", None
    n = _int(args[1], "rps", 0, 100_000)
    s.system.rate_limits[route] = float(n)
    s.system.record_change(s.system.t, "ratelimit", route, "", f"{n} rps", "you")
    return f"{route} limited to {n} requests/s; the rest get 429.", None


@command("cache flush", "act", "cache flush", "Empty the cache.")
def _cache_flush(s: Session, args: list[str]) -> tuple[str, str | None]:
    s.system.cache_hit = 0.0
    s.system.cache_flushes += 1
    s.system.record_change(s.system.t, "flush", "cache", "", "flushed", "you")
    return "Cache flushed: every read misses until it refills from the database.", None


def _job_cmd(verb: str, usage: str) -> Callable[[Session, list[str]], tuple[str, str | None]]:
    def handler(s: Session, args: list[str]) -> tuple[str, str | None]:
        args, opts = _opts(args, {"from"} if verb == "run" else set(), usage)
        _need(args, 1, usage)
        job = s.system.jobs.get(args[0])
        if job is None:
            raise Refusal(f"no job {args[0]!r}; jobs: {', '.join(sorted(s.system.jobs)) or 'none'}")
        t = s.system.t
        if verb == "pause":
            if job.state == "failed" and job.retry_at is not None:
                job.retry_at = None  # pausing a failed job cancels the scheduler's retry
            elif job.state != "running":
                raise Refusal(f"job {job.name} is {job.state}, not running")
            job.state = "paused"
        elif verb == "resume":
            if job.state != "paused":
                raise Refusal(f"job {job.name} is {job.state}, not paused")
            job.state = "running"
        else:
            start = _int(opts["from"], "from", 0) if "from" in opts else None
            s.system.start_job(t, job.name, "you", from_item=start)
        s.system.record_change(t, "job", job.name, "", verb, "you")
        return f"Job {job.name}: {job.state} at item {job.progress:,}.", None

    return handler


for _verb, _help_text in (("pause", "Pause a job (it keeps its place)."), ("resume", "Resume a paused job."),
                          ("run", "Start a job (without checkpoints from the first item, unless from=ITEM).")):  # fmt: skip
    _usage = f"job {_verb} NAME" + (" [from=ITEM]" if _verb == "run" else "")
    command(f"job {_verb}", "act", _usage, _help_text, ("job",))(_job_cmd(_verb, _usage))


@command(
    "refund duplicates",
    "act",
    "refund duplicates",
    "Refund every charge beyond the first per order at the provider.",
)
def _refund(s: Session, args: list[str]) -> tuple[str, str | None]:
    if s.system.app is not None:
        # the refund script works from what the application database shows
        ids = _select_ids(
            s,
            "SELECT id FROM payments p WHERE status = 'succeeded'"
            " AND id NOT IN (SELECT min(id) FROM payments WHERE status = 'succeeded' GROUP BY order_id)"
            " AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id)",
        )
        if not ids:
            raise Refusal("the payments table shows no second charge for any order")
        return _refund_payments(s, ids, "duplicate charge"), None
    rec = s.system.records
    n = 0
    for order, count in rec.charges.items():
        extra = count - 1 - rec.refunded.get(order, 0)
        if extra > 0:
            rec.refunded[order] = rec.refunded.get(order, 0) + extra
            n += extra
    if n == 0:
        raise Refusal("the provider shows no duplicate charges to refund")
    s.system.record_change(
        s.system.t, "refund", "payments-provider", "", f"{n} charges refunded", "you"
    )
    return f"Refunded {n:,} duplicate charge(s).", None


def _app(s: Session):
    app = s.system.app
    if app is None:
        raise Refusal("this incident has no application database to query")
    return app


def _select_ids(s: Session, sql: str, what: str = "id") -> list[int]:
    """Whole-number ids a read-only query returns (first column), through the player's sandbox."""
    from oncall_dojo.sim.sqlsandbox import SqlError

    app = _app(s)
    try:
        res = app.selector().run(sql)
    except SqlError as exc:
        raise Refusal(str(exc)) from None
    if res.truncated:
        raise Refusal(
            f"the query returns {res.total_rows:,} rows; narrow it (at most {len(res.rows)})"
        )
    ids = []
    for row in res.rows:
        if not row or not isinstance(row[0], int):
            raise Refusal(f"the first column must be a whole-number {what}, got {row[:1]!r}")
        ids.append(row[0])
    return sorted(set(ids))


def _refund_payments(s: Session, ids: list[int], reason: str) -> str:
    app = _app(s)
    rec = s.system.records
    t = s.system.t
    n = cents = 0
    skipped = []
    for pid, got in zip(ids, app.refund(t, ids, reason), strict=True):
        if got is None:
            skipped.append(pid)
            continue
        order_id, amount = got
        k = order_id - app.history
        rec.refunded[k] = rec.refunded.get(k, 0) + 1
        n += 1
        cents += amount
    if not n:
        raise Refusal("nothing to refund: " + ", ".join(f"payment {p}" for p in skipped[:5])
                      + " not found, not succeeded or already refunded")  # fmt: skip
    s.system.record_change(t, "refund", "payments-provider", "", f"{n} payments refunded", "you")
    out = f"Refunded {n:,} payment(s) at the provider (${cents / 100:,.2f}); each refund is booked in refunds and the ledger."
    if skipped:
        out += f" Skipped {len(skipped)} (not found, not succeeded or already refunded)."
    return out


@command(
    "refund",
    "act",
    "refund PAYMENT_ID... | refund query SELECT id FROM payments ...",
    "Refund payments at the provider (by id, or every id a query returns) and book the refunds.",
)
def _refund_some(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "refund PAYMENT_ID... | refund query SELECT ... | refund duplicates")
    if args[0] == "query":
        _need(args, 2, "refund query SELECT id FROM payments WHERE ...")
        ids = _select_ids(s, args[1], "payment id")
    else:
        ids = [_int(a, "payment id", 1) for a in args]
    return _refund_payments(s, ids, "duplicate charge"), None


@command(
    "notify query",
    "act",
    "notify query SELECT customer_id FROM ...",
    "Email an apology and explanation to every customer a query returns.",
)
def _notify(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "notify query SELECT customer_id FROM ...")
    ids = _select_ids(s, args[0], "customer id")
    app = _app(s)
    ids = [i for i in ids if 1 <= i <= app.customers]
    if not ids:
        raise Refusal("the query returned no customer ids")
    for cid in ids:
        app.send_email(s.system.t, cid, "incident-notice", "apology")
    s.system.notified.update(ids)
    s.system.record_change(s.system.t, "notify", "customers", "", f"{len(ids)} notified", "you")
    return f"Sent an apology to {len(ids):,} customer(s).", None


def _sql_evidence(sql: str) -> str | None:
    m = re.search(r"\b(?:from|join|update|into)\s+([A-Za-z_][A-Za-z0-9_]*)", sql, re.IGNORECASE)
    return f"sql:{m.group(1).lower()}" if m else "sql"


@command(
    "sql",
    "investigate",
    "sql STATEMENT",
    "Run SQL on the application database. Reads show rows; a write is previewed (rows changed per"
    " table) until `sql commit`.",
    ("table",),
)
def _sql(s: Session, args: list[str]) -> tuple[str, str | None]:
    from oncall_dojo.sim.sqlsandbox import SqlError, render_table

    _need(args, 1, "sql STATEMENT (e.g. sql SELECT count(*) FROM orders)")
    app = _app(s)
    try:
        res = app.console().run(args[0])
    except SqlError as exc:
        raise Refusal(str(exc)) from None
    return render_table(res), _sql_evidence(args[0])


@command("sql commit", "act", "sql commit", "Apply the previewed SQL writes, in one transaction.")
def _sql_commit(s: Session, args: list[str]) -> tuple[str, str | None]:
    from oncall_dojo.sim.sqlsandbox import SqlError

    app = _app(s)
    sandbox = app.console()
    if not sandbox.pending():
        raise Refusal(
            "no previewed write to commit; run an UPDATE, INSERT or DELETE with `sql` first"
        )
    statements = len(sandbox.pending())
    try:
        res = sandbox.commit()
    except SqlError as exc:
        raise Refusal(f"nothing was changed: {exc}") from None
    app.after_player_write()
    changed = ", ".join(f"{n:,} in {t}" for t, n in sorted(res.changes.items())) or "no rows"
    s.system.record_change(s.system.t, "sql", "appdb", "", changed, "you")
    return f"Committed {statements} statement(s): {changed} changed.", None


@command("sql rollback", "meta", "sql rollback", "Discard the previewed SQL writes.")
def _sql_rollback(s: Session, args: list[str]) -> tuple[str, str | None]:
    n = _app(s).console().discard()
    if not n:
        raise Refusal("no previewed write to discard")
    return f"Discarded {n} previewed statement(s); nothing was changed.", None


@command(
    "sql pending", "meta", "sql pending", "Show the previewed SQL writes waiting for `sql commit`."
)
def _sql_pending(s: Session, args: list[str]) -> tuple[str, str | None]:
    pending = _app(s).console().pending()
    if not pending:
        return "No previewed writes.", None
    return "\n".join(f"{i}. {q}" for i, q in enumerate(pending, 1)), None


@command("update", "act", 'update "TEXT"', "Post a status update for customers and the company.")
def _update(s: Session, args: list[str]) -> tuple[str, str | None]:
    text = " ".join(args).strip()
    if len(text) < 10:
        raise Refusal(
            "a status update needs a sentence (10 characters or more): what is affected, what you are doing"
        )
    s.status_updates.append((s.now, text))
    return f"Status update posted at {views.mmss(s.now)}.", None


@command("escalate", "act", "escalate TEAM [TEXT]", "Page another team.")
def _escalate(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "escalate TEAM [TEXT]")
    s.escalations.append((s.now, " ".join(args)))
    return f"Paged {args[0]}. They will join the call.", None


@command(
    "diagnose",
    "act",
    "diagnose CAUSE [NOTES]",
    "Declare the root cause (see `causes`).",
    ("cause",),
)
def _diagnose(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "diagnose CAUSE [NOTES]")
    ids = [o.id for o in s.incident.root_cause.options]
    if args[0] not in ids:
        raise Refusal(f"not one of the candidate causes: {', '.join(ids)} (see `causes`)")
    s.diagnosis = (args[0], " ".join(args[1:]), s.now)
    return f"Root cause declared: {args[0]}.", None


@command("causes", "meta", "causes", "The candidate root causes you can declare with `diagnose`.")
def _causes(s: Session, args: list[str]) -> tuple[str, str | None]:
    return "\n".join(f"  {o.id:<28} {o.text}" for o in s.incident.root_cause.options), None


@command("hint", "meta", "hint [take]", "See what the next hint costs; `hint take` takes it.")
def _hint(s: Session, args: list[str]) -> tuple[str, str | None]:
    hints = s.incident.hints
    i = len(s.hints_taken)
    if i >= len(hints):
        raise Refusal("no more hints")
    if not args or args[0] != "take":
        return (
            f"Hint {i + 1} of {len(hints)} costs {hints[i].cost} points. `hint take` to take it.",
            None,
        )
    s.hints_taken.append(i)
    return f"Hint {i + 1} (-{hints[i].cost}): {hints[i].text}", None


@command(
    "resolve",
    "act",
    "resolve [NOTE]",
    "Declare the incident resolved. Play ends; the outcome is measured to the end.",
)
def _resolve(s: Session, args: list[str]) -> tuple[str, str | None]:
    s.declared_resolved_at = s.now
    return f"Declared resolved at {views.mmss(s.now)}.", None


def names(kind: Completion, s: Session) -> list[str]:
    """Names that exist now, for completion."""
    sys_ = s.system
    match kind:
        case "service":
            return ["api", *sys_.pools, "cache", "postgres", "ledger", "broker"]
        case "pool":
            return list(sys_.pools)
        case "queue":
            return list(sys_.queues)
        case "alert":
            return list(sys_.alerts.states)
        case "flag":
            return sorted(sys_.flags)
        case "config":
            return sorted(sys_.config)
        case "job":
            return sorted(sys_.jobs)
        case "runbook":
            return sorted(s.incident.runbooks)
        case "message":
            return [
                "msg_" + sys_.queues[q].msg_id(r.first)
                for q in sys_.queues
                for _, r in sys_.queues[q].top_delivered()
            ]
        case "pid":
            return [str(b.pid) for b in sys_.db.backends]
        case "route":
            return list(sys_.cfg.api.routes)
        case "cause":
            return [o.id for o in s.incident.root_cause.options]
        case "metric":
            return sys_.metrics.names()
        case "table":
            if sys_.app is not None:
                return sorted(set(sys_.db.rows) | set(sys_.app.schema()))
            return sorted(sys_.db.rows)
        case "version":
            return sorted({v for per in sys_.cfg.versions.values() for v in per})
        case "level":
            return [lv.lower() for lv in LEVELS]
    return []
