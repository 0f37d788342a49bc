"""A renamed incident keeps its record: sessions recorded under a former id (`aliases:`) are
found by history, report, replay, verify, leaderboard, `play --resume`, `run` and `check`."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from storekit import PLAY_LINES

from oncall_dojo.game.console import THINK_S
from oncall_dojo.game.play import perform
from oncall_dojo.game.session import Session
from oncall_dojo.game.validate import load_checked
from oncall_dojo.incident.loader import load_incident
from oncall_dojo.incident.packs import bundled_dir, find, name_owners
from oncall_dojo.incident.vary import pick_all
from oncall_dojo.store import Recorder, Store

Dojo = Callable[..., tuple[int, str, str]]


def drill_text(poison_path: Path, head: str) -> str:
    """The bundled payments incident (which varies with the seed) under another id."""
    text = poison_path.read_text(encoding="utf-8")
    return text.replace("id: payments-stuck\naliases: [poison-payments]\n", head, 1)


@pytest.fixture(autouse=True)
def _no_user_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOJO_INCIDENTS", raising=False)
    monkeypatch.delenv("DOJO_CONFIG", raising=False)


def test_a_former_id_keeps_the_record(
    home: Path,
    tmp_path: Path,
    poison_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dojo: Dojo,
) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    old = pack / "cause-named-drill.yaml"
    old.write_text(drill_text(poison_path, "id: cause-named-drill\n"), encoding="utf-8")
    dirs = ("--incidents", str(pack))
    # recorded before the rename: a finished game, and one cut short (as kill -9 leaves it)
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(PLAY_LINES) + "\n"))
    code, _, _ = dojo("play", "cause-named-drill", "--seed", "4", "--player", "ana", *dirs)
    assert code == 0
    st = Store.open()
    (done,) = [r["session"] for r in st.history()]
    log = Recorder(st, "ben", "play")
    s = Session(load_incident(old), 4)
    log.started(s, THINK_S)
    for cmd in PLAY_LINES[:3]:
        log.checkpoint()
        perform(s, cmd)
        s.advance(THINK_S)
    log.checkpoint()
    cut = log.session_id
    st.close()

    # the rename: a symptom-level id, the old one kept as an alias, play unchanged
    new = pack / "symptom-drill.yaml"
    new.write_text(
        drill_text(poison_path, "id: symptom-drill\naliases: [cause-named-drill]\n"), "utf-8"
    )
    old.unlink()
    assert find("cause-named-drill", [pack]) == new

    code, out, _ = dojo("history", "--json")
    assert code == 0 and {r["incident"] for r in json.loads(out)} == {"cause-named-drill"}
    code, out, _ = dojo("report", done, *dirs)
    assert code == 0 and "is now version" not in out and "Reference" in out
    code, out, _ = dojo("replay", done, *dirs)
    assert code == 0 and "same outputs and the same score" in out
    for ident in ("symptom-drill", "cause-named-drill"):
        code, out, _ = dojo("leaderboard", ident, "--json", *dirs)
        board = json.loads(out)
        assert code == 0 and board["incident"] == "symptom-drill"
        assert [r["session"] for r in board["rows"]] == [done]
    code, out, _ = dojo("leaderboard", *dirs)
    assert code == 0 and out.startswith("symptom-drill (version") and done in out

    # without the folder its incident is in, the resume says where to point it, and changes nothing
    code, out, err = dojo("play", "--resume", str(cut))
    assert code == 2 and out == ""
    assert f"cannot resume session {cut}: it played 'cause-named-drill'" in err
    assert "add --incidents FOLDER" in err
    # resuming the cut game under its old id finishes it, and its record still verifies
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(PLAY_LINES[3:]) + "\n"))
    code, out, _ = dojo("play", "--resume", str(cut), *dirs)
    assert code == 0 and "So far:" in out
    code, out, _ = dojo("verify", "--all")
    assert code == 0 and out.count(": ok") == 2
    st = Store.open()
    row = st.session(str(cut))
    assert row["ended_at"] is not None and row["incident"] == "cause-named-drill"
    assert st.score_row(str(cut))["incident"] == "cause-named-drill"
    st.close()

    # run and check by the old id play the renamed incident
    code, out, _ = dojo("run", "cause-named-drill", "--seed", "4", "--json", *dirs)
    assert code == 0 and json.loads(out)["incident"] == "symptom-drill"
    code, out, _ = dojo("check", "cause-named-drill", "--seeds", "1", *dirs)
    assert code == 0 and out.startswith("symptom-drill: ok")


def test_the_first_alias_keys_what_a_seed_plays(tmp_path: Path, poison_path: Path) -> None:
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(drill_text(poison_path, "id: renamed\naliases: [first, second]\n"), "utf-8")
    fresh = tmp_path / "fresh.yaml"
    fresh.write_text(drill_text(poison_path, "id: fresh\n"), "utf-8")
    a, b = load_incident(renamed), load_incident(fresh)
    assert a.seed_key == "first" and b.seed_key == "fresh"
    for seed in (1, 2, 3):
        assert a.for_seed(seed).picked == pick_all(seed, "first", a.vary)
        assert b.for_seed(seed).picked == pick_all(seed, "fresh", b.vary)
    assert [a.for_seed(s).picked for s in (1, 2, 3)] != [b.for_seed(s).picked for s in (1, 2, 3)]


def test_bundled_former_ids_find_their_incidents() -> None:
    for path in sorted(bundled_dir().glob("*.yaml")):
        inc = load_incident(path)
        for alias in inc.aliases:
            assert find(alias) == path, alias
            assert not (bundled_dir() / f"{alias}.yaml").exists()


def test_validate_refuses_an_alias_another_incident_claims(
    tmp_path: Path, poison_path: Path, dojo: Dojo
) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "one.yaml").write_text(drill_text(poison_path, "id: one\naliases: [gone]\n"), "utf-8")
    (pack / "two.yaml").write_text(
        drill_text(poison_path, "id: two\naliases: [old-two, gone, payments-stuck]\n"), "utf-8"
    )
    (pack / "three.yaml").write_text(
        drill_text(poison_path, "id: three\naliases: [three, poison-payments]\n"), "utf-8"
    )
    code, out, err = dojo("validate", "--incidents", str(pack))
    assert code == 1 and out == ""
    assert (
        f"{pack / 'one.yaml'}:2:11: aliases[0]: 'gone' is already an alias of incident 'two'" in err
    )
    assert (
        f"{pack / 'two.yaml'}:2:20: aliases[1]: 'gone' is already an alias of incident 'one'" in err
    )
    assert (
        f"{pack / 'two.yaml'}:2:26: aliases[2]: 'payments-stuck' is already the id of incident"
        f" 'payments-stuck' ({poison_path})" in err
    )
    assert f"{pack / 'three.yaml'}:2:11: aliases[0]: 'three' is this incident's own id" in err
    assert (
        f"{pack / 'three.yaml'}:2:18: aliases[1]: 'poison-payments' is already an alias of"
        " incident 'payments-stuck'" in err
    )
    # the bundled incidents claim no name twice: each loads with every bundled file's claims
    # in view (what `dojo validate` checks; its trial plays are test_incident_files')
    paths = sorted(bundled_dir().glob("*.yaml"))
    owners = name_owners(paths)
    assert len(paths) >= 16 and "poison-payments" in owners
    for path in paths:
        assert load_checked(path, owners=owners).id == path.stem
