"""Layering: the headless core never pulls in the TUI or the store, and import contracts hold."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

HEADLESS = [
    "oncall_dojo.sim.system",
    "oncall_dojo.sim.faults",
    "oncall_dojo.incident.loader",
    "oncall_dojo.game.session",
    "oncall_dojo.game.commands",
    "oncall_dojo.game.play",
    "oncall_dojo.game.scoring",
    "oncall_dojo.game.check",
    "oncall_dojo.cli",
]
HEAVY = ("textual", "sqlite_utils")

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy})))
"""


def heavy_modules_after_importing(*modules: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(heavy)), *modules],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_headless_modules_import_neither_textual_nor_sqlite_utils() -> None:
    assert heavy_modules_after_importing("oncall_dojo.sim", *HEADLESS) == []


def test_the_probe_would_notice_textual() -> None:
    pytest.importorskip("textual")
    assert "textual" in heavy_modules_after_importing("textual")


GAME_CORE = ("pydantic", "numpy", "faker", "yaml")
"""What loads in the briefing's thread, after the first frame, never before it."""


def test_what_dojo_play_imports_before_its_first_frame_leaves_the_game_core_out() -> None:
    """`dojo play INCIDENT` checks the incident folders, then opens the app; the models and
    the simulation load in a thread once the first frame is up (the cold-start target)."""
    before_first_frame = (
        "oncall_dojo.cli",
        "oncall_dojo.incident.packs",
        "oncall_dojo.tui",
        "oncall_dojo.tui.app",
        "oncall_dojo.tui.screens.briefing",
    )
    assert heavy_modules_after_importing(*before_first_frame, heavy=GAME_CORE) == []
    # and the probe does see the game core where it is
    assert "pydantic" in heavy_modules_after_importing(
        "oncall_dojo.incident.loader", heavy=GAME_CORE
    )


def lint_imports(repo_root: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "lint-imports"
    if not exe.exists():
        pytest.skip("lint-imports is not installed next to this Python")
    return subprocess.run(
        [str(exe), "--no-cache", "--no-logo"],
        capture_output=True,
        text=True,
        cwd=repo_root,
        timeout=120,
        check=False,
    )


def test_lint_imports_passes_with_the_project_configuration(repo_root: Path) -> None:
    """The layers and forbidden-module contracts of pyproject.toml are all kept."""
    proc = lint_imports(repo_root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"Contracts: [1-9]\d* kept, 0 broken", proc.stdout)


def import_cycles(package: str = "oncall_dojo") -> list[list[str]]:
    """Groups of modules that import each other, directly or not, counting imports made
    inside functions and under `TYPE_CHECKING` (grimp sees both)."""
    import grimp

    graph = grimp.build_graph(package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for dep in graph.find_modules_directly_imported_by(module):
            if dep not in index:
                visit(dep)
                low[module] = min(low[module], low[dep])
            elif dep in stack:
                low[module] = min(low[module], index[dep])
        if low[module] == index[module]:
            group = []
            while True:
                dep = stack.pop()
                group.append(dep)
                if dep == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    assert import_cycles() == []


def test_the_cycle_finder_sees_a_loop_hidden_in_a_function(tmp_path: Path) -> None:
    pkg = tmp_path / "loopy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from loopy import b\n")
    (pkg / "b.py").write_text("def f():\n    from loopy import a\n")
    sys.path.insert(0, str(tmp_path))
    try:
        assert import_cycles("loopy") == [["loopy.a", "loopy.b"]]
    finally:
        sys.path.remove(str(tmp_path))
