"""The `dojo` command line: list, run, check, --version, and user incident folders."""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from oncall_dojo import __version__
from oncall_dojo.cli.parser import build_parser
from oncall_dojo.game.session import Session
from oncall_dojo.incident.model import Incident

RunDojo = Callable[..., subprocess.CompletedProcess[bytes]]
Dojo = Callable[..., tuple[int, str, str]]
Play = Callable[..., Session]


@pytest.fixture
def user_dir(tmp_path: Path, poison_path: Path) -> Path:
    """A user folder holding a copy of the bundled incident under a new id and title."""
    d = tmp_path / "my-incidents"
    d.mkdir()
    text = poison_path.read_text(encoding="utf-8")
    text = text.replace("id: payments-stuck\naliases: [poison-payments]\n", "id: my-drill\n", 1)
    text = text.replace(
        'title: "Payments are stuck: nobody has been charged for minutes"',
        'title: "My own drill"',
        1,
    )
    (d / "my-drill.yaml").write_text(text, encoding="utf-8")
    return d


@pytest.fixture
def bad_actions(tmp_path: Path) -> Path:
    p = tmp_path / "actions.txt"
    p.write_text(
        "# my plan\n00:10 ack\n\n00:20 queue payments\nthen restart billing\n", encoding="utf-8"
    )
    return p


# ----------------------------------------------------------------------------- list


def test_list_json_describes_the_bundled_incident(dojo: Dojo, poison: Incident) -> None:
    code, out, _ = dojo("list", "--json")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)}
    row = rows["payments-stuck"]
    assert row["title"] == poison.title
    assert row["difficulty"] == "easy"
    assert row["tags"] == ["queues", "payments"]
    assert row["bundled"] is True
    assert "error" not in row


def test_list_prints_one_line_per_incident(dojo: Dojo, poison: Incident) -> None:
    code, out, _ = dojo("list")
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("payments-stuck "))
    assert "easy" in line
    assert poison.title in line
    assert "[queues, payments]" in line
    assert "(yours)" not in line


def test_list_json_by_subprocess_matches_in_process(run_dojo: RunDojo, dojo: Dojo) -> None:
    proc = run_dojo("list", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    _, out, _ = dojo("list", "--json")
    assert json.loads(proc.stdout) == json.loads(out)


# ----------------------------------------------------------------------------- user folders


def test_dojo_incidents_adds_a_user_folder(
    user_dir: Path, monkeypatch: pytest.MonkeyPatch, dojo: Dojo
) -> None:
    monkeypatch.setenv("DOJO_INCIDENTS", str(user_dir))
    _, out, _ = dojo("list", "--json")
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows["my-drill"]["title"] == "My own drill"
    assert rows["my-drill"]["bundled"] is False
    assert rows["payments-stuck"]["bundled"] is True
    _, plain, _ = dojo("list")
    mine = next(x for x in plain.splitlines() if x.startswith("my-drill "))
    assert mine.endswith("(yours)")


def test_the_incidents_option_adds_a_user_folder(
    user_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    dojo: Dojo,
    bad_actions: Path,
) -> None:
    monkeypatch.delenv("DOJO_INCIDENTS", raising=False)
    _, out, _ = dojo("list", "--json", "--incidents", str(user_dir))
    assert "my-drill" in {r["id"] for r in json.loads(out)}
    _, out, _ = dojo("list", "--json")
    assert "my-drill" not in {r["id"] for r in json.loads(out)}
    # `run` finds it by id too: it gets as far as reading the (malformed) actions file
    code, _, err = dojo(
        "run", "my-drill", "--incidents", str(user_dir), "--actions", str(bad_actions)
    )
    assert code == 2
    assert f"{bad_actions}:5:1:" in err
    code, _, err = dojo("run", "my-drill", "--actions", str(bad_actions))
    assert code == 2
    assert "no incident 'my-drill'" in err


# ----------------------------------------------------------------------------- run


def test_run_json_has_the_outcome_and_matches_a_session(
    dojo: Dojo, play: Play, poison: Incident
) -> None:
    code, out, _ = dojo("run", "payments-stuck", "--reference", "--json")
    assert code == 0
    data = json.loads(out)
    assert {"incident", "seed", "score", "grade", "breakdown", "impact", "timeline"} <= set(data)
    assert data["incident"] == "payments-stuck"
    assert data["seed"] == 1
    assert [c["command"] for c in data["commands"]] == [
        a.split(" ", 1)[1] for a in poison.playthroughs.reference.actions
    ]
    result = play(poison.playthroughs.reference.actions).result
    assert result is not None
    expected = json.loads(json.dumps(result.to_json()))
    assert {k: v for k, v in data.items() if k != "commands"} == expected


def test_run_of_an_unknown_incident_exits_2_and_lists_the_ids(
    dojo: Dojo,
) -> None:
    code, out, err = dojo("run", "nope")
    assert code == 2
    assert out == ""
    assert "no incident 'nope'; available:" in err
    assert "payments-stuck" in err


def test_run_with_a_malformed_actions_line_exits_2_and_locates_it(
    dojo: Dojo, bad_actions: Path
) -> None:
    code, out, err = dojo("run", "payments-stuck", "--actions", str(bad_actions))
    assert code == 2
    assert out == ""
    assert f"{bad_actions}:5:1: expected `MM:SS command`, got 'then restart billing'" in err


def test_run_with_an_unreadable_actions_file_exits_2(dojo: Dojo, tmp_path: Path) -> None:
    code, _, err = dojo("run", "payments-stuck", "--actions", str(tmp_path / "missing.txt"))
    assert code == 2
    assert "cannot read" in err


def test_run_with_an_unknown_harmful_playthrough_exits_2(
    dojo: Dojo,
) -> None:
    code, _, err = dojo("run", "payments-stuck", "--harmful", "panic")
    assert code == 2
    assert (
        "no harmful playthrough 'panic'; have: purge-the-queue, scale-it-up, blame-the-deploy"
        in err
    )


def test_run_plays_an_actions_file_and_prints_the_debrief(dojo: Dojo, tmp_path: Path) -> None:
    actions = tmp_path / "plan.txt"
    actions.write_text("00:15 ack\n00:30 purge emails\n", encoding="utf-8")
    code, out, _ = dojo("run", "payments-stuck", "--seed", "2", "--actions", str(actions))
    assert code == 0
    assert "00:15 > ack" in out
    assert "00:30 ! purge emails" in out
    assert "emails has no waiting messages" in out
    assert "payments-stuck (seed 2):" in out
    assert "[NOT RESOLVED]" in out


# ----------------------------------------------------------------------------- check and version


def test_check_proves_the_bundled_incident(dojo: Dojo) -> None:
    code, out, _ = dojo("check", "payments-stuck", "--seeds", "1")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "payments-stuck: ok"
    assert lines[1].startswith("  seed 1: reference ")
    assert "purge-the-queue=" in lines[1]
    assert lines[1].endswith("]") and "fault_at=" in lines[1]  # what `vary` picked


def test_check_reports_the_reference_spread_over_seeds(dojo: Dojo) -> None:
    code, out, _ = dojo("check", "payments-stuck", "--seeds", "1", "2")
    assert code == 0, out
    scores = [
        int(x.split("reference ")[1].split()[0].rstrip("ABCDF")) for x in out.splitlines()[1:3]
    ]
    assert out.splitlines()[3] == (
        f"  reference spread: {min(scores)}-{max(scores)} ({max(scores) - min(scores)})"
    )


def test_run_plays_the_seed_s_variant(dojo: Dojo, poison: Incident) -> None:
    seed = next(s for s in range(2, 60) if poison.for_seed(s).picked["fix"] != poison.picked["fix"])
    code, out, _ = dojo("run", "payments-stuck", "--seed", str(seed), "--reference",
                       "--json", "--no-record")  # fmt: skip
    assert code == 0
    commands = [c["command"] for c in json.loads(out)["commands"]]
    assert f"deploy billing {poison.for_seed(seed).picked['fix']}" in commands


def test_version_by_subprocess(run_dojo: RunDojo) -> None:
    proc = run_dojo("--version")
    assert proc.returncode == 0
    assert proc.stdout.decode().strip() == f"oncall-dojo {__version__}"


def _undocumented(parser: argparse.ArgumentParser, path: str) -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _undocumented(sub, f"{path} {name}")
        elif not action.help and not isinstance(action, argparse._HelpAction):
            out.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return out


def test_every_argument_of_every_command_says_what_it_is_for() -> None:
    assert _undocumented(build_parser(), "dojo") == []


# ----------------------------------------------------------------------------- known bugs


def test_run_of_an_invalid_incident_file_reports_the_error_without_a_traceback(
    dojo: Dojo, repo_root: Path
) -> None:
    broken = repo_root / "tests" / "fixtures" / "broken" / "missing-title.yaml"
    code, _, err = dojo("run", str(broken))
    # `run` was given bad input (2); 1 is kept for `validate`/`check` finding a fault they
    # were asked to look for (README: "Exit codes")
    assert code == 2
    assert f"{broken}:1:1: missing required key 'title'" in err


def test_links_at_the_facilitators_line_console_prints_the_join_links_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The links scroll away with the players' commands; `links` prints them again, with who
    took each seat, as F8 does full screen."""
    import asyncio
    import io
    import sys
    from types import SimpleNamespace

    from oncall_dojo.cli import team

    served = SimpleNamespace(
        links=[
            ("commander", "http://127.0.0.1:8765/join/aaaa", "cara"),
            ("operations", "http://127.0.0.1:8765/join/bbbb", None),
        ],
        browser_links=[("operations", "http://127.0.0.1:8766/seat/bbbb")],
    )
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO("links\n"))
    asyncio.run(team._facilitator_console(None, "fac", out, lambda: team.write_links(out, served)))
    text = out.getvalue()
    assert "  commander       http://127.0.0.1:8765/join/aaaa  (taken by cara)\n" in text
    assert "  operations      http://127.0.0.1:8765/join/bbbb\n" in text
    assert "  operations      http://127.0.0.1:8766/seat/bbbb\n" in text
    assert "not a facilitator action" not in text


def test_links_at_the_interviewers_line_console_prints_the_candidates_links_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio
    import io
    import sys
    from types import SimpleNamespace

    from oncall_dojo.cli import interview

    served = SimpleNamespace(
        links=[
            ("interviewer", "http://127.0.0.1:8765/join/iiii", "ivy"),
            ("candidate", "http://127.0.0.1:8765/join/cccc", "sam"),
            ("interviewer", "http://127.0.0.1:8765/join/jjjj", None),
        ],
        browser_links=[("candidate", "http://127.0.0.1:8766/seat/cccc")],
    )
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO("links\n"))
    asyncio.run(interview._console(None, "ivy", out, lambda: interview.write_links(out, served)))
    text = out.getvalue()
    assert "  browser:   http://127.0.0.1:8766/seat/cccc\n" in text
    assert "  terminal:  dojo join http://127.0.0.1:8765/join/cccc --as sam\n" in text
    assert "Another interviewer:\n  dojo join http://127.0.0.1:8765/join/jjjj --as NAME\n" in text
    assert "not an interviewer action" not in text
