"""docs/reference.md is generated from the code and must not drift from it."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from oncall_dojo.cli import main
from oncall_dojo.game.commands import COMMANDS
from oncall_dojo.game.reference import COMMAND, render
from oncall_dojo.sim.faults import FAULT_TYPES, AnyFault

from .simkit import run, system

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def test_the_committed_reference_is_what_the_code_generates() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        f"docs/reference.md is out of date with the code; regenerate it: {COMMAND}"
    )


def test_dojo_reference_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reference"]) == 0
    assert capsys.readouterr().out == render()


def test_every_fault_kind_and_command_is_documented() -> None:
    text = render()
    for spec in FAULT_TYPES:
        for kind in typing.get_args(spec.model_fields["kind"].annotation):
            assert f"`{kind}" in text, kind
    for cmd in COMMANDS.values():
        assert cmd.usage.replace("|", "\\|") in text, cmd.name


def test_every_fault_type_can_be_written_in_an_incident_file() -> None:
    """Every fault class in the faults package is registered (so incident files can use it),
    once, by a kind no other fault uses."""
    import importlib
    import inspect
    import pkgutil

    from oncall_dojo.sim import faults

    modules = [
        importlib.import_module(f"{faults.__name__}.{m.name}")
        for m in pkgutil.iter_modules(faults.__path__)
    ]
    assert len(modules) >= 5
    defined = {
        c
        for module in modules
        for _, c in inspect.getmembers(module, inspect.isclass)
        # a kind of its own (a Literal); a shared base such as SettingFault names none
        if issubclass(c, faults.FaultSpec) and typing.get_args(c.model_fields["kind"].annotation)
    }
    assert defined == set(FAULT_TYPES)
    kinds = [
        k for spec in FAULT_TYPES for k in typing.get_args(spec.model_fields["kind"].annotation)
    ]
    assert len(kinds) == len(set(kinds))
    union = typing.get_args(typing.get_args(AnyFault)[0])
    assert set(union) == set(FAULT_TYPES)


def test_a_pool_drains_as_fast_as_the_reference_says() -> None:
    """The worker throughput table: the mailer pool (no queries) with a long backlog serves
    replicas * concurrency / service_s messages a second, as documented."""
    row = next(line for line in render().splitlines() if line.startswith("| `mailer` |"))
    documented = float(row.rstrip(" |").rsplit("|", 1)[1])
    s = system()
    run(s, 30)
    q = s.queues["emails"]
    q.enqueue(s.t, 20_000)
    before = q.stats.acked
    run(s, 120)
    served = (q.stats.acked - before) / 120
    assert documented == pytest.approx(26.7)
    assert served == pytest.approx(documented, rel=0.05)
