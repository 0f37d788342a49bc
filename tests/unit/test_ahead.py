"""The rest of a game played ahead: a copy of the system run to the horizon elsewhere and
adopted by the finish is the same, byte for byte, as finishing the game itself; a change
after the copy is never adopted; a system holding previewed writes is not copied."""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Callable
from typing import Any

import pytest

from oncall_dojo.game import play as play_module
from oncall_dojo.game.ahead import Ahead, copy_of, result_of, run_copy
from oncall_dojo.game.play import finish, perform
from oncall_dojo.game.plays import run_json
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident
from oncall_dojo.sim.faults import Fault
from oncall_dojo.sim.system import System

Repair = Callable[[Session], None]


def played(incident: Incident, seed: int, events: list[dict[str, Any]], repair: Repair) -> Session:
    s = Session(incident, seed)
    s.listeners.append(events.append)
    repair(s)
    return s


class Played:
    """Stands in for `Ahead` in this process: the worker's result, there after `late` looks."""

    def __init__(self, session: Session, done: bytes, late: int) -> None:
        self.session, self.done, self.late, self.looks = session, done, late, 0

    def finished(self) -> tuple[System, list[Fault]] | None:
        self.looks += 1
        return result_of(self.done, self.session.system.logs)[1] if self.looks > self.late else None

    def on_course(self) -> bool:
        return False  # the finish simulates meanwhile

    def stop(self) -> None:
        pass


def metric_rows(s: Session) -> tuple[Any, ...]:
    """Every series and its value at every tick."""
    state = s.system.metrics.__getstate__()
    return (
        state["ticks"],
        [(x.name, x.labels) for x in state["series"]],
        [(x.name, x.labels) for x in state["hist_series"]],
        state["_values"].tobytes(),
        state["_hvalues"].tobytes(),
    )


def lines(s: Session) -> tuple[bytes, list[int]]:
    a = s.system.logs.arrays()
    return bytes(a.text), list(a.ticks)


@pytest.mark.parametrize("late", [0, 40])
def test_a_copy_run_to_the_horizon_and_adopted_finishes_as_the_game_itself_would(
    currency: Incident, digest: Callable[[Session], dict[str, Any]], repair: Repair, late: int
) -> None:
    """`late`: how many times the finish looks for the result (simulating 20 s on its own
    between two looks) before it is there."""
    heard: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
    own, ahead = (played(currency, 2, events, repair) for events in heard)
    job = copy_of(ahead, 7)
    assert job is not None
    done = run_copy(job)
    assert done is not None and result_of(done, ahead.system.logs)[0] == 7
    for s in (own, ahead):  # time passes after the last change, then the player resolves
        s.advance(45)
        perform(s, "resolve")
    before = ahead.system
    stand_in = Played(ahead, done, late)
    finish(own, keep_logs=False)
    finish(ahead, keep_logs=False, ahead=stand_in)  # type: ignore[arg-type]
    assert ahead.system is not before and stand_in.looks == late + 1  # the copy was adopted
    assert ahead.now == own.now == own.horizon and ahead.ended
    assert json.dumps(run_json(ahead)) == json.dumps(run_json(own))
    assert digest(ahead) == digest(own)
    assert ahead.system.app is not None and own.system.app is not None
    assert ahead.system.app.fingerprint() == own.system.app.fingerprint()
    assert metric_rows(ahead) == metric_rows(own)
    # the lines logged until the end of play are kept, none after; the listeners heard the same
    assert lines(ahead) == lines(own) and ahead.system.logs.muted
    assert heard[0] == heard[1]
    assert [e["type"] for e in heard[0][-2:]] == ["clock", "finished"]


def test_previewed_writes_are_not_copied_and_a_committed_repair_is(currency: Incident) -> None:
    s = Session(currency, 1)
    assert copy_of(s, 0) is not None  # no SQL yet
    perform(s, "sql SELECT count(*) FROM orders WHERE currency IS NULL")
    assert copy_of(s, 1) is not None  # an open read-only connection is not copied: it reopens
    preview = perform(s, "sql UPDATE orders SET currency = 'USD' WHERE currency IS NULL")
    assert preview.kind != "refused"
    assert s.system.app is not None and s.system.app.has_pending()
    assert copy_of(s, 2) is None
    with pytest.raises(TypeError, match="previewed writes wait for `sql commit`"):
        pickle.dumps(s.system)
    perform(s, "sql commit")
    assert copy_of(s, 3) is not None
    perform(s, "resolve")
    assert copy_of(s, 4) is None  # play is over: nothing left to play ahead


def _ready(ahead: Ahead, limit_s: float = 300) -> tuple[System, list[Fault]]:
    t0 = time.monotonic()
    while (done := ahead.finished()) is None:
        assert time.monotonic() - t0 < limit_s, "the worker never sent the rest back"
        time.sleep(0.02)
    return done


def test_the_worker_plays_the_rest_again_after_each_change_and_the_finish_adopts_it(
    poison: Incident,
) -> None:
    own, s = Session(poison, 4), Session(poison, 4)
    ahead = Ahead(s)
    try:
        first = _ready(ahead)[0]  # the rest from the page, doing nothing
        assert first.t == s.page_tick + s.horizon and s.now == 0
        assert ahead.reached() == s.horizon
        s.advance(30)
        assert ahead.finished() is not None  # time passing changes nothing
        for game in (own, s):
            game.advance(0 if game is s else 30)
            perform(game, "ack")
            assert perform(game, "queues").kind == "investigate"
        # commands since (a look too): the rest is played again, from a new copy
        assert ahead.finished() is None
        assert ahead.on_course()
        for game in (own, s):
            game.advance(50)
            perform(game, "resolve")  # declaring resolved is not a change
        before = s.system
        finish(own, keep_logs=False)
        finish(s, keep_logs=False, ahead=ahead)  # waits for the worker, on the latest copy
        assert s.system is not before  # adopted
        assert ahead.reached() == s.horizon and not ahead.working
    finally:
        ahead.stop()
    assert json.dumps(run_json(s)) == json.dumps(run_json(own))


def test_a_finish_without_the_rest_simulates_it_itself(
    poison: Incident, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that never answers (dead, or starved on a busy machine) costs nothing: the
    finish simulates the rest in steps, looking for it between them."""
    own, s = Session(poison, 5), Session(poison, 5)
    for game in (own, s):
        perform(game, "ack")
        game.advance(12)
        perform(game, "resolve")

    class Silent:
        session, looks, stopped = s, 0, False

        def finished(self) -> None:
            self.looks += 1

        def on_course(self) -> bool:
            return False

        def stop(self) -> None:
            self.stopped = True

    silent = Silent()
    before = s.system
    finish(own, keep_logs=False)
    finish(s, keep_logs=False, ahead=silent)  # type: ignore[arg-type]
    assert s.system is before and silent.stopped
    assert silent.looks == -(-(s.horizon - 12) // play_module.AHEAD_STEP)
    assert json.dumps(run_json(s)) == json.dumps(run_json(own))
