"""Plays of an incident's playthroughs: the state at the page shared, finished plays cached.

Every playthrough of one seed starts from the same state at the page (the system runs
silently until the paging alert fires), so `play_seed` builds that prelude once and
hands each playthrough its own copy (a pickle of the session, unpickled per play: the
application database is copied page for page, the random streams with their state).
A copy plays byte for byte as a fresh session would; the golden tests hold it to that.

`PlayCache` keeps each finished play as the document `dojo run --json` prints, under a
key made of everything that determines it: the seeded incident's content, the seed, the
playthrough and the engine (the source of the packages that simulate and score, and the
versions of the libraries whose draws they use). It lives in the user's cache folder
(platformdirs; `$DOJO_CACHE` overrides), one file per play written atomically, so
concurrent runs at worst play the same thing twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import pickle
import sys
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from oncall_dojo.game.engine import cache_folder, engine_version, write_bytes, write_json
from oncall_dojo.game.entry import Entry
from oncall_dojo.game.play import finish, run_script
from oncall_dojo.game.probes import probes
from oncall_dojo.game.scoring import Item, Result
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.observability.metrics import MetricStore

Doc = dict[str, Any]
"""One finished play as `dojo run --json` prints it: the result and every command."""

IDLE, REFERENCE, MINIMAL = "idle", "reference", "minimal"


def playthroughs(incident: Incident) -> dict[str, list[str]]:
    """Name -> timed actions, for an incident already resolved for its seed: `reference`,
    `idle`, `minimal` (when the file has one), `harmful:NAME` in file order, then the
    wrong-value probes (`wrong-value:KEY`, see `oncall_dojo.game.probes`)."""
    pts = incident.playthroughs
    out = {REFERENCE: list(pts.reference.actions), IDLE: []}
    if pts.minimal is not None:
        out[MINIMAL] = list(pts.minimal.actions)
    out.update({f"harmful:{h.name}": list(h.actions) for h in pts.harmful})
    out.update({p.name: p.actions for p in probes(incident)})
    return out


def run_json(session: Session) -> Doc:
    """What `dojo run --json` prints for a finished session: the result and every command (a
    session not yet finished is finished without logs: the document holds none)."""
    out = finish(session, keep_logs=False).to_json()
    out["commands"] = [
        {"at": e.at, "command": e.command, "kind": e.kind, "output": e.output}
        for e in session.entries
    ]
    return out


def result_of(doc: Doc) -> Result:
    """The `Result` a document was printed from."""
    d = {k: v for k, v in doc.items() if k not in ("breakdown", "commands")}
    return Result(items=[Item(**i) for i in doc["breakdown"]], **d)


def play_seed(
    incident: Incident, seed: int, names: Iterable[str] | None = None
) -> Iterable[tuple[str, Session]]:
    """Play the named playthroughs (all by default) of `seed` from one shared prelude; yields
    (name, finished session) in order. Raises IncidentBroken when the page never fires."""
    base = Session(incident, seed)  # resolves `vary` for the seed and runs to the page
    todo = playthroughs(base.incident)
    wanted = list(todo if names is None else names)
    image = pickle.dumps(base, protocol=pickle.HIGHEST_PROTOCOL) if len(wanted) > 1 else b""
    for i, name in enumerate(wanted):
        s = base if i == len(wanted) - 1 else pickle.loads(image)
        run_script(s, todo[name], keep_logs=False)
        yield name, s


# ------------------------------------------------------------------------------ the cache
def incident_hash(incident: Incident) -> str:
    """A hash of everything an incident resolved for a seed says (not where its file is)."""
    return hashlib.sha256(incident.model_dump_json().encode()).hexdigest()


@dataclass
class PlayCache:
    """Finished plays on disk. Unreadable or foreign entries are misses, never errors; a
    folder that cannot be written leaves the cache read-only for the rest of the run."""

    folder: Path
    writable: bool = True

    @classmethod
    def default(cls) -> PlayCache:
        return cls(cache_folder() / "plays" / engine_version()[:20])

    def _path(self, incident: Incident, seed: int, name: str) -> Path:
        key = hashlib.sha256(f"{incident_hash(incident)}\0{seed}\0{name}".encode()).hexdigest()
        return self.folder / key[:2] / f"{key}.json"

    def get(self, incident: Incident, seed: int, name: str) -> Doc | None:
        try:
            doc = json.loads(self._path(incident, seed, name).read_bytes())
        except (OSError, ValueError):
            return None
        ok = (
            isinstance(doc, dict) and doc.get("seed") == seed and doc.get("incident") == incident.id
        )
        return doc if ok else None

    def put(self, incident: Incident, seed: int, name: str, doc: Doc) -> None:
        if not self.writable:
            return
        try:
            write_json(self._path(incident, seed, name), doc)
        except OSError:
            self.writable = False

    def _outcome_path(self, incident: Incident, seed: int, name: str) -> Path:
        key = hashlib.sha256(f"{incident_hash(incident)}\0{seed}\0{name}".encode()).hexdigest()
        return self.folder / "outcomes" / key[:2] / f"{key}.pickle.z"

    def get_outcome(self, incident: Incident, seed: int, name: str) -> Outcome | None:
        """A finished play's `Outcome` (what the debrief shows beside the player's game), kept
        by an earlier game of the same incident and seed; None when there is none to read.

        Kept as a compressed pickle in the user's own cache folder (the file is trusted as
        the rest of that folder is): the metrics are a few MB of arrays that JSON would
        make several times larger and slower to read."""
        try:
            outcome = pickle.loads(
                zlib.decompress(self._outcome_path(incident, seed, name).read_bytes())
            )
        except Exception:  # missing, cut short or from other code: a miss, played again
            return None
        ok = isinstance(outcome, Outcome) and outcome.result.seed == seed
        return outcome if ok and outcome.result.incident == incident.id else None

    def put_outcome(self, incident: Incident, seed: int, name: str, outcome: Outcome) -> None:
        if not self.writable:
            return
        data = zlib.compress(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL), 1)
        try:
            write_bytes(self._outcome_path(incident, seed, name), data)
        except OSError:
            self.writable = False


Played = Callable[[str, int, Session], None]
"""Told of each playthrough played (not of those taken from the cache):
(`reference` | `idle` | `harmful:NAME`, seed, finished session)."""


def seed_docs(
    incident: Incident,
    seed: int,
    cache: PlayCache | None = None,
    on_play: Played | None = None,
    names: Iterable[str] | None = None,
) -> dict[str, Doc]:
    """The named playthroughs (all by default, in `playthroughs` order) of `seed` as `dojo run
    --json` documents: from the cache where it has them, played (from one shared prelude)
    where not."""
    inc = incident.for_seed(seed)
    names = list(playthroughs(inc) if names is None else names)
    docs: dict[str, Doc] = {}
    if cache is not None:
        for name in names:
            doc = cache.get(inc, seed, name)
            if doc is not None:
                docs[name] = doc
    missing = [n for n in names if n not in docs]
    if missing:
        for name, session in play_seed(incident, seed, missing):
            if on_play is not None:
                on_play(name, seed, session)
            docs[name] = doc = run_json(session)
            if cache is not None:
                cache.put(inc, seed, name, doc)
    return {n: docs[n] for n in names}


# ------------------------------------------------------------------- in the background
@dataclass
class Outcome:
    """What a finished play shows beside another: its score, its commands and its metrics.

    Not its logs, its application database or the model's state: the debrief charts metrics
    only, and a whole session is some 50 MB to pickle where this is a tenth of it."""

    result: Result
    entries: list[Entry]
    metrics: MetricStore
    page_tick: int
    horizon: int
    """Simulated seconds from the page to the end of the incident."""
    end: int
    """The tick the system had reached when play finished (the page plus the horizon)."""

    @classmethod
    def of(cls, session: Session) -> Outcome:
        """A finished session's outcome (it shares the session's metrics, not a copy)."""
        result = finish(session)
        return cls(
            result,
            list(session.entries),
            session.system.metrics,
            session.page_tick,
            session.horizon,
            session.system.t,
        )


def _play_and_send(
    incident: Incident, seed: int, names: list[str], out: Any, cache: PlayCache | None
) -> None:
    """In a worker process: play, keep the outcomes in the cache, send them back, pickled."""
    outcomes = {name: Outcome.of(s) for name, s in play_seed(incident, seed, names)}
    if cache is not None:
        for name, outcome in outcomes.items():
            cache.put_outcome(incident.for_seed(seed), seed, name, outcome)
    out.send_bytes(pickle.dumps(outcomes, protocol=pickle.HIGHEST_PROTOCOL))
    out.close()


def default_cache() -> PlayCache | None:
    """The user's play cache, or None when there is no cache folder to be had (then every play
    is played)."""
    try:
        return PlayCache.default()
    except Exception:
        return None


class Background:
    """Playthroughs of a seed played in a worker process while the player plays (the debrief's
    reference and doing nothing, which do not depend on what the player does).

    The worker is a fresh interpreter (spawned, never forked: the caller runs threads), a
    daemon, so it never outlives the game. It runs at the game's own priority: niced, a busy
    machine could starve it, and the debrief would wait for it."""

    def __init__(
        self,
        incident: Incident,
        seed: int,
        names: Iterable[str],
        store: PlayCache | None,
    ) -> None:
        """`store`: where finished outcomes are kept and read back (None: nowhere). When every
        play is kept there, no worker is started."""
        self.names = list(names)
        self._outcomes: dict[str, Outcome] | None = None
        self._proc: BaseProcess | None = None
        if store is not None:
            inc = incident.for_seed(seed)
            kept = {n: store.get_outcome(inc, seed, n) for n in self.names}
            if all(o is not None for o in kept.values()):
                self._outcomes = {n: o for n, o in kept.items() if o is not None}
                return
        ctx = multiprocessing.get_context("spawn")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_play_and_send,
            args=(incident, seed, self.names, send, store),
            daemon=True,
            name="dojo-background-plays",
        )
        # A full-screen app replaces sys.stderr with an object that has no file descriptor, and
        # spawning hands the real one to multiprocessing's helper process.
        stderr = sys.__stderr__ if sys.__stderr__ is not None else sys.stderr
        with contextlib.redirect_stderr(stderr):
            self._proc.start()
        send.close()

    def ready(self) -> bool:
        """Whether the plays are done (taking them will not wait)."""
        return self._outcomes is not None or self._recv.poll()

    def outcomes(self) -> dict[str, Outcome] | None:
        """The finished plays' outcomes by playthrough name, waiting for them if need be; None
        if the worker failed (the caller then plays them itself)."""
        if self._outcomes is None:
            try:
                self._outcomes = pickle.loads(self._recv.recv_bytes())
            except (EOFError, OSError, pickle.UnpicklingError):
                return None
            finally:
                if self._proc is not None:
                    self._proc.join(timeout=5)
        return self._outcomes

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.is_alive():
            self._proc.terminate()
        self._recv.close()
