"""The package's shape: lazy imports only where start-up needs them, and modules small
enough to read. (No import cycles: tests/unit/test_layers.py.)

Imports are read from the source with `ast`, so an import hidden inside a function is
seen. Imports under `if TYPE_CHECKING:` are left out: they never run, they only name types.
"""

from __future__ import annotations

import ast
import statistics
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "oncall_dojo"
ROOT = "oncall_dojo"

LAZY_ALLOWED = (
    "oncall_dojo.cli",
    "oncall_dojo.tui",
    "oncall_dojo.__main__",
    "oncall_dojo.incident.packs",
    "oncall_dojo.game.catalog",
    "oncall_dojo.game.engine",
)
"""Where a function may import: what `dojo play` reaches before its first frame (the command
line, the TUI, finding the incident folders, the list index and the engine hash) defers the
game core (pydantic, yaml, numpy) until after it; tests/unit/test_layers.py checks that
cold start."""

MAX_LINES = 600
MEDIAN_LINES = 200


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(name: str) -> list[tuple[str, bool, int]]:
    """(imported module, inside a function, line) for every import in module `name` that runs."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: list[tuple[str, bool, int]] = []
    here = name if _is_package(name) else name.rpartition(".")[0]

    def target(module: str | None, level: int) -> str | None:
        if level:
            base = here.split(".")
            base = base[: len(base) - (level - 1)]
            module = ".".join(base + ([module] if module else []))
        return module

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub, in_function)
                continue
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((alias.name, in_function, child.lineno))
            elif isinstance(child, ast.ImportFrom):
                module = target(child.module, child.level)
                if module is None:
                    continue
                for alias in child.names:
                    sub = f"{module}.{alias.name}"
                    found.append((sub if sub in MODULES else module, in_function, child.lineno))
            visit(child, inner)

    visit(tree, False)
    return [(m, f, line) for m, f, line in found if m == ROOT or m.startswith(ROOT + ".")]


def test_the_reader_sees_function_local_imports() -> None:
    """The graph counts an import inside a function; this module's own probe proves it."""
    seen = _imports("oncall_dojo.cli") if "oncall_dojo.cli" in MODULES else []
    seen += [i for n in MODULES if n.startswith("oncall_dojo.cli.") for i in _imports(n)]
    assert any(in_function for _, in_function, _ in seen)


def test_functions_import_lazily_only_where_start_up_needs_it() -> None:
    lazy = [
        f"{MODULES[name].relative_to(PACKAGE.parent)}:{line}: imports {mod}"
        for name in MODULES
        if not name.startswith(LAZY_ALLOWED)
        for mod, in_function, line in _imports(name)
        if in_function
    ]
    assert lazy == [], "function-local imports outside the start-up path:\n" + "\n".join(lazy)


def test_modules_stay_small() -> None:
    sizes = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()
    }
    big = {n: s for n, s in sizes.items() if s > MAX_LINES}
    assert big == {}, f"modules over {MAX_LINES} lines: {big}"
    assert statistics.median(sizes.values()) < MEDIAN_LINES
