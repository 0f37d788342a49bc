"""The wheel carries the bundled incidents, and an installed package finds them there."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_bundled_incidents_and_finds_them_when_installed(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(out.glob("oncall_dojo-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    bundled = sorted(n for n in names if n.startswith("oncall_dojo/bundled_incidents/"))
    expected = sorted(
        f"oncall_dojo/bundled_incidents/{p.name}" for p in (ROOT / "incidents").glob("*.yaml")
    )
    assert bundled == expected
    # and the screens' styles, which Textual reads from beside each screen's module
    styles = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "oncall_dojo").rglob("*.tcss"))
    assert styles and sorted(n for n in names if n.endswith(".tcss")) == styles

    # unpack the wheel somewhere else and import from there: the loader must find the files inside
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "from oncall_dojo.incident.packs import bundled_dir, discover;"
        "print(bundled_dir()); print(len(discover()))"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site)},
                         capture_output=True, text=True, check=True)  # fmt: skip
    where, count = res.stdout.split()
    assert Path(where) == site / "oncall_dojo" / "bundled_incidents"
    assert int(count) == len(expected)
