"""The team game's messages, version 1: what a client may send and what the host sends back.

Every message is one JSON object in one websocket text frame, with `t` naming its type and
`v` the protocol version. The host validates each frame against these models before
anything else reads it: unknown types, extra fields, wrong types and over-long text are
refused. What the host sends is built only from these models, and a player's models carry
only what the game shows a player (see `host.Host.welcome`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

VERSION = 1
"""The protocol version: a client of another version is refused with a clear message."""
MAX_FRAME_BYTES = 16 * 1024
"""The largest frame a client may send; a bigger one closes its connection."""
MAX_TEXT = 2000
"""The longest command line, `say` line or note a client may send, in characters."""
MAX_NAME = 32
"""The longest player name."""

Text = Annotated[str, Field(max_length=MAX_TEXT)]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = 1
    """The protocol version."""


# -- client to host -------------------------------------------------------------------------
class Hello(_Msg):
    """The first frame of a connection: which seat (its token) and which player."""

    t: Literal["hello"] = "hello"
    token: Annotated[str, Field(min_length=1, max_length=100)]
    """The secret from the join link."""
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    """The player's name, as the team and the record will show it."""
    seat: Annotated[str, Field(max_length=100)] = ""
    """The host's seat key, known only to the seat processes the host itself starts (a
    browser page's or a relayed terminal's app): such a connection also gets what a replica of
    the game needs (`SeatStart`, `Step`, `Sync`). Empty for any other client."""


class Cmd(_Msg):
    """A command line, as typed at the ops console."""

    t: Literal["cmd"] = "cmd"
    id: Annotated[int, Field(ge=0, le=2**53)]
    """The client's own number for it; the host's `reply` carries it back."""
    text: Text


class Say(_Msg):
    """A line to the whole team (`say TEXT`)."""

    t: Literal["say"] = "say"
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class Look(_Msg):
    """What the player is looking at now (a pane, a dashboard, a log query)."""

    t: Literal["look"] = "look"
    what: Annotated[str, Field(max_length=100)]


class Fetch(_Msg):
    """Ask for the full output of a line of the team feed (outputs come on demand)."""

    t: Literal["fetch"] = "fetch"
    seq: Annotated[int, Field(ge=0, le=2**31)]


class Facilitate(_Msg):
    """A facilitator's action: pause, resume, speed X, hint, end, note TEXT, role NAME ROLE,
    inject LINE (see `game.injects.FACILITATOR_USAGE`)."""

    t: Literal["facilitate"] = "facilitate"
    action: Literal["pause", "resume", "speed", "hint", "end", "note", "role", "inject"]
    arg: Annotated[str, Field(max_length=MAX_TEXT)] = ""


class Ping(_Msg):
    t: Literal["ping"] = "ping"


ClientMessage = Annotated[
    Hello | Cmd | Say | Look | Fetch | Facilitate | Ping, Field(discriminator="t")
]
_client = TypeAdapter(ClientMessage)


# -- host to client -------------------------------------------------------------------------
class Member(BaseModel):
    """One seat's player as the team sees them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    role: str
    online: bool
    looking: str = ""


class Line(_Msg):
    """One command in the team feed: who, when, what, and whether it was refused. The output
    comes only to the player who typed it (`reply`) and on demand (`fetch`)."""

    t: Literal["line"] = "line"
    seq: int
    """Its place in the feed (0 first)."""
    at: int
    """Player seconds since the page."""
    player: str
    command: str
    kind: str
    refused: str = ""
    """The reason, when the command was refused."""


class Reply(_Msg):
    """The output of a client's own command."""

    t: Literal["reply"] = "reply"
    id: int
    seq: int
    kind: str
    output: str


class Output(_Msg):
    """The full output of a feed line, as asked for with `fetch`."""

    t: Literal["output"] = "output"
    seq: int
    output: str


class Clock(_Msg):
    """Where simulated time stands, for everyone."""

    t: Literal["clock"] = "clock"
    at: int
    horizon: int
    speed: float
    paused: bool


class Said(_Msg):
    """A `say` line, a scribe's note, or a notice from the host (player empty)."""

    t: Literal["said"] = "said"
    at: int
    player: str
    text: str
    kind: Literal["say", "note", "notice"] = "say"


class Roster(_Msg):
    t: Literal["roster"] = "roster"
    members: list[Member]


class Game(BaseModel):
    """What any player sees of the incident: what the solo game shows before play starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    incident: str
    title: str
    briefing: str
    page: str
    """The paging alert and its summary, as the page shows it."""
    page_text: str


class Step(_Msg):
    """One change to the game's state, in the host's order, for a seat process's replica: a
    command with its player and tick, or an inject as recorded. Sent only to seat processes
    (over the host's private channel), never to a player's own client."""

    t: Literal["step"] = "step"
    kind: Literal["command", "inject"]
    at: int
    tick: int
    player: str = ""
    command: str = ""
    output: str = ""
    """A digest of the command's output on the host (the replica checks its own against it)."""
    data: dict[str, Any] | None = None
    """An inject as recorded (`game.injects.fire`), to fire again."""


class Sync(_Msg):
    """Where the host's game stands, and a digest of its state there, for a seat process's
    replica to follow and check itself against (`net.replica.state_digest`)."""

    t: Literal["sync"] = "sync"
    at: int
    digest: str


class SeatStart(BaseModel):
    """What a seat process needs to build its replica of the game: the incident as this game
    plays it, the seed, the session's own player, and every change so far."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    incident: dict[str, Any]
    seed: int
    player: str
    steps: list[Step]


class Welcome(_Msg):
    """The answer to `hello`: who you are, the game, and everything so far (catching up)."""

    t: Literal["welcome"] = "welcome"
    you: str
    role: str
    powers: list[str]
    game: Game
    clock: Clock
    roster: list[Member]
    feed: list[Line]
    said: list[Said]
    secret: dict[str, Any] | None = None
    """Only for a seat that may see the answer (the facilitator): never a player's."""
    replica: SeatStart | None = None
    """Only for a seat process the host started itself (see `Hello.seat`)."""


class Finished(_Msg):
    """The game is over and scored."""

    t: Literal["finished"] = "finished"
    score: float
    grade: str
    resolved: bool
    items: list[dict[str, Any]]


class Error(_Msg):
    """Something the client asked for was refused; `fatal` closes the connection after it."""

    t: Literal["error"] = "error"
    code: str
    text: str
    fatal: bool = False


class Pong(_Msg):
    t: Literal["pong"] = "pong"


class Sheet(_Msg):
    """An interview's state, for its interviewers only (never the candidate): the time box,
    the candidate's time away, the panes they opened and the interviewers' private notes.
    Sent whenever one of these changes; a welcome's `secret` carries it too, as `interview`."""

    t: Literal["sheet"] = "sheet"
    deadline: int
    """Player seconds (since the page) at which the time box ends."""
    away_s: int = 0
    away_since: int | None = None
    looks: list[tuple[int, str]] = []
    """(at, what) each time the candidate opened another pane or view."""
    notes: list[tuple[int, str, str]] = []
    """The interviewers' private notes: (at, by, text)."""


HostMessage = Annotated[
    Welcome
    | Line
    | Reply
    | Output
    | Clock
    | Said
    | Roster
    | Finished
    | Error
    | Pong
    | Step
    | Sync
    | Sheet,
    Field(discriminator="t"),
]
_host = TypeAdapter(HostMessage)


class BadMessage(ValueError):
    """A frame that is not a valid message; the text says why, in one line."""


def _reason(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "message"
    return f"{where}: {e['msg']}"


def decode_client(frame: str | bytes) -> Any:
    """A client's frame as its message, or BadMessage."""
    if len(frame) > MAX_FRAME_BYTES:
        raise BadMessage(f"frame too large ({len(frame)} bytes; at most {MAX_FRAME_BYTES})")
    try:
        return _client.validate_json(frame)
    except ValidationError as exc:
        raise BadMessage(_reason(exc)) from None


def decode_host(frame: str | bytes) -> Any:
    """A host's frame as its message, or BadMessage (a client checks what it receives too)."""
    try:
        return _host.validate_json(frame)
    except ValidationError as exc:
        raise BadMessage(_reason(exc)) from None


def encode(msg: BaseModel) -> str:
    return msg.model_dump_json()
