"""Plays shared and cached: a copied prelude plays as a fresh session does, the play cache
answers for what determines a play and nothing else, and checks in worker processes give
the same verdicts in the same order."""

from __future__ import annotations

import copy
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from oncall_dojo.cli import main
from oncall_dojo.cli.progress import ProgressLine
from oncall_dojo.game.check import CheckReport, check_incident, check_incidents
from oncall_dojo.game.play import perform
from oncall_dojo.game.plays import Background, PlayCache, playthroughs, result_of
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_a_copy_of_the_state_at_the_page_plays_as_a_fresh_session(
    currency: Incident,
    digest: Callable[[Session], dict[str, Any]],
    repair: Callable[[Session], None],
    how: str,
) -> None:
    base = Session(currency, 2)
    copied = pickle.loads(pickle.dumps(base)) if how == "pickle" else copy.deepcopy(base)
    fresh = Session(currency, 2)
    for s in (copied, fresh):
        repair(s)
        s.advance(240)
    entries = [(e.at, e.command, e.kind, e.output) for e in copied.entries]
    assert entries == [(e.at, e.command, e.kind, e.output) for e in fresh.entries]
    assert [k for _, _, k, _ in entries].count("refused") == 0
    assert digest(copied) == digest(fresh)
    assert copied.system.app is not None and fresh.system.app is not None
    assert copied.system.app.fingerprint() == fresh.system.app.fingerprint()
    assert copied.system.app.wrong() == fresh.system.app.wrong()
    a, b = copied.system.logs.arrays(), fresh.system.logs.arrays()
    assert bytes(a.text) == bytes(b.text) and list(a.ticks) == list(b.ticks)
    # the copy has a database of its own: the original is still at the page, its rows untouched
    assert base.now == 0 and base.system.app is not None
    assert base.system.app.path != copied.system.app.path
    assert base.system.app.fingerprint() != copied.system.app.fingerprint()


def test_a_session_whose_player_ran_sql_is_copied_unless_writes_wait_for_commit(
    currency: Incident, digest: Callable[[Session], dict[str, Any]]
) -> None:
    s = Session(currency, 1)
    assert perform(s, "sql SELECT count(*) FROM orders").kind == "investigate"
    copied = pickle.loads(pickle.dumps(s))  # its SQL connection opens again when asked for
    for game in (s, copied):
        game.advance(30)
        perform(game, "sql SELECT count(*) FROM orders WHERE currency IS NULL")
    assert copied.entries[-1].output == s.entries[-1].output
    assert digest(copied) == digest(s)
    perform(s, "sql UPDATE orders SET currency = 'USD' WHERE currency IS NULL")
    with pytest.raises(TypeError, match="previewed writes wait for `sql commit`"):
        pickle.dumps(s)  # they live in the player's own connection


# ------------------------------------------------------------------------------------ the cache
@pytest.fixture(scope="module")
def seed1(poison: Incident) -> CheckReport:
    """payments-stuck checked at seed 1 through the test run's shared cache."""
    return check_incident(poison, (1,), cache=PlayCache.default())


def test_the_cache_gives_back_what_was_played(
    poison: Incident, seed1: CheckReport, tmp_path: Path
) -> None:
    runs = seed1.seeds[0].runs
    assert list(runs) == list(playthroughs(poison.for_seed(1)))
    cache = PlayCache(tmp_path)
    inc = poison.for_seed(1)
    for name, doc in runs.items():
        cache.put(inc, 1, name, doc)
    played: list[str] = []
    again = check_incident(poison, (1,), on_play=lambda n, _s, _x: played.append(n), cache=cache)
    assert played == []
    assert again.seeds[0].runs == json.loads(json.dumps(runs))
    assert [(r.score, r.resolved) for r in again.seeds[0].harmful.values()] == [
        (r.score, r.resolved) for r in seed1.seeds[0].harmful.values()
    ]
    assert again.seeds[0].problems == seed1.seeds[0].problems == []
    # another seed, playthrough or incident is another key
    assert cache.get(inc, 2, "reference") is None
    assert cache.get(inc, 1, "harmful:nope") is None
    other = inc.model_copy(update={"title": inc.title + "!"})
    assert cache.get(other, 1, "reference") is None


def test_a_play_missing_from_the_cache_is_played_alone(
    poison: Incident, seed1: CheckReport, tmp_path: Path
) -> None:
    cache = PlayCache(tmp_path)
    inc = poison.for_seed(1)
    for name, doc in seed1.seeds[0].runs.items():
        if name != "idle":
            cache.put(inc, 1, name, doc)
    played: list[str] = []
    again = check_incident(poison, (1,), on_play=lambda n, _s, _x: played.append(n), cache=cache)
    assert played == ["idle"]
    assert json.dumps(again.seeds[0].runs["idle"]) == json.dumps(seed1.seeds[0].runs["idle"])
    assert cache.get(inc, 1, "idle") is not None  # and kept for next time


def test_a_damaged_entry_is_a_miss_and_an_unwritable_folder_is_no_error(
    poison: Incident, seed1: CheckReport, tmp_path: Path
) -> None:
    inc = poison.for_seed(1)
    cache = PlayCache(tmp_path)
    cache.put(inc, 1, "reference", seed1.seeds[0].runs["reference"])
    (entry,) = tmp_path.rglob("*.json")
    entry.write_text('{"incident": "poison-pay', encoding="utf-8")
    assert cache.get(inc, 1, "reference") is None
    blocked = tmp_path / "file"
    blocked.write_text("not a folder", encoding="utf-8")
    stuck = PlayCache(blocked / "cache")
    stuck.put(inc, 1, "reference", seed1.seeds[0].runs["reference"])
    assert not stuck.writable and stuck.get(inc, 1, "reference") is None


def test_a_document_gives_back_its_result(seed1: CheckReport) -> None:
    doc = seed1.seeds[0].runs["reference"]
    result = result_of(doc)
    assert result.score == seed1.seeds[0].reference.score and result.resolved
    assert {k: v for k, v in doc.items() if k != "commands"} == json.loads(
        json.dumps(result.to_json())
    )


def test_checks_in_worker_processes_match_and_keep_their_order(
    poison: Incident, seed1: CheckReport, tmp_path: Path
) -> None:
    """Two seeds, each missing one play from the cache, played by two worker processes."""
    shared = PlayCache.default()
    cache = PlayCache(tmp_path)
    want = {1: seed1.seeds[0].runs, 2: check_incident(poison, (2,), cache=shared).seeds[0].runs}
    for seed, runs in want.items():
        for name, doc in runs.items():
            if name != "reference":
                cache.put(poison.for_seed(seed), seed, name, doc)
    ticks: list[tuple[int, int, str, int, bool]] = []
    out = list(check_incidents([poison], (2, 1), jobs=2, cache=cache,
                               progress=lambda *a: ticks.append(a)))  # fmt: skip
    ((inc, rep),) = out
    assert inc is poison and isinstance(rep, CheckReport)
    assert [s.seed for s in rep.seeds] == [2, 1]
    for s in rep.seeds:
        assert json.dumps(s.runs) == json.dumps(want[s.seed])
    assert sorted((t[0], t[1], t[2], t[4]) for t in ticks) == [
        (1, 2, "payments-stuck", True),
        (2, 2, "payments-stuck", True),
    ]


# --------------------------------------------------------------------------------- the command
def test_check_prints_no_progress_into_a_pipe_and_takes_its_plays_from_the_cache(
    capsys: pytest.CaptureFixture[str], seed1: CheckReport
) -> None:
    assert main(["check", "payments-stuck", "--seeds", "1"]) == 0
    out, err = capsys.readouterr()
    assert "\r" not in err and "\x1b" not in err and err == ""
    ref, grade = seed1.seeds[0].reference.score, seed1.seeds[0].reference.grade
    assert out.splitlines()[1].startswith(f"  seed 1: reference {ref}{grade} minimal ")
    assert main(["check", "payments-stuck", "--seeds", "1", "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["seeds"][0]["reference"] == ref
    assert doc["seeds"][0]["harmful"] == {n: r.score for n, r in seed1.seeds[0].harmful.items()}


def test_check_refuses_fewer_than_one_job(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "payments-stuck", "--jobs", "0"]) == 2
    assert "--jobs 0: give at least 1" in capsys.readouterr().err


def test_the_progress_line_names_the_last_done_and_what_is_left() -> None:
    class Sink:
        text = ""

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

    sink = Sink()
    bar = ProgressLine(sink)  # type: ignore[arg-type]
    bar(2, 8, "payments-stuck", 2, False)  # from the cache: no estimate yet
    assert sink.text.endswith("[" + "#" * 6 + "." * 18 + "] 2/8  payments-stuck seed 2")
    bar(4, 8, "api-timeouts-db-idle", 1, True)
    last = sink.text.rsplit("\r\x1b[K", 1)[1]
    assert last.startswith("[" + "#" * 12 + "." * 12 + "] 4/8  api-timeouts-db-idle seed 1  about ")
    assert last.endswith(" s left")
    bar.clear()
    assert sink.text.endswith("\r\x1b[K")


def test_the_debriefs_comparison_runs_are_kept_and_read_back_without_a_worker(
    poison: Incident, tmp_path: Path
) -> None:
    """The reference and doing nothing a debrief shows beside the player's game: played once in
    a worker process, kept in the play cache, and read back by the next game of the seed
    without starting one; a damaged file is a miss, played again."""
    cache = PlayCache(tmp_path / "plays")
    first = Background(poison, 2, ["idle"], cache)
    assert first._proc is not None and first._proc.pid != os.getpid()
    played = first.outcomes()
    first.stop()
    assert played is not None
    again = Background(poison, 2, ["idle"], cache)
    assert again._proc is None and again.ready()
    kept = again.outcomes()
    assert kept is not None
    want, got = played["idle"], kept["idle"]
    assert got.result.to_json() == want.result.to_json()
    assert (got.page_tick, got.horizon, got.end) == (want.page_tick, want.horizon, want.end)
    assert got.metrics.ticks == want.metrics.ticks == want.end
    assert [e.output for e in got.entries] == [e.output for e in want.entries]
    inc = poison.for_seed(2)
    assert cache.get_outcome(inc, 3, "idle") is None  # another seed's is not this one's
    (kept_file,) = (tmp_path / "plays" / "outcomes").rglob("*.pickle.z")
    kept_file.write_bytes(kept_file.read_bytes()[:100])
    assert cache.get_outcome(inc, 2, "idle") is None
    damaged = Background(poison, 2, ["idle"], cache)
    assert damaged._proc is not None
    damaged.stop()
