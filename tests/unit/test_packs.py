"""Private incident packs: --incidents DIR, $DOJO_INCIDENTS, the config file, and id clashes."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from oncall_dojo.incident.errors import PackError
from oncall_dojo.incident.packs import config_path, configured_dirs, discover, scan, user_dirs

Dojo = Callable[..., tuple[int, str, str]]


def make_pack(root: Path, poison_path: Path, *ids: str) -> Path:
    """A folder of copies of the bundled payments-stuck incident under new ids."""
    root.mkdir(parents=True, exist_ok=True)
    text = poison_path.read_text(encoding="utf-8")
    for ident in ids:
        body = text.replace(
            "id: payments-stuck\naliases: [poison-payments]\n", f"id: {ident}\n", 1
        ).replace(
            'title: "Payments are stuck: nobody has been charged for minutes"',
            f'title: "Drill {ident}"',
            1,
        )
        (root / f"{ident}.yaml").write_text(body, encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def _no_user_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOJO_INCIDENTS", raising=False)
    monkeypatch.delenv("DOJO_CONFIG", raising=False)


def ids(out: str) -> dict[str, dict[str, object]]:
    return {r["id"]: r for r in json.loads(out)}


# ------------------------------------------------------------------------------- where packs come from


def test_incidents_option_on_list_validate_check_and_run(
    tmp_path: Path, poison_path: Path, dojo: Dojo
) -> None:
    pack = make_pack(tmp_path / "pack", poison_path, "drill-a")
    code, out, _ = dojo("list", "--json", "--incidents", str(pack))
    assert code == 0
    row = ids(out)["drill-a"]
    assert row["bundled"] is False and row["pack"] == str(pack) and row["title"] == "Drill drill-a"
    assert ids(out)["payments-stuck"]["pack"] is None
    code, out, _ = dojo("validate", "--incidents", str(pack))
    assert code == 0 and out.startswith(f"{pack / 'drill-a.yaml'}: ok")
    assert len(out.splitlines()) == 1  # only the pack's files
    code, out, _ = dojo("check", "drill-a", "--seeds", "2", "--incidents", str(pack))
    assert code == 0 and out.startswith("drill-a: ok\n  seed 2: reference ")
    code, out, _ = dojo("run", "drill-a", "--seed", "3", "--idle", "--no-record",
                       "--incidents", str(pack))  # fmt: skip
    assert code == 0 and "drill-a (seed 3):" in out
    code, _, err = dojo("run", "drill-a", "--no-record")
    assert code == 2 and "no incident 'drill-a'" in err


def test_play_at_the_console_finds_a_pack_incident(
    tmp_path: Path,
    poison_path: Path,
    dojo: Dojo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pack = make_pack(tmp_path / "pack", poison_path, "drill-a")
    monkeypatch.setattr("sys.stdin", io.StringIO("quit\n"))
    code, out, _ = dojo("play", "drill-a", "--console", "--seed", "4", "--no-record",
                       "--incidents", str(pack))  # fmt: skip
    assert code == 0
    assert "=== Drill drill-a ===  (seed 4;" in out and "*** PAGE ***" in out


def test_the_environment_variable_holds_several_folders(
    tmp_path: Path,
    poison_path: Path,
    dojo: Dojo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = make_pack(tmp_path / "a", poison_path, "drill-a")
    b = make_pack(tmp_path / "b", poison_path, "drill-b")
    monkeypatch.setenv("DOJO_INCIDENTS", os.pathsep.join([str(a), "", str(b)]))
    code, out, _ = dojo("list", "--json")
    rows = ids(out)
    assert code == 0
    assert rows["drill-a"]["pack"] == str(a) and rows["drill-b"]["pack"] == str(b)
    # the same folder named twice is one folder, not a clash
    code, out, _ = dojo("list", "--json", "--incidents", str(a))
    assert code == 0 and "drill-a" in ids(out)
    assert user_dirs([a]) == [a, b]


def test_a_config_file_lists_folders_relative_to_itself(
    tmp_path: Path,
    poison_path: Path,
    dojo: Dojo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = Path(os.environ["DOJO_HOME"])  # each test has its own (tests/conftest.py)
    assert config_path() == home / "config.toml"
    home.mkdir(parents=True, exist_ok=True)
    make_pack(home / "drills", poison_path, "drill-c")
    (home / "config.toml").write_text('incidents = ["drills"]\n', encoding="utf-8")
    assert configured_dirs() == [home / "drills"]
    code, out, _ = dojo("list", "--json")
    assert code == 0 and ids(out)["drill-c"]["pack"] == str(home / "drills")
    # DOJO_CONFIG names another file; a single folder may be a plain string
    other = tmp_path / "team.toml"
    make_pack(tmp_path / "team", poison_path, "drill-d")
    other.write_text(f'incidents = "{(tmp_path / "team").as_posix()}"\n', encoding="utf-8")
    monkeypatch.setenv("DOJO_CONFIG", str(other))
    code, out, _ = dojo("list", "--json")
    assert code == 0 and "drill-d" in ids(out) and "drill-c" not in ids(out)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("incidents = [", "not a valid TOML file"),
        ('incidnets = ["x"]', "unknown key 'incidnets'"),
        ("incidents = [1, 2]", "must be a folder or a list of folders"),
    ],
)
def test_a_bad_config_file_is_a_clear_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dojo: Dojo,
    body: str,
    message: str,
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(body + "\n", encoding="utf-8")
    monkeypatch.setenv("DOJO_CONFIG", str(cfg))
    code, out, err = dojo("list")
    assert code == 2 and out == ""
    assert err.startswith(f"dojo: {cfg}: ") and message in err
    with pytest.raises(PackError):
        discover()
    # the picker can still show the bundled incidents
    assert any(f.bundled for f in scan(config=False).found)


def test_a_missing_folder(tmp_path: Path, dojo: Dojo, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = dojo("list", "--incidents", str(tmp_path / "nowhere"))
    assert code == 2 and f"--incidents {tmp_path / 'nowhere'}: no such folder" in err
    monkeypatch.setenv("DOJO_INCIDENTS", str(tmp_path / "gone"))
    code, out, err = dojo("list", "--json")
    assert code == 0 and "payments-stuck" in ids(out)
    assert f"warning: {tmp_path / 'gone'} (from $DOJO_INCIDENTS) is not a folder" in err


# ------------------------------------------------------------------------------- clashes


def test_an_id_clash_with_a_bundled_incident_names_both_files(
    tmp_path: Path, poison_path: Path, dojo: Dojo
) -> None:
    pack = make_pack(tmp_path / "pack", poison_path, "payments-stuck", "drill-a")
    mine = pack / "payments-stuck.yaml"
    code, out, err = dojo("list", "--json", "--incidents", str(pack))
    assert code == 2
    assert f"incident id 'payments-stuck' is in two files: {poison_path} and {mine}" in err
    assert ids(out)["payments-stuck"]["bundled"] is True  # the rest is still listed
    assert "drill-a" in ids(out)
    for args in (
        ["run", "drill-a", "--no-record"],
        ["check", "drill-a", "--seeds", "1"],
        ["play", "drill-a", "--console", "--no-record"],
    ):
        code, _, err = dojo(*args, "--incidents", str(pack))
        assert code == 2, args
        assert str(mine) in err and str(poison_path) in err
    found = scan([pack])
    assert len(found.clashes) == 1
    with pytest.raises(PackError, match="is in two files"):
        discover([pack])


def test_an_id_clash_between_two_packs(
    tmp_path: Path,
    poison_path: Path,
    dojo: Dojo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = make_pack(tmp_path / "a", poison_path, "drill")
    b = make_pack(tmp_path / "b", poison_path, "drill")
    (b / "drill.yml").write_text((b / "drill.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("DOJO_INCIDENTS", str(b))
    code, _, err = dojo("list", "--incidents", str(a))
    assert code == 2
    lines = [x for x in err.splitlines() if "is in two files" in x]
    assert lines == [
        f"dojo: incident id 'drill' is in two files: {a / 'drill.yaml'} and {b / 'drill.yaml'};"
        " rename one (the id must match the file name)",
        f"dojo: incident id 'drill' is in two files: {a / 'drill.yaml'} and {b / 'drill.yml'};"
        " rename one (the id must match the file name)",
    ]
