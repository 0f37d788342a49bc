"""The command grammar shared by the console, action scripts, playthroughs and tests.

A command is a line of words (`dlq move payments msg_1a2b3c4d`), quoted like a
shell. Each command has a name (one or two words), a kind (investigate or act,
or meta for help), a usage line, help, the kind of evidence it records, and a
handler. A handler reads or changes the session and returns its output and the
evidence it showed, as a typed `(kind, target)`; it refuses by raising `Refusal`
with the reason, and a refused command changes nothing and is recorded as
refused.

This module holds the registry, the word splitting and the argument helpers;
the handlers live by kind in `investigate`, `act`, `data` and `respond`, and
`commands` assembles them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from oncall_dojo.game.session import Session
from oncall_dojo.sim.components.pool import WorkerPool
from oncall_dojo.sim.components.queue import Queue
from oncall_dojo.sim.errors import Refusal

Completion = Literal[
    "service",
    "pool",
    "queue",
    "alert",
    "flag",
    "config",
    "job",
    "operation",
    "runbook",
    "message",
    "pid",
    "route",
    "part",
    "mechanism",
    "metric",
    "table",
    "version",
    "level",
    "team",
    "automation",
    "host",
    "cluster",
    "replica",
    "none",
]


class Evidence(NamedTuple):
    """What an investigation showed: a kind (`logs`) and, if it was narrowed, a target."""

    kind: str
    target: str | None = None

    @property
    def key(self) -> str:
        """As recorded and as incident files name it: `KIND` or `KIND:TARGET`."""
        return self.kind if self.target is None else f"{self.kind}:{self.target}"


Reply = tuple[str, Evidence | None]
"""What a handler returns: its output, and the evidence it showed (None: nothing to record)."""
Handler = Callable[["Session", list[str], str], Reply]
"""A command's handler: (session, arguments, the player who typed it) -> reply."""


@dataclass(frozen=True)
class Command:
    name: str
    kind: Literal["investigate", "act", "meta"]
    usage: str
    help: str
    handler: Handler
    args: tuple[Completion, ...] = ()
    evidence: str | None = None
    """The evidence kind its replies carry (None: it shows no evidence)."""
    details: str = ""
    """More than a line of help, shown by `help NAME` (the log query syntax for `logs`)."""

    @property
    def mutates(self) -> bool:
        """Changes the system (not just the incident's paperwork: ack, updates, diagnosis)."""
        return self.kind == "act" and self.name not in RESPONSE_ONLY


RESPONSE_ONLY = {"ack", "update", "answer", "escalate", "diagnose", "resolve"}
COMMANDS: dict[str, Command] = {}
"""Every command by name, in the order they were declared (help lists them in that order)."""


def command(
    name: str,
    kind: Literal["investigate", "act", "meta"],
    usage: str,
    help: str,
    args: tuple[Completion, ...] = (),
    evidence: str | None = None,
    details: str = "",
) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        COMMANDS[name] = Command(name, kind, usage, help, fn, args, evidence, details)
        return fn

    return deco


def evidence_kinds() -> set[str]:
    """The evidence kinds some command records: the ones an incident's `evidence` may name."""
    return {c.evidence for c in COMMANDS.values() if c.evidence is not None}


RAW_SQL = {"sql": 1, "refund query": 2, "notify query": 2}
"""Commands whose rest of the line is SQL, taken verbatim (quotes and all), by words before it."""
RAW_QUERY = ("logs",)
"""Commands whose rest of the line is a log query, taken verbatim (its quotes and backslashes)."""


LINE_MAX_BYTES = 65_536
"""The longest command line, in UTF-8 bytes (64 KB): a longer one is refused before it is split."""
LINE_REFUSAL = "a command line holds at most 64 KB (65,536 bytes); this one is longer"


def too_long(text: str) -> bool:
    """More than `LINE_MAX_BYTES` bytes of UTF-8 (counted without building a copy when the
    characters alone decide)."""
    if len(text) > LINE_MAX_BYTES:
        return True
    if len(text) * 4 <= LINE_MAX_BYTES:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > LINE_MAX_BYTES


# One piece of a shell-quoted word per match, tried in this order; every piece is consumed once,
# so a line splits in time linear in its length (shlex builds each word a character at a time:
# quadratic in the word's length).
_PIECE = re.compile(
    r"""(?P<space>[ \t\r\n]+)|(?P<plain>[^ \t\r\n'"\\]+)|\\(?P<escaped>.)"""
    r"""|'(?P<single>[^']*)'|"(?P<double>(?:[^"\\]|\\.)*+)"|(?P<bad>.)""",
    re.DOTALL,
)
_DOUBLE_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ENDS_ESCAPING = re.compile(r'(?:[^"\\]|\\.)*+\\', re.DOTALL)
"""The rest of an unclosed double-quoted word that ends in a backslash with nothing to escape."""


def _shell_words(text: str) -> list[str]:
    """`shlex.split(text)` (POSIX rules, no comments), in linear time; raises ValueError with
    shlex's messages."""
    words: list[str] = []
    word: list[str] | None = None
    for m in _PIECE.finditer(text):
        kind = m.lastgroup or "bad"
        if kind == "space":
            if word is not None:
                words.append("".join(word))
                word = None
            continue
        if kind == "bad":
            rest = text[m.end() :]
            if m.group() == "\\" or (m.group() == '"' and _ENDS_ESCAPING.fullmatch(rest)):
                raise ValueError("No escaped character")
            raise ValueError("No closing quotation")
        if word is None:
            word = []
        if kind == "double":
            word.append(
                _DOUBLE_ESCAPE.sub(
                    lambda e: e.group(1) if e.group(1) in '"\\' else e.group(0), m.group(kind)
                )
            )
        else:
            word.append(m.group(kind))
    if word is not None:
        words.append("".join(word))
    return words


def split(text: str) -> list[str]:
    if too_long(text):
        raise Refusal(LINE_REFUSAL)
    words = text.split()
    if len(words) > 1 and words[0] in RAW_QUERY:
        return [words[0], text.strip().split(None, 1)[1]]
    for name, n in RAW_SQL.items():
        head = name.split()
        if (
            words[:n] == head
            and len(words) > n
            and words[n].lower() not in ("commit", "rollback", "pending")
        ):
            return [*head, text.strip().split(None, n)[n]]
    try:
        return _shell_words(text)
    except ValueError as exc:
        raise Refusal(
            f'cannot parse the command: {exc} (quote text with spaces in "...")'
        ) from None


REACHED_FOR = {
    "status": 'To post a status update: `update "TEXT"` (what is affected, what you are doing).',
    "declare": "To declare the cause: `diagnose PART MECHANISM` (`causes` lists them).",
}
"""Words players type for a command of another name (a team game's powers are named `status`
and `declare`), and the command they mean: told instead of a spelling guess."""


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
    if words[0] in REACHED_FOR:
        raise Refusal(f"unknown command `{words[0]}`. {REACHED_FOR[words[0]]}")
    names = sorted({n.split(" ")[0] for n in COMMANDS})
    close = difflib.get_close_matches(words[0], names, n=1)
    tip = f" Did you mean `{close[0]}`?" if close else ""
    raise Refusal(f"unknown command `{words[0]}`.{tip} `help` lists the commands.")


def parse(text: str) -> tuple[Command, list[str]]:
    """Check that a line is a known command (used to validate playthroughs)."""
    return resolve(split(text))


# ---------------------------------------------------------------------------- argument helpers
def need(args: list[str], n: int, usage: str) -> None:
    if len(args) < n:
        raise Refusal(f"usage: {usage}")


def options(args: list[str], allowed: set[str], usage: str) -> tuple[list[str], dict[str, str]]:
    """Split `key=value` options (only the allowed keys) from positional words."""
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


def whole(v: str, what: str, lo: int = 0, hi: int = 10**9) -> int:
    """A whole number between lo and hi, or a refusal naming `what`."""
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


def queue_named(s: Session, name: str) -> Queue:
    q = s.system.queues.get(name.removesuffix(".dlq"))
    if q is None:
        raise Refusal(f"no queue {name!r}; queues: {', '.join(s.system.queues)}")
    return q


def pool_named(s: Session, name: str) -> WorkerPool:
    p = s.system.pools.get(name)
    if p is None:
        raise Refusal(f"no worker pool {name!r}; pools: {', '.join(s.system.pools)}")
    return p


def scalar(v: str) -> bool | int | float | str:
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


# ---------------------------------------------------------------------------- help
@command("help", "meta", "help [COMMAND]", "List the commands, or explain one.")
def _help(s: Session, args: list[str], by: str) -> Reply:
    if args:
        name = " ".join(args[:2]) if " ".join(args[:2]) in COMMANDS else args[0]
        matches = [c for n, c in COMMANDS.items() if n == name or n.startswith(name + " ")]
        if not matches:
            raise Refusal(f"no command {name!r}")
        return "\n".join(
            f"{c.usage}\n    {c.help}" + (f"\n\n{c.details}" if c.details else "") for c in matches
        ), None
    out = []
    for kind, title in (
        ("investigate", "Investigate (free; what you look at is recorded)"),
        ("act", "Act (changes the system)"),
        ("meta", "Other"),
    ):
        out.append(title + ":")
        out += [f"  {c.usage:<42} {c.help}" for c in COMMANDS.values() if c.kind == kind]
    out.append("A command line holds at most 64 KB (65,536 bytes).")
    return "\n".join(out), None


WAIT_USAGE = "wait [DURATION]"


@command(
    "wait",
    "meta",
    WAIT_USAGE,
    "Let simulated time pass (a minute by default; 90s, 5m, 1h) while the system runs.",
)
def _wait(s: Session, args: list[str], by: str) -> Reply:
    # the console and the TUI let time pass themselves (`play.wait`); a script's lines
    # carry their own times
    raise Refusal(
        "`wait` lets time pass at the console; in a script, each line's time says when it runs"
    )
