"""`dojo check`: every incident proves itself over several seeds.

For each seed the reference playthrough must resolve the incident (resolution
conditions held at the end, every root-cause fault gone) and clearly beat both
doing nothing and every known-harmful playthrough; and the grades must mean the
same in every incident: the reference graded A, doing nothing F, the minimal
playthrough (the least a competent engineer would do) at least C, and every
harmful playthrough < minimal < reference. An incident with `vary` is played as
each seed picks it, playthroughs included.

The playthroughs of one seed share their prelude (see `plays`); `check_incidents` spreads
(incident, seed) pairs over worker processes and takes finished plays from a `PlayCache`.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

from oncall_dojo.game.play import finish, run_script
from oncall_dojo.game.plays import (
    IDLE,
    MINIMAL,
    REFERENCE,
    Doc,
    PlayCache,
    Played,
    playthroughs,
    result_of,
    seed_docs,
)
from oncall_dojo.game.probes import PROBE_PREFIX, Loc, Probe, probes
from oncall_dojo.game.scoring import Result
from oncall_dojo.game.session import IncidentBroken, Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.incident.vary import Scalar
from oncall_dojo.incident.yamlload import YamlModelError, format_keypath

DEFAULT_SEEDS = (1, 2, 3)
MARGIN_IDLE = 20
MARGIN_HARMFUL = 10


@dataclass
class SeedReport:
    seed: int
    reference: Result
    idle: Result
    harmful: dict[str, Result]
    problems: list[str] = field(default_factory=list)
    values: dict[str, Scalar] = field(default_factory=dict)
    """What `vary` picked for this seed."""
    runs: dict[str, Doc] = field(default_factory=dict)
    """Every playthrough's `dojo run --json` document, by playthrough name."""
    minimal: Result | None = None
    """The minimal playthrough's result (None: the incident has none, which is a problem)."""
    probes: dict[str, Result] = field(default_factory=dict)
    """Each wrong-value probe's result, by probe name (see `oncall_dojo.game.probes`)."""
    located: list[tuple[Loc, str]] = field(default_factory=list)
    """The problems that belong to a place in the file (a probe that resolved the incident):
    (key path, message); each is also among `problems`."""


@dataclass
class CheckReport:
    incident: str
    seeds: list[SeedReport]

    @property
    def ok(self) -> bool:
        return all(not s.problems for s in self.seeds)


def play_session(incident: Incident, seed: int, actions: list[str] | None) -> Session:
    """Play timed actions from the page to the end of the incident; the finished session (its
    logs end with play: what is measured after it is only its outcome)."""
    s = Session(incident, seed)
    run_script(s, list(actions or []), keep_logs=False)
    return s


def play(incident: Incident, seed: int, actions: list[str] | None) -> Result:
    return finish(play_session(incident, seed, actions))


GRADE_BANDS = {REFERENCE: ("A",), IDLE: ("F",), MINIMAL: ("A", "B", "C")}
"""The grades each kind of play must earn, in every incident and every seed."""


def problems_of(
    ref: Result, idle: Result, harmful: dict[str, Result], minimal: Result | None = None
) -> list[str]:
    """Why a seed's playthroughs do not prove the incident (nothing when they do)."""
    problems = []
    if not ref.resolved:
        t = ref.times
        problems.append(
            f"reference does not resolve the incident (mitigated={t['mitigated']}, cause removed={t['cause_removed']})"
        )
    if ref.score < idle.score + MARGIN_IDLE:
        problems.append(f"reference {ref.score} does not beat idle {idle.score} by {MARGIN_IDLE}")
    for name, r in harmful.items():
        if ref.score < r.score + MARGIN_HARMFUL:
            problems.append(
                f"reference {ref.score} does not beat harmful '{name}' {r.score} by {MARGIN_HARMFUL}"
            )
    plays = {REFERENCE: ref, IDLE: idle}
    if minimal is None:
        problems.append("no minimal playthrough (playthroughs.minimal)")
    else:
        plays[MINIMAL] = minimal
        if minimal.score >= ref.score:
            problems.append(f"minimal {minimal.score} does not score below reference {ref.score}")
        for name, r in harmful.items():
            if r.score >= minimal.score:
                problems.append(
                    f"harmful '{name}' {r.score} does not score below minimal {minimal.score}"
                )
    for name, r in plays.items():
        if r.grade not in GRADE_BANDS[name]:
            problems.append(
                f"{name} graded {r.grade} ({r.score}); it must be graded {' or '.join(GRADE_BANDS[name])}"
            )
    return problems


def probe_problems(probes: list[Probe], results: dict[str, Result]) -> list[tuple[Loc, str]]:
    """A wrong-value probe must not resolve the incident: each one that does, located at the
    fault's remedies and at the reference action it changed."""
    out: list[tuple[Loc, str]] = []
    for p in probes:
        r = results.get(p.name)
        if r is not None and r.resolved:
            out.append((p.fault, p.problem()))
            out.append((p.action, f"{p.changed()} resolves the incident"))
    return out


def seed_report(incident: Incident, seed: int, runs: dict[str, Doc]) -> SeedReport:
    """The verdict on one seed from its playthroughs' documents."""
    inc = incident.for_seed(seed)
    results = {name: result_of(doc) for name, doc in runs.items()}
    ref, idle, minimal = results[REFERENCE], results[IDLE], results.get(MINIMAL)
    harmful = {
        n.removeprefix("harmful:"): r for n, r in results.items() if n.startswith("harmful:")
    }
    tried = {n: r for n, r in results.items() if n.startswith(PROBE_PREFIX)}
    located = probe_problems(probes(inc), tried)
    problems = problems_of(ref, idle, harmful, minimal)
    problems += [f"{format_keypath(loc)}: {msg}" for loc, msg in located]
    return SeedReport(seed, ref, idle, harmful, problems, inc.picked, runs, minimal, tried, located)


def check_incident(
    incident: Incident,
    seeds: tuple[int, ...] = DEFAULT_SEEDS,
    on_play: Played | None = None,
    cache: PlayCache | None = None,
) -> CheckReport:
    """Check one incident in this process. Raises IncidentBroken when a page never fires and
    YamlModelError when a seed's `vary` picks make the file invalid."""
    reports = [
        seed_report(incident, seed, seed_docs(incident, seed, cache, on_play)) for seed in seeds
    ]
    return CheckReport(incident.id, reports)


# ------------------------------------------------------------------- many, in worker processes
@dataclass(frozen=True)
class CheckFailed:
    """An incident that could not be played: its page never fires, or a seed's picks are invalid."""

    message: str
    broken: bool
    """True for IncidentBroken (a one-line message), False for located YAML errors."""


Progress = Callable[[int, int, str, int, bool], None]
"""Told after each (incident, seed) is done: (done, total, incident id, seed, played) where
`played` is False when every playthrough came from the cache."""


def _seed_task(
    incident: Incident, seed: int, cache: PlayCache | None, names: tuple[str, ...] | None = None
) -> dict[str, Doc] | CheckFailed:
    try:
        return seed_docs(incident, seed, cache, names=names)
    except IncidentBroken as exc:
        return CheckFailed(str(exc), broken=True)
    except YamlModelError as exc:
        return CheckFailed(str(exc), broken=False)


def _halves(incident: Incident, seed: int) -> list[tuple[str, ...] | None]:
    """A seed's playthroughs in two parts (each part plays its own prelude), or the whole."""
    try:
        names = tuple(playthroughs(incident.for_seed(seed)))
    except YamlModelError:
        return [None]  # reported when played
    k = (len(names) + 1) // 2
    return [names[:k], names[k:]] if len(names) > 1 else [None]


def _cached(incident: Incident, seed: int, cache: PlayCache | None) -> dict[str, Doc] | None:
    if cache is None:
        return None
    try:
        inc = incident.for_seed(seed)
    except YamlModelError:
        return None  # reported when played
    docs = {}
    for name in playthroughs(inc):
        doc = cache.get(inc, seed, name)
        if doc is None:
            return None
        docs[name] = doc
    return docs


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def _pool(jobs: int) -> ProcessPoolExecutor:
    # fork is the quickest start and safe while this process has one thread (the CLI);
    # otherwise a fork server, which never forks a process with threads
    methods = multiprocessing.get_all_start_methods()
    method = "fork" if "fork" in methods and threading.active_count() == 1 else None
    if method is None and "forkserver" in methods:
        method = "forkserver"
    ctx = multiprocessing.get_context(method)
    return ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)


def check_incidents(
    incidents: list[Incident],
    seeds: tuple[int, ...] = DEFAULT_SEEDS,
    jobs: int = 1,
    cache: PlayCache | None = None,
    progress: Progress | None = None,
) -> Iterator[tuple[Incident, CheckReport | CheckFailed]]:
    """Check several incidents, each seed's plays in a worker process when `jobs` > 1; yields
    each incident's report (or failure) in the order given, as soon as it and those before it
    are done."""
    tasks = [(i, seed) for i in range(len(incidents)) for seed in seeds]
    total = len(tasks)
    got: dict[tuple[int, int], dict[str, Doc] | CheckFailed] = {}
    todo = []
    for i, seed in tasks:
        docs = _cached(incidents[i], seed, cache)
        if docs is None:
            todo.append((i, seed))
        else:
            got[i, seed] = docs
            if progress is not None:
                progress(len(got), total, incidents[i].id, seed, False)
    nxt = 0

    def ready() -> Iterator[tuple[Incident, CheckReport | CheckFailed]]:
        nonlocal nxt
        while nxt < len(incidents) and all((nxt, s) in got for s in seeds):
            inc = incidents[nxt]
            outs = [got[nxt, s] for s in seeds]
            failed = next((o for o in outs if isinstance(o, CheckFailed)), None)
            if failed is not None:
                yield inc, failed
            else:
                reps = [seed_report(inc, s, o) for s, o in zip(seeds, outs, strict=True)]  # type: ignore[arg-type]
                yield inc, CheckReport(inc.id, reps)
            nxt += 1

    def done(i: int, seed: int, out: dict[str, Doc] | CheckFailed) -> None:
        got[i, seed] = out
        if progress is not None:
            progress(len(got), total, incidents[i].id, seed, True)

    yield from ready()
    if jobs <= 1 or not todo:
        for i, seed in todo:
            done(i, seed, _seed_task(incidents[i], seed, cache))
            yield from ready()
        return
    # Few seeds to play for the workers there are (one incident, say): split each seed's
    # playthroughs in two, so that no worker waits while another plays a whole seed.
    parts = {t: _halves(incidents[t[0]], t[1]) if len(todo) < 2 * jobs else [None] for t in todo}
    pending: dict[tuple[int, int], list[dict[str, Doc] | CheckFailed]] = {t: [] for t in todo}
    jobs_ = [(t, names) for t in todo for names in parts[t]]
    with _pool(min(jobs, len(jobs_))) as pool:
        running: dict[Future[dict[str, Doc] | CheckFailed], tuple[int, int]] = {
            pool.submit(_seed_task, incidents[t[0]], t[1], cache, names): t for t, names in jobs_
        }
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=lambda f: running[f]):
                t = running.pop(fut)
                pending[t].append(fut.result())
                if len(pending[t]) == len(parts[t]):
                    done(*t, _merged(incidents[t[0]], t[1], pending.pop(t)))
            yield from ready()


def _merged(
    incident: Incident, seed: int, outs: list[dict[str, Doc] | CheckFailed]
) -> dict[str, Doc] | CheckFailed:
    """A seed's parts as one, its playthroughs in their order (or the first failure)."""
    failed = next((o for o in outs if isinstance(o, CheckFailed)), None)
    if failed is not None:
        return failed
    docs = {n: d for o in outs if not isinstance(o, CheckFailed) for n, d in o.items()}
    return {n: docs[n] for n in playthroughs(incident.for_seed(seed))}
