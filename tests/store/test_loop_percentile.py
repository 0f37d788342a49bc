"""The loop's percentile through a real store: five candidates of one hiring loop, each a
real short play recorded by the interview host (once for this module), then the
scorecards printed by `dojo interview scorecard` from that database. The fifth candidate is
placed among the four before (names hidden); the fourth is not placed yet."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from oncall_dojo.incident.model import Incident
from oncall_dojo.net.interview import new_interview
from oncall_dojo.store import Store
from oncall_dojo.store import interviews as records

LOOP = "backend-2026"
SEED = 4242
CANDIDATES: list[tuple[str, list[str]]] = [
    # (name, what they do before the interviewer ends the exercise), in the order interviewed
    ("Ada Quill", ["alerts", "ack", "queue payments", "dlq move payments top", "restart billing"]),
    ("Bo Marsh", ["alerts"]),
    ("Cyd Ferro", ["ack", "queue payments", "purge payments"]),
    ("Dee Onyx", ["ack", "restart billing"]),
    ("Eli Vance", ["ack", "queue payments", "dlq move payments top"]),
]


def _play(store: Store, poison: Incident, name: str, lines: list[str]) -> str:
    host = new_interview(
        poison.for_seed(SEED), SEED, host_name="ivy", store=store, minutes=30, loop=LOOP
    )
    token = host.seats[1].token
    assert token is not None
    host.join(token, name)
    for line in lines:
        host.session.advance(20)
        reply = host.command(name, line)
        assert reply.kind != "refused", (line, reply.output)
    host.end("ivy")
    asyncio.run(host.finish())
    assert host.recorder is not None and host.recorder.session_id is not None
    return host.recorder.session_id


@pytest.fixture(scope="module")
def loop_db(poison: Incident, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database holding the loop's five interviews, each a real recorded play."""
    db = tmp_path_factory.mktemp("loop") / "dojo.db"
    store = Store.open(db)
    try:
        records.pin_loop(
            store,
            LOOP,
            incident=poison.id,
            version=poison.version,
            sha256="0" * 64,
            seed=SEED,
            minutes=30,
        )
        for name, lines in CANDIDATES:
            _play(store, poison, name, lines)
    finally:
        store.close()
    return db


@pytest.fixture
def home(loop_db: Path) -> Path:
    """This test's $DOJO_HOME, holding a copy of the loop's database."""
    home = Path(os.environ["DOJO_HOME"])
    for f in loop_db.parent.iterdir():
        if f.name.startswith("dojo.db"):
            shutil.copy(f, home / f.name)
    return home


def _card(dojo: Any, who: str) -> tuple[dict[str, Any], str]:
    code, out, err = dojo("interview", "scorecard", who, "--format", "json")
    assert code == 0, err
    code, md, err = dojo("interview", "scorecard", who, "--format", "md")
    assert code == 0, err
    return json.loads(out), md


def test_the_fifth_candidate_is_placed_among_the_four_before(home: Path, dojo: Any) -> None:
    code, out, err = dojo("interview", "list", "--json")
    assert code == 0, err
    rows = {r["candidate"]: r for r in json.loads(out)}
    assert set(rows) == {n for n, _ in CANDIDATES}
    assert {r["loop"] for r in rows.values()} == {LOOP}
    scores = [float(rows[n]["score"]) for n, _ in CANDIDATES]
    assert len(set(scores)) >= 3, scores  # the plays differ, so the percentile says something
    fifth, earlier = scores[-1], scores[:-1]
    below = sum(s < fifth for s in earlier)
    ties = sum(s == fifth for s in earlier)
    expected = round(100 * (below + ties / 2) / 4, 1)

    card, md = _card(dojo, "Eli Vance")
    assert card["peers"]["count"] == 4
    assert card["peers"]["percentile"] == expected
    assert sorted(card["peers"]["scores"]) == sorted(earlier)
    assert f"Percentile {expected:g} among 4 earlier candidates" in md
    # names hidden: nobody else of the loop is named on the fifth's scorecard
    for name, _ in CANDIDATES[:-1]:
        assert name not in md and name not in json.dumps(card)
    code, page, _ = dojo("interview", "scorecard", "Eli Vance", "--format", "html")
    assert code == 0 and f"Percentile {expected:g} among 4 earlier candidates" in page


def test_the_fourth_is_not_placed_and_later_candidates_do_not_count(home: Path, dojo: Any) -> None:
    card, md = _card(dojo, "Dee Onyx")
    assert card["peers"] == {"count": 3, "percentile": None, "scores": []}
    assert "3 earlier candidate(s); a percentile is shown from the loop's 5th candidate on" in md
    first, _ = _card(dojo, "Ada Quill")
    assert first["peers"]["count"] == 0  # the four after her are not her peers
