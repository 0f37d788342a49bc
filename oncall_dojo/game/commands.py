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
from oncall_dojo.sim.logs import LEVELS
from oncall_dojo.sim.metrics import SelectorError

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


def split(text: str) -> list[str]:
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
    "Restart a service (rolling) or one replica: api, a worker pool, cache, postgres, ledger.",
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
            pool.new_replica(t + i * 5)
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
    if target == "ledger":
        sys_.record_change(t, "restart", "ledger", "", "restarted", "you")
        if sys_.ledger_error:
            return (
                "Ledger restarted. It resynced from its replica and came back read-only again.",
                None,
            )
        return "Ledger restarted.", None
    raise Refusal(
        f"no service {target!r}; restartable: api, {', '.join(sys_.pools)}, cache, postgres, ledger"
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
    delta, removed = pool.scale(sys_.t, n)
    for r in removed:
        sys_._terminate(pool, r, sys_.t)
    sys_.record_change(sys_.t, "scale", pool.name, str(before), str(n), "you")
    if delta > 0:
        return (
            f"{pool.name}: {delta} new replica(s) starting (about {pool.cfg.startup_s}s to ready).",
            None,
        )
    return f"{pool.name}: scaled from {before} to {n} replicas.", None


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
    "dlq move QUEUE MSG_ID|top",
    "Move one waiting message (or `top`: the one delivered most often) to the dead-letter queue.",
    ("queue", "message"),
)
def _dlq_move(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 2, "dlq move QUEUE MSG_ID|top")
    q = _queue(s, args[0])
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
    "dlq replay QUEUE [MSG_ID...]",
    "Move dead-lettered messages (all, or the ones named) back onto the queue.",
    ("queue", "message"),
)
def _dlq_replay(s: Session, args: list[str]) -> tuple[str, str | None]:
    _need(args, 1, "dlq replay QUEUE [MSG_ID...]")
    q = _queue(s, args[0])
    if not q.dlq:
        raise Refusal(f"{q.name}.dlq is empty")
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


def _job_cmd(verb: str) -> Callable[[Session, list[str]], tuple[str, str | None]]:
    def handler(s: Session, args: list[str]) -> tuple[str, str | None]:
        _need(args, 1, f"job {verb} NAME")
        job = s.system.jobs.get(args[0])
        if job is None:
            raise Refusal(f"no job {args[0]!r}; jobs: {', '.join(sorted(s.system.jobs)) or 'none'}")
        t = s.system.t
        if verb == "pause":
            if job.state != "running":
                raise Refusal(f"job {job.name} is {job.state}, not running")
            job.state = "paused"
        elif verb == "resume":
            if job.state != "paused":
                raise Refusal(f"job {job.name} is {job.state}, not paused")
            job.state = "running"
        else:
            s.system.start_job(t, job.name, "you")
        s.system.record_change(t, "job", job.name, "", verb, "you")
        return f"Job {job.name}: {job.state} at item {job.progress:,}.", None

    return handler


for _verb, _help_text in (("pause", "Pause a job (it keeps its place)."), ("resume", "Resume a paused job."),
                          ("run", "Start a job (without checkpoints it starts from the first item).")):  # fmt: skip
    command(f"job {_verb}", "act", f"job {_verb} NAME", _help_text, ("job",))(_job_cmd(_verb))


@command(
    "refund duplicates",
    "act",
    "refund duplicates",
    "Refund every charge beyond the first per order at the provider.",
)
def _refund(s: Session, args: list[str]) -> tuple[str, str | None]:
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
            return ["api", *sys_.pools, "cache", "postgres", "ledger"]
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
            return sorted(sys_.db.rows)
        case "version":
            return sorted({v for per in sys_.cfg.versions.values() for v in per})
        case "level":
            return [lv.lower() for lv in LEVELS]
    return []
